/**
 * The flows of DESIGN.md end to end: login without 2FA, enrollment and confirm, logout, two-step
 * login, replay, recovery codes, disable and rotate.
 */
import { Totp } from '@twofold/otp';
import type { Test } from 'tap';
import {
  type EnrollmentBody,
  ISSUER,
  type StatusBody,
  type SuiteEnv,
  setup,
  type TokenPair,
} from './context.js';
import { codeAt, decodeJwt, errorProblems, PERIOD_MS, successProblems } from './helpers.js';

const STATUS_KEYS = [
  'enabled',
  'pending',
  'recoveryPending',
  'recoveryCodesRemaining',
  'enabledAt',
  'lastUsedAt',
  'authenticators',
];
const ENROLL_KEYS = [
  'authenticatorId',
  'otpauthUri',
  'secret',
  'prettySecret',
  'qrSvg',
  'qrDataUri',
  'expiresAt',
];
const OFF_STATUS = {
  enabled: false,
  pending: false,
  recoveryPending: null,
  recoveryCodesRemaining: 0,
  enabledAt: null,
  lastUsedAt: null,
  authenticators: { totp: 0, webauthn: 0 },
};
const LOGIN_TOKENS_KEYS = ['twoFactorRequired', 'accessToken', 'refreshToken'];
const LOGIN_CHALLENGE_KEYS = ['twoFactorRequired', 'challengeToken', 'expiresIn'];
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export function flowTests(t: Test, env: SuiteEnv): void {
  t.test('login without 2FA answers tokens at once, with amr pwd', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const answer = await ctx.kit.post('/login', { username: ada.username, password: ada.password });
    t.strictSame(successProblems(answer, 200, LOGIN_TOKENS_KEYS), [], 'POST /login: 200 with both tokens');
    t.equal(answer.body.twoFactorRequired, false);
    const access = decodeJwt(String(answer.body.accessToken));
    t.equal(access.header.alg, 'HS256', 'algorithm pinned');
    t.equal(access.payload.sub, ada.userId);
    t.strictSame(access.payload.amr, ['pwd'], 'amr: password only (RFC 8176)');
    t.equal(access.payload.auth_time, Math.floor(ctx.clock.now() / 1000), 'auth_time: now');

    const guarded = await ctx.kit.get('/host/protected', { token: String(answer.body.accessToken) });
    t.equal(guarded.status, 200, 'the access token passes the host guard');
    t.strictSame(guarded.body, { userId: ada.userId });
  });

  t.test('JSON with a charset parameter is JSON; unknown paths are not served', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const login = await ctx.kit.post('/login', undefined, {
      raw: JSON.stringify({ username: ada.username, password: ada.password }),
      contentType: 'application/json; charset=utf-8',
    });
    t.strictSame(successProblems(login, 200, LOGIN_TOKENS_KEYS), [], 'application/json; charset=utf-8');
    for (const [method, path] of [
      ['GET', '/nothing-here'],
      ['POST', '/totp'],
      ['GET', '/login'],
      ['POST', '/status'],
    ] as const) {
      const answer = await ctx.kit.fetch(ctx.kit.url(path), {
        method,
        json: method === 'POST' ? {} : undefined,
      });
      t.ok([404, 405].includes(answer.status), `${method} ${path}: ${answer.status} (404 or 405)`);
    }
  });

  t.test('a wrong password and an unknown user answer the same 401', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const wrongPassword = await ctx.kit.post('/login', { username: ada.username, password: 'not it' });
    t.strictSame(errorProblems(wrongPassword, 401, 'TWOFOLD_INVALID_CREDENTIALS'), [], 'wrong password');
    const unknown = await ctx.kit.post('/login', { username: 'nobody-at-all', password: 'not it' });
    t.strictSame(errorProblems(unknown, 401, 'TWOFOLD_INVALID_CREDENTIALS'), [], 'unknown user');
    t.strictSame(unknown.body, wrongPassword.body, 'same body: the answer does not tell them apart');
  });

  t.test('enrollment: secret and QR once, with no-store; confirm turns 2FA on', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const session = await ctx.passwordLogin(ada);
    const passwordOnly = session.accessToken;
    let token = passwordOnly;

    const before = await ctx.kit.get<StatusBody>('/status', { token });
    t.strictSame(successProblems(before, 200, STATUS_KEYS), [], 'GET /status: 200');
    t.strictSame(before.body, OFF_STATUS);

    // Without a body, then with `{}`: both start (or restart) the enrollment.
    const first = await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token });
    t.strictSame(successProblems(first, 201, ENROLL_KEYS), [], 'POST /totp/enroll without a body: 201');
    const answer = await ctx.kit.post<EnrollmentBody>('/totp/enroll', {}, { token });
    t.strictSame(successProblems(answer, 201, ENROLL_KEYS), [], 'POST /totp/enroll with {}: 201');
    t.match(answer.headers.get('cache-control'), /no-store/, 'the secret is never cached');
    const enrollment = answer.body;
    t.not(enrollment.secret, first.body.secret, 'enrolling again starts over with a new secret');

    t.match(enrollment.secret, /^[A-Z2-7]+$/, 'secret: unpadded base32');
    t.equal(
      enrollment.prettySecret.replace(/\s/g, ''),
      enrollment.secret,
      'prettySecret is the secret, grouped',
    );
    const fromUri = Totp.fromUri(enrollment.otpauthUri);
    t.equal(fromUri.base32, enrollment.secret, 'the otpauth URI carries the same secret');
    const issuer = encodeURIComponent(ISSUER);
    t.ok(enrollment.otpauthUri.startsWith(`otpauth://totp/${issuer}:`), 'label Issuer:account');
    t.ok(new URL(enrollment.otpauthUri).searchParams.get('issuer') === ISSUER, 'issuer parameter');
    t.match(enrollment.qrDataUri, /^data:image\/svg\+xml;base64,[A-Za-z0-9+/]+=*$/, 'QR as a data URI');
    const svg = Buffer.from(enrollment.qrDataUri.split(',')[1]!, 'base64').toString('utf8');
    t.match(svg, /<svg[\s>]/, 'the data URI decodes to an SVG');
    t.equal(svg, enrollment.qrSvg, 'the data URI is the qrSvg');
    t.match(enrollment.expiresAt, ISO_DATE);
    t.equal(Date.parse(enrollment.expiresAt), ctx.clock.now() + 15 * 60_000, 'pending for 15 minutes');

    const pending = await ctx.kit.get<StatusBody>('/status', { token });
    t.equal(pending.body.pending, true, 'pending until confirmed');
    t.equal(pending.body.enabled, false);

    const wrong = await ctx.kit.post('/totp/confirm', { code: ctx.wrongCode(enrollment.secret) }, { token });
    t.strictSame(errorProblems(wrong, 400, 'TWOFOLD_INVALID_CODE'), [], 'confirm with a wrong code: 400');
    const stale = await ctx.kit.post(
      '/totp/confirm',
      { code: codeAt(first.body.secret, ctx.clock.now()) },
      { token },
    );
    t.strictSame(errorProblems(stale, 400, 'TWOFOLD_INVALID_CODE'), [], "the replaced secret's code: 400");
    t.equal((await ctx.kit.get<StatusBody>('/status', { token })).body.enabled, false, 'still not enabled');

    const confirm = await ctx.kit.post<{ recoveryCodes: string[]; authenticatorId: string } & TokenPair>(
      '/totp/confirm',
      { code: codeAt(enrollment.secret, ctx.clock.now()) },
      { token: passwordOnly },
    );
    t.strictSame(
      successProblems(confirm, 200, ['accessToken', 'authenticatorId', 'recoveryCodes', 'refreshToken']),
      [],
      'POST /totp/confirm: 200 with the new authenticator, the recovery codes and fresh tokens',
    );
    t.equal(
      confirm.body.authenticatorId,
      enrollment.authenticatorId,
      'the authenticator is the one the (latest) enrollment named',
    );
    const { recoveryCodes } = confirm.body;
    // Turning 2FA on ends every session from before it (password-only ones); this one goes on.
    t.strictSame(
      errorProblems(await ctx.kit.get('/status', { token: passwordOnly }), 401, 'TWOFOLD_UNAUTHORIZED'),
      [],
      'the password-only access token is refused from the next request on',
    );
    const oldRefresh = await ctx.kit.post('/token/refresh', { refreshToken: session.refreshToken });
    t.strictSame(errorProblems(oldRefresh, 401, 'TWOFOLD_INVALID_TOKEN'), [], 'and its refresh token');
    t.strictSame(
      decodeJwt(confirm.body.accessToken).payload.amr,
      ['pwd', 'otp', 'mfa'],
      'the fresh access token says a second factor passed',
    );
    token = confirm.body.accessToken;
    t.equal(recoveryCodes.length, 10, 'ten recovery codes');
    t.ok(
      recoveryCodes.every((code) => typeof code === 'string' && code.length >= 10),
      'recovery codes are strings',
    );
    t.equal(new Set(recoveryCodes).size, 10, 'all different');
    t.notOk(confirm.text.includes(enrollment.secret), 'confirm does not return the secret');

    const again = await ctx.kit.post('/totp/confirm', { code: ctx.freshCode(enrollment.secret) }, { token });
    t.strictSame(errorProblems(again, 409, 'TWOFOLD_NOT_PENDING'), [], 'confirm twice: 409');

    const after = await ctx.kit.get<StatusBody>('/status', { token });
    t.strictSame(successProblems(after, 200, STATUS_KEYS), []);
    t.equal(after.body.enabled, true);
    t.equal(after.body.pending, false);
    t.equal(after.body.recoveryCodesRemaining, 10);
    t.strictSame(after.body.authenticators, { totp: 1, webauthn: 0 }, 'one app');
    t.match(after.body.enabledAt, ISO_DATE);
    t.notOk(after.text.includes(enrollment.secret), 'status never returns the secret');
    for (const code of recoveryCodes) {
      t.notOk(after.text.includes(code), 'status never returns a recovery code');
    }

    // With 2FA on, enrolling adds another app; the token confirm answered carries a fresh factor.
    const another = await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token });
    t.strictSame(
      successProblems(another, 201, ENROLL_KEYS),
      [],
      'enroll while enabled, with a second factor within maxAge: 201, another app',
    );
    t.not(another.body.authenticatorId, enrollment.authenticatorId, 'a new authenticator');
    t.not(another.body.secret, enrollment.secret, 'with a secret of its own');
    const adding = await ctx.kit.get<StatusBody>('/status', { token });
    t.match(
      adding.body,
      { enabled: true, pending: true, authenticators: { totp: 1, webauthn: 0 } },
      'pending beside the active app',
    );
    ctx.clock.advance(61_000); // past stepUp.maxAgeSeconds
    const staleEnroll = await ctx.kit.post('/totp/enroll', undefined, { token });
    t.strictSame(
      errorProblems(staleEnroll, 401, 'TWOFOLD_STEP_UP_REQUIRED'),
      [],
      'enroll while enabled with a second factor older than maxAge: 401, step up first',
    );
    const stillPending = await ctx.kit.post(
      '/totp/confirm',
      { code: codeAt(another.body.secret, ctx.clock.now()) },
      { token },
    );
    t.strictSame(
      successProblems(stillPending, 200, ['authenticatorId']),
      [],
      'the refused enroll replaced nothing: the pending app confirms (no recovery codes, no tokens)',
    );
  });

  t.test('the authenticated routes need an access token', async (t) => {
    const ctx = await setup(t, env);
    const routes: [string, string, unknown][] = [
      ['POST', '/totp/enroll', undefined],
      ['POST', '/totp/confirm', { code: '123456' }],
      ['POST', '/totp/disable', { code: '123456' }],
      ['POST', '/recovery-codes/rotate', { code: '123456' }],
      ['GET', '/status', undefined],
      ['POST', '/step-up', { code: '123456' }],
      ['POST', '/sessions/revoke-all', undefined],
      ['GET', '/authenticators', undefined],
      ['POST', '/authenticators/t_x/rename', { name: 'Phone' }],
      ['POST', '/authenticators/t_x/remove', { code: '123456' }],
      ...(env.webauthn
        ? ([
            ['POST', '/webauthn/register/options', undefined],
            ['POST', '/webauthn/register/verify', { response: {} }],
            ['POST', '/webauthn/authenticate/options', undefined],
          ] as [string, string, unknown][])
        : []),
    ];
    for (const [method, path, json] of routes) {
      for (const headers of [
        {},
        { authorization: 'Bearer not-a-token' },
        { authorization: 'Basic YTpi' },
      ] as Record<string, string>[]) {
        const answer = await ctx.kit.fetch(ctx.kit.url(path), { method, json, headers });
        t.strictSame(
          errorProblems(answer, 401, 'TWOFOLD_UNAUTHORIZED'),
          [],
          `${method} ${path} with ${JSON.stringify(headers)}: 401`,
        );
      }
    }
  });

  t.test('a pending enrollment expires', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const { accessToken: token } = await ctx.passwordLogin(ada);
    const enrollment = (await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token })).body;
    ctx.clock.advance(15 * 60_000 + 1000);
    const late = await ctx.kit.post(
      '/totp/confirm',
      { code: codeAt(enrollment.secret, ctx.clock.now()) },
      { token: (await ctx.passwordLogin(ada)).accessToken },
    );
    t.strictSame(errorProblems(late, 409, 'TWOFOLD_NOT_PENDING'), [], 'confirm after expiry: 409');
  });

  t.test('logout; login then needs the second factor; a code is accepted once', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);

    const logout = await ctx.kit.post('/token/revoke', { refreshToken: enabled.refreshToken });
    t.strictSame(successProblems(logout, 204), [], 'POST /token/revoke: 204');
    const afterLogout = await ctx.kit.post('/token/refresh', { refreshToken: enabled.refreshToken });
    t.strictSame(
      errorProblems(afterLogout, 401, 'TWOFOLD_INVALID_TOKEN'),
      [],
      'a revoked refresh token: 401',
    );
    const twice = await ctx.kit.post('/token/revoke', { refreshToken: enabled.refreshToken });
    t.strictSame(successProblems(twice, 204), [], 'revoking again is harmless');

    const login = await ctx.kit.post('/login', { username: ada.username, password: ada.password });
    t.strictSame(successProblems(login, 200, LOGIN_CHALLENGE_KEYS), [], 'POST /login: a challenge only');
    t.equal(login.body.twoFactorRequired, true);
    t.type(login.body.expiresIn, 'number');
    t.ok(
      (login.body.expiresIn as number) > 0 && (login.body.expiresIn as number) <= 300,
      'expiresIn <= 5 min',
    );
    const challengeToken = String(login.body.challengeToken);

    const code = ctx.freshCode(enabled.secret);
    const verify = await ctx.kit.post<TokenPair>('/login/verify', { challengeToken, code });
    t.strictSame(
      successProblems(verify, 200, ['accessToken', 'refreshToken']),
      [],
      'POST /login/verify: 200',
    );
    const amr = decodeJwt(verify.body.accessToken).payload.amr as string[];
    t.ok(
      ['pwd', 'otp', 'mfa'].every((method) => amr.includes(method)),
      'amr: pwd, otp, mfa',
    );
    const guarded = await ctx.kit.get('/host/protected', { token: verify.body.accessToken });
    t.equal(guarded.status, 200, 'the new access token passes the host guard');

    const nextStep = codeAt(enabled.secret, ctx.clock.now() + PERIOD_MS);
    const spent = await ctx.kit.post('/login/verify', { challengeToken, code: nextStep });
    t.strictSame(errorProblems(spent, 401, 'TWOFOLD_INVALID_CHALLENGE'), [], 'a used challenge token: 401');

    // The same code again, at the same time, through a new challenge.
    const second = await ctx.challenge(ada);
    const third = await ctx.challenge(ada);
    const fourth = await ctx.challenge(ada);
    const replay = await ctx.kit.post('/login/verify', { challengeToken: second, code });
    t.strictSame(errorProblems(replay, 400, 'TWOFOLD_INVALID_CODE'), [], 'the same code again: 400');
    const wrong = await ctx.kit.post('/login/verify', {
      challengeToken: third,
      code: ctx.wrongCode(enabled.secret),
    });
    t.strictSame(errorProblems(wrong, 400, 'TWOFOLD_INVALID_CODE'), [], 'a wrong code: 400');
    t.equal(replay.text, wrong.text, 'a replayed code answers exactly like a wrong code');
    const older = await ctx.kit.post('/login/verify', {
      challengeToken: fourth,
      code: codeAt(enabled.secret, ctx.clock.now() - PERIOD_MS),
    });
    t.strictSame(errorProblems(older, 400, 'TWOFOLD_INVALID_CODE'), [], 'an older code in the window: 400');
    t.equal(older.text, wrong.text, 'the same answer again');

    const next = await ctx.kit.post('/login/verify', {
      challengeToken: second,
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(successProblems(next, 200), [], 'the next step gives a new code that works');
  });

  t.test('a recovery code logs in once, in any case and without hyphens', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const [first, second] = enabled.recoveryCodes as [string, string];

    const use = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      recoveryCode: first,
    });
    t.strictSame(successProblems(use, 200, ['accessToken', 'refreshToken']), [], 'a recovery code: 200');
    const status = await ctx.kit.get<StatusBody>('/status', { token: String(use.body.accessToken) });
    t.equal(status.body.recoveryCodesRemaining, 9, 'one fewer left');

    const again = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      recoveryCode: first,
    });
    t.strictSame(errorProblems(again, 400, 'TWOFOLD_INVALID_CODE'), [], 'the same recovery code again: 400');

    const loose = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      recoveryCode: second.toLowerCase().replace(/-/g, ''),
    });
    t.strictSame(successProblems(loose, 200), [], 'lower case without separators: 200');

    const both = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
      recoveryCode: enabled.recoveryCodes[2],
    });
    t.strictSame(
      errorProblems(both, 400, 'TWOFOLD_INVALID_INPUT', { field: 'code' }),
      [],
      'code and recoveryCode together: 400',
    );
  });

  t.test('disable and rotate need a fresh second factor; without one nothing changes', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    let token = enabled.accessToken;
    const currentCode = codeAt(enabled.secret, ctx.clock.now()); // spent by confirm

    const refusals: [string, unknown, number, string][] = [
      ['/recovery-codes/rotate', {}, 400, 'TWOFOLD_INVALID_INPUT'],
      ['/recovery-codes/rotate', { code: ctx.wrongCode(enabled.secret) }, 400, 'TWOFOLD_INVALID_CODE'],
      ['/recovery-codes/rotate', { code: currentCode }, 400, 'TWOFOLD_INVALID_CODE'],
      ['/totp/disable', {}, 400, 'TWOFOLD_INVALID_INPUT'],
      ['/totp/disable', { code: ctx.wrongCode(enabled.secret) }, 400, 'TWOFOLD_INVALID_CODE'],
      ['/totp/disable', { code: currentCode }, 400, 'TWOFOLD_INVALID_CODE'],
      ['/totp/disable', { recoveryCode: 'AAAA-BBBB-CCCC' }, 400, 'TWOFOLD_INVALID_CODE'],
    ];
    for (const [path, body, status, code] of refusals) {
      const answer = await ctx.kit.post(path, body, { token });
      t.strictSame(errorProblems(answer, status, code), [], `${path} ${JSON.stringify(body)}: ${status}`);
    }
    const unchanged = await ctx.kit.get<StatusBody>('/status', { token });
    t.equal(unchanged.body.enabled, true, 'still enabled');
    t.equal(unchanged.body.recoveryCodesRemaining, 10, 'the recovery codes are untouched');

    const rotate = await ctx.kit.post<{ recoveryCodes: string[] }>(
      '/recovery-codes/rotate',
      { code: ctx.freshCode(enabled.secret) },
      { token },
    );
    t.strictSame(successProblems(rotate, 200, ['recoveryCodes']), [], 'rotate with a fresh code: 200');
    const fresh = rotate.body.recoveryCodes;
    t.equal(fresh.length, 10);
    t.ok(
      fresh.every((code) => !enabled.recoveryCodes.includes(code)),
      'a whole new set',
    );

    const old = await ctx.kit.post('/totp/disable', { recoveryCode: enabled.recoveryCodes[0] }, { token });
    t.strictSame(errorProblems(old, 400, 'TWOFOLD_INVALID_CODE'), [], 'an old recovery code no longer works');
    t.equal((await ctx.kit.get<StatusBody>('/status', { token })).body.enabled, true, 'still enabled');

    const disable = await ctx.kit.post<TokenPair>('/totp/disable', { recoveryCode: fresh[0] }, { token });
    t.strictSame(
      successProblems(disable, 200, ['accessToken', 'refreshToken']),
      [],
      'disable with a new recovery code: 200 with fresh tokens',
    );
    t.strictSame(
      errorProblems(await ctx.kit.get('/status', { token }), 401, 'TWOFOLD_UNAUTHORIZED'),
      [],
      'the access token from before is refused from the next request on',
    );
    token = disable.body.accessToken;
    const off = await ctx.kit.get<StatusBody>('/status', { token });
    t.strictSame(off.body, OFF_STATUS);

    const disableAgain = await ctx.kit.post(
      '/totp/disable',
      { code: ctx.freshCode(enabled.secret) },
      { token },
    );
    t.strictSame(errorProblems(disableAgain, 409, 'TWOFOLD_NOT_ENABLED'), [], 'disable when off: 409');
    const rotateAgain = await ctx.kit.post(
      '/recovery-codes/rotate',
      { code: ctx.freshCode(enabled.secret) },
      { token },
    );
    t.strictSame(errorProblems(rotateAgain, 409, 'TWOFOLD_NOT_ENABLED'), [], 'rotate when off: 409');
    const confirmNothing = await ctx.kit.post('/totp/confirm', { code: '123456' }, { token });
    t.strictSame(
      errorProblems(confirmNothing, 409, 'TWOFOLD_NOT_PENDING'),
      [],
      'confirm with nothing pending: 409',
    );
    t.ok(await ctx.passwordLogin(ada), 'login is one step again');
  });

  t.test('of parallel logins with one code, one recovery code or one refresh token, one wins', async (t) => {
    // The losers count as failed attempts: keep them below the lock.
    const ctx = await setup(t, env, { lockout: { maxFailures: 100 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const parallel = async (make: () => Promise<{ status: number }>, what: string) => {
      const answers = await Promise.all(Array.from({ length: 12 }, make));
      const statuses = answers.map((answer) => answer.status);
      t.equal(statuses.filter((status) => status === 200).length, 1, `${what}: exactly one 200`);
      t.ok(
        statuses.every((status) => status === 200 || status === 400 || status === 401),
        `${what}: the others refused (${[...new Set(statuses)].join(' ')})`,
      );
    };

    const code = ctx.freshCode(enabled.secret);
    const codeChallenges = await Promise.all(Array.from({ length: 12 }, () => ctx.challenge(ada)));
    let next = 0;
    await parallel(
      () => ctx.kit.post('/login/verify', { challengeToken: codeChallenges[next++], code }),
      'one code',
    );
    const recoveryChallenges = await Promise.all(Array.from({ length: 12 }, () => ctx.challenge(ada)));
    next = 0;
    await parallel(
      () =>
        ctx.kit.post('/login/verify', {
          challengeToken: recoveryChallenges[next++],
          recoveryCode: enabled.recoveryCodes[0],
        }),
      'one recovery code',
    );
    const session = await ctx.mfaLogin(ada, enabled.secret);
    await parallel(
      () => ctx.kit.post('/token/refresh', { refreshToken: session.refreshToken }),
      'one refresh token',
    );
  });

  t.test('disable with a current code; the account can enroll again', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const disable = await ctx.kit.post(
      '/totp/disable',
      { code: ctx.freshCode(enabled.secret) },
      { token: enabled.accessToken },
    );
    t.strictSame(
      successProblems(disable, 200, ['accessToken', 'refreshToken']),
      [],
      'disable with a code: 200',
    );
    const refreshed = await ctx.kit.post('/token/refresh', { refreshToken: enabled.refreshToken });
    t.strictSame(errorProblems(refreshed, 401, 'TWOFOLD_INVALID_TOKEN'), [], 'the sessions from before end');
    const enroll = await ctx.kit.post('/totp/enroll', undefined, {
      token: String(disable.body.accessToken),
    });
    t.strictSame(successProblems(enroll, 201, ENROLL_KEYS), [], 'enroll again: 201');
    t.not(enroll.body.secret, enabled.secret, 'with a new secret');
  });
}
