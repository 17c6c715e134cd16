import t from 'tap';
import { type Algorithm, Hotp, Totp } from '../src/index.js';
import { RFC_SEEDS, referenceHotp } from './helpers.js';

// RFC 4226 appendix D: secret '12345678901234567890', SHA1, 6 digits.
const RFC4226: [counter: number, token: string][] = [
  [0, '755224'],
  [1, '287082'],
  [2, '359152'],
  [3, '969429'],
  [4, '338314'],
  [5, '254676'],
  [6, '287922'],
  [7, '162583'],
  [8, '399871'],
  [9, '520489'],
];

// RFC 6238 appendix B: 8 digits, period 30, each hash with its own seed.
const RFC6238: [seconds: number, algorithm: Algorithm, token: string][] = [
  [59, 'SHA1', '94287082'],
  [59, 'SHA256', '46119246'],
  [59, 'SHA512', '90693936'],
  [1111111109, 'SHA1', '07081804'],
  [1111111109, 'SHA256', '68084774'],
  [1111111109, 'SHA512', '25091201'],
  [1111111111, 'SHA1', '14050471'],
  [1111111111, 'SHA256', '67062674'],
  [1111111111, 'SHA512', '99943326'],
  [1234567890, 'SHA1', '89005924'],
  [1234567890, 'SHA256', '91819424'],
  [1234567890, 'SHA512', '93441116'],
  [2000000000, 'SHA1', '69279037'],
  [2000000000, 'SHA256', '90698825'],
  [2000000000, 'SHA512', '38618901'],
  [20000000000, 'SHA1', '65353130'],
  [20000000000, 'SHA256', '77737706'],
  [20000000000, 'SHA512', '47863826'],
];

t.test('RFC 4226 appendix D: HOTP counters 0-9', async (t) => {
  const hotp = new Hotp({ secret: RFC_SEEDS.SHA1 });
  for (const [counter, token] of RFC4226) {
    t.equal(hotp.generate(counter), token, `counter ${counter}`);
    t.same(hotp.match(token, { counter, lookAhead: 0 }), { counter, next: counter + 1 }, `match ${counter}`);
  }
});

t.test('RFC 6238 appendix B: TOTP for SHA1, SHA256 and SHA512 with their own seeds', async (t) => {
  for (const [seconds, algorithm, token] of RFC6238) {
    const totp = new Totp({ secret: RFC_SEEDS[algorithm], algorithm, digits: 8 });
    const name = `${algorithm} at t=${seconds}`;
    t.equal(totp.generate(seconds * 1000).token, token, name);
    t.equal(totp.match(token, { time: seconds * 1000, window: 0 }).counter, Math.floor(seconds / 30), name);
  }
});

t.test('the 20-byte seed with SHA256 does not give the SHA256 vector (errata 2866)', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1, algorithm: 'SHA256', digits: 8 });
  t.not(totp.generate(59_000).token, '46119246');
});

t.test('t=20000000000 is beyond 2^32 seconds and still gives the RFC code', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1, digits: 8 });
  const { token, counter } = totp.generate(20_000_000_000_000);
  t.equal(counter, 666666666);
  t.equal(token, '65353130');
});

t.test('a counter of 2^32 + 5 uses all 64 bits of the counter (RFC 6238 4.2)', async (t) => {
  const counter = 2 ** 32 + 5;
  for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
    const secret = RFC_SEEDS[algorithm];
    const expected = referenceHotp(algorithm, secret, counter, 8);
    t.equal(new Hotp({ secret, algorithm, digits: 8 }).generate(counter), expected, `${algorithm} HOTP`);
    t.not(expected, referenceHotp(algorithm, secret, 5, 8), `${algorithm}: not the code of counter 5`);
    const totp = new Totp({ secret, algorithm, digits: 8 });
    const generated = totp.generate(counter * 30_000);
    t.same([generated.counter, generated.token], [counter, expected], `${algorithm} TOTP`);
  }
});

t.test('codes are zero-padded strings: t=1111111109 SHA1 gives "07081804"', async (t) => {
  const { token } = new Totp({ secret: RFC_SEEDS.SHA1, digits: 8 }).generate(1111111109_000);
  t.equal(typeof token, 'string');
  t.equal(token, '07081804');
});
