import { decodeSecret, encodeSecret, Totp } from '@twofold/otp';
import t from 'tap';
import { importedAuthenticatorId } from '../src/index.js';
import { codeAt, enrolledUser, flushEvents, interleavingStore, makeEngine } from './helpers.js';

// An 80-bit secret, as Google Authenticator-era systems made them (below the 128 bits twofold generates).
const SHORT_SECRET = 'JBSWY3DPEHPK3PXP';
// pyotp's own test secret: 26 symbols, the last one carrying non-zero unused bits.
const LENIENT_SECRET = 'S46SQCPPTCNPROMHWYBDCTBZXV';

function step(time: number, period = 30): number {
  return Math.floor(time / 1000 / period);
}

t.test('an imported authenticator logs in with the code its app shows, once', async (t) => {
  const env = makeEngine();
  const now = env.clock.now();
  const result = await env.twoFactor.importAuthenticator('ada', {
    source: 'legacy:1',
    secret: SHORT_SECRET,
    name: 'Phone',
    recoveryCodes: ['abcd2345', 'EFGH-6723'],
  });
  t.strictSame(result, {
    authenticatorId: importedAuthenticatorId('legacy:1'),
    outcome: 'enabled',
    recoveryCodes: 2,
  });
  t.match(result.authenticatorId, /^i_[A-Za-z0-9_-]{22}$/);
  const status = await env.twoFactor.status('ada');
  t.equal(status.enabled, true);
  t.equal(status.recoveryCodesRemaining, 2);
  const [listed] = await env.twoFactor.listAuthenticators('ada');
  t.match(listed, { id: result.authenticatorId, type: 'totp', name: 'Phone' });
  const code = codeAt(SHORT_SECRET, now);
  t.match(await env.twoFactor.verify('ada', code), {
    method: 'totp',
    authenticatorId: result.authenticatorId,
  });
  await t.rejects(env.twoFactor.verify('ada', code), { code: 'TWOFOLD_INVALID_CODE' });
});

t.test(
  'the replay state carries over: codes up to lastCounter are refused, the next step works',
  async (t) => {
    const env = makeEngine();
    const now = env.clock.now();
    await env.twoFactor.importAuthenticator('ada', {
      source: 'legacy:1',
      secret: SHORT_SECRET,
      lastCounter: step(now),
    });
    const failed: string[] = [];
    env.twoFactor.on('failed', (payload) => failed.push(payload.reason));
    await t.rejects(env.twoFactor.verify('ada', codeAt(SHORT_SECRET, now)), { code: 'TWOFOLD_INVALID_CODE' });
    await t.rejects(env.twoFactor.verify('ada', codeAt(SHORT_SECRET, now, -1)), {
      code: 'TWOFOLD_INVALID_CODE',
    });
    await flushEvents();
    t.strictSame(failed, ['replayed', 'replayed'], 'an already-used code is a replay, not a wrong code');
    await t.resolves(env.twoFactor.verify('ada', codeAt(SHORT_SECRET, now, 1)));
  },
);

t.test('other algorithms, 8-10 digits, other periods and lenient base32 are read as given', async (t) => {
  const cases = [
    { algorithm: 'SHA256' as const, digits: 8, period: 60, secret: LENIENT_SECRET },
    { algorithm: 'SHA512' as const, digits: 10, period: 45, secret: SHORT_SECRET.toLowerCase() },
    {
      algorithm: 'SHA1' as const,
      digits: 7,
      period: 10,
      secret: decodeSecret(LENIENT_SECRET, { minBytes: 10 }),
    },
  ];
  for (const [index, input] of cases.entries()) {
    const env = makeEngine();
    const now = env.clock.now();
    const userId = `user-${index}`;
    await env.twoFactor.importAuthenticator(userId, { source: 'legacy', ...input });
    const bytes =
      typeof input.secret === 'string' ? decodeSecret(input.secret, { minBytes: 10 }) : input.secret;
    const app = new Totp({
      secret: encodeSecret(bytes),
      algorithm: input.algorithm,
      digits: input.digits,
      period: input.period,
      minSecretBytes: 10,
    });
    const code = app.generate(now).token;
    t.equal(code.length, input.digits);
    t.match(
      await env.twoFactor.verify(userId, code),
      { method: 'totp' },
      `${input.algorithm}/${input.digits}/${input.period}`,
    );
  }
});

