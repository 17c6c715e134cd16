import { createHash, createHmac } from 'node:crypto';
import t from 'tap';
import { UnknownKeyError } from '../src/errors.js';
import { createKeyring } from '../src/keyring.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_ALPHABET,
  recoveryCodeHashCandidates,
} from '../src/recovery-codes.js';

function keyOf(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

/** A deterministic byte stream: SHA-256 of seed and a counter, block after block. */
function seededRandom(seed: string): (size: number) => Uint8Array {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return (size) => {
    while (pool.length < size) {
      pool = Buffer.concat([pool, createHash('sha256').update(`${seed}:${counter++}`).digest()]);
    }
    const out = new Uint8Array(pool.subarray(0, size));
    pool = pool.subarray(size);
    return out;
  };
}

const keyringA = createKeyring({ keys: { a: keyOf('a') }, current: 'a' });
const keyringBA = createKeyring({ keys: { b: keyOf('b'), a: keyOf('a') }, current: 'b' });
const CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

t.test('the alphabet is Crockford base32: 32 distinct symbols without I, L, O, U', async (t) => {
  t.equal(RECOVERY_CODE_ALPHABET.length, 32);
  t.equal(new Set(RECOVERY_CODE_ALPHABET).size, 32);
  t.match(RECOVERY_CODE_ALPHABET, /^[0-9A-Z]+$/);
  for (const letter of 'ILOU') t.notOk(RECOVERY_CODE_ALPHABET.includes(letter), letter);
});

t.test('codes are XXXX-XXXX-XXXX with at least 50 bits each', async (t) => {
  const codes = generateRecoveryCodes(10);
  t.equal(codes.length, 10);
  for (const code of codes) t.match(code, CODE_PATTERN);
  const symbols = codes[0]!.replaceAll('-', '').length;
  t.ok(symbols * Math.log2(RECOVERY_CODE_ALPHABET.length) >= 50, `${symbols} symbols of 5 bits`);
});

t.test('codes in a set are distinct', async (t) => {
  t.equal(new Set(generateRecoveryCodes(100)).size, 100);
});

t.test('a repeating random source still yields distinct codes', async (t) => {
  const seeded = seededRandom('repeat');
  const first = seeded(12);
  let calls = 0;
  const repeatingOnce = (size: number) => (calls++ < 2 ? first.slice() : seeded(size));
  const codes = generateRecoveryCodes(3, repeatingOnce);
  t.equal(new Set(codes).size, 3);
  t.equal(calls, 4, 'the duplicate was drawn again');
});

t.test('a random source stuck on one value is an error, not an endless loop', async (t) => {
  t.throws(() => generateRecoveryCodes(2, (n) => new Uint8Array(n)), Error);
});

t.test('codes come from the random option, 12 bytes per code', async (t) => {
  const sizes: number[] = [];
  const seeded = seededRandom('option');
  const codes = generateRecoveryCodes(5, (n) => {
    sizes.push(n);
    return seeded(n);
  });
  t.same(sizes, [12, 12, 12, 12, 12]);
  t.same(generateRecoveryCodes(5, seededRandom('option')), codes, 'same seed, same codes');
});

t.test('symbols map from the low five bits of each byte', async (t) => {
  const bytes = Uint8Array.from([0, 1, 31, 32, 33, 63, 64, 224, 255, 10, 17, 27]);
  t.same(
    generateRecoveryCodes(1, () => bytes.slice()),
    ['01Z0-1Z00-ZAHV'],
  );
});

t.test('symbols are uniformly distributed (chi-square, seeded)', async (t) => {
  const codes = generateRecoveryCodes(100, seededRandom('uniform-1'));
  for (let round = 2; round <= 20; round++)
    codes.push(...generateRecoveryCodes(100, seededRandom(`uniform-${round}`)));
  const symbols = codes.join('').replaceAll('-', '');
  const counts = new Map<string, number>();
  for (const symbol of symbols) counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
  t.equal(counts.size, 32, 'every symbol occurs');
  const expected = symbols.length / 32;
  let chiSquare = 0;
  for (const symbol of RECOVERY_CODE_ALPHABET)
    chiSquare += ((counts.get(symbol) ?? 0) - expected) ** 2 / expected;
  // 31 degrees of freedom: p = 0.001 at 61.1.
  t.ok(chiSquare < 61.1, `chi-square ${chiSquare.toFixed(1)} over ${symbols.length} symbols`);
});

t.test('count must be an integer from 1 to 100', async (t) => {
  for (const count of [0, -1, 1.5, 101, Number.NaN, '10', undefined]) {
    t.throws(() => generateRecoveryCodes(count as number), RangeError, String(count));
  }
  t.equal(generateRecoveryCodes(1).length, 1);
  t.equal(generateRecoveryCodes(100).length, 100);
});

t.test('a random option that is not a function is a TypeError', async (t) => {
  t.throws(() => generateRecoveryCodes(1, 'random' as unknown as () => Uint8Array), TypeError);
});

t.test('normalizeRecoveryCode accepts any case and separators and reads Crockford confusables', async (t) => {
  const cases: [string, string][] = [
    ['7KQ2-M9XD-4HZT', '7KQ2M9XD4HZT'],
    ['7kq2-m9xd-4hzt', '7KQ2M9XD4HZT'],
    ['7KQ2M9XD4HZT', '7KQ2M9XD4HZT'],
    ['7KQ2 M9XD 4HZT', '7KQ2M9XD4HZT'],
    ['  7KQ2-M9XD-4HZT\n', '7KQ2M9XD4HZT'],
    ['7KQ2_M9XD_4HZT', '7KQ2M9XD4HZT'],
    ['7-K-Q-2-M-9-X-D-4-H-Z-T', '7KQ2M9XD4HZT'],
    ['OOOO-oooo-0000', '000000000000'],
    ['IIII-llll-LLLL', '111111111111'],
    ['iiii-1111-LlIi', '111111111111'],
  ];
  for (const [input, wanted] of cases) t.equal(normalizeRecoveryCode(input), wanted, JSON.stringify(input));
});

t.test('normalizeRecoveryCode refuses what cannot be a code', async (t) => {
  const cases: [string, unknown][] = [
    ['too short', '7KQ2-M9XD-4HZ'],
    ['too long', '7KQ2-M9XD-4HZTA'],
    ['empty', ''],
    ['only separators', '----'],
    ['U is not in the alphabet', 'UKQ2-M9XD-4HZT'],
    ['punctuation', '7KQ2.M9XD.4HZT'],
    ['plus sign', '7KQ2+M9XD+4HZT'],
    ['full-width digits', '７KQ2-M9XD-4HZT'],
    ['dotless i uppercases to I', 'ıKQ2-M9XD-4HZT'],
    ['non-breaking space', '7KQ2\u00a0M9XD-4HZT'],
    ['zero-width space', '7KQ2\u200bM9XD-4HZT'],
    ['huge input', `${'7KQ2-'.repeat(20_000)}M9XD`],
    ['number', 123456789012],
    ['null', null],
    ['undefined', undefined],
    ['array', ['7KQ2-M9XD-4HZT']],
    ['object', { code: '7KQ2-M9XD-4HZT' }],
    ['boxed string', Object('7KQ2-M9XD-4HZT')],
  ];
  for (const [name, input] of cases) t.equal(normalizeRecoveryCode(input), null, name);
});

t.test('every generated code normalises to itself without hyphens', async (t) => {
  for (const code of generateRecoveryCodes(20))
    t.equal(normalizeRecoveryCode(code), code.replaceAll('-', ''));
});

t.test('the hash is tag.HMAC-SHA-256 under the recovery-code subkey of user NUL code', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const mac = createHmac('sha256', keyringA.deriveKey('recovery-code', 'a'))
    .update(`user-1\0${code}`)
    .digest();
  t.equal(hashRecoveryCode(keyringA, 'user-1', code), `a.${mac.toString('base64url')}`);
});

