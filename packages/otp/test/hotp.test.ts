import t from 'tap';
import { Hotp, type HotpJSON, type HotpOptions } from '../src/index.js';
import type { HashAlgorithm } from '../src/internal/hmac.js';
import * as hmac from '../src/internal/hmac.js';
import { RFC_SEEDS } from './helpers.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const hotp = new Hotp({ secret: RFC_SEEDS.SHA1 });
// RFC 4226 appendix D codes for counters 0..9.
const CODES = [
  '755224',
  '287082',
  '359152',
  '969429',
  '338314',
  '254676',
  '287922',
  '162583',
  '399871',
  '520489',
];

t.test('match: the expected counter matches and the next counter is matched + 1', async (t) => {
  t.same(hotp.match(CODES[3]!, { counter: 3 }), { counter: 3, next: 4 });
});

t.test('match: the look-ahead (default 2) accepts the next two counters, not a third', async (t) => {
  t.same(hotp.match(CODES[4]!, { counter: 3 }), { counter: 4, next: 5 });
  t.same(hotp.match(CODES[5]!, { counter: 3 }), { counter: 5, next: 6 });
  t.throws(() => hotp.match(CODES[6]!, { counter: 3 }), { code: 'OTP_NO_MATCH' });
});

t.test('match: a code below the expected counter is refused (the counter never moves back)', async (t) => {
  t.throws(() => hotp.match(CODES[2]!, { counter: 3 }), { code: 'OTP_NO_MATCH' });
});

t.test('match: lookAhead 0 is exact; lookAhead is capped at 10', async (t) => {
  t.throws(() => hotp.match(CODES[4]!, { counter: 3, lookAhead: 0 }), { code: 'OTP_NO_MATCH' });
  t.same(hotp.match(CODES[9]!, { counter: 0, lookAhead: 10 }), { counter: 9, next: 10 });
  t.throws(() => hotp.match(CODES[9]!, { counter: 0, lookAhead: 11 }), RangeError);
  t.throws(() => hotp.match(CODES[9]!, { counter: 0, lookAhead: -1 }), RangeError);
});

t.test('match: counter must be a non-negative safe integer', async (t) => {
  for (const counter of [-1, 1.5, Number.NaN, 2 ** 53]) {
    t.throws(() => hotp.match(CODES[0]!, { counter }), RangeError, String(counter));
  }
  t.throws(() => hotp.match(CODES[0]!, { counter: '0' as unknown as number }), TypeError);
  t.throws(() => hotp.match(CODES[0]!, undefined as unknown as { counter: number }), TypeError);
});

t.test('match: bad tokens have their own codes', async (t) => {
  t.throws(() => hotp.match('75522x', { counter: 0 }), { code: 'OTP_MALFORMED_TOKEN' });
  t.throws(() => hotp.match('75522', { counter: 0 }), { code: 'OTP_WRONG_LENGTH' });
  t.same(hotp.match('755 224', { counter: 0 }), { counter: 0, next: 1 });
  t.same(hotp.match(755224, { counter: 0 }), { counter: 0, next: 1 });
});

t.test('resync: two consecutive codes far ahead give the counter after them (RFC 4226 7.4)', async (t) => {
  const far = 57;
  const result = hotp.resync(hotp.generate(far), hotp.generate(far + 1), { counter: 0 });
  t.same(result, { counter: far + 1, next: far + 2 });
});

t.test('resync: codes that are not consecutive, or in the wrong order, are refused', async (t) => {
  t.throws(() => hotp.resync(hotp.generate(50), hotp.generate(52), { counter: 0 }), { code: 'OTP_NO_MATCH' });
  t.throws(() => hotp.resync(hotp.generate(51), hotp.generate(50), { counter: 0 }), { code: 'OTP_NO_MATCH' });
});

t.test(
  'resync: the first code may be at most maxLookAhead past the counter (default 100, cap 1000)',
  async (t) => {
    t.same(hotp.resync(hotp.generate(100), hotp.generate(101), { counter: 0 }), { counter: 101, next: 102 });
    t.throws(() => hotp.resync(hotp.generate(101), hotp.generate(102), { counter: 0 }), {
      code: 'OTP_NO_MATCH',
    });
    t.same(hotp.resync(hotp.generate(500), hotp.generate(501), { counter: 0, maxLookAhead: 1000 }), {
      counter: 501,
      next: 502,
    });
    t.throws(() => hotp.resync(CODES[0]!, CODES[1]!, { counter: 0, maxLookAhead: 1001 }), RangeError);
  },
);

