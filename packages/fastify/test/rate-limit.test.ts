/**
 * Per-IP rate limits on every kit route: keyed by the client's address (IPv6 by its /64) and the
 * route's id, the stricter limit on sensitive routes, 429 in the kit's shape with Retry-After, and
 * counts shared through Redis by several processes.
 */
import { randomInt } from 'node:crypto';
import { RATE_LIMIT_REDIS_PREFIX, rateLimitKey } from '@twofold/core/http';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import t from 'tap';
import twofold from '../src/index.js';
import { buildApp, isListening, kitOptions, PASSWORD, REDIS, reportRedisMissing } from './helpers.js';

const wrongLogin = { username: 'ada', password: 'wrong' };
// Probed before any test runs: a probe beside running tests can time out on a loaded machine while
// the server answered (its timer fires before the blocked event loop reads the socket).
const redisListening = await isListening(REDIS.host, REDIS.port);

async function post(
  app: FastifyInstance,
  url: string,
  payload: unknown,
  remoteAddress = '127.0.0.1',
  headers = {},
) {
  return app.inject({ method: 'POST', url, payload: payload as object, remoteAddress, headers });
}

t.test(
  'a sensitive route allows sensitiveMax requests, then 429 TWOFOLD_RATE_LIMITED with Retry-After',
  async (t) => {
    const { app, logs } = await buildApp(t, { twofold: { rateLimit: { max: 5, sensitiveMax: 2 } } });
    t.equal((await post(app, '/2fa/login', wrongLogin)).statusCode, 401);
    t.equal((await post(app, '/2fa/login', wrongLogin)).statusCode, 401);
    const limited = await post(app, '/2fa/login', { username: 'ada', password: PASSWORD });
    t.equal(limited.statusCode, 429, 'the third attempt is refused, right password or not');
    const body = limited.json();
    t.strictSame(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
    t.equal(body.code, 'TWOFOLD_RATE_LIMITED');
    t.equal(body.error, 'Too Many Requests');
    t.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);
    t.equal(limited.headers['cache-control'], 'no-store');
    t.notOk(
      logs.some((line) => JSON.parse(line).level >= 50),
      'a 429 is not logged as an error',
    );

    // Another route is another bucket; a non-sensitive one has the larger limit.
    for (let i = 1; i <= 5; i++) {
      t.equal((await post(app, '/2fa/token/verify', { token: 'x' })).statusCode, 401, `token/verify #${i}`);
    }
    t.equal((await post(app, '/2fa/token/verify', { token: 'x' })).statusCode, 429, 'token/verify #6');
    // Another client has its own counts.
    t.equal((await post(app, '/2fa/login', wrongLogin, '198.51.100.7')).statusCode, 401, 'another address');
  },
);

t.test(
  'the key is the route id, not the raw URL: a query string gets no fresh counter, other spellings are 404',
  async (t) => {
    // Even where the host's router would take them, other spellings are no route of the kit (as on
    // Express): a 404 before the limiter, which counts nothing.
    const app = Fastify({ routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true } });
    t.teardown(() => app.close());
    await app.register(twofold, kitOptions(undefined, { rateLimit: { sensitiveMax: 3 } }));
    await app.ready();
    const urls = ['/2fa/login', '/2fa/login/', '//2fa//login', '/2fa/login?fresh=1', '/2fa/login?again=1'];
    const statuses = [];
    for (const url of urls) statuses.push((await post(app, url, wrongLogin)).statusCode);
    t.strictSame(statuses, [401, 404, 404, 401, 401], 'three counted, the other spellings 404');
    t.equal((await post(app, '/2fa/login', wrongLogin)).statusCode, 429, 'the fourth counted request');
  },
);

t.test('IPv6 clients are keyed by their /64', async (t) => {
  const { app } = await buildApp(t, { twofold: { rateLimit: { sensitiveMax: 2 } } });
  t.equal((await post(app, '/2fa/login', wrongLogin, '2001:db8:1:2::1')).statusCode, 401);
  t.equal((await post(app, '/2fa/login', wrongLogin, '2001:db8:1:2:aaaa:bbbb:cccc:dddd')).statusCode, 401);
  t.equal((await post(app, '/2fa/login', wrongLogin, '2001:db8:1:2:ffff::9')).statusCode, 429, 'same /64');
  t.equal((await post(app, '/2fa/login', wrongLogin, '2001:db8:1:3::1')).statusCode, 401, 'next /64');
});

