// Per-IP rate limits: per route id, stricter on sensitive routes, IPv6 by /64, client address only
// through the host's `trust proxy`, 429 in the error shape with Retry-After.
import { memoryStore } from '@twofold/core';
import t from 'tap';
import { authenticate, call, startServer } from './helpers.js';

const wrongLogin = { json: { username: 'ada', password: 'wrong' } };

t.test('a sensitive route allows sensitiveMax requests, then 429 with Retry-After', async (t) => {
  const server = await startServer(t, {
    store: memoryStore(),
    authenticate,
    rateLimit: { max: 5, sensitiveMax: 2, timeWindowMs: 60_000 },
  });
  const login = `${server.url}/2fa/login`;
  t.equal((await call(login, 'POST', wrongLogin)).status, 401);
  t.equal((await call(login, 'POST', wrongLogin)).status, 401);
  const limited = await call(login, 'POST', wrongLogin);
  t.equal(limited.status, 429);
  t.same(limited.body, {
    statusCode: 429,
    code: 'TWOFOLD_RATE_LIMITED',
    error: 'Too Many Requests',
    message: limited.body.message,
  });
  const retryAfter = Number(limited.headers.get('retry-after'));
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  t.equal(limited.headers.get('cache-control'), 'no-store');
  t.match(limited.headers.get('ratelimit-policy'), /^2;w=60$/);

  // Other routes have buckets of their own; a non-sensitive route uses `max`.
  const verify = `${server.url}/2fa/token/verify`;
  for (let request = 1; request <= 5; request++) {
    t.equal(
      (await call(verify, 'POST', { json: { token: 'a.b.c' } })).status,
      401,
      `token.verify #${request}`,
    );
  }
  t.equal((await call(verify, 'POST', { json: { token: 'a.b.c' } })).status, 429);
});

t.test('the bucket is the route id, not the spelling of the path', async (t) => {
  const server = await startServer(t, {
    store: memoryStore(),
    authenticate,
    rateLimit: { sensitiveMax: 3 },
  });
  for (const path of ['/2fa/login', '/2fa/login?again=1', '/2fa/login?fresh=1']) {
    t.equal((await call(`${server.url}${path}`, 'POST', wrongLogin)).status, 401, path);
  }
  // Other spellings are no route of the kit (the router is strict and case-sensitive, as on Fastify).
  for (const path of ['/2fa/LOGIN', '/2fa/login/']) {
    t.equal((await call(`${server.url}${path}`, 'POST', wrongLogin)).status, 404, path);
  }
  t.equal((await call(`${server.url}/2fa/login`, 'POST', wrongLogin)).status, 429);
});

t.test('malformed requests count too', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate, rateLimit: { sensitiveMax: 1 } });
  const login = `${server.url}/2fa/login`;
  t.equal(
    (await call(login, 'POST', { body: '{', headers: { 'content-type': 'application/json' } })).status,
    400,
  );
  t.equal((await call(login, 'POST', wrongLogin)).status, 429);
});

t.test('behind a trusted proxy: X-Forwarded-For decides, IPv6 by its /64', async (t) => {
  const server = await startServer(
    t,
    { store: memoryStore(), authenticate, rateLimit: { sensitiveMax: 2 } },
    { trustProxy: 'loopback' },
  );
  const from = (address: string) =>
    call(`${server.url}/2fa/login`, 'POST', { ...wrongLogin, headers: { 'x-forwarded-for': address } });

  t.equal((await from('2001:db8:1:2::1')).status, 401);
  t.equal((await from('2001:db8:1:2:ffff:ffff:ffff:ffff')).status, 401);
  t.equal((await from('2001:db8:1:2:abcd::9')).status, 429, 'another address in the same /64 is limited');
  t.equal((await from('2001:db8:1:3::1')).status, 401, 'the next /64 has its own count');
  t.equal((await from('198.51.100.7')).status, 401);
  t.equal((await from('198.51.100.7')).status, 401);
  t.equal((await from('::ffff:198.51.100.7')).status, 429, 'an IPv4-mapped address is its IPv4 address');
  t.equal((await from('198.51.100.8')).status, 401);
});

t.test('without trust proxy, X-Forwarded-For changes nothing', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate, rateLimit: { sensitiveMax: 2 } });
  const from = (address: string) =>
    call(`${server.url}/2fa/login`, 'POST', { ...wrongLogin, headers: { 'x-forwarded-for': address } });
  t.equal((await from('203.0.113.1')).status, 401);
  t.equal((await from('203.0.113.2')).status, 401);
  t.equal((await from('203.0.113.3')).status, 429);
});

t.test('trust proxy = true is reported once through the log hook', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate }, { trustProxy: true });
  await call(`${server.url}/2fa/login`, 'POST', wrongLogin);
  await call(`${server.url}/2fa/token/verify`, 'POST', { json: { token: 'a.b.c' } });
  t.match(server.logs, [{ level: 'warn', message: /trust proxy/ }]);
  t.equal(server.logs.length, 1);
});

t.test('rateLimit: false turns the per-IP limits off (the account lockout stays)', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate, rateLimit: false });
  for (let request = 0; request < 15; request++) {
    const reply = await call(`${server.url}/2fa/login`, 'POST', wrongLogin);
    t.equal(reply.status, 401);
    t.equal(reply.headers.get('ratelimit'), null);
  }
});
