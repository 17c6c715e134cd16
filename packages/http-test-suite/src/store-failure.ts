/**
 * A store that is down: every route that needs it answers 503 TWOFOLD_STORE_UNAVAILABLE and accepts
 * nothing; when the store is back, nothing was spent or changed.
 */
import type { Test } from 'tap';
import {
  type AuthenticatorBody,
  type CreationOptionsJSON,
  LINK_URL,
  ORIGIN,
  type StatusBody,
  type SuiteEnv,
  setup,
} from './context.js';
import { codeAt, errorProblems, failingStore, must, recoveryLink, successProblems } from './helpers.js';
import { softwareAuthenticator } from './webauthn.js';

export function storeFailureTests(t: Test, env: SuiteEnv): void {
  t.test('a failing store is a 503 on every route that needs it, and nothing is accepted', async (t) => {
    let control: ReturnType<typeof failingStore> | undefined;
    const ctx = await setup(t, env, {
      wrapStore: (store) => {
        control = failingStore(store);
        return control.store;
      },
    });
    const ada = ctx.users.add('ada'); // 2FA on
    const bob = ctx.users.add('bob'); // no 2FA
    const enabled = await ctx.enable(ada);
    const adaSession = await ctx.mfaLogin(ada, enabled.secret);
    const bobSession = await ctx.passwordLogin(bob);
    const challengeToken = await ctx.challenge(ada);
    await ctx.kit.post('/recovery/request', { email: ada.email });
    const recovery = recoveryLink(await ctx.mail.next((mail) => mail.kind === 'recovery-link'), LINK_URL);

    // A registration under way: its answer is well formed, so only the store can refuse it.
    const key = softwareAuthenticator();
    const registration = env.webauthn
      ? key.register(
          must(
            await ctx.kit.post<CreationOptionsJSON>(
              '/webauthn/register/options',
              {},
              {
                token: bobSession.accessToken,
              },
            ),
            200,
            'POST /webauthn/register/options',
          ),
          { origin: ORIGIN },
        )
      : undefined;

    ctx.clock.advance(30_000);
    const code = codeAt(enabled.secret, ctx.clock.now());
    const [recoveryCode] = enabled.recoveryCodes;
    const mailsBefore = ctx.mail.mails.length;
    const ada2fa = `/authenticators/${enabled.authenticatorId}`;

    control!.setFailing(true);
    const calls: [string, string, unknown, string | undefined][] = [
      ['POST', '/login', { username: ada.username, password: ada.password }, undefined],
      ['POST', '/login', { username: bob.username, password: bob.password }, undefined],
      ['POST', '/login/verify', { challengeToken, code }, undefined],
      ['POST', '/login/verify', { challengeToken, recoveryCode }, undefined],
      ['POST', '/token/refresh', { refreshToken: adaSession.refreshToken }, undefined],
      ['POST', '/token/revoke', { refreshToken: bobSession.refreshToken }, undefined],
      ['POST', '/step-up', { code }, adaSession.accessToken],
      ['POST', '/totp/disable', { code }, adaSession.accessToken],
      ['POST', '/totp/disable', { recoveryCode }, adaSession.accessToken],
      ['POST', '/recovery-codes/rotate', { code }, adaSession.accessToken],
      ['GET', '/status', undefined, adaSession.accessToken],
      ['POST', '/totp/enroll', undefined, bobSession.accessToken],
      ['POST', '/totp/confirm', { code: '123456' }, bobSession.accessToken],
      ['POST', '/recovery/confirm', { ...recovery, password: ada.password }, undefined],
      ['POST', '/login/options', { challengeToken }, undefined],
      ['GET', '/authenticators', undefined, adaSession.accessToken],
      ['POST', `${ada2fa}/rename`, { name: 'Renamed' }, adaSession.accessToken],
      ['POST', `${ada2fa}/remove`, { code }, adaSession.accessToken],
      ['POST', '/sessions/revoke-all', { code }, adaSession.accessToken],
      ...(registration
        ? ([
            ['POST', '/webauthn/register/options', {}, bobSession.accessToken],
            ['POST', '/webauthn/register/verify', { response: registration }, bobSession.accessToken],
            ['POST', '/webauthn/authenticate/options', undefined, adaSession.accessToken],
          ] as [string, string, unknown, string | undefined][])
        : []),
    ];
    for (const [method, path, json, token] of calls) {
      const answer = await ctx.kit.fetch(ctx.kit.url(path), {
        method,
        json,
        ...(token === undefined ? {} : { token }),
      });
      t.strictSame(
        errorProblems(answer, 503, 'TWOFOLD_STORE_UNAVAILABLE'),
        [],
        `${method} ${path} ${Object.keys(json ?? {}).join(',')}: 503`,
      );
      t.notOk(/ECONNREFUSED|contract suite/.test(answer.text), 'the driver error stays on the server');
    }
    const request = await ctx.kit.post('/recovery/request', { email: ada.email });
    t.strictSame(successProblems(request, 202), [], '/recovery/request answers 202 as always');
    await ctx.backgroundErrorCount(1);
    t.pass('its work after the answer failed and was reported to onBackgroundError');
    const wrongPassword = await ctx.kit.post('/login', { username: ada.username, password: 'nope' });
    t.strictSame(errorProblems(wrongPassword, 401, 'TWOFOLD_INVALID_CREDENTIALS'), [], 'wrong password: 401');

    control!.setFailing(false);
    t.equal(ctx.mail.mails.length, mailsBefore, 'no mail went out while the store was down');
    const status = await ctx.kit.get<StatusBody>('/status', { token: adaSession.accessToken });
    t.equal(status.body.enabled, true, '2FA is still on');
    t.equal(status.body.recoveryCodesRemaining, 10, 'no recovery code was spent');
    const login = await ctx.kit.post('/login/verify', { challengeToken, code });
    t.strictSame(successProblems(login, 200), [], 'the same challenge and code work once the store is back');
    const refresh = await ctx.kit.post('/token/refresh', { refreshToken: adaSession.refreshToken });
    t.strictSame(successProblems(refresh, 200), [], 'the refresh token was not spent');
    const bobRefresh = await ctx.kit.post('/token/refresh', { refreshToken: bobSession.refreshToken });
    t.strictSame(successProblems(bobRefresh, 200), [], 'the session was not revoked');
    const listed = await ctx.kit.get<{ authenticators: AuthenticatorBody[] }>('/authenticators', {
      token: adaSession.accessToken,
    });
    t.match(
      listed.body.authenticators,
      [{ id: enabled.authenticatorId }],
      'the app is still there, not renamed',
    );
    t.not(listed.body.authenticators[0]?.name, 'Renamed');
    if (registration) {
      const registered = await ctx.kit.post(
        '/webauthn/register/verify',
        { response: registration },
        { token: bobSession.accessToken },
      );
      t.strictSame(successProblems(registered, 201), [], 'the registration under way was not spent');
    }
    const confirm = await ctx.kit.post('/recovery/confirm', { ...recovery, password: ada.password });
    t.strictSame(successProblems(confirm, 204), [], 'the recovery link still works');
  });

  t.test(
    'recovery/confirm: if signing out every session fails, 2FA stays on and the link still works',
    async (t) => {
      let control: ReturnType<typeof failingStore> | undefined;
      const ctx = await setup(t, env, {
        // Only the write that revokes every session of the user fails.
        wrapStore: (store) => {
          control = failingStore(
            store,
            (method, args) => method === 'putNonce' && args[1] === 'sessions-revoked-before',
          );
          return control.store;
        },
      });
      const ada = ctx.users.add('ada');
      await ctx.enable(ada);
      await ctx.kit.post('/recovery/request', { email: ada.email });
      const recovery = recoveryLink(await ctx.mail.next((mail) => mail.kind === 'recovery-link'), LINK_URL);

      control!.setFailing(true);
      const failed = await ctx.kit.post('/recovery/confirm', { ...recovery, password: ada.password });
      t.strictSame(errorProblems(failed, 503, 'TWOFOLD_STORE_UNAVAILABLE'), [], '503');
      const blocked = await ctx.kit.post<{ twoFactorRequired: boolean }>('/login', {
        username: ada.username,
        password: ada.password,
      });
      t.equal(blocked.body.twoFactorRequired, true, '2FA is still on: the password alone is not enough');

      control!.setFailing(false);
      const confirm = await ctx.kit.post('/recovery/confirm', { ...recovery, password: ada.password });
      t.strictSame(successProblems(confirm, 204), [], 'the same link works once the store is back');
      const login = await ctx.kit.post<{ twoFactorRequired: boolean }>('/login', {
        username: ada.username,
        password: ada.password,
      });
      t.equal(login.body.twoFactorRequired, false, 'and 2FA is off');
    },
  );
}