t.test('resync: codes before the stored counter are refused', async (t) => {
  t.throws(() => hotp.resync(CODES[1]!, CODES[2]!, { counter: 5 }), { code: 'OTP_NO_MATCH' });
});

t.test('generate: counter must be a non-negative safe integer', async (t) => {
  for (const counter of [-1, 0.5, 2 ** 53, Number.POSITIVE_INFINITY]) {
    t.throws(() => hotp.generate(counter), RangeError, String(counter));
  }
  t.throws(() => hotp.generate('1' as unknown as number), TypeError);
  t.equal(hotp.generate(2 ** 53 - 1).length, 6);
});

t.test('bad options are TypeError or RangeError', async (t) => {
  const cases: [options: unknown, error: typeof TypeError | typeof RangeError][] = [
    [null, TypeError],
    [{ secret: RFC_SEEDS.SHA1, algorithm: 'MD5' }, TypeError],
    [{ secret: RFC_SEEDS.SHA1, digits: 4 }, RangeError],
    [{ secret: RFC_SEEDS.SHA1, counter: -1 }, RangeError],
    [{ secret: new Uint8Array(12) }, RangeError],
    [{ secret: 'bad secret!' }, TypeError],
  ];
  for (const [options, error] of cases)
    t.throws(() => new Hotp(options as HotpOptions), error, JSON.stringify(options));
});

t.test('toJSON / fromJSON round-trip, counter included', async (t) => {
  const original = new Hotp({ secret: RFC_SEEDS.SHA256, algorithm: 'SHA256', digits: 8, counter: 12 });
  const json = original.toJSON();
  t.same(json, { type: 'hotp', secret: original.base32, algorithm: 'SHA256', digits: 8, counter: 12 });
  t.same(Hotp.fromJSON(json).toJSON(), json);
  t.same(Hotp.fromJSON(JSON.stringify(original)).toJSON(), json);
  t.same(Hotp.fromJSON({ type: 'hotp', secret: SECRET } as HotpJSON).toJSON(), {
    type: 'hotp',
    secret: SECRET,
    algorithm: 'SHA1',
    digits: 6,
    counter: 0,
  });
});

t.test('fromJSON refuses invalid documents with OTP_INVALID_JSON', async (t) => {
  const valid = { type: 'hotp', secret: SECRET, algorithm: 'SHA1', digits: 6, counter: 0 };
  const cases: unknown[] = [
    '{]',
    { ...valid, type: 'totp' },
    { ...valid, counter: -1 },
    { ...valid, counter: '1' },
    { ...valid, counter: null },
    { ...valid, period: 30 },
    { ...valid, secret: 'JBSWY3DPEHPK3PXP' },
  ];
  for (const json of cases) {
    t.throws(() => Hotp.fromJSON(json as HotpJSON), { code: 'OTP_INVALID_JSON' }, JSON.stringify(json));
  }
});

t.test('every counter of the look-ahead is computed, whatever matches (no early exit)', async (t) => {
  let calls = 0;
  const counting = {
    createTruncatedHmac(algorithm: HashAlgorithm, key: Uint8Array) {
      const compute = hmac.createTruncatedHmac(algorithm, key);
      return (counter: number) => {
        calls++;
        return compute(counter);
      };
    },
  };
  // tsx serves src/internal/hmac.js from the .ts file: the mock is keyed by that path.
  const mocked = await t.mockImport<typeof import('../src/hotp.js')>('../src/hotp.js', {
    '../src/internal/hmac.ts': counting,
  });
  const spied = new mocked.Hotp({ secret: RFC_SEEDS.SHA1 });
  spied.match(CODES[0]!, { counter: 0, lookAhead: 5 });
  t.equal(calls, 6, 'match on the first counter still computes all 6');
  calls = 0;
  spied.resync(CODES[0]!, CODES[1]!, { counter: 0, maxLookAhead: 20 });
  t.equal(calls, 22, 'resync on the first pair still computes all 22');
});
