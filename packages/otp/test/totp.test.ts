import t from 'tap';
import { type Algorithm, type OtpErrorCode, Totp, type TotpJSON, type TotpOptions } from '../src/index.js';
import { encoder, RFC_SEEDS } from './helpers.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

t.test('defaults: SHA1, 6 digits, 30 s, t0 0', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1 });
  t.same([totp.algorithm, totp.digits, totp.period, totp.t0], ['SHA1', 6, 30, 0]);
});

t.test('the secret may be bytes or base32 in any spelling', async (t) => {
  for (const secret of [
    RFC_SEEDS.SHA1,
    SECRET,
    SECRET.toLowerCase(),
    'GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ',
  ]) {
    t.same(new Totp({ secret }).secret, RFC_SEEDS.SHA1, String(secret));
  }
});

t.test('the secret is copied in, and the getter returns a copy', async (t) => {
  const bytes = RFC_SEEDS.SHA1.slice();
  const totp = new Totp({ secret: bytes });
  const before = totp.generate(59_000).token;
  bytes.fill(0);
  totp.secret.fill(0);
  t.same(totp.secret, RFC_SEEDS.SHA1);
  t.equal(totp.generate(59_000).token, before);
});

t.test('base32 is the unpadded uppercase encoding of the secret', async (t) => {
  t.equal(new Totp({ secret: RFC_SEEDS.SHA1 }).base32, SECRET);
  t.equal(new Totp({ secret: encoder.encode('1234567890123456') }).base32, 'GEZDGNBVGY3TQOJQGEZDGNBVGY');
});

t.test('instances are frozen', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1 });
  t.ok(Object.isFrozen(totp));
  t.throws(() => {
    (totp as { digits: number }).digits = 8;
  }, TypeError);
});

t.test('generate returns the token, its step, when it expires and the time left', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1, digits: 8 });
  t.same(totp.generate(59_000), { token: '94287082', counter: 1, expiresAt: 60_000, remainingMs: 1_000 });
  t.same(totp.generate(new Date(1111111109_000)), {
    token: '07081804',
    counter: 37037036,
    expiresAt: 1111111110_000,
    remainingMs: 1_000,
  });
  t.equal(totp.generate(60_000).counter, 2, 'a step starts on its boundary');
});

t.test('generate defaults to Date.now()', async (t) => {
  const before = Date.now();
  const { counter, remainingMs } = new Totp({ secret: RFC_SEEDS.SHA1 }).generate();
  const after = Date.now();
  t.ok(counter >= Math.floor(before / 30_000) && counter <= Math.floor(after / 30_000));
  t.ok(remainingMs > 0 && remainingMs <= 30_000);
});

t.test('period and t0 set the steps: counter = floor((time - t0) / period)', async (t) => {
  const cases: [period: number, t0: number, seconds: number, counter: number, expiresAt: number][] = [
    [60, 0, 59, 0, 60],
    [60, 0, 60, 1, 120],
    [45, 1000, 1000, 0, 1045],
    [45, 1000, 1_000_000, 22200, 1_000_045],
    [1, 0, 1234, 1234, 1235],
    [3600, 0, 7199, 1, 7200],
  ];
  for (const [period, t0, seconds, counter, expiresAt] of cases) {
    const totp = new Totp({ secret: RFC_SEEDS.SHA1, period, t0 });
    const generated = totp.generate(seconds * 1000);
    t.same(
      [generated.counter, generated.expiresAt],
      [counter, expiresAt * 1000],
      `period ${period} t0 ${t0} at ${seconds}`,
    );
    t.equal(generated.token, new Totp({ secret: RFC_SEEDS.SHA1 }).generate(counter * 30_000).token);
  }
});

t.test('bad options are TypeError or RangeError naming the option', async (t) => {
  const base: TotpOptions = { secret: RFC_SEEDS.SHA1 };
  const cases: [options: unknown, error: typeof TypeError | typeof RangeError, option: string][] = [
    [undefined, TypeError, 'options'],
    [{ ...base, algorithm: 'SHA384' }, TypeError, 'algorithm'],
    [{ ...base, algorithm: 'sha1' }, TypeError, 'algorithm'],
    [{ ...base, digits: 5 }, RangeError, 'digits'],
    [{ ...base, digits: 11 }, RangeError, 'digits'],
    [{ ...base, digits: 6.5 }, RangeError, 'digits'],
    [{ ...base, digits: '6' }, TypeError, 'digits'],
    [{ ...base, period: 0 }, RangeError, 'period'],
    [{ ...base, period: 3601 }, RangeError, 'period'],
    [{ ...base, period: 0.5 }, RangeError, 'period'],
    [{ ...base, t0: -1 }, RangeError, 't0'],
    [{ ...base, t0: 1.5 }, RangeError, 't0'],
    [{ ...base, t0: 9e12 }, RangeError, 't0'],
    [{ ...base, minSecretBytes: 9 }, RangeError, 'minSecretBytes'],
    [{ ...base, minSecretBytes: 65 }, RangeError, 'minSecretBytes'],
    [{ secret: undefined }, TypeError, 'secret'],
    [{ secret: 12345 }, TypeError, 'secret'],
    [{ secret: [1, 2, 3] }, TypeError, 'secret'],
    [{ secret: 'not base32!' }, TypeError, 'secret'],
    [{ secret: '' }, RangeError, 'secret'],
    [{ secret: new Uint8Array(0) }, RangeError, 'secret'],
    [{ secret: new Uint8Array(15) }, RangeError, 'secret'],
    [{ secret: 'JBSWY3DPEHPK3PXP' }, RangeError, 'secret'],
    [{ secret: new Uint8Array(9), minSecretBytes: 10 }, RangeError, 'secret'],
  ];
  for (const [options, error, option] of cases) {
    const thrown = t.throws(() => new Totp(options as TotpOptions), error, JSON.stringify(options)) as Error;
    t.match(thrown.message, option, `the message names ${option}`);
  }
});

