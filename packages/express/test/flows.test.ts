// The main flows end to end over HTTP against a real listening Express server: login, enrollment,
// two-step login, replay, recovery codes, step-up, refresh rotation, email recovery.
import { memoryStore } from '@twofold/core';
import t, { type Test } from 'tap';
import { authenticate, call, codeAt, fakeClock, startServer, USERS, wrongCode } from './helpers.js';

const ada = USERS.ada;
const login = { username: 'ada', password: ada.password };

async function setup(t: Test) {
  const clock = fakeClock();
  const mails: { kind: string; to: string; text: string }[] = [];
  const server = await startServer(t, {
    store: memoryStore(),
    clock: clock.now,
    authenticate,
    recovery: {
      findUserByEmail: async (email) => {
        const user = Object.values(USERS).find((candidate) => candidate.email === email);
        return user ? { userId: user.userId, email: user.email } : null;
      },
      getUserEmail: async (userId) =>
        Object.values(USERS).find((user) => user.userId === userId)?.email ?? null,
      verifyPassword: async (userId, password) =>
        Object.values(USERS).some((user) => user.userId === userId && user.password === password),
      sendMail: async (mail) => {
        mails.push(mail);
      },
      linkUrl: 'https://app.example.com/recover',
    },
  });
  const api = (path: string) => `${server.url}/2fa${path}`;
  return { clock, mails, server, api };
}

