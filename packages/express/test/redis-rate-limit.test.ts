// Rate limits counted in Redis (rate-limit-redis): two routers with their own clients, as two
// processes would be, share the counts; a Redis outage answers 503 (fail closed) and the limits
// come back with Redis. Needs redis-server on 127.0.0.1:6379 and the redis-server binary.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore } from '@twofold/core';
import { freePort, isListening, missing } from '@twofold/test-support';
import { Redis } from 'ioredis';
import t from 'tap';
import { REDIS_PREFIX } from '../src/index.js';
import { authenticate, call, startServer } from './helpers.js';

const SHARED = { host: '127.0.0.1', port: 6379 };

const wrongLogin = (address: string) => ({
  json: { username: 'ada', password: 'wrong' },
  headers: { 'x-forwarded-for': address },
});

/** An IPv6 /64 no other run uses, so runs against the shared Redis never meet (written as clientKey does). */
function uniqueNetwork(): string {
  const [high, low] = [randomBytes(2).readUInt16BE() | 0x1000, randomBytes(2).readUInt16BE() | 0x1000];
  return `2001:db8:${high.toString(16)}:${low.toString(16)}`;
}

if (!(await isListening(SHARED.host, SHARED.port))) {
  missing(t, `Redis not reachable at ${SHARED.host}:${SHARED.port}`);
} else {
  t.test('two routers on one Redis share the counts, per route and per /64', async (t) => {
    const clients = [new Redis(SHARED), new Redis(SHARED)];
    const network = uniqueNetwork();
    // Exact keys only: KEYS (or a SCAN of the whole shared keyspace) would block or crawl on a Redis
    // that holds millions of other keys.
    const keyOf = (routeId: string) => `${REDIS_PREFIX}${network}::/64:${routeId}`;
    t.teardown(async () => {
      await clients[0]!.del(keyOf('login'), keyOf('token.verify'));
      for (const client of clients) client.disconnect();
    });
    const servers = [];
    for (const client of clients) {
      servers.push(
        await startServer(
          t,
          { store: memoryStore(), authenticate, rateLimit: { sensitiveMax: 3, redis: client } },
          { trustProxy: 'loopback' },
        ),
      );
    }
    const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
    t.equal((await call(`${a.url}/2fa/login`, 'POST', wrongLogin(`${network}::1`))).status, 401);
    t.equal((await call(`${b.url}/2fa/login`, 'POST', wrongLogin(`${network}::2`))).status, 401);
    t.equal((await call(`${a.url}/2fa/login`, 'POST', wrongLogin(`${network}::3`))).status, 401);
    const limited = await call(`${b.url}/2fa/login`, 'POST', wrongLogin(`${network}::4`));
    t.same(
      [limited.status, limited.body.code],
      [429, 'TWOFOLD_RATE_LIMITED'],
      'the 4th, on the other router',
    );
    t.ok(Number(limited.headers.get('retry-after')) >= 1);

    t.equal(await clients[0]!.get(keyOf('login')), '4', 'the count is keyed by the /64 and the route id');
    const ttl = await clients[0]!.pttl(keyOf('login'));
    t.ok(ttl > 0 && ttl <= 60_000, 'the count expires with the window');
    t.equal(await clients[0]!.exists(keyOf('token.verify')), 0, 'no other route counted yet');

    const other = await call(`${a.url}/2fa/token/verify`, 'POST', {
      json: { token: 'a.b.c' },
      headers: { 'x-forwarded-for': `${network}::1` },
    });
    t.equal(other.status, 401, 'another route has its own count');
    t.same(a.logs, []);
  });

  t.test('Redis down: 503, fail closed; the limits come back with Redis', async (t) => {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'twofold-express-redis-'));
    let redisServer: ChildProcess | undefined;
    const client = new Redis({
      host: '127.0.0.1',
      port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    client.on('error', () => undefined);
    t.teardown(async () => {
      client.disconnect();
      if (redisServer && redisServer.exitCode === null) {
        const exited = new Promise((resolve) => redisServer!.once('exit', resolve));
        redisServer.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    });

    const server = await startServer(t, {
      store: memoryStore(),
      authenticate,
      rateLimit: { sensitiveMax: 2, redis: client },
    });
    const login = () =>
      call(`${server.url}/2fa/login`, 'POST', { json: { username: 'ada', password: 'wrong' } });
    const down = await login();
    t.same([down.status, down.body.code], [503, 'TWOFOLD_STORE_UNAVAILABLE']);
    t.ok(
      server.logs.some((line) => line.level === 'error' && line.fields.code === 'TWOFOLD_STORE_UNAVAILABLE'),
      'the 503 is logged',
    );

    redisServer = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await new Promise<void>((resolve) => {
      if (client.status === 'ready') resolve();
      else client.once('ready', () => resolve());
    });
    t.equal((await login()).status, 401, 'counted again as soon as Redis is back');
    t.equal((await login()).status, 401);
    t.equal((await login()).status, 429);
  });
}
