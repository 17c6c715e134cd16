/**
 * Every answer of the kit's scope that is not a success is in the one error shape with no-store:
 * the engine's errors, Fastify's own (bad JSON, too large, wrong content type, 404 under the
 * prefix), and failures of the store or the host's callbacks, which are logged without the body.
 */
import type { Store } from '@twofold/core';
import { memoryStore } from '@twofold/core';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { buildApp, enable, login, PASSWORD } from './helpers.js';

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode'];

function errorOf(t: Test, answer: LightMyRequestResponse, status: number, code: string, what: string) {
  t.equal(answer.statusCode, status, `${what}: status`);
  const body = answer.json();
  t.strictSame(Object.keys(body).sort(), ERROR_KEYS, `${what}: shape`);
  t.equal(body.statusCode, status, `${what}: statusCode`);
  t.equal(body.code, code, `${what}: code`);
  t.equal(answer.headers['cache-control'], 'no-store', `${what}: no-store`);
  return body as { message: string };
}

const errorLines = (logs: string[]) =>
  logs.map((line) => JSON.parse(line)).filter((entry) => entry.level >= 50);

t.test("Fastify's own errors inside the prefix answer in the kit's shape", async (t) => {
  const { app } = await buildApp(t, { twofold: { bodyLimit: 2048 } });
  const post = (payload: string, contentType?: string) =>
    app.inject({
      method: 'POST',
      url: '/2fa/login',
      payload,
      headers: contentType ? { 'content-type': contentType } : {},
    });

  const badJson = errorOf(
    t,
    await post('{"username": ', 'application/json'),
    400,
    'TWOFOLD_INVALID_INPUT',
    'invalid JSON',
  );
  t.match(badJson.message, /body is not valid JSON/, 'the message names the body');
  const poisoned = await post(
    '{"__proto__": {"admin": true}, "username": "a", "password": "b"}',
    'application/json',
  );
  errorOf(t, poisoned, 400, 'TWOFOLD_INVALID_INPUT', 'prototype poisoning');
  const large = errorOf(
    t,
    await post(JSON.stringify({ username: 'a', password: 'x'.repeat(3000) }), 'application/json'),
    413,
    'TWOFOLD_PAYLOAD_TOO_LARGE',
    'larger than bodyLimit',
  );
  t.match(large.message, /2048/, 'names the limit');
  errorOf(
    t,
    await post('username=a&password=b', 'application/x-www-form-urlencoded'),
    415,
    'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
    'a form',
  );
  errorOf(t, await post('hello', 'text/plain'), 415, 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE', 'text/plain');
  errorOf(t, await post('{"username":"a"}'), 415, 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE', 'no content type');
  errorOf(t, await post('[1,2]', 'application/json'), 400, 'TWOFOLD_INVALID_INPUT', 'an array');
  const missing = await app.inject({ method: 'POST', url: '/2fa/login', payload: { username: 'ada' } });
  t.match(errorOf(t, missing, 400, 'TWOFOLD_INVALID_INPUT', 'a missing field').message, /"password"/);
  const unknown = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username: 'a', password: 'b', admin: true },
  });
  t.match(errorOf(t, unknown, 400, 'TWOFOLD_INVALID_INPUT', 'an unknown field').message, /"admin"/);
  const typed = await post(
    JSON.stringify({ username: 'ada', password: PASSWORD }),
    'application/vnd.acme+json; charset=utf-8',
  );
  t.equal(typed.statusCode, 200, 'application/*+json is JSON too');

  errorOf(
    t,
    await app.inject({ method: 'GET', url: '/2fa/nothing-here' }),
    404,
    'TWOFOLD_NOT_FOUND',
    '404 in the prefix',
  );
  errorOf(
    t,
    await app.inject({ method: 'GET', url: '/2fa/login' }),
    404,
    'TWOFOLD_NOT_FOUND',
    'wrong method',
  );
  errorOf(t, await app.inject({ method: 'GET', url: '/2fa' }), 404, 'TWOFOLD_NOT_FOUND', 'the prefix itself');
});

