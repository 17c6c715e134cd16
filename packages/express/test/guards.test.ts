// The middleware for host routes: requireAuth and requireStepUp(n, options), their errors in the kit's
// shape (never through the host's error handler), and request.twofold.
import { memoryStore } from '@twofold/core';
import type { RequestHandler } from 'express';
import t, { type Test } from 'tap';
import { authenticate, call, codeAt, fakeClock, startServer, USERS } from './helpers.js';

async function setup(t: Test) {
  const clock = fakeClock();
  const server = await startServer(t, {
    store: memoryStore(),
    clock: clock.now,
    authenticate,
    verifyPassword: async (userId, password) =>
      userId === USERS.ada.userId && password === USERS.ada.password,
  });
  const hostErrors: unknown[] = [];
  server.app.get('/host/claims', server.router.requireAuth, (request, response) => {
    response.json(request.twofold);
  });
  server.app.get('/host/step-up-alone', server.router.requireStepUp(60), (request, response) => {
    response.json({ userId: request.twofold?.userId });
  });
  server.app.get(
    '/host/second-factor-alone',
    server.router.requireStepUp(60, { secondFactor: true }),
    (request, response) => {
      response.json({ userId: request.twofold?.userId });
    },
  );
  server.app.use(
    (
      error: unknown,
      _request: unknown,
      response: { status(code: number): { end(): void } },
      _next: unknown,
    ) => {
      hostErrors.push(error);
      response.status(599).end();
    },
  );
  const tokens = (
    await call(`${server.url}/2fa/login`, 'POST', { json: { username: 'ada', password: USERS.ada.password } })
  ).body;
  return { clock, server, hostErrors, tokens };
}

