import t from 'tap';
import { createTwoFactor, memoryStore } from '../src/index.js';
import { testKeyring } from './helpers.js';

const valid = () => ({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme' });
const key32 = Buffer.alloc(32, 7).toString('base64url');
const key16 = Buffer.alloc(16, 7).toString('base64url');

t.test('defaults are the documented ones', async (t) => {
  const { options } = createTwoFactor(valid());
  t.same(options.totp, { algorithm: 'SHA1', digits: 6, period: 30, window: 1 });
  t.same(options.lockout, { maxFailures: 10, durationMs: 15 * 60_000 });
  t.same(options.challenge, { ttlMs: 120_000, maxAttempts: 5 });
  t.equal(options.recoveryCodes.count, 10);
  t.equal(options.enrollmentTtlMs, 15 * 60_000);
  t.equal(options.recoveryTokenTtlMs, 60 * 60_000);
  t.equal(options.maxAuthenticators, 10);
  t.equal(options.webauthn, undefined, 'security keys are off unless configured');
});

t.test('a keyring string in the environment form is accepted', async (t) => {
  const { options } = createTwoFactor({ ...valid(), keyring: `k1:${key32}` });
  t.equal(options.keyring.currentTag, 'k1');
});

const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['missing keyring', { keyring: undefined }, /"keyring"/],
  ['a 16-byte key', { keyring: `k1:${key16}` }, /"keyring"/],
  ['missing store', { store: undefined }, /"store"/],
  ['a store missing operations', { store: { getAuthenticator() {} } }, /"store"/],
  ['missing issuer', { issuer: undefined }, /"issuer"/],
  ['an issuer with a colon', { issuer: 'Acme:Corp' }, /"issuer" must not contain a colon/],
  ['window 50', { totp: { window: 50 } }, /"totp.window"/],
  ['digits 4', { totp: { digits: 4 } }, /"totp.digits"/],
  ['an unknown algorithm', { totp: { algorithm: 'MD5' } }, /"totp.algorithm"/],
  ['lockout above 100 failures (NIST 800-63B)', { lockout: { maxFailures: 101 } }, /"lockout.maxFailures"/],
  ['a challenge living longer than 5 minutes', { challenge: { ttlMs: 600_000 } }, /"challenge.ttlMs"/],
  ['a fractional recovery code count', { recoveryCodes: { count: 2.5 } }, /"recoveryCodes.count"/],
  ['an unknown option', { windowSize: 3 }, /windowSize/],
  ['an unknown nested option', { totp: { skew: 3 } }, /skew/],
  ['a clock that is not a function', { clock: 5 }, /"clock"/],
  ['no authenticator allowed', { maxAuthenticators: 0 }, /"maxAuthenticators"/],
  ['more than 50 authenticators', { maxAuthenticators: 51 }, /"maxAuthenticators"/],
];

for (const [name, change, message] of invalid) {
  t.test(`refuses ${name} at creation, naming the option`, async (t) => {
    t.throws(() => createTwoFactor({ ...valid(), ...change } as never), { name: 'TypeError', message });
  });
}

t.test('an invalid keyring message does not echo key material', async (t) => {
  const secretish = `k1:${key16}`;
  try {
    createTwoFactor({ ...valid(), keyring: secretish });
    t.fail('should throw');
  } catch (error) {
    t.notMatch((error as Error).message, key16);
  }
});
