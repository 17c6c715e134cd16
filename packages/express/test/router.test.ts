// HTTP plumbing of the router: bodies, media types, sizes, unknown routes, the error shape,
// Cache-Control, and what reaches the log hook (5xx only, never a request value).
import { memoryStore, type Store } from '@twofold/core';
import express from 'express';
import t, { type Test } from 'tap';
import { twofold } from '../src/index.js';
import { authenticate, call, startServer, testKeyring, USERS } from './helpers.js';

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode'];

function checkErrorShape(t: Test, body: unknown, status: number) {
  t.same(Object.keys(body as object).sort(), ERROR_KEYS, 'the one error shape');
  t.equal((body as { statusCode: number }).statusCode, status);
}

t.test('bodies: malformed, not an object, oversized, wrong type, compressed, missing', async (t) => {
  const server = await startServer(t, {
    store: memoryStore(),
    authenticate,
    bodyLimit: 1024,
    rateLimit: false,
  });
  const login = `${server.url}/2fa/login`;
  const json = { 'content-type': 'application/json' };
  const cases: [string, { body?: string; headers?: Record<string, string> }, number, string, RegExp][] = [
    [
      'malformed JSON',
      { body: '{"username":"ada","password":"sw0rdf1sh', headers: json },
      400,
      'TWOFOLD_INVALID_INPUT',
      /body is not valid JSON/,
    ],
    ['a JSON string', { body: '"ada"', headers: json }, 400, 'TWOFOLD_INVALID_INPUT', /JSON object/],
    ['a JSON array', { body: '[1,2]', headers: json }, 400, 'TWOFOLD_INVALID_INPUT', /body/],
    ['no body at all', {}, 400, 'TWOFOLD_INVALID_INPUT', /body/],
    [
      'an unknown field',
      { body: '{"username":"a","password":"b","admin":true}', headers: json },
      400,
      'TWOFOLD_INVALID_INPUT',
      /"admin"/,
    ],
    [
      'a wrong field type',
      { body: '{"username":5,"password":"b"}', headers: json },
      400,
      'TWOFOLD_INVALID_INPUT',
      /"username"/,
    ],
    [
      'larger than bodyLimit',
      { body: JSON.stringify({ username: 'a', password: 'x'.repeat(2000) }), headers: json },
      413,
      'TWOFOLD_PAYLOAD_TOO_LARGE',
      /1024 bytes/,
    ],
    [
      'text/plain',
      { body: 'username=ada', headers: { 'content-type': 'text/plain' } },
      415,
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      /application\/json/,
    ],
    [
      'no content type',
      { body: '{"username":"a","password":"b"}' },
      415,
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      /JSON/,
    ],
    [
      'a form',
      { body: 'username=a&password=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      /JSON/,
    ],
    [
      'gzip',
      { body: '{}', headers: { ...json, 'content-encoding': 'gzip' } },
      415,
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      /compressed/,
    ],
    [
      'latin1',
      { body: '{}', headers: { 'content-type': 'application/json; charset=latin1' } },
      415,
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      /UTF-8/,
    ],
  ];
  for (const [name, request, status, code, message] of cases) {
    const reply = await call(login, 'POST', request);
    t.equal(reply.status, status, name);
    t.equal(reply.body.code, code, name);
    t.match(reply.body.message, message, name);
    checkErrorShape(t, reply.body, status);
    t.equal(reply.headers.get('cache-control'), 'no-store', name);
    t.notMatch(reply.body.message, /sw0rdf1sh/, 'the body is never quoted back');
  }
  t.same(server.logs, [], '4xx answers are not logged');
});

t.test('a route without fields takes no body, an empty JSON body or {}', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate });
  const { accessToken } = (
    await call(`${server.url}/2fa/login`, 'POST', { json: { username: 'ada', password: USERS.ada.password } })
  ).body;
  const enroll = `${server.url}/2fa/totp/enroll`;
  t.equal((await call(enroll, 'POST', { token: accessToken })).status, 201);
  t.equal((await call(enroll, 'POST', { token: accessToken, json: {} })).status, 201);
  t.equal(
    (
      await call(enroll, 'POST', {
        token: accessToken,
        body: '',
        headers: { 'content-type': 'application/json' },
      })
    ).status,
    201,
  );
  const extra = await call(enroll, 'POST', { token: accessToken, json: { secret: 'mine' } });
  t.same([extra.status, extra.body.code], [400, 'TWOFOLD_INVALID_INPUT']);
});

t.test('unknown paths and methods inside the router answer 404 in the error shape', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate });
  for (const [method, path] of [
    ['GET', '/2fa/nothing-here'],
    ['GET', '/2fa/login'],
    ['POST', '/2fa/status'],
    ['DELETE', '/2fa/totp/enroll'],
    ['GET', '/2fa'],
  ] as const) {
    const reply = await call(`${server.url}${path}`, method);
    t.equal(reply.status, 404, `${method} ${path}`);
    t.equal(reply.body.code, 'TWOFOLD_NOT_FOUND');
    checkErrorShape(t, reply.body, 404);
    t.equal(reply.headers.get('cache-control'), 'no-store');
  }
});