t.test("the host's trustProxy decides the client address", async (t) => {
  const trusting = Fastify({ trustProxy: true });
  const plain = Fastify();
  t.teardown(() => Promise.all([trusting.close(), plain.close()]));
  for (const app of [trusting, plain]) {
    await app.register(twofold, kitOptions(undefined, { rateLimit: { sensitiveMax: 1 } }));
    await app.ready();
  }
  const from = (address: string) => ({ 'x-forwarded-for': address });
  t.equal((await post(trusting, '/2fa/login', wrongLogin, '127.0.0.1', from('203.0.113.1'))).statusCode, 401);
  t.equal(
    (await post(trusting, '/2fa/login', wrongLogin, '127.0.0.1', from('203.0.113.2'))).statusCode,
    401,
    'behind a trusted proxy: the forwarded address',
  );
  t.equal((await post(plain, '/2fa/login', wrongLogin, '127.0.0.1', from('203.0.113.1'))).statusCode, 401);
  t.equal(
    (await post(plain, '/2fa/login', wrongLogin, '127.0.0.1', from('203.0.113.2'))).statusCode,
    429,
    'no trusted proxy: X-Forwarded-For is ignored',
  );
});

t.test('rateLimit: false turns the kit limits off', async (t) => {
  const { app } = await buildApp(t, { twofold: { rateLimit: false } });
  for (let i = 0; i < 15; i++) {
    const answer = await post(app, '/2fa/login', wrongLogin);
    if (answer.statusCode !== 401) t.fail(`attempt ${i + 1}: ${answer.statusCode}`);
  }
  const last = await post(app, '/2fa/login', wrongLogin);
  t.equal(last.headers['x-ratelimit-limit'], undefined, 'no limit headers');
});

t.test('a rate-limit Redis that is unreachable fails closed: 503, logged', async (t) => {
  const redis = new Redis({
    host: '127.0.0.1',
    port: 1,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  t.teardown(() => redis.disconnect());
  const { app, logs } = await buildApp(t, { twofold: { rateLimit: { redis } } });
  const answer = await post(app, '/2fa/login', { username: 'ada', password: PASSWORD });
  t.equal(answer.statusCode, 503);
  t.equal(answer.json().code, 'TWOFOLD_STORE_UNAVAILABLE');
  const errors = logs.map((line) => JSON.parse(line)).filter((entry) => entry.level >= 50);
  t.equal(errors.length, 1);
  t.match(errors[0], { code: 'TWOFOLD_STORE_UNAVAILABLE', error: { name: 'StoreUnavailableError' } });
  t.notOk(logs.join('\n').includes(PASSWORD));
});

if (redisListening) {
  t.test('with a Redis client, two processes share one count', async (t) => {
    const clients = [new Redis(REDIS), new Redis(REDIS)];
    t.teardown(() => {
      for (const client of clients) client.disconnect();
    });
    const apps = [];
    for (const redis of clients) {
      const { app } = await buildApp(t, { twofold: { rateLimit: { sensitiveMax: 3, redis } } });
      apps.push(app);
    }
    // An address of this run only, so runs and other test files sharing the Redis never meet.
    const address = `2001:db8:${randomInt(0xffff).toString(16)}:${randomInt(0xffff).toString(16)}::1`;
    const statuses = [];
    for (const app of [apps[0]!, apps[1]!, apps[0]!, apps[1]!]) {
      statuses.push((await post(app, '/2fa/login', wrongLogin, address)).statusCode);
    }
    t.strictSame(
      statuses,
      [401, 401, 401, 429],
      'the fourth request, to either app, is the one over the limit',
    );
    // The exact key, never KEYS: that would block a shared Redis holding millions of other keys.
    const key = `${RATE_LIMIT_REDIS_PREFIX}${rateLimitKey(address, 'login')}`;
    t.match(key, /^twofold:rl:2001:db8:[0-9a-f]+:[0-9a-f]+::\/64:login$/);
    t.equal(await clients[0]!.get(key), '4', 'one count: the /64 and the route id');
    t.ok((await clients[0]!.pttl(key)) > 0, 'it expires with the window');
    await clients[0]!.del(key);
  });
} else {
  reportRedisMissing('the shared rate-limit test');
}
