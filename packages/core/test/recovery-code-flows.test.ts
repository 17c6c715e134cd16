import t from 'tap';
import { codeAt, enrolledUser, makeEngine, wrongCode } from './helpers.js';

t.test('a recovery code works once, not twice', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  t.strictSame(await env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
    userId: user.userId,
    method: 'recovery-code',
    authenticatorId: null,
    amr: 'otp',
    remaining: 9,
  });
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  t.equal((await env.twoFactor.status(user.userId)).recoveryCodesRemaining, 9);
});

t.test('recovery codes are accepted in any case, with or without separators', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const [a, b, c] = user.recoveryCodes as [string, string, string];
  await t.resolves(env.twoFactor.useRecoveryCode(user.userId, a.toLowerCase()));
  await t.resolves(env.twoFactor.useRecoveryCode(user.userId, b.replaceAll('-', '')));
  await t.resolves(env.twoFactor.useRecoveryCode(user.userId, ` ${c.replaceAll('-', ' ')} `));
});

t.test('100 parallel uses of one recovery code: exactly one success', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 100 } });
  const user = await enrolledUser(env);
  const results = await Promise.allSettled(
    Array.from({ length: 100 }, () => env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[1])),
  );
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
});

t.test('the store holds only keyed hashes, and submitting a stored hash fails', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  // Recovery codes are kept as `${tag}.${hmac}`: find them by trying a code's own hash.
  const { hashRecoveryCode, normalizeRecoveryCode } = await import('../src/recovery-codes.js');
  const hash = hashRecoveryCode(env.keyring, user.userId, normalizeRecoveryCode(user.recoveryCodes[2])!);
  t.notMatch(hash, normalizeRecoveryCode(user.recoveryCodes[2])!);
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, hash), { code: 'TWOFOLD_INVALID_CODE' });
  t.equal(await env.store.countRecoveryCodes(user.userId), 10, 'nothing consumed by the hash');
});

t.test("one user's recovery code does not work for another", async (t) => {
  const env = makeEngine();
  const alice = await enrolledUser(env, 'alice');
  const bob = await enrolledUser(env, 'bob');
  await t.rejects(env.twoFactor.useRecoveryCode(bob.userId, alice.recoveryCodes[0]), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await t.resolves(env.twoFactor.useRecoveryCode(alice.userId, alice.recoveryCodes[0]));
});

t.test('rotate needs a fresh code and replaces the whole set', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  await t.rejects(
    env.twoFactor.rotateRecoveryCodes(user.userId, { code: wrongCode(user.secret, env.clock.now()) }),
    {
      code: 'TWOFOLD_INVALID_CODE',
    },
  );
  const rotated = await env.twoFactor.rotateRecoveryCodes(user.userId, {
    code: codeAt(user.secret, env.clock.now()),
  });
  t.equal(rotated.recoveryCodes.length, 10);
  for (const old of user.recoveryCodes) t.notOk(rotated.recoveryCodes.includes(old));
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await t.resolves(env.twoFactor.useRecoveryCode(user.userId, rotated.recoveryCodes[0]));
});

t.test('rotate with a replayed code is refused', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const code = codeAt(user.secret, env.clock.now());
  await env.twoFactor.verify(user.userId, code);
  await t.rejects(env.twoFactor.rotateRecoveryCodes(user.userId, { code }), { code: 'TWOFOLD_INVALID_CODE' });
  await t.resolves(
    env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]),
    'old set still in place',
  );
});

t.test('disable needs a fresh factor and deletes secret, recovery codes and replay state', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  await t.rejects(env.twoFactor.disable(user.userId, { code: wrongCode(user.secret, env.clock.now()) }), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  t.equal((await env.twoFactor.status(user.userId)).enabled, true);
  await env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  t.strictSame(await env.twoFactor.status(user.userId), {
    enabled: false,
    pending: false,
    recoveryPending: null,
    recoveryCodesRemaining: 0,
    enabledAt: null,
    lastUsedAt: null,
    authenticators: { totp: 0, webauthn: 0 },
  });
  t.equal(
    await env.store.getAuthenticator(user.userId, user.enrollment.authenticatorId, env.clock.now()),
    null,
  );
  t.strictSame(await env.store.listAuthenticators(user.userId, env.clock.now()), []);
  t.equal(await env.store.countRecoveryCodes(user.userId), 0);
  await t.rejects(env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) }), {
    code: 'TWOFOLD_NOT_ENABLED',
  });
});

t.test(
  'disable deletes every app and the enrollment under way, whichever app proves the factor',
  async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    const second = await env.twoFactor.enroll(user.userId);
    await env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now()));
    const third = await env.twoFactor.enroll(user.userId);
    t.match(await env.twoFactor.status(user.userId), { pending: true, authenticators: { totp: 2 } });
    env.clock.advance(30_000);
    let beforeDisable = 0;
    await env.twoFactor.disable(
      user.userId,
      { code: codeAt(second.secret, env.clock.now()) },
      { beforeDisable: () => beforeDisable++ },
    );
    t.equal(beforeDisable, 1);
    t.strictSame(await env.store.listAuthenticators(user.userId, env.clock.now()), []);
    t.equal(await env.store.countRecoveryCodes(user.userId), 0);
    await t.rejects(env.twoFactor.confirm(user.userId, codeAt(third.secret, env.clock.now())), {
      code: 'TWOFOLD_NOT_PENDING',
    });
    await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
      code: 'TWOFOLD_NOT_ENABLED',
    });
  },
);

t.test('disable with a recovery code works; with both or neither factor is invalid input', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  await t.rejects(env.twoFactor.disable(user.userId, { code: '123456', recoveryCode: 'x' }), {
    code: 'TWOFOLD_INVALID_INPUT',
  });
  await t.rejects(env.twoFactor.disable(user.userId, {} as never), { code: 'TWOFOLD_INVALID_INPUT' });
  await env.twoFactor.disable(user.userId, { recoveryCode: user.recoveryCodes[0] });
  t.equal((await env.twoFactor.status(user.userId)).enabled, false);
});

t.test('after disable the user can enroll again with a new secret', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  await env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  const again = await env.twoFactor.enroll(user.userId);
  t.not(again.secret, user.secret);
});