t.test('minSecretBytes lowers the floor for legacy secrets, down to 10 bytes', async (t) => {
  t.equal(new Totp({ secret: 'JBSWY3DPEHPK3PXP', minSecretBytes: 10 }).secret.length, 10);
  t.equal(new Totp({ secret: new Uint8Array(16) }).secret.length, 16);
});

t.test('accepted bounds: digits 6..10, period 1..3600', async (t) => {
  for (const digits of [6, 7, 8, 9, 10]) {
    t.equal(
      new Totp({ secret: RFC_SEEDS.SHA1, digits }).generate(0).token.length,
      digits,
      `digits ${digits}`,
    );
  }
  for (const period of [1, 3600]) t.equal(new Totp({ secret: RFC_SEEDS.SHA1, period }).period, period);
});

t.test('a base32 error in the constructor keeps the coded error as cause', async (t) => {
  const error = t.throws(() => new Totp({ secret: 'not base32!' })) as Error;
  t.match(error.cause, { code: 'OTP_INVALID_SECRET' });
});

t.test('toJSON / fromJSON round-trip every field, as an object or as text', async (t) => {
  const algorithms: Algorithm[] = ['SHA1', 'SHA256', 'SHA512'];
  for (const algorithm of algorithms) {
    const totp = new Totp({ secret: RFC_SEEDS[algorithm], algorithm, digits: 8, period: 60, t0: 1000 });
    const json = totp.toJSON();
    t.same(json, {
      type: 'totp',
      secret: totp.base32,
      algorithm,
      digits: 8,
      period: 60,
      t0: 1000,
    });
    t.same(Totp.fromJSON(json).toJSON(), json, `${algorithm} object`);
    t.same(Totp.fromJSON(JSON.stringify(totp)).toJSON(), json, `${algorithm} text`);
    t.equal(Totp.fromJSON(json).generate(1_000_000).token, totp.generate(1_000_000).token);
  }
});

t.test('fromJSON fills missing optional fields with the defaults', async (t) => {
  t.same(Totp.fromJSON({ type: 'totp', secret: SECRET } as TotpJSON).toJSON(), {
    type: 'totp',
    secret: SECRET,
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    t0: 0,
  });
});

t.test('fromJSON refuses invalid documents with OTP_INVALID_JSON', async (t) => {
  const valid = { type: 'totp', secret: SECRET, algorithm: 'SHA1', digits: 6, period: 30, t0: 0 };
  const cases: [json: unknown, why: string][] = [
    ['{', 'not JSON'],
    ['null', 'JSON null'],
    ['[]', 'an array'],
    ['"totp"', 'a string'],
    [42, 'a number'],
    [null, 'null'],
    [{ ...valid, type: 'hotp' }, 'the other type'],
    [{ ...valid, type: undefined }, 'no type'],
    [{ ...valid, secret: undefined }, 'no secret'],
    [{ ...valid, secret: 42 }, 'a numeric secret'],
    [{ ...valid, secret: 'not base32!' }, 'a bad secret'],
    [{ ...valid, secret: 'JBSWY3DPEHPK3PXP' }, 'a short secret'],
    [{ ...valid, secret: '' }, 'an empty secret'],
    [{ ...valid, algorithm: 'MD5' }, 'an unknown algorithm'],
    [{ ...valid, algorithm: null }, 'a null algorithm'],
    [{ ...valid, digits: 4 }, 'digits out of range'],
    [{ ...valid, digits: '6' }, 'digits as a string'],
    [{ ...valid, period: 0 }, 'period 0'],
    [{ ...valid, t0: -5 }, 'negative t0'],
    [{ ...valid, counter: 1 }, 'an unknown field'],
  ];
  for (const [json, why] of cases) {
    t.throws(() => Totp.fromJSON(json as TotpJSON), { code: 'OTP_INVALID_JSON' satisfies OtpErrorCode }, why);
  }
});

t.test('fromJSON applies minSecretBytes and validates it as an option', async (t) => {
  const json = { type: 'totp', secret: 'JBSWY3DPEHPK3PXP' } as TotpJSON;
  t.equal(Totp.fromJSON(json, { minSecretBytes: 10 }).base32, 'JBSWY3DPEHPK3PXP');
  t.throws(() => Totp.fromJSON(json, { minSecretBytes: 5 }), RangeError);
});

t.test('JSON errors never quote the secret', async (t) => {
  const text = `{"type":"totp","secret":"${SECRET}",`;
  const error = t.throws(() => Totp.fromJSON(text)) as Error;
  t.notMatch(error.message, SECRET);
  t.equal(error.cause, undefined, 'the parser error (which quotes the input) is not kept');
});
