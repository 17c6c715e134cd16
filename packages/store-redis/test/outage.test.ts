import type { Store } from '@twofold/core';
import { Redis, type RedisOptions } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  freePort,
  hasCommand,
  type RedisServer,
  reportMissing,
  startRedisServer,
  tempDir,
} from './helpers.js';

// Failure behaviour against a private redis-server this file starts, pauses, kills and restarts on a
// free loopback port (never the shared 6379 one, which other test files use at the same time).

const TIMEOUT_MS = 500;
/** Scheduling slack on a busy 2-core machine; a hang would take the client's own 10+ s retry budget. */
const MARGIN_MS = 750;
const host = '127.0.0.1';

/** Runs `operation`, resolving how it ended and how long it took. */
async function timed(operation: () => Promise<unknown>): Promise<{ code?: string; ms: number; ok: boolean }> {
  const started = performance.now();
  try {
    await operation();
    return { ok: true, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, code: (error as { code?: string }).code, ms: performance.now() - started };
  }
}

/** One operation of each shape: scripts that read and write, and plain commands. */
function operations(store: Store, userId: string): [string, () => Promise<unknown>][] {
  const now = Date.now();
  return [
    ['getAuthenticator', () => store.getAuthenticator(userId, 'totp', now)],
    ['consumeCounter', () => store.consumeCounter(userId, 'totp', 1, now)],
    ['incrementCounter', () => store.incrementCounter(userId, 'failures', 60_000, now)],
    ['claimNonce', () => store.claimNonce(userId, `c:${Math.random()}`, 'v', now + 60_000, now)],
    ['countRecoveryCodes', () => store.countRecoveryCodes(userId)],
    ['deleteNonce', () => store.deleteNonce(userId, 'n')],
  ];
}

if (!(await hasCommand('redis-server'))) {
  reportMissing('redis-server not found on PATH (needed to start a private Redis)');
} else {
  tap.test('a Redis that goes away and comes back', async (t) => {
    const dir = await tempDir('twofold-redis-outage');
    t.teardown(() => dir.remove());
    const port = await freePort();
    let server: RedisServer = await startRedisServer(port, dir.path);
    t.teardown(() => server.kill());
    // ioredis defaults: 20 retries per request and reconnects for ever, i.e. far longer than TIMEOUT_MS.
    const client = new Redis({ host, port });
    client.on('error', () => {});
    t.teardown(() => client.disconnect());
    const store = redisStore({ client, prefix: 'twofold-outage:', operationTimeoutMs: TIMEOUT_MS });
    const userId = 'outage-user';

    await t.test('operations succeed while the server is up', async (t) => {
      for (const [name, operation] of operations(store, userId)) t.ok((await timed(operation)).ok, name);
    });

    await t.test(
      'a server that stops answering fails every operation within operationTimeoutMs',
      async (t) => {
        process.kill(server.process.pid!, 'SIGSTOP');
        t.teardown(() => process.kill(server.process.pid!, 'SIGCONT'));
        const results = await Promise.all(operations(store, userId).map(([, operation]) => timed(operation)));
        for (const [i, [name]] of operations(store, userId).entries()) {
          const { code, ms } = results[i]!;
          t.equal(code, 'TWOFOLD_STORE_UNAVAILABLE', `${name} fails closed`);
          t.ok(
            ms >= TIMEOUT_MS - 20 && ms < TIMEOUT_MS + MARGIN_MS,
            `${name} failed after ${Math.round(ms)} ms`,
          );
        }
      },
    );

    await t.test('the same store works again once the paused server answers', async (t) => {
      for (const [name, operation] of operations(store, userId)) t.ok((await timed(operation)).ok, name);
    });

    await t.test('a crashed server fails every operation within operationTimeoutMs', async (t) => {
      await server.kill();
      for (const [name, operation] of operations(store, userId)) {
        const { code, ms } = await timed(operation);
        t.equal(code, 'TWOFOLD_STORE_UNAVAILABLE', `${name} fails closed`);
        t.ok(ms < TIMEOUT_MS + MARGIN_MS, `${name} failed after ${Math.round(ms)} ms`);
      }
    });

    await t.test('the same store works again after the server restarts on the same port', async (t) => {
      server = await startRedisServer(port, dir.path);
      const restartedAt = performance.now();
      let result = await timed(() =>
        store.claimNonce(userId, 'after-restart', 'v', Date.now() + 60_000, Date.now()),
      );
      while (!result.ok && performance.now() - restartedAt < 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = await timed(() =>
          store.claimNonce(userId, 'after-restart', 'v', Date.now() + 60_000, Date.now()),
        );
      }
      t.ok(result.ok, `works again ${Math.round(performance.now() - restartedAt)} ms after the restart`);
      // The restarted server has an empty script cache: every script must load itself again.
      for (const [name, operation] of operations(store, userId)) t.ok((await timed(operation)).ok, name);
    });
  });
}

tap.test('a store whose Redis port is closed fails fast with StoreUnavailableError', async (t) => {
  const port = await freePort();
  const clientOptions: [string, RedisOptions][] = [
    ['ioredis defaults', {}],
    ['retries per request without limit', { maxRetriesPerRequest: null }],
    ['a reconnect only every minute', { retryStrategy: () => 60_000 }],
    ['no offline queue', { enableOfflineQueue: false }],
    ['lazy connect', { lazyConnect: true }],
  ];
  for (const [name, options] of clientOptions) {
    await t.test(name, async (t) => {
      const client = new Redis({ host, port, ...options });
      client.on('error', () => {});
      t.teardown(() => client.disconnect());
      const store = redisStore({ client, prefix: 'twofold-closed:', operationTimeoutMs: TIMEOUT_MS });
      const first = await timed(() => store.getAuthenticator('u', 'totp', Date.now()));
      t.equal(first.code, 'TWOFOLD_STORE_UNAVAILABLE');
      t.ok(first.ms < TIMEOUT_MS + MARGIN_MS, `failed after ${Math.round(first.ms)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const later = await timed(() => store.countRecoveryCodes('u'));
      t.equal(later.code, 'TWOFOLD_STORE_UNAVAILABLE', 'and so does every later operation');
      t.ok(later.ms < TIMEOUT_MS + MARGIN_MS, `failed after ${Math.round(later.ms)} ms`);
    });
  }
});
