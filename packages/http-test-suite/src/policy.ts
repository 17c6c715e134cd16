/**
 * Mandatory 2FA (the `policy` option): logins during the grace period, then sessions that may only
 * enroll: 403 TWOFOLD_ENROLLMENT_REQUIRED everywhere else, the kit's guards included, until 2FA is on.
 */
import type { Test } from 'tap';
import { type SuiteEnv, setup, type TokenPair } from './context.js';
import { codeAt, decodeJwt, errorProblems, must, successProblems } from './helpers.js';

const DAY_MS = 86_400_000;

type LoginBody = TokenPair & {
  twoFactorRequired: boolean;
  enrollmentRequired?: boolean;
  enrollmentRequiredBy?: string | null;
  graceLoginsLeft?: number | null;
};

export function policyTests(t: Test, env: SuiteEnv): void {
  t.test('mandatory 2FA with grace in logins: then sessions that may only enroll', async (t) => {
    let exempt = '';
    const ctx = await setup(t, env, {
      policy: { require: (userId) => userId !== exempt, graceLogins: 2 },
    });
    const ada = ctx.users.add('ada');
    const login = async () =>
      must(
        await ctx.kit.post<LoginBody>('/login', { username: ada.username, password: ada.password }),
        200,
        'POST /login',
      );
    const first = await login();
    t.match(first, { twoFactorRequired: false, enrollmentRequired: false, graceLoginsLeft: 1 });
    t.equal(first.enrollmentRequiredBy, null, 'no days of grace: no date');
    t.equal(
      (await ctx.kit.get('/host/protected', { token: first.accessToken })).status,
      200,
      'in grace: full access',
    );
    const status = await ctx.kit.get('/status', { token: first.accessToken });
    t.match(status.body, { enabled: false, enrollmentRequired: false, graceLoginsLeft: 1 });
    t.match(await login(), { enrollmentRequired: false, graceLoginsLeft: 0 }, 'the last login of grace');
    const restricted = await login();
    t.match(restricted, { enrollmentRequired: true, graceLoginsLeft: 0 });
    t.equal(decodeJwt(restricted.accessToken).payload.enr, true, 'the token says it may only enroll');

    for (const [method, path] of [
      ['GET', '/host/protected'],
      ['GET', '/host/sensitive'],
      ['GET', '/sessions'],
      ['POST', '/sessions/revoke-all'],
      ['POST', '/step-up'],
    ] as const) {
      const answer =
        method === 'GET'
          ? await ctx.kit.get(path, { token: restricted.accessToken })
          : await ctx.kit.post(path, { password: ada.password }, { token: restricted.accessToken });
      t.strictSame(errorProblems(answer, 403, 'TWOFOLD_ENROLLMENT_REQUIRED'), [], `${method} ${path}: 403`);
    }
    const refreshed = must(
      await ctx.kit.post<TokenPair>('/token/refresh', { refreshToken: restricted.refreshToken }),
      200,
      'refresh',
    );
    t.equal(decodeJwt(refreshed.accessToken).payload.enr, true, 'a refresh keeps the restriction');
    const restrictedStatus = await ctx.kit.get('/status', { token: refreshed.accessToken });
    t.strictSame(successProblems(restrictedStatus, 200), [], 'GET /status is an enrollment route');
    t.match(restrictedStatus.body, { enabled: false, enrollmentRequired: true, graceLoginsLeft: 0 });

    const enrollment = must(
      await ctx.kit.post<{ secret: string }>('/totp/enroll', undefined, { token: refreshed.accessToken }),
      201,
      'POST /totp/enroll with a session that may only enroll',
    );
    const confirmed = must(
      await ctx.kit.post<TokenPair & { recoveryCodes: string[] }>(
        '/totp/confirm',
        { code: codeAt(enrollment.secret, ctx.clock.now()) },
        { token: refreshed.accessToken },
      ),
      200,
      'POST /totp/confirm',
    );
    t.equal(confirmed.recoveryCodes.length, 10);
    t.notOk(decodeJwt(confirmed.accessToken).payload.enr, 'the fresh tokens of confirm are not restricted');
    t.equal(
      (await ctx.kit.get('/host/protected', { token: confirmed.accessToken })).status,
      200,
      'full access',
    );
    t.strictSame(
      errorProblems(
        await ctx.kit.get('/host/protected', { token: refreshed.accessToken }),
        401,
        'TWOFOLD_UNAUTHORIZED',
      ),
      [],
      'the restricted session ended with 2FA turned on',
    );
    const twoStep = must(
      await ctx.kit.post<LoginBody>('/login', { username: ada.username, password: ada.password }),
      200,
      'login with 2FA',
    );
    t.equal(twoStep.twoFactorRequired, true, 'from now on: the usual two-step login');
    t.strictSame(
      Object.keys(twoStep).sort(),
      ['challengeToken', 'expiresIn', 'twoFactorRequired'],
      'and no policy fields',
    );

    // A user the policy does not cover: the login says nothing of it; the status says it is not required.
    const free = ctx.users.add('free');
    exempt = free.userId;
    const freeLogin = must(
      await ctx.kit.post<LoginBody>('/login', { username: free.username, password: free.password }),
      200,
      'login',
    );
    t.strictSame(Object.keys(freeLogin).sort(), ['accessToken', 'refreshToken', 'twoFactorRequired']);
    t.match((await ctx.kit.get('/status', { token: freeLogin.accessToken })).body, {
      enrollmentRequired: false,
      enrollmentRequiredBy: null,
      graceLoginsLeft: null,
    });
  });

  t.test('mandatory 2FA with days of grace, counted from the first login under it', async (t) => {
    const ctx = await setup(t, env, { policy: { require: () => true, graceDays: 3 } });
    const ada = ctx.users.add('ada');
    const start = ctx.clock.now();
    const login = async () =>
      must(
        await ctx.kit.post<LoginBody>('/login', { username: ada.username, password: ada.password }),
        200,
        'POST /login',
      );
    const first = await login();
    t.match(first, {
      enrollmentRequired: false,
      enrollmentRequiredBy: new Date(start + 3 * DAY_MS).toISOString(),
      graceLoginsLeft: null,
    });
    ctx.clock.advance(2 * DAY_MS);
    const later = await login();
    t.match(later, {
      enrollmentRequired: false,
      enrollmentRequiredBy: new Date(start + 3 * DAY_MS).toISOString(),
    });
    ctx.clock.advance(DAY_MS);
    const due = await login();
    t.equal(due.enrollmentRequired, true, 'from the deadline on: enrollment only');
    t.strictSame(
      errorProblems(
        await ctx.kit.get('/host/protected', { token: due.accessToken }),
        403,
        'TWOFOLD_ENROLLMENT_REQUIRED',
      ),
      [],
    );
  });

  t.test(
    'mandatory 2FA without grace: the first login may only enroll; listing and logout still work',
    async (t) => {
      const ctx = await setup(t, env, { policy: { require: async () => true } });
      const ada = ctx.users.add('ada');
      const login = must(
        await ctx.kit.post<LoginBody>('/login', { username: ada.username, password: ada.password }),
        200,
        'POST /login',
      );
      t.match(login, { enrollmentRequired: true, enrollmentRequiredBy: null, graceLoginsLeft: null });
      t.strictSame(
        successProblems(await ctx.kit.get('/authenticators', { token: login.accessToken }), 200),
        [],
        'the authenticator list is an enrollment route',
      );
      t.strictSame(
        successProblems(await ctx.kit.post('/token/revoke', { refreshToken: login.refreshToken }), 204),
        [],
        'logout works',
      );
    },
  );
}