/** Makes ada's session a two-factor one: enroll, confirm, step up. Returns the new access token. */
async function stepUp(env: Awaited<ReturnType<typeof setup>>): Promise<string> {
  const { url } = env.server;
  const token = env.tokens.accessToken;
  const { secret } = (await call(`${url}/2fa/totp/enroll`, 'POST', { token })).body;
  // Turning 2FA on ends every session of the user; confirm answers the fresh tokens of this one.
  const confirmed = await call(`${url}/2fa/totp/confirm`, 'POST', {
    token,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  env.clock.advance(30_000);
  const reply = await call(`${url}/2fa/step-up`, 'POST', {
    token: confirmed.body.accessToken,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  return reply.body.accessToken;
}

t.test('requireAuth refuses anything but a valid access token, in the error shape', async (t) => {
  const env = await setup(t);
  const protectedUrl = `${env.server.url}/host/protected`;
  const cases: [string, Record<string, string>][] = [
    ['no header', {}],
    ['not bearer', { authorization: `Basic ${Buffer.from('ada:pw').toString('base64')}` }],
    ['garbage', { authorization: 'Bearer not-a-token' }],
    ['a refresh token', { authorization: `Bearer ${env.tokens.refreshToken}` }],
    ['a tampered token', { authorization: `Bearer ${env.tokens.accessToken.slice(0, -2)}xx` }],
  ];
  for (const [name, headers] of cases) {
    const reply = await call(protectedUrl, 'GET', { headers });
    t.equal(reply.status, 401, name);
    t.same(Object.keys(reply.body).sort(), ['code', 'error', 'message', 'statusCode'], name);
    t.equal(reply.body.code, 'TWOFOLD_UNAUTHORIZED', name);
  }
  env.clock.advance(16 * 60_000);
  const expired = await call(protectedUrl, 'GET', { token: env.tokens.accessToken });
  t.same([expired.status, expired.body.code], [401, 'TWOFOLD_UNAUTHORIZED'], 'expired');
  t.same(env.hostErrors, [], "the host's error handler never sees a guard error");
});

t.test('requireAuth sets request.twofold to the user id and the verified claims', async (t) => {
  const env = await setup(t);
  const reply = await call(`${env.server.url}/host/claims`, 'GET', { token: env.tokens.accessToken });
  t.equal(reply.status, 200);
  t.match(reply.body, {
    userId: USERS.ada.userId,
    claims: { userId: USERS.ada.userId, amr: ['pwd'], authTime: Number, expiresAt: Number },
  });
});

t.test('requireStepUp(n) works alone and wants an authentication at most n seconds old', async (t) => {
  const env = await setup(t);
  const url = `${env.server.url}/host/step-up-alone`;
  const anonymous = await call(url, 'GET');
  t.same([anonymous.status, anonymous.body.code], [401, 'TWOFOLD_UNAUTHORIZED']);
  const passwordOnly = await call(url, 'GET', { token: env.tokens.accessToken });
  t.same(passwordOnly.body, { userId: USERS.ada.userId }, 'no 2FA: a password login just now passes');
  env.clock.advance(61_000);
  const oldLogin = await call(url, 'GET', { token: env.tokens.accessToken });
  t.same([oldLogin.status, oldLogin.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'a login older than 60 s');
  t.match(oldLogin.body.message, /60 seconds/);
  const passwordStepUp = await call(`${env.server.url}/2fa/step-up`, 'POST', {
    token: env.tokens.accessToken,
    json: { password: USERS.ada.password },
  });
  t.equal(passwordStepUp.status, 200, 'POST /2fa/step-up with the password');
  t.same((await call(url, 'GET', { token: passwordStepUp.body.accessToken })).body, {
    userId: USERS.ada.userId,
  });

  const fresh = await stepUp(env);
  t.same((await call(url, 'GET', { token: fresh })).body, { userId: USERS.ada.userId });
  env.clock.advance(61_000);
  const stale = await call(url, 'GET', { token: fresh });
  t.same([stale.status, stale.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'older than 60 s');
  const defaultAge = await call(`${env.server.url}/host/sensitive`, 'GET', { token: fresh });
  t.equal(defaultAge.status, 200, 'the default (stepUp.maxAgeSeconds = 300) still accepts it');
  t.same(env.hostErrors, []);
});

t.test('requireStepUp(n, { secondFactor: true }) wants a second factor, 2FA or not', async (t) => {
  const env = await setup(t);
  const url = `${env.server.url}/host/second-factor-alone`;
  const passwordOnly = await call(url, 'GET', { token: env.tokens.accessToken });
  t.same([passwordOnly.status, passwordOnly.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'a fresh login');
  t.match(passwordOnly.body.message, /second factor from the last 60 seconds/);
  const passwordStepUp = await call(`${env.server.url}/2fa/step-up`, 'POST', {
    token: env.tokens.accessToken,
    json: { password: USERS.ada.password },
  });
  const afterPassword = await call(url, 'GET', { token: passwordStepUp.body.accessToken });
  t.same(
    [afterPassword.status, afterPassword.body.code],
    [401, 'TWOFOLD_STEP_UP_REQUIRED'],
    'a password step-up is no second factor',
  );

  const fresh = await stepUp(env);
  t.same((await call(url, 'GET', { token: fresh })).body, { userId: USERS.ada.userId }, 'a fresh code');
  env.clock.advance(61_000);
  const stale = await call(url, 'GET', { token: fresh });
  t.same([stale.status, stale.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'older than 60 s');
  t.same(env.hostErrors, []);
});

t.test('requireStepUp refuses a max age outside 30..86400, or bad options, at setup', async (t) => {
  const env = await setup(t);
  for (const bad of [0, 29, 86_401, 1.5, Number.NaN, '60']) {
    t.throws(() => env.server.router.requireStepUp(bad as number), {
      name: 'TypeError',
      message: /"maxAgeSeconds" must be an integer from 30 to 86400/,
    });
  }
  for (const bad of [null, true, { secondFactor: 'yes' }, { secondfactor: true }]) {
    t.throws(
      () => env.server.router.requireStepUp(60, bad as never),
      { name: 'TypeError', message: /^requireStepUp: / },
      JSON.stringify(bad),
    );
  }
  t.doesNotThrow(() => env.server.router.requireStepUp(undefined, { secondFactor: true }));
});

t.test('the router carries the engine and the HTTP layer', async (t) => {
  const env = await setup(t);
  const { router } = env.server;
  t.equal(router.engine, router.http.engine);
  t.equal(typeof router.engine.enroll, 'function');
  t.ok(router.http.routes.some((route) => route.id === 'login.verify'));
});

t.test("the kit's routes set request.twofold when the kit's access token named the user", async (t) => {
  const seen = new Map<string, string | null>();
  const before: RequestHandler = (request, response, next) => {
    const route = `${request.method} ${request.originalUrl}`;
    response.on('finish', () => seen.set(route, request.twofold?.userId ?? null));
    next();
  };
  const tokens = await startServer(t, { store: memoryStore(), authenticate }, { before });
  const { accessToken } = (
    await call(`${tokens.url}/2fa/login`, 'POST', { json: { username: 'ada', password: USERS.ada.password } })
  ).body;
  await call(`${tokens.url}/2fa/status`, 'GET', { token: accessToken });
  t.equal(seen.get('GET /2fa/status'), USERS.ada.userId, 'the token user, as the guards set it');
  t.equal(seen.get('POST /2fa/login'), null, 'a route without a user: none');

  seen.clear();
  const sessions = await startServer(t, { store: memoryStore(), getUserId: () => 'host-user-7' }, { before });
  t.equal((await call(`${sessions.url}/2fa/status`, 'GET')).status, 200);
  t.equal(seen.get('GET /2fa/status'), null, "never from getUserId: the host's own user");
});