/** Logs ada in without 2FA, enrolls and confirms; returns the secret, recovery codes and tokens. */
async function enrolled(env: Awaited<ReturnType<typeof setup>>) {
  const first = await call(env.api('/login'), 'POST', { json: login });
  const { accessToken } = first.body;
  const enrollment = await call(env.api('/totp/enroll'), 'POST', { token: accessToken });
  const { secret } = enrollment.body;
  const confirmed = await call(env.api('/totp/confirm'), 'POST', {
    token: accessToken,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  env.clock.advance(30_000);
  // Turning 2FA on ended the password-only session: go on with the tokens confirm answered.
  return {
    secret,
    recoveryCodes: confirmed.body.recoveryCodes as string[],
    accessToken: confirmed.body.accessToken as string,
  };
}

t.test('login without 2FA gives tokens that the host guard accepts', async (t) => {
  const env = await setup(t);
  const reply = await call(env.api('/login'), 'POST', { json: login });
  t.equal(reply.status, 200);
  t.equal(reply.body.twoFactorRequired, false);
  const hosted = await call(`${env.server.url}/host/protected`, 'GET', { token: reply.body.accessToken });
  t.same([hosted.status, hosted.body], [200, { userId: ada.userId }]);
  const wrong = await call(env.api('/login'), 'POST', { json: { ...login, password: 'nope' } });
  t.same([wrong.status, wrong.body.code], [401, 'TWOFOLD_INVALID_CREDENTIALS']);
});

t.test('enroll, confirm, then login needs the challenge and a code; a code works once', async (t) => {
  const env = await setup(t);
  const { accessToken } = (await call(env.api('/login'), 'POST', { json: login })).body;

  const enrollment = await call(env.api('/totp/enroll'), 'POST', { token: accessToken });
  t.equal(enrollment.status, 201);
  t.equal(enrollment.headers.get('cache-control'), 'no-store');
  t.match(enrollment.body, { otpauthUri: /^otpauth:\/\/totp\//, qrDataUri: /^data:image\/svg\+xml;base64,/ });
  const { secret } = enrollment.body;

  const pending = await call(env.api('/status'), 'GET', { token: accessToken });
  t.match(pending.body, { enabled: false, pending: true });

  const badConfirm = await call(env.api('/totp/confirm'), 'POST', {
    token: accessToken,
    json: { code: wrongCode(secret, env.clock.now()) },
  });
  t.same([badConfirm.status, badConfirm.body.code], [400, 'TWOFOLD_INVALID_CODE']);

  const confirmed = await call(env.api('/totp/confirm'), 'POST', {
    token: accessToken,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  t.equal(confirmed.status, 200);
  t.equal(confirmed.body.recoveryCodes.length, 10);
  const passwordOnly = await call(env.api('/status'), 'GET', { token: accessToken });
  t.same(
    [passwordOnly.status, passwordOnly.body.code],
    [401, 'TWOFOLD_UNAUTHORIZED'],
    'the old session ended',
  );
  const fresh = confirmed.body.accessToken as string;
  t.match((await call(env.api('/status'), 'GET', { token: fresh })).body, {
    enabled: true,
    recoveryCodesRemaining: 10,
  });
  // With 2FA on, enroll adds another app, and needs a second factor within stepUp.maxAgeSeconds (300).
  const another = await call(env.api('/totp/enroll'), 'POST', { token: fresh });
  t.equal(another.status, 201, 'enroll with 2FA on and a fresh second factor: another app');
  t.not(another.body.secret, secret, 'with a secret of its own');
  t.match((await call(env.api('/status'), 'GET', { token: fresh })).body, {
    enabled: true,
    pending: true,
    authenticators: { totp: 1, webauthn: 0 },
  });
  env.clock.advance(301_000);
  const stale = await call(env.api('/totp/enroll'), 'POST', { token: fresh });
  t.same(
    [stale.status, stale.body.code],
    [401, 'TWOFOLD_STEP_UP_REQUIRED'],
    'with a second factor older than that: step up first',
  );

  env.clock.advance(30_000);
  const step1 = await call(env.api('/login'), 'POST', { json: login });
  t.match(step1.body, { twoFactorRequired: true, challengeToken: String, expiresIn: Number });
  t.notOk('accessToken' in step1.body, 'nothing that grants access before the second factor');
  const challengeAsAccess = await call(`${env.server.url}/host/protected`, 'GET', {
    token: step1.body.challengeToken,
  });
  t.same([challengeAsAccess.status, challengeAsAccess.body.code], [401, 'TWOFOLD_UNAUTHORIZED']);

  const code = codeAt(secret, env.clock.now());
  const step2 = await call(env.api('/login/verify'), 'POST', {
    json: { challengeToken: step1.body.challengeToken, code },
  });
  t.equal(step2.status, 200);
  t.match(step2.body, { accessToken: String, refreshToken: String });
  t.equal(
    (await call(`${env.server.url}/host/sensitive`, 'GET', { token: step2.body.accessToken })).status,
    200,
  );

  const replayLogin = await call(env.api('/login'), 'POST', { json: login });
  const replay = await call(env.api('/login/verify'), 'POST', {
    json: { challengeToken: replayLogin.body.challengeToken, code },
  });
  t.same([replay.status, replay.body.code], [400, 'TWOFOLD_INVALID_CODE'], 'the same code again is refused');
});

t.test('a recovery code logs in once, not twice', async (t) => {
  const env = await setup(t);
  const { recoveryCodes } = await enrolled(env);
  const use = async () => {
    const { challengeToken } = (await call(env.api('/login'), 'POST', { json: login })).body;
    return call(env.api('/login/verify'), 'POST', {
      json: { challengeToken, recoveryCode: recoveryCodes[0] },
    });
  };
  t.equal((await use()).status, 200);
  const second = await use();
  t.same([second.status, second.body.code], [400, 'TWOFOLD_INVALID_CODE']);
});

t.test('the step-up guard wants a recent second factor; POST /step-up gives one', async (t) => {
  const env = await setup(t);
  const { secret, accessToken: session } = await enrolled(env);
  const sensitive = (token: string) => call(`${env.server.url}/host/sensitive`, 'GET', { token });

  t.equal((await sensitive(session)).status, 200, 'the token confirm answered carries its code');
  env.clock.advance(301_000);
  const refused = await sensitive(session);
  t.same([refused.status, refused.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'a second factor too old');
  t.equal((await call(`${env.server.url}/host/protected`, 'GET', { token: session })).status, 200);

  const stepUp = await call(env.api('/step-up'), 'POST', {
    token: session,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  t.equal(stepUp.status, 200);
  t.equal((await sensitive(stepUp.body.accessToken)).status, 200);

  env.clock.advance(301_000);
  const stale = await sensitive(stepUp.body.accessToken);
  t.same([stale.status, stale.body.code], [401, 'TWOFOLD_STEP_UP_REQUIRED'], 'older than 5 minutes');
});

t.test('rotating recovery codes and disabling need a current code', async (t) => {
  const env = await setup(t);
  const { secret, accessToken } = await enrolled(env);

  const noCode = await call(env.api('/recovery-codes/rotate'), 'POST', { token: accessToken, json: {} });
  t.same([noCode.status, noCode.body.code], [400, 'TWOFOLD_INVALID_INPUT']);
  t.match(noCode.body.message, /"code"/);
  const rotated = await call(env.api('/recovery-codes/rotate'), 'POST', {
    token: accessToken,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  t.equal(rotated.status, 200);
  t.equal(rotated.body.recoveryCodes.length, 10);

  env.clock.advance(30_000);
  const wrong = await call(env.api('/totp/disable'), 'POST', {
    token: accessToken,
    json: { code: wrongCode(secret, env.clock.now()) },
  });
  t.same([wrong.status, wrong.body.code], [400, 'TWOFOLD_INVALID_CODE']);
  const disabled = await call(env.api('/totp/disable'), 'POST', {
    token: accessToken,
    json: { code: codeAt(secret, env.clock.now()) },
  });
  t.equal(disabled.status, 200, 'disable answers the fresh tokens of this session');
  t.match(disabled.body, { accessToken: String, refreshToken: String });
  const ended = await call(env.api('/status'), 'GET', { token: accessToken });
  t.same([ended.status, ended.body.code], [401, 'TWOFOLD_UNAUTHORIZED'], 'the sessions from before ended');
  const again = await call(env.api('/totp/disable'), 'POST', {
    token: disabled.body.accessToken,
    json: { recoveryCode: rotated.body.recoveryCodes[0] },
  });
  t.same([again.status, again.body.code], [409, 'TWOFOLD_NOT_ENABLED']);
});

t.test('refresh tokens rotate; a spent one revokes its whole session', async (t) => {
  const env = await setup(t);
  const first = (await call(env.api('/login'), 'POST', { json: login })).body;
  const second = await call(env.api('/token/refresh'), 'POST', {
    json: { refreshToken: first.refreshToken },
  });
  t.equal(second.status, 200);
  const replay = await call(env.api('/token/refresh'), 'POST', {
    json: { refreshToken: first.refreshToken },
  });
  t.same([replay.status, replay.body.code], [401, 'TWOFOLD_INVALID_TOKEN']);
  const victim = await call(env.api('/token/refresh'), 'POST', {
    json: { refreshToken: second.body.refreshToken },
  });
  t.equal(victim.status, 401, 'the family is revoked');
  const ended = await call(env.api('/token/verify'), 'POST', { json: { token: second.body.accessToken } });
  t.same([ended.status, ended.body.code], [401, 'TWOFOLD_INVALID_TOKEN'], 'its access tokens end at once');

  const live = (await call(env.api('/login'), 'POST', { json: login })).body;
  const verified = await call(env.api('/token/verify'), 'POST', { json: { token: live.accessToken } });
  t.same([verified.status, verified.body], [200, {}]);
  const refreshAsAccess = await call(env.api('/token/verify'), 'POST', {
    json: { token: live.refreshToken },
  });
  t.equal(refreshAsAccess.status, 401);
});

t.test('email recovery: the same answer for any address; link and password turn 2FA off', async (t) => {
  const env = await setup(t);
  await enrolled(env);
  const known = await call(env.api('/recovery/request'), 'POST', { json: { email: ada.email } });
  const unknown = await call(env.api('/recovery/request'), 'POST', { json: { email: 'nobody@example.com' } });
  t.same([known.status, known.body], [202, {}]);
  t.same([unknown.status, unknown.body], [known.status, known.body]);
  await t.resolveMatch(
    waitFor(() => env.mails.length === 1),
    true,
  );
  const link = env.mails[0]!.text.match(/#uid=([^&\s]+)&token=(\S+)/)!;
  const uid = decodeURIComponent(link[1]!);

  const wrongPassword = await call(env.api('/recovery/confirm'), 'POST', {
    json: { uid, token: link[2], password: 'wrong' },
  });
  t.equal(wrongPassword.status, 400);
  const confirmed = await call(env.api('/recovery/confirm'), 'POST', {
    json: { uid, token: link[2], password: ada.password },
  });
  t.equal(confirmed.status, 204);
  const afterwards = await call(env.api('/login'), 'POST', { json: login });
  t.equal(afterwards.body.twoFactorRequired, false);
  await t.resolveMatch(
    waitFor(() => env.mails.length === 2),
    true,
  );
  t.equal(env.mails[1]!.kind, 'recovery-completed');
  t.notMatch(env.server.logText(), link[2]!, 'the recovery token is not in the logs');
});

t.test('hosts with their own sessions: getUserId decides the user', async (t) => {
  const clock = fakeClock();
  const server = await startServer(t, {
    store: memoryStore(),
    clock: clock.now,
    getUserId: (request) => {
      const user = request.get('x-test-user');
      return user === undefined ? null : user;
    },
  });
  const anonymous = await call(`${server.url}/2fa/status`, 'GET');
  t.same([anonymous.status, anonymous.body.code], [401, 'TWOFOLD_UNAUTHORIZED']);
  const enrolled = await call(`${server.url}/2fa/totp/enroll`, 'POST', {
    headers: { 'x-test-user': 'u-42' },
  });
  t.equal(enrolled.status, 201);
  const status = await call(`${server.url}/2fa/status`, 'GET', { headers: { 'x-test-user': 'u-42' } });
  t.match(status.body, { pending: true });
  const noLogin = await call(`${server.url}/2fa/login`, 'POST', { json: login });
  t.same(
    [noLogin.status, noLogin.body.code],
    [404, 'TWOFOLD_NOT_FOUND'],
    'no login routes without authenticate',
  );
});

/** Resolves true once `condition` holds (polled on the event loop, at most ~2 s). */
async function waitFor(condition: () => boolean): Promise<boolean> {
  for (let round = 0; round < 200; round++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}