t.test('the hash is stable and shows neither the code nor the user', async (t) => {
  const hash = hashRecoveryCode(keyringA, 'user-1', '7KQ2M9XD4HZT');
  t.equal(hashRecoveryCode(keyringA, 'user-1', '7KQ2M9XD4HZT'), hash);
  t.match(hash, /^a\.[A-Za-z0-9_-]{43}$/);
  t.notOk(hash.toUpperCase().includes('7KQ2'));
  t.notOk(hash.includes('user-1'));
});

t.test('the hash binds the user: the same code of another user hashes differently', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const hashes = ['user-1', 'user-2', 'user-1 ', 'USER-1'].map((user) =>
    hashRecoveryCode(keyringA, user, code),
  );
  t.equal(new Set(hashes).size, hashes.length);
});

t.test('the hash binds the code: codes one symbol apart hash differently', async (t) => {
  const a = hashRecoveryCode(keyringA, 'u', '7KQ2M9XD4HZT');
  const b = hashRecoveryCode(keyringA, 'u', '7KQ2M9XD4HZV');
  t.not(a, b);
});

t.test('the hash differs per keyring tag and names the tag', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const underA = hashRecoveryCode(keyringBA, 'u', code, 'a');
  const underB = hashRecoveryCode(keyringBA, 'u', code, 'b');
  t.match(underA, /^a\./);
  t.match(underB, /^b\./);
  t.not(underA.slice(2), underB.slice(2));
  t.equal(hashRecoveryCode(keyringBA, 'u', code), underB, 'default tag is the current one');
});

