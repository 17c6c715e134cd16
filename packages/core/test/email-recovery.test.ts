import t from 'tap';
import { memoryStore, type Store } from '../src/index.js';
import { enrolledUser, interleavingStore, makeEngine } from './helpers.js';

t.test('a recovery token with the right password turns 2FA off once', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token, expiresAt } = await env.twoFactor.createRecoveryToken(user.userId);
  t.equal(expiresAt, env.clock.now() + 60 * 60_000);
  t.equal((await env.twoFactor.status(user.userId)).enabled, true, 'asking for recovery changes nothing');
  await env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: () => true });
  t.equal((await env.twoFactor.status(user.userId)).enabled, false);
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
});

t.test(
  'beforeDisable runs after the checks; if it throws, nothing changed and the token still works',
  async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    const { token } = await env.twoFactor.createRecoveryToken(user.userId);
    const calls: string[] = [];
    await t.rejects(
      env.twoFactor.completeRecovery(user.userId, token, {
        verifyPassword: () => {
          calls.push('password');
          return false;
        },
        beforeDisable: () => calls.push('before'),
      }),
      { code: 'TWOFOLD_INVALID_RECOVERY_TOKEN' },
    );
    t.same(calls, ['password'], 'not run for a wrong password');
    await t.rejects(
      env.twoFactor.completeRecovery(user.userId, token, {
        verifyPassword: () => true,
        beforeDisable: async () => {
          throw new Error('sessions could not be revoked');
        },
      }),
      { message: 'sessions could not be revoked' },
    );
    t.equal((await env.twoFactor.status(user.userId)).enabled, true, '2FA stays on');
    await env.twoFactor.completeRecovery(user.userId, token, {
      verifyPassword: () => true,
      beforeDisable: async () => {
        calls.push('before');
        t.equal((await env.twoFactor.status(user.userId)).enabled, true, 'run while 2FA is still on');
      },
    });
    t.same(calls, ['password', 'before']);
    t.equal((await env.twoFactor.status(user.userId)).enabled, false, 'then 2FA is off');
  },
);

t.test('the token is stored only hashed', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  const stored = await env.store.getNonce(user.userId, 'recovery-token', env.clock.now());
  t.ok(stored);
  t.not(stored, token);
  t.notMatch(stored!, token);
});

t.test('a wrong token or a wrong password leaves the emailed token working', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  // Another last character (the right one may well be "A": 32 bytes end in one of 16 characters).
  const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  await t.rejects(env.twoFactor.completeRecovery(user.userId, wrong), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: async () => false }), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  t.equal((await env.twoFactor.status(user.userId)).enabled, true);
  await t.resolves(env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: async () => true }));
});

t.test('a new token revokes the previous one', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const first = await env.twoFactor.createRecoveryToken(user.userId);
  const second = await env.twoFactor.createRecoveryToken(user.userId);
  await t.rejects(env.twoFactor.completeRecovery(user.userId, first.token), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  await t.resolves(env.twoFactor.completeRecovery(user.userId, second.token));
});

t.test('a token expires', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  env.clock.advance(60 * 60_000);
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
});

t.test('a token is bound to its user', async (t) => {
  const env = makeEngine();
  const alice = await enrolledUser(env, 'alice');
  const bob = await enrolledUser(env, 'bob');
  const { token } = await env.twoFactor.createRecoveryToken(alice.userId);
  await t.rejects(env.twoFactor.completeRecovery(bob.userId, token), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
});

t.test('parallel completions of one token: exactly one success', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, () => env.twoFactor.completeRecovery(user.userId, token)),
  );
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
});

for (const [name, token] of [
  ['a number', 42],
  ['an empty string', ''],
  ['a huge string', 'x'.repeat(10_000)],
] as const) {
  t.test(`${name} as a recovery token is refused`, async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    await env.twoFactor.createRecoveryToken(user.userId);
    await t.rejects(env.twoFactor.completeRecovery(user.userId, token), {
      code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
    });
  });
}

t.test('the link is spent in the same step that turns 2FA off: a failed step leaves both', async (t) => {
  const inner = memoryStore();
  let failNext = true;
  const store: Store = {
    ...inner,
    takeNonceAndDeleteTwoFactor: async (...args) => {
      if (failNext) {
        failNext = false;
        throw new Error('connection reset');
      }
      return inner.takeNonceAndDeleteTwoFactor(...args);
    },
  };
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: () => true }), {
    code: 'TWOFOLD_STORE_UNAVAILABLE',
  });
  t.equal((await env.twoFactor.status(user.userId)).enabled, true, '2FA still on');
  await env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: () => true });
  t.equal((await env.twoFactor.status(user.userId)).enabled, false, 'the same link then works');
});

t.test('recovery racing itself with interleaved store calls: exactly one completes', async (t) => {
  for (let round = 0; round < 5; round++) {
    const env = makeEngine({ store: interleavingStore() });
    const user = await enrolledUser(env);
    const { token } = await env.twoFactor.createRecoveryToken(user.userId);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () =>
        env.twoFactor.completeRecovery(user.userId, token, { verifyPassword: () => true }),
      ),
    );
    t.equal(results.filter((result) => result.status === 'fulfilled').length, 1, `round ${round}`);
    t.equal((await env.twoFactor.status(user.userId)).enabled, false);
  }
});