t.test('every answer of the router says Cache-Control: no-store; host routes are left alone', async (t) => {
  const server = await startServer(t, { store: memoryStore(), authenticate });
  server.app.get('/host/public', (_request, response) => {
    response.json({ ok: true });
  });
  const login = await call(`${server.url}/2fa/login`, 'POST', {
    json: { username: 'ada', password: USERS.ada.password },
  });
  t.equal(login.headers.get('cache-control'), 'no-store');
  const status = await call(`${server.url}/2fa/status`, 'GET', { token: login.body.accessToken });
  t.equal(status.headers.get('cache-control'), 'no-store');
  const verify = await call(`${server.url}/2fa/token/verify`, 'POST', { json: { token: 'x.y.z' } });
  t.same([verify.status, verify.headers.get('cache-control')], [401, 'no-store']);
  t.equal((await call(`${server.url}/host/public`, 'GET')).headers.get('cache-control'), null);
});

/** A memoryStore whose every operation fails while `down` is true, like an unreachable database. */
function flakyStore(): { store: Store; setDown(down: boolean): void } {
  const inner = memoryStore();
  let down = false;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
        return value.apply(target, args);
      };
    },
  });
  return { store, setDown: (value) => (down = value) };
}

t.test('a store that is down answers 503 and the failure is logged without request values', async (t) => {
  const flaky = flakyStore();
  const server = await startServer(t, { store: flaky.store, authenticate });
  flaky.setDown(true);
  const reply = await call(`${server.url}/2fa/login`, 'POST', {
    json: { username: 'ada', password: USERS.ada.password },
  });
  t.same([reply.status, reply.body.code], [503, 'TWOFOLD_STORE_UNAVAILABLE']);
  checkErrorShape(t, reply.body, 503);
  t.equal(server.logs.length, 1);
  t.match(server.logs[0], {
    level: 'error',
    fields: {
      route: 'login',
      method: 'POST',
      path: '/2fa/login',
      statusCode: 503,
      code: 'TWOFOLD_STORE_UNAVAILABLE',
      error: { name: 'StoreUnavailableError', cause: { message: /ECONNREFUSED/ } },
    },
  });
  t.notMatch(server.logText(), USERS.ada.password);
});

t.test('an unexpected error is a 500 with a generic message; the details go to the log only', async (t) => {
  const server = await startServer(t, {
    store: memoryStore(),
    authenticate: async () => {
      throw new Error('users table is corrupt');
    },
  });
  const reply = await call(`${server.url}/2fa/login`, 'POST', {
    json: { username: 'ada', password: USERS.ada.password },
  });
  t.same([reply.status, reply.body.code], [500, 'TWOFOLD_INTERNAL']);
  t.notMatch(reply.body.message, /corrupt/);
  t.match(server.logs, [
    { level: 'error', fields: { route: 'login', error: { message: 'users table is corrupt' } } },
  ]);
  t.notMatch(server.logText(), USERS.ada.password);
});

t.test('a log hook that throws never breaks the answer', async (t) => {
  const router = twofold({
    store: memoryStore(),
    keyring: testKeyring(),
    issuer: 'Acme',
    authenticate: async () => {
      throw new Error('boom');
    },
    log: () => {
      throw new Error('logger down');
    },
  });
  const app = express().use('/2fa', router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  const reply = await call(`http://127.0.0.1:${port}/2fa/login`, 'POST', {
    json: { username: 'a', password: 'b' },
  });
  t.same([reply.status, reply.body.code], [500, 'TWOFOLD_INTERNAL']);
});

t.test('without a log hook the router writes nothing to the console', async (t) => {
  const router = twofold({
    store: memoryStore(),
    keyring: testKeyring(),
    issuer: 'Acme',
    authenticate: async () => {
      throw new Error('boom');
    },
  });
  const app = express();
  app.set('trust proxy', true);
  app.use('/2fa', router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const written = [t.capture(console, 'error'), t.capture(console, 'warn'), t.capture(console, 'log')];
  const { port } = server.address() as { port: number };
  const reply = await call(`http://127.0.0.1:${port}/2fa/login`, 'POST', {
    json: { username: 'a', password: 'b' },
    headers: { 'x-forwarded-for': '203.0.113.9' },
  });
  t.equal(reply.status, 500);
  t.same(
    written.map((capture) => capture()),
    [[], [], []],
  );
});

t.test('failed background work (a recovery mail) goes to the log hook', async (t) => {
  const server = await startServer(t, {
    store: memoryStore(),
    authenticate,
    recovery: {
      findUserByEmail: async () => ({ userId: USERS.ada.userId, email: USERS.ada.email }),
      getUserEmail: async () => USERS.ada.email,
      verifyPassword: async () => true,
      sendMail: async () => {
        throw new Error('SMTP refused');
      },
      linkUrl: 'https://app.example.com/recover',
    },
  });
  // Enroll ada so a recovery mail is due.
  const engine = server.router.engine;
  const { secret } = await engine.enroll(USERS.ada.userId);
  const { Totp } = await import('@twofold/otp');
  await engine.confirm(USERS.ada.userId, new Totp({ secret }).generate().token);

  const reply = await call(`${server.url}/2fa/recovery/request`, 'POST', {
    json: { email: USERS.ada.email },
  });
  t.equal(reply.status, 202);
  for (let round = 0; round < 200 && server.logs.length === 0; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.match(server.logs, [
    { level: 'error', message: /background/, fields: { error: { message: 'SMTP refused' } } },
  ]);
});
