/**
 * Per-account lockout and what counts as a failed attempt: wrong codes lock the account for a
 * while (429 TWOFOLD_LOCKED with Retry-After) whatever the challenge, IP or route; a code that is
 * not a string of digits is a failure too (SECURITY.md §5, §14-§17).
 */
import type { Test } from 'tap';
import { type SuiteEnv, setup } from './context.js';
import { codeAt, errorProblems, successProblems } from './helpers.js';

export function lockoutTests(t: Test, env: SuiteEnv): void {
  t.test('wrong codes lock the account; the right code is refused until the lock ends', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 3, durationMs: 600_000 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);

    const challengeToken = await ctx.challenge(ada);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const answer = await ctx.kit.post('/login/verify', {
        challengeToken,
        code: ctx.wrongCode(enabled.secret),
      });
      t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'), [], `wrong code ${attempt}: 400`);
    }
    const locked = await ctx.kit.post('/login/verify', {
      challengeToken,
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(errorProblems(locked, 429, 'TWOFOLD_LOCKED'), [], 'the right code while locked: 429');
    const retryAfter = Number(locked.headers.get('retry-after'));
    t.ok(Number.isInteger(retryAfter) && retryAfter > 500 && retryAfter <= 600, `Retry-After ${retryAfter}`);

    const newChallenge = await ctx.challenge(ada);
    const stillLocked = await ctx.kit.post('/login/verify', {
      challengeToken: newChallenge,
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(errorProblems(stillLocked, 429, 'TWOFOLD_LOCKED'), [], 'a new challenge does not escape it');
    const recovery = await ctx.kit.post('/login/verify', {
      challengeToken: newChallenge,
      recoveryCode: enabled.recoveryCodes[0],
    });
    t.strictSame(errorProblems(recovery, 429, 'TWOFOLD_LOCKED'), [], 'nor does a recovery code');
    const stepUp = await ctx.kit.post(
      '/step-up',
      { code: ctx.freshCode(enabled.secret) },
      { token: enabled.accessToken },
    );
    t.strictSame(errorProblems(stepUp, 429, 'TWOFOLD_LOCKED'), [], 'nor another route');
    const disable = await ctx.kit.post(
      '/totp/disable',
      { code: ctx.freshCode(enabled.secret) },
      { token: enabled.accessToken },
    );
    t.strictSame(errorProblems(disable, 429, 'TWOFOLD_LOCKED'), [], 'disable is locked too');

    ctx.clock.advance(600_000);
    const after = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(successProblems(after, 200), [], 'the lock ends by itself: the right code works again');
  });

  t.test('the lock holds across logins and client addresses', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 3 }, trustProxy: true });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const fromIp = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
    const addresses = ['198.51.100.1', '198.51.100.2', '2001:db8:77::1', '203.0.113.9'];
    for (let attempt = 1; attempt <= 3; attempt++) {
      // A new login (a successful password step) and another address for every attempt.
      const answer = await ctx.kit.post(
        '/login/verify',
        { challengeToken: await ctx.challenge(ada), code: ctx.wrongCode(enabled.secret) },
        fromIp(addresses[attempt - 1]!),
      );
      t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'), [], `wrong code ${attempt}`);
    }
    const locked = await ctx.kit.post(
      '/login/verify',
      { challengeToken: await ctx.challenge(ada), code: ctx.freshCode(enabled.secret) },
      fromIp(addresses[3]!),
    );
    t.strictSame(errorProblems(locked, 429, 'TWOFOLD_LOCKED'), [], 'locked whatever the login and address');
  });

  t.test('of parallel wrong codes none is lost: the next right code is refused', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 5 }, challenge: { maxAttempts: 20 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const challenges = await Promise.all(Array.from({ length: 20 }, () => ctx.challenge(ada)));
    const wrong = ctx.wrongCode(enabled.secret);
    const answers = await Promise.all(
      challenges.map((challengeToken) => ctx.kit.post('/login/verify', { challengeToken, code: wrong })),
    );
    t.ok(
      answers.every((answer) => answer.status === 400 || answer.status === 429),
      'every wrong code is refused (400, or 429 once locked)',
    );
    const locked = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(errorProblems(locked, 429, 'TWOFOLD_LOCKED'), [], 'the right code afterwards: 429');
  });

  t.test('a code sent as a JSON number counts as a failed attempt', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 3 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const challengeToken = await ctx.challenge(ada);
      const right = ctx.freshCode(enabled.secret);
      const answer = await ctx.kit.post('/login/verify', { challengeToken, code: Number(right) });
      t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'), [], `the right code as a number: 400`);
    }
    const locked = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(errorProblems(locked, 429, 'TWOFOLD_LOCKED'), [], 'three of them locked the account');
  });

  t.test('anything but a string of digits is a wrong code, on every route that takes one', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 100 }, challenge: { maxAttempts: 20 } });
    const ada = ctx.users.add('ada');
    const bob = ctx.users.add('bob');
    const enabled = await ctx.enable(ada);
    const bobTokens = await ctx.passwordLogin(bob);
    const bobEnrollment = await ctx.kit.post('/totp/enroll', undefined, { token: bobTokens.accessToken });
    const bobSecret = String(bobEnrollment.body.secret);

    const weird = (right: string): [string, unknown][] => [
      ['a number', Number(right)],
      ['true', true],
      ['null', null],
      ['an object', { code: right }],
      ['an array', [right]],
      ['full-width digits', right.replace(/\d/g, (digit) => String.fromCharCode(0xff10 + Number(digit)))],
      ['a trailing letter', `${right.slice(0, 5)}x`],
      ['too short', right.slice(0, 5)],
      ['too long', `${right}0`],
      ['empty', ''],
      ['a huge string', '1'.repeat(5000)],
    ];
    for (const [what, code] of weird(codeAt(enabled.secret, ctx.clock.now() + 30_000))) {
      const challengeToken = await ctx.challenge(ada);
      const routes: [string, Record<string, unknown>, string | undefined][] = [
        ['/login/verify', { challengeToken, code }, undefined],
        ['/login/verify', { challengeToken, recoveryCode: code }, undefined],
        ['/step-up', { code }, enabled.accessToken],
        ['/step-up', { recoveryCode: code }, enabled.accessToken],
        ['/totp/disable', { code }, enabled.accessToken],
        ['/recovery-codes/rotate', { code }, enabled.accessToken],
      ];
      for (const [path, body, token] of routes) {
        const answer = await ctx.kit.post(path, body, token === undefined ? {} : { token });
        const field = Object.keys(body).find((key) => key !== 'challengeToken');
        t.strictSame(
          errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'),
          [],
          `${path}, ${field} ${what}: 400`,
        );
      }
    }
    for (const [what, code] of weird(codeAt(bobSecret, ctx.clock.now()))) {
      const answer = await ctx.kit.post('/totp/confirm', { code }, { token: bobTokens.accessToken });
      t.strictSame(
        errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'),
        [],
        `/totp/confirm, code ${what}: 400`,
      );
    }
    const login = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(successProblems(login, 200), [], 'the right code still works (below the lockout)');
  });

  t.test('a challenge token allows a few attempts, then is refused', async (t) => {
    const ctx = await setup(t, env, { challenge: { maxAttempts: 2 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const challengeToken = await ctx.challenge(ada);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const answer = await ctx.kit.post('/login/verify', {
        challengeToken,
        code: ctx.wrongCode(enabled.secret),
      });
      t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'), [], `wrong code ${attempt}`);
    }
    const exhausted = await ctx.kit.post('/login/verify', {
      challengeToken,
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(errorProblems(exhausted, 401, 'TWOFOLD_INVALID_CHALLENGE'), [], 'out of attempts: 401');
    const fresh = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enabled.secret),
    });
    t.strictSame(successProblems(fresh, 200), [], 'a new login works');
  });
}