t.test('importing the same source again changes nothing; another source adds an authenticator', async (t) => {
  const env = makeEngine();
  const imported: unknown[] = [];
  env.twoFactor.on('imported', (payload) => imported.push(payload));
  const first = await env.twoFactor.importAuthenticator('ada', {
    source: 's:1',
    secret: SHORT_SECRET,
    recoveryCodes: ['abcdef'],
  });
  const again = await env.twoFactor.importAuthenticator('ada', {
    source: 's:1',
    secret: LENIENT_SECRET,
    recoveryCodes: ['zzzzzz'],
  });
  t.strictSame(again, { authenticatorId: first.authenticatorId, outcome: 'unchanged', recoveryCodes: 0 });
  await t.resolves(
    env.twoFactor.verify('ada', codeAt(SHORT_SECRET, env.clock.now())),
    'the first secret stays',
  );
  const second = await env.twoFactor.importAuthenticator('ada', {
    source: 's:2',
    secret: LENIENT_SECRET,
    recoveryCodes: ['zzzzzz'],
  });
  t.equal(second.outcome, 'added');
  t.equal(second.recoveryCodes, 0, 'a user who has 2FA keeps the codes they have');
  t.equal((await env.twoFactor.listAuthenticators('ada')).length, 2);
  await t.rejects(env.twoFactor.useRecoveryCode('ada', 'zzzzzz'), { code: 'TWOFOLD_INVALID_CODE' });
  await flushEvents();
  t.strictSame(imported, [
    { userId: 'ada', authenticatorId: first.authenticatorId, source: 's:1', enabled: true },
    { userId: 'ada', authenticatorId: second.authenticatorId, source: 's:2', enabled: false },
  ]);
});

t.test(
  'imported recovery codes work once each, in any case and with separators, and never as twofold codes',
  async (t) => {
    const env = makeEngine();
    await env.twoFactor.importAuthenticator('ada', {
      source: 's',
      secret: SHORT_SECRET,
      recoveryCodes: ['k7n3q2ab', 'x4y5z6w7', '12345678'],
    });
    t.match(await env.twoFactor.useRecoveryCode('ada', 'K7N3-Q2AB'), {
      method: 'recovery-code',
      remaining: 2,
    });
    await t.rejects(env.twoFactor.useRecoveryCode('ada', 'k7n3q2ab'), { code: 'TWOFOLD_INVALID_CODE' });
    await t.resolves(env.twoFactor.useRecoveryCode('ada', ' x4y5 z6w7 '));
    await t.rejects(env.twoFactor.useRecoveryCode('ada', 'x4y5z6w'), { code: 'TWOFOLD_INVALID_CODE' });
    t.equal((await env.twoFactor.status('ada')).recoveryCodesRemaining, 1);

    // A user's own twofold codes keep working next to imported ones after a rotation replaces them.
    const user = await enrolledUser(env, 'bob');
    await t.rejects(env.twoFactor.useRecoveryCode('bob', '12345678'), { code: 'TWOFOLD_INVALID_CODE' });
    await t.resolves(env.twoFactor.useRecoveryCode('bob', user.recoveryCodes[0]));
  },
);

