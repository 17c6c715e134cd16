import t from 'tap';
import { codeAt, enrolledUser, interleavingStore, makeEngine, wrongCode } from './helpers.js';

t.test('a challenge token plus a valid code completes the login once', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const challenge = await env.twoFactor.createChallenge(user.userId);
  t.equal(challenge.expiresIn, 120);
  t.strictSame(
    await env.twoFactor.completeChallenge(challenge.challengeToken, {
      code: codeAt(user.secret, env.clock.now()),
    }),
    {
      userId: user.userId,
      method: 'totp',
      authenticatorId: user.enrollment.authenticatorId,
      amr: 'otp',
    },
  );
  env.clock.advance(30_000);
  await t.rejects(
    env.twoFactor.completeChallenge(challenge.challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
    { code: 'TWOFOLD_INVALID_CHALLENGE' },
    'the token is spent on success',
  );
});

t.test('a challenge token with a recovery code completes the login', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  t.strictSame(
    await env.twoFactor.completeChallenge(challengeToken, { recoveryCode: user.recoveryCodes[0] }),
    {
      userId: user.userId,
      method: 'recovery-code',
      authenticatorId: null,
      amr: 'otp',
    },
  );
});

t.test('a challenge allows maxAttempts wrong codes, then refuses even the right one', async (t) => {
  const env = makeEngine({ challenge: { maxAttempts: 3 } });
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  for (let i = 0; i < 3; i++) {
    await t.rejects(
      env.twoFactor.completeChallenge(challengeToken, { code: wrongCode(user.secret, env.clock.now()) }),
      {
        code: 'TWOFOLD_INVALID_CODE',
      },
    );
  }
  await t.rejects(
    env.twoFactor.completeChallenge(challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
    {
      code: 'TWOFOLD_INVALID_CHALLENGE',
    },
  );
  const fresh = await env.twoFactor.createChallenge(user.userId);
  await t.resolves(
    env.twoFactor.completeChallenge(fresh.challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
  );
});

t.test('an expired challenge token is refused', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  env.clock.advance(120_001);
  await t.rejects(
    env.twoFactor.completeChallenge(challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
    {
      code: 'TWOFOLD_INVALID_CHALLENGE',
    },
  );
});

t.test("a challenge is bound to its user: another user's code does not complete it", async (t) => {
  const env = makeEngine();
  const alice = await enrolledUser(env, 'alice');
  const bob = await enrolledUser(env, 'bob');
  const { challengeToken } = await env.twoFactor.createChallenge(alice.userId);
  await t.rejects(
    env.twoFactor.completeChallenge(challengeToken, { code: codeAt(bob.secret, env.clock.now()) }),
    {
      code: 'TWOFOLD_INVALID_CODE',
    },
  );
});

t.test('parallel completions of one challenge: exactly one success', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 100 }, challenge: { maxAttempts: 20 } });
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  const code = codeAt(user.secret, env.clock.now());
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, () => env.twoFactor.completeChallenge(challengeToken, { code })),
  );
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
});

const notChallenges: [string, unknown][] = [
  ['a number', 42],
  ['an empty string', ''],
  ['garbage', 'a.b.c'],
  ['an object', { token: 'x' }],
  ['a huge string', 'x'.repeat(100_000)],
];

for (const [name, token] of notChallenges) {
  t.test(`${name} as a challenge token is refused`, async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    await t.rejects(env.twoFactor.completeChallenge(token, { code: codeAt(user.secret, env.clock.now()) }), {
      code: 'TWOFOLD_INVALID_CHALLENGE',
    });
  });
}

t.test('a recovery token is never accepted as a challenge token', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  await t.rejects(env.twoFactor.completeChallenge(token, { code: codeAt(user.secret, env.clock.now()) }), {
    code: 'TWOFOLD_INVALID_CHALLENGE',
  });
});

t.test('120 staggered guesses on one challenge: at most maxAttempts judged', async (t) => {
  for (let round = 0; round < 5; round++) {
    const env = makeEngine({ challenge: { maxAttempts: 5 }, store: interleavingStore() });
    const user = await enrolledUser(env);
    const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
    const wrong = wrongCode(user.secret, env.clock.now());
    let judged = 0;
    // Guesses start a few turns of the event loop apart, so that some check the challenge while
    // another is being judged and others arrive just after one was released.
    const guesses: Promise<unknown>[] = [];
    for (let index = 0; index < 120; index++) {
      const guess = env.twoFactor.completeChallenge(challengeToken, { code: wrong });
      guess.catch(() => {}); // settled below; this keeps an early refusal from counting as unhandled
      guesses.push(guess);
      for (let turns = (index * 7) % 5; turns > 0; turns--) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    for (const result of await Promise.allSettled(guesses)) {
      const code = result.status === 'rejected' ? (result.reason as { code: string }).code : 'ok';
      if (code === 'TWOFOLD_INVALID_CODE') judged++;
      else if (code !== 'TWOFOLD_INVALID_CHALLENGE') t.fail(`unexpected answer ${code}`);
    }
    t.ok(judged >= 1 && judged <= 5, `round ${round}: ${judged} of 120 guesses judged (at most 5)`);
    await t.rejects(
      env.twoFactor.completeChallenge(challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
      { code: 'TWOFOLD_INVALID_CHALLENGE' },
      'the right code is refused on the spent challenge',
    );
  }
});