t.test(
  'a JSON number, object or array where a code belongs is a wrong code, counted toward lockout',
  async (t) => {
    const { app, clock } = await buildApp(t, { twofold: { lockout: { maxFailures: 3 } } });
    const ada = await enable(app, clock, 'ada');
    const headers = { authorization: `Bearer ${ada.accessToken}` };
    for (const code of [123456, { digits: '123456' }, ['123456']]) {
      const answer = await app.inject({
        method: 'POST',
        url: '/2fa/recovery-codes/rotate',
        headers,
        payload: { code },
      });
      errorOf(t, answer, 400, 'TWOFOLD_INVALID_CODE', JSON.stringify(code));
    }
    const locked = await app.inject({
      method: 'POST',
      url: '/2fa/recovery-codes/rotate',
      headers,
      payload: { code: '000000' },
    });
    errorOf(t, locked, 429, 'TWOFOLD_LOCKED', 'the fourth attempt');
    t.ok(Number(locked.headers['retry-after']) > 0, 'a lock says when to retry');
  },
);

t.test('4xx answers are not logged as errors', async (t) => {
  const { app, logs } = await buildApp(t);
  await app.inject({ method: 'POST', url: '/2fa/login', payload: { username: 'ada', password: 'wrong' } });
  await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: '{',
    headers: { 'content-type': 'application/json' },
  });
  await app.inject({ method: 'GET', url: '/2fa/status' });
  await app.inject({ method: 'GET', url: '/2fa/missing' });
  t.strictSame(errorLines(logs), []);
});

t.test('a store that is down answers 503 and is logged at error level, without the body', async (t) => {
  const inner = memoryStore();
  let down = false;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        down ? Promise.reject(new Error('connect ECONNREFUSED')) : value.apply(target, args);
    },
  }) as Store;
  const { app, logs } = await buildApp(t, { twofold: { store } });
  down = true;
  const answer = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username: 'ada', password: PASSWORD },
  });
  errorOf(t, answer, 503, 'TWOFOLD_STORE_UNAVAILABLE', 'store down');
  const errors = errorLines(logs);
  t.equal(errors.length, 1, 'one error line');
  t.equal(errors[0].code, 'TWOFOLD_STORE_UNAVAILABLE');
  t.match(errors[0].error, { name: 'StoreUnavailableError', cause: { message: 'connect ECONNREFUSED' } });
  t.notOk(logs.join('\n').includes(PASSWORD), 'the password is nowhere in the log');
});

t.test(
  'a host callback that throws is a 500 with a generic message; the log has the error, not the body',
  async (t) => {
    const { app, logs } = await buildApp(t, {
      twofold: {
        authenticate: async () => {
          throw new Error('users table is gone');
        },
      },
    });
    const answer = await app.inject({
      method: 'POST',
      url: '/2fa/login',
      payload: { username: 'ada', password: PASSWORD },
    });
    const body = errorOf(t, answer, 500, 'TWOFOLD_INTERNAL', 'host failure');
    t.notMatch(body.message, /users table/, 'the cause stays on the server');
    const errors = errorLines(logs);
    t.equal(errors.length, 1);
    t.match(errors[0].error, { name: 'Error', message: 'users table is gone' });
    t.notOk(logs.join('\n').includes(PASSWORD), 'the password is nowhere in the log');
  },
);

t.test('every kit success carries Cache-Control: no-store', async (t) => {
  const { app } = await buildApp(t);
  const { accessToken } = (await login(app, 'ada')) as { accessToken: string };
  const headers = { authorization: `Bearer ${accessToken}` };
  for (const [method, url] of [
    ['GET', '/2fa/status'],
    ['POST', '/2fa/totp/enroll'],
  ] as const) {
    const answer = await app.inject({ method, url, headers });
    t.ok(answer.statusCode < 300, `${method} ${url}`);
    t.equal(answer.headers['cache-control'], 'no-store', `${method} ${url}: no-store`);
  }
});