t.test('bad input is refused naming the field, never echoing the secret, with nothing written', async (t) => {
  const env = makeEngine();
  const good = { source: 's', secret: SHORT_SECRET };
  const bad: [string, Record<string, unknown>][] = [
    ['source', { ...good, source: '' }],
    ['source', { ...good, source: 'x'.repeat(256) }],
    ['secret', { ...good, secret: 'JBSWY3DP' }],
    ['secret', { ...good, secret: 'not base32!' }],
    ['secret', { ...good, secret: 42 }],
    ['algorithm', { ...good, algorithm: 'MD5' }],
    ['digits', { ...good, digits: 5 }],
    ['digits', { ...good, digits: 11 }],
    ['period', { ...good, period: 0 }],
    ['period', { ...good, period: 3601 }],
    ['t0', { ...good, t0: 30 }],
    ['lastCounter', { ...good, lastCounter: -2 }],
    ['lastCounter', { ...good, lastCounter: 1.5 }],
    ['name', { ...good, name: '' }],
    ['recoveryCodes', { ...good, recoveryCodes: ['short'] }],
    ['recoveryCodes', { ...good, recoveryCodes: 'abcdefgh' }],
    ['recoveryCodes', { ...good, recoveryCodes: Array.from({ length: 101 }, (_, i) => `code${i}xx`) }],
  ];
  for (const [field, input] of bad) {
    await t.rejects(
      env.twoFactor.importAuthenticator('ada', input as never),
      { code: 'TWOFOLD_INVALID_INPUT', field },
      `${field}: ${JSON.stringify(input).slice(0, 60)}`,
    );
  }
  const error = await env.twoFactor
    .importAuthenticator('ada', { ...good, secret: 'JBSWY3DP' })
    .catch((e: Error) => e);
  t.notMatch(String((error as Error).message), /JBSWY3DP/);
  await t.rejects(env.twoFactor.importAuthenticator('', good), { code: 'TWOFOLD_INVALID_INPUT' });
  t.equal((await env.twoFactor.status('ada')).enabled, false);
  t.strictSame(await env.store.listAuthenticators('ada', env.clock.now()), []);
});

t.test('at maxAuthenticators an import is refused and nothing changes', async (t) => {
  const env = makeEngine({ maxAuthenticators: 1 });
  await env.twoFactor.importAuthenticator('ada', { source: 'a', secret: SHORT_SECRET });
  await t.rejects(env.twoFactor.importAuthenticator('ada', { source: 'b', secret: LENIENT_SECRET }), {
    code: 'TWOFOLD_AUTHENTICATOR_LIMIT',
  });
  t.equal((await env.twoFactor.listAuthenticators('ada')).length, 1);
});

t.test(
  '50 parallel imports of one user (same and different sources): one turns 2FA on, with its codes',
  async (t) => {
    const env = makeEngine({ store: interleavingStore(), maxAuthenticators: 10 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        env.twoFactor.importAuthenticator('ada', {
          source: `s:${i % 5}`,
          secret: SHORT_SECRET,
          recoveryCodes: [`code${i}aaa`],
        }),
      ),
    );
    const enabled = results.filter((r) => r.outcome === 'enabled');
    t.equal(enabled.length, 1, 'exactly one import turns 2FA on');
    t.equal(results.filter((r) => r.outcome === 'added').length, 4, 'each other source is added once');
    t.equal(results.filter((r) => r.outcome === 'unchanged').length, 45);
    t.equal((await env.twoFactor.listAuthenticators('ada')).length, 5);
    t.equal(
      (await env.twoFactor.status('ada')).recoveryCodesRemaining,
      1,
      "the codes are the enabling import's",
    );
  },
);

t.test('a dry run says what an import would do and writes nothing', async (t) => {
  const env = makeEngine({ maxAuthenticators: 2 });
  const dry = { dryRun: true };
  t.match(
    await env.twoFactor.importAuthenticator(
      'ada',
      { source: 'a', secret: SHORT_SECRET, recoveryCodes: ['abcdefgh'] },
      dry,
    ),
    {
      outcome: 'enabled',
      recoveryCodes: 1,
    },
  );
  t.equal((await env.twoFactor.status('ada')).enabled, false);
  await env.twoFactor.importAuthenticator('ada', { source: 'a', secret: SHORT_SECRET });
  t.match(await env.twoFactor.importAuthenticator('ada', { source: 'a', secret: SHORT_SECRET }, dry), {
    outcome: 'unchanged',
  });
  t.match(await env.twoFactor.importAuthenticator('ada', { source: 'b', secret: SHORT_SECRET }, dry), {
    outcome: 'added',
  });
  t.equal((await env.twoFactor.listAuthenticators('ada')).length, 1);
  await env.twoFactor.importAuthenticator('ada', { source: 'b', secret: SHORT_SECRET });
  await t.rejects(env.twoFactor.importAuthenticator('ada', { source: 'c', secret: SHORT_SECRET }, dry), {
    code: 'TWOFOLD_AUTHENTICATOR_LIMIT',
  });
  await t.rejects(env.twoFactor.importAuthenticator('ada', { source: 'c', secret: 'bad' }, dry), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'secret',
  });
});