t.test('a stored hash submitted as a code neither normalises nor matches', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const stored = hashRecoveryCode(keyringA, 'u', code);
  for (const attempt of [stored, stored.slice(2), stored.slice(2, 14), stored.slice(-12)]) {
    const normalized = normalizeRecoveryCode(attempt);
    if (normalized === null) {
      t.pass(`${attempt.length} chars do not normalise`);
    } else {
      t.notOk(
        recoveryCodeHashCandidates(keyringA, 'u', normalized).includes(stored),
        'a slice does not match',
      );
    }
  }
  t.equal(normalizeRecoveryCode(stored), null);
});

t.test('hashRecoveryCode refuses unnormalised codes and bad user ids with a TypeError', async (t) => {
  for (const code of ['7KQ2-M9XD-4HZT', '7kq2m9xd4hzt', 'OKQ2M9XD4HZT', '7KQ2M9XD4HZ', '', 42]) {
    t.throws(() => hashRecoveryCode(keyringA, 'u', code as string), TypeError, String(code));
  }
  t.throws(() => hashRecoveryCode(keyringA, '', '7KQ2M9XD4HZT'), TypeError);
  t.throws(() => hashRecoveryCode(keyringA, 7 as unknown as string, '7KQ2M9XD4HZT'), TypeError);
});

t.test('hashing under a tag the keyring lacks is UNKNOWN_KEY', async (t) => {
  t.throws(() => hashRecoveryCode(keyringA, 'u', '7KQ2M9XD4HZT', 'b'), { code: UnknownKeyError.code });
});

t.test('candidates hold one hash per keyring tag, current first', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const candidates = recoveryCodeHashCandidates(keyringBA, 'u', code);
  t.same(candidates, [
    hashRecoveryCode(keyringBA, 'u', code, 'b'),
    hashRecoveryCode(keyringBA, 'u', code, 'a'),
  ]);
});

t.test('a code hashed before a key rotation is among the candidates after it', async (t) => {
  const code = '7KQ2M9XD4HZT';
  const beforeRotation = hashRecoveryCode(keyringA, 'u', code);
  t.ok(recoveryCodeHashCandidates(keyringBA, 'u', code).includes(beforeRotation));
  const oldKeyRemoved = createKeyring({ keys: { b: keyOf('b') }, current: 'b' });
  t.notOk(recoveryCodeHashCandidates(oldKeyRemoved, 'u', code).includes(beforeRotation));
});
