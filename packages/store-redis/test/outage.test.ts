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
/**
 * Scheduling slack past the deadline. A hang would take the client's own 10+ s retry budget, far
 * beyond it. The deadline itself is measured, not assumed: a plain timer of TIMEOUT_MS armed at the
 * same moment as the operation, so an event loop held up by other test files on a busy machine
 * moves both the same way.
 */
const MARGIN_MS = 750;
const host = '127.0.0.1';

interface Timed {
  code?: string;
  ok: boolean;
  /** How long the operation took. */
  ms: number;
  /** How long a timer of TIMEOUT_MS armed with it actually took to fire. */
  timerMs: number;
}

/**
 * Runs `operation`, resolving how it ended and how long it took; for a failure, also how long a
 * TIMEOUT_MS timer armed with it took to fire (a success does not wait for that timer).
 */
async function timed(operation: () => Promise<unknown>): Promise<Timed> {
  const started = performance.now();
  let timeout: NodeJS.Timeout | undefined;
  const timer = new Promise<number>((resolve) => {
    timeout = setTimeout(() => resolve(performance.now() - started), TIMEOUT_MS);
  });
  try {
    await operation();
    clearTimeout(timeout);
    return { ok: true, ms: performance.now() - started, timerMs: Number.NaN };
  } catch (error) {
    const ms = performance.now() - started;
    return { ok: false, code: (error as { code?: string }).code, ms, timerMs: await timer };
  }
}

/** Whether a failure came no later than the deadline (as the timer saw it) plus the slack. */
function inTime({ ms, timerMs }: Timed): boolean {
  return ms < Math.max(TIMEOUT_MS, timerMs) + MARGIN_MS;
}

/** How a timing reads in an assertion's name. */
function took({ ms, timerMs }: Timed): string {
  return `${Math.round(ms)} ms (a ${TIMEOUT_MS} ms timer took ${Math.round(timerMs)} ms)`;
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
          const result = results[i]!;
          t.equal(result.code, 'TWOFOLD_STORE_UNAVAILABLE', `${name} fails closed`);
          t.ok(result.ms >= TIMEOUT_MS - 20 && inTime(result), `${name} failed after ${took(result)}`);
        }
      },
    );

    await t.test('the same store works again once the paused server answers', async (t) => {
      for (const [name, operation] of operations(store, userId)) t.ok((await timed(operation)).ok, name);
    });

    await t.test('a crashed server fails every operation within operationTimeoutMs', async (t) => {
      await server.kill();
      for (const [name, operation] of operations(store, userId)) {
        const result = await timed(operation);
        t.equal(result.code, 'TWOFOLD_STORE_UNAVAILABLE', `${name} fails closed`);
        t.ok(inTime(result), `${name} failed after ${took(result)}`);
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
      t.ok(inTime(first), `failed after ${took(first)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const later = await timed(() => store.countRecoveryCodes('u'));
      t.equal(later.code, 'TWOFOLD_STORE_UNAVAILABLE', 'and so does every later operation');
      t.ok(inTime(later), `failed after ${took(later)}`);
    });
  }
});
