/**
 * What the plugin gives the host app: the engine on the instance, the access-token guard and the
 * step-up guard for its own routes, and `getUserId` for hosts with their own sessions.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import twofold from '../src/index.js';
import { buildApp, codeAt, enable, kitOptions, login, PASSWORD } from './helpers.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('app.twofold is the engine, with the HTTP layer as .http', async (t) => {
  const { app } = await buildApp(t);
  t.type(app.twofold.enroll, 'function');
  t.type(app.twofold.verify, 'function');
  t.equal(app.twofold.options.issuer, 'Fastify Test');
  t.equal(app.twofold.http.options.prefix, '/2fa');
  t.ok(Object.isFrozen(app.twofold), 'not changeable by accident');
  const status = await app.twofold.status('id-ada');
  t.equal(status.enabled, false, 'flows callable directly');
});

t.test('twofoldAuthenticate: a valid access token sets request.twofoldUser', async (t) => {
  const { app } = await buildApp(t);
  const { accessToken } = (await login(app, 'ada')) as { accessToken: string };
  const answer = await app.inject({ method: 'GET', url: '/host/protected', headers: bearer(accessToken) });
  t.equal(answer.statusCode, 200);
  t.strictSame(answer.json(), { userId: 'id-ada' });
});

t.test(
  'twofoldAuthenticate: no token, a bad token or a challenge token answer 401 in the kit shape',
  async (t) => {
    const { app, clock } = await buildApp(t);
    await enable(app, clock, 'bob');
    const { challengeToken } = (await login(app, 'bob')) as { challengeToken: string };
    const { refreshToken } = (await login(app, 'ada')) as { refreshToken: string };
    const cases: [string, Record<string, string>][] = [
      ['no header', {}],
      ['not bearer', { authorization: 'Basic YWRhOnB3' }],
      ['garbage', bearer('not.a.token')],
      ['a challenge token', bearer(challengeToken)],
      ['a refresh token', bearer(refreshToken)],
    ];
    for (const [what, headers] of cases) {
      const answer = await app.inject({ method: 'GET', url: '/host/protected', headers });
      t.equal(answer.statusCode, 401, what);
      t.strictSame(
        Object.keys(answer.json()).sort(),
        ['code', 'error', 'message', 'statusCode'],
        `${what}: shape`,
      );
      t.equal(answer.json().code, 'TWOFOLD_UNAUTHORIZED', `${what}: code`);
      t.equal(answer.headers['cache-control'], 'no-store', `${what}: no-store`);
    }
  },
);

t.test(
  'twofoldStepUp: without 2FA a recent password passes; with 2FA a fresh second factor passes until it ages',
  async (t) => {
    const { app, clock } = await buildApp(t, {
      twofold: { verifyPassword: async (userId, password) => userId === 'id-ada' && password === PASSWORD },
    });
    const { accessToken: passwordOnly } = (await login(app, 'ada')) as { accessToken: string };
    const fresh = await app.inject({ method: 'GET', url: '/host/sensitive', headers: bearer(passwordOnly) });
    t.equal(fresh.statusCode, 200, 'no 2FA: a password login just now passes');
    clock.advance(301_000);
    const refused = await app.inject({
      method: 'GET',
      url: '/host/sensitive',
      headers: bearer(passwordOnly),
    });
    t.equal(refused.statusCode, 401);
    t.equal(refused.json().code, 'TWOFOLD_STEP_UP_REQUIRED', 'a password login older than 300 s');
    const passwordStepUp = await app.inject({
      method: 'POST',
      url: '/2fa/step-up',
      headers: bearer(passwordOnly),
      payload: { password: PASSWORD },
    });
    t.equal(passwordStepUp.statusCode, 200, 'POST /2fa/step-up with the password');
    const afterPassword = await app.inject({
      method: 'GET',
      url: '/host/sensitive',
      headers: bearer(passwordStepUp.json().accessToken),
    });
    t.equal(afterPassword.statusCode, 200, 'the password step-up passes');

    const ada = await enable(app, clock, 'ada');
    const { challengeToken } = (await login(app, 'ada')) as { challengeToken: string };
    const verified = await app.inject({
      method: 'POST',
      url: '/2fa/login/verify',
      payload: { challengeToken, code: codeAt(ada.secret, clock.now()) },
    });
    const { accessToken } = verified.json();
    const passed = await app.inject({ method: 'GET', url: '/host/sensitive', headers: bearer(accessToken) });
    t.equal(passed.statusCode, 200, 'second factor just now');

    clock.advance(301_000);
    const aged = await app.inject({ method: 'GET', url: '/host/sensitive', headers: bearer(accessToken) });
    // The access token (15 min) is still valid; only the step-up has aged out (default 300 s).
    t.equal(aged.json().code, 'TWOFOLD_STEP_UP_REQUIRED', 'older than the default 300 s');
    const withPassword = await app.inject({
      method: 'POST',
      url: '/2fa/step-up',
      headers: bearer(accessToken),
      payload: { password: PASSWORD },
    });
    t.same(
      [withPassword.statusCode, withPassword.json().code],
      [400, 'TWOFOLD_INVALID_INPUT'],
      'with 2FA, the password is no step-up',
    );

    clock.advance(30_000);
    const stepUp = await app.inject({
      method: 'POST',
      url: '/2fa/step-up',
      headers: bearer(accessToken),
      payload: { code: codeAt(ada.secret, clock.now()) },
    });
    t.equal(stepUp.statusCode, 200, 'POST /2fa/step-up with a code');
    const again = await app.inject({
      method: 'GET',
      url: '/host/sensitive',
      headers: bearer(stepUp.json().accessToken),
    });
    t.equal(again.statusCode, 200, 'the stepped-up token passes');
  },
);

t.test(
  'twofoldStepUp(maxAgeSeconds, { secondFactor: true }) wants a second factor, 2FA or not',
  async (t) => {
    const { app, clock } = await buildApp(t, { twofold: { verifyPassword: async () => true } });
    const strict = Fastify();
    t.teardown(() => strict.close());
    await strict.register(twofold, { twoFactor: app.twofold, authenticate: async () => null });
    strict.get(
      '/second-factor',
      { preHandler: strict.twofoldStepUp(60, { secondFactor: true }) },
      async (request) => ({ userId: request.twofoldUser?.userId }),
    );
    strict.get(
      '/default-age',
      { preHandler: strict.twofoldStepUp(undefined, { secondFactor: true }) },
      async (request) => ({ userId: request.twofoldUser?.userId }),
    );
    await strict.ready();

    const { accessToken: passwordOnly } = (await login(app, 'bob')) as { accessToken: string };
    for (const url of ['/second-factor', '/default-age']) {
      const refused = await strict.inject({ method: 'GET', url, headers: bearer(passwordOnly) });
      t.same(
        [refused.statusCode, refused.json().code],
        [401, 'TWOFOLD_STEP_UP_REQUIRED'],
        `${url}: a password`,
      );
    }
    const stepped = await app.inject({
      method: 'POST',
      url: '/2fa/step-up',
      headers: bearer(passwordOnly),
      payload: { password: 'anything' },
    });
    const afterPassword = await strict.inject({
      method: 'GET',
      url: '/second-factor',
      headers: bearer(stepped.json().accessToken),
    });
    t.same(
      [afterPassword.statusCode, afterPassword.json().code],
      [401, 'TWOFOLD_STEP_UP_REQUIRED'],
      'a password step-up is no second factor',
    );

    const ada = await enable(app, clock, 'ada');
    const passed = await strict.inject({
      method: 'GET',
      url: '/second-factor',
      headers: bearer(ada.accessToken),
    });
    t.strictSame(passed.json(), { userId: 'id-ada' }, 'a second factor 30 s old passes');
    clock.advance(31_000);
    const aged = await strict.inject({
      method: 'GET',
      url: '/second-factor',
      headers: bearer(ada.accessToken),
    });
    t.equal(aged.json().code, 'TWOFOLD_STEP_UP_REQUIRED', 'older than 60 s');
    t.equal(
      (await strict.inject({ method: 'GET', url: '/default-age', headers: bearer(ada.accessToken) }))
        .statusCode,
      200,
      'within the default 300 s',
    );
  },
);

t.test('twofoldStepUp(maxAgeSeconds) sets its own limit, and authenticates when used alone', async (t) => {
  const { app, clock } = await buildApp(t);
  const ada = await enable(app, clock, 'ada');
  const { challengeToken } = (await login(app, 'ada')) as { challengeToken: string };
  const { accessToken } = (
    await app.inject({
      method: 'POST',
      url: '/2fa/login/verify',
      payload: { challengeToken, code: codeAt(ada.secret, clock.now()) },
    })
  ).json();

  const strict = Fastify();
  t.teardown(() => strict.close());
  // A second app on the same engine (and so the same keys): the tokens of the first pass here.
  await strict.register(twofold, { twoFactor: app.twofold, authenticate: async () => null });
  strict.get('/alone', { preHandler: strict.twofoldStepUp(60) }, async (request) => ({
    userId: request.twofoldUser?.userId,
  }));
  await strict.ready();

  const fresh = await strict.inject({ method: 'GET', url: '/alone', headers: bearer(accessToken) });
  t.strictSame(fresh.json(), { userId: 'id-ada' }, 'no twofoldAuthenticate needed before it');
  clock.advance(61_000);
  const aged = await strict.inject({ method: 'GET', url: '/alone', headers: bearer(accessToken) });
  t.equal(aged.json().code, 'TWOFOLD_STEP_UP_REQUIRED', 'older than 60 s');
  const anonymous = await strict.inject({ method: 'GET', url: '/alone' });
  t.equal(anonymous.json().code, 'TWOFOLD_UNAUTHORIZED');
});

t.test('twofoldStepUp refuses a bad maxAgeSeconds or bad options at once', async (t) => {
  const { app } = await buildApp(t);
  for (const bad of [0, -5, 1.5, Number.NaN, '60']) {
    t.throws(
      () => app.twofoldStepUp(bad as number),
      { name: 'TypeError', message: /maxAgeSeconds/ },
      String(bad),
    );
  }
  for (const bad of [null, true, { secondFactor: 'yes' }, { secondfactor: true }]) {
    t.throws(
      () => app.twofoldStepUp(60, bad as never),
      { name: 'TypeError', message: /^twofoldStepUp\(maxAgeSeconds, options\): / },
      JSON.stringify(bad),
    );
  }
  t.doesNotThrow(() => app.twofoldStepUp(60, { secondFactor: false }));
  t.doesNotThrow(() => app.twofoldStepUp(undefined, {}));
});

t.test('request.twofoldUser is null on requests the guard did not see', async (t) => {
  const { app } = await buildApp(t);
  const fresh = Fastify();
  t.teardown(() => fresh.close());
  await fresh.register(twofold, kitOptions());
  fresh.get('/open', async (request) => ({ user: request.twofoldUser }));
  await fresh.ready();
  t.strictSame((await fresh.inject({ method: 'GET', url: '/open' })).json(), { user: null });
  t.ok(app.hasRequestDecorator('twofoldUser'));
});

t.test('getUserId: the kit routes take the user from the host session instead of a token', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(
    twofold,
    kitOptions(undefined, {
      authenticate: undefined,
      // A stand-in for the host's session: the user named in a header.
      getUserId: (request) => {
        const user = request.headers['x-session-user'];
        return typeof user === 'string' ? user : null;
      },
    }),
  );
  await app.ready();
  const status = await app.inject({
    method: 'GET',
    url: '/2fa/status',
    headers: { 'x-session-user': 'host-user-7' },
  });
  t.equal(status.statusCode, 200);
  t.equal(status.json().enabled, false);
  const enroll = await app.inject({
    method: 'POST',
    url: '/2fa/totp/enroll',
    headers: { 'x-session-user': 'host-user-7' },
  });
  t.equal(enroll.statusCode, 201);
  t.match(enroll.json().otpauthUri, /host-user-7/, 'enrolled for the session user');
  const nobody = await app.inject({ method: 'GET', url: '/2fa/status' });
  t.equal(nobody.statusCode, 401);
  t.equal(nobody.json().code, 'TWOFOLD_UNAUTHORIZED', 'no session: 401');
  const login = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username: 'a', password: 'b' },
  });
  t.equal(login.json().code, 'TWOFOLD_NOT_FOUND', 'without authenticate, no login routes');
});

t.test("the kit's routes set request.twofoldUser when the kit's access token named the user", async (t) => {
  const seen = new Map<string, string | null>();
  const recordUser = (app: FastifyInstance) =>
    app.addHook('onResponse', async (request) => {
      seen.set(`${request.method} ${request.url}`, request.twofoldUser?.userId ?? null);
    });
  const tokens = Fastify();
  t.teardown(() => tokens.close());
  recordUser(tokens);
  await tokens.register(twofold, kitOptions());
  const { accessToken } = (await login(tokens, 'ada')) as { accessToken: string };
  await tokens.inject({ method: 'GET', url: '/2fa/status', headers: bearer(accessToken) });
  t.equal(seen.get('GET /2fa/status'), 'id-ada', 'the token user, as the guards set it');
  t.equal(seen.get('POST /2fa/login'), null, 'a route without a user: none');

  seen.clear();
  const sessions = Fastify();
  t.teardown(() => sessions.close());
  recordUser(sessions);
  await sessions.register(
    twofold,
    kitOptions(undefined, { authenticate: undefined, getUserId: () => 'host-user-7' }),
  );
  const status = await sessions.inject({ method: 'GET', url: '/2fa/status' });
  t.equal(status.statusCode, 200);
  t.equal(seen.get('GET /2fa/status'), null, "never from getUserId: the host's own user");
});
