import t from 'tap';
import { codeAt, enrolledUser, flushEvents, makeEngine, wrongCode } from './helpers.js';

t.test('a current code is accepted and lastUsedAt recorded', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  t.strictSame(await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
    userId: user.userId,
    method: 'totp',
    authenticatorId: user.enrollment.authenticatorId,
    amr: 'otp',
  });
  t.same((await env.twoFactor.status(user.userId)).lastUsedAt, new Date(env.clock.now()));
  t.same(
    (await env.twoFactor.listAuthenticators(user.userId))[0]?.lastUsedAt,
    new Date(env.clock.now()),
    'on the authenticator that answered',
  );
});

t.test('codes one step early or late are accepted with the default window, two steps are not', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  env.clock.advance(5 * 30_000);
  await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now(), -1)));
  env.clock.advance(5 * 30_000);
  await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now(), 1)));
  env.clock.advance(5 * 30_000);
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now(), -2)), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now(), 2)), {
    code: 'TWOFOLD_INVALID_CODE',
  });
});

t.test('strict mode (window 0) accepts only the current step', async (t) => {
  const env = makeEngine({ totp: { window: 0 } });
  const user = await enrolledUser(env);
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now(), -1)), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())));
});

t.test('a code is accepted once: the replay answers exactly like a wrong code and counts', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const failures: unknown[] = [];
  env.twoFactor.on('failed', (event) => failures.push(event));
  const code = codeAt(user.secret, env.clock.now());
  await env.twoFactor.verify(user.userId, code);
  const replay = await env.twoFactor.verify(user.userId, code).catch((error: Error) => error);
  const wrong = await env.twoFactor
    .verify(user.userId, wrongCode(user.secret, env.clock.now()))
    .catch((e: Error) => e);
  t.equal((replay as Error).constructor, (wrong as Error).constructor);
  t.equal((replay as Error).message, (wrong as Error).message);
  t.match(replay, { code: 'TWOFOLD_INVALID_CODE' });
  await flushEvents();
  t.match(failures, [
    { userId: user.userId, method: 'totp', reason: 'replayed', failures: 1 },
    { userId: user.userId, method: 'totp', reason: 'invalid', failures: 2 },
  ]);
});

t.test('an older code from the same window fails once a newer one was used (RFC 6238 5.2)', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const now = env.clock.now();
  await env.twoFactor.verify(user.userId, codeAt(user.secret, now, 1));
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, now)), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, now, -1)), {
    code: 'TWOFOLD_INVALID_CODE',
  });
});

t.test('50 parallel submissions of one valid code: exactly one success', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 100 } });
  const user = await enrolledUser(env);
  for (let round = 0; round < 5; round++) {
    env.clock.advance(30_000);
    const code = codeAt(user.secret, env.clock.now());
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => env.twoFactor.verify(user.userId, code)),
    );
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
    await env.store.resetCounter(user.userId, 'failures');
  }
});

const malformed: [string, unknown][] = [
  ['a JSON number', 123456],
  ['a boolean', true],
  ['an array', ['123456']],
  ['an object', { code: '123456' }],
  ['null', null],
  ['full-width digits', '１２３４５６'],
  ['a trailing letter', '26920x'],
  ['too short', '12345'],
  ['too long', '1234567'],
  ['an empty string', ''],
];

for (const [name, code] of malformed) {
  t.test(`${name} is refused as an invalid code and counts as a failure`, async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    await t.rejects(env.twoFactor.verify(user.userId, code), { code: 'TWOFOLD_INVALID_CODE' });
    t.equal((await env.store.getCounter(user.userId, 'failures', env.clock.now()))?.count, 1);
  });
}

t.test('a well-formed number as a string still matches: spaces and hyphens are ignored', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const code = codeAt(user.secret, env.clock.now());
  await t.resolves(env.twoFactor.verify(user.userId, `${code.slice(0, 3)} ${code.slice(3)}`));
});

t.test('verify for a user without 2FA is NOT_ENABLED', async (t) => {
  const env = makeEngine();
  await t.rejects(env.twoFactor.verify('nobody', '123456'), { code: 'TWOFOLD_NOT_ENABLED' });
  await env.twoFactor.enroll('pending-user');
  await t.rejects(env.twoFactor.verify('pending-user', '123456'), { code: 'TWOFOLD_NOT_ENABLED' });
});
