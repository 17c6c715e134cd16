import t from 'tap';
import {
  type BuildUriOptions,
  buildUri,
  encodeSecret,
  Hotp,
  type OtpauthUri,
  type OtpErrorCode,
  OtpInvalidUriError,
  parseUri,
  Totp,
} from '../src/index.js';
import { encoder, RFC_SEEDS } from './helpers.js';

const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // 20 bytes: '12345678901234567890'
const SHORT = 'JBSWY3DPEHPK3PXP'; // 10 bytes, Google's example secret
const HELLO = Uint8Array.from([0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x21, 0xde, 0xad, 0xbe, 0xef]); // SHORT decoded

t.test(
  'buildUri writes the Key URI format: encoded label, issuer parameter, defaults left out',
  async (t) => {
    const cases: [options: BuildUriOptions, uri: string][] = [
      [
        { type: 'totp', secret: SECRET, issuer: 'ACME Co', account: 'jane@example.com' },
        `otpauth://totp/ACME%20Co:jane%40example.com?secret=${SECRET}&issuer=ACME%20Co`,
      ],
      [{ type: 'totp', secret: SECRET, account: 'jane' }, `otpauth://totp/jane?secret=${SECRET}`],
      [
        { type: 'totp', secret: SECRET, account: 'jane', algorithm: 'SHA1', digits: 6, period: 30 },
        `otpauth://totp/jane?secret=${SECRET}`,
      ],
      [
        {
          type: 'totp',
          secret: SECRET,
          issuer: 'GitHub',
          account: 'octo cat',
          algorithm: 'SHA256',
          digits: 8,
          period: 60,
        },
        `otpauth://totp/GitHub:octo%20cat?secret=${SECRET}&issuer=GitHub&algorithm=SHA256&digits=8&period=60`,
      ],
      [
        { type: 'hotp', secret: SECRET, issuer: 'Bank', account: 'jane', counter: 0 },
        `otpauth://hotp/Bank:jane?secret=${SECRET}&issuer=Bank&counter=0`,
      ],
      [
        { type: 'hotp', secret: SECRET, account: 'jane', algorithm: 'SHA512', counter: 2 ** 40 },
        `otpauth://hotp/jane?secret=${SECRET}&algorithm=SHA512&counter=1099511627776`,
      ],
      [
        { type: 'totp', secret: 'gezd gnbv gy3t qojq gezd gnbv gy3t qojq', account: 'a+b&c=d/e?f' },
        `otpauth://totp/a%2Bb%26c%3Dd%2Fe%3Ff?secret=${SECRET}`,
      ],
      [
        { type: 'totp', secret: RFC_SEEDS.SHA1, issuer: 'Bücher GmbH', account: 'jürgen' },
        `otpauth://totp/B%C3%BCcher%20GmbH:j%C3%BCrgen?secret=${SECRET}&issuer=B%C3%BCcher%20GmbH`,
      ],
    ];
    for (const [options, uri] of cases) t.equal(buildUri(options), uri, uri);
  },
);

t.test('buildUri never writes a "+" for a space and always repeats the issuer prefix', async (t) => {
  const uri = buildUri({ type: 'totp', secret: SECRET, issuer: 'A B C', account: 'x y' });
  t.notMatch(uri, '+');
  const [label, query] = uri.slice('otpauth://totp/'.length).split('?') as [string, string];
  t.equal(new URLSearchParams(query).get('issuer'), decodeURIComponent(label.split(':')[0]!));
});

t.test('buildUri refuses a colon in issuer or account and other bad options', async (t) => {
  const base: BuildUriOptions = { type: 'totp', secret: SECRET, account: 'jane' };
  const cases: [options: BuildUriOptions, error: typeof TypeError | typeof RangeError, why: string][] = [
    [{ ...base, account: 'ja:ne' }, TypeError, 'colon in account'],
    [{ ...base, issuer: 'AC:ME' }, TypeError, 'colon in issuer'],
    [{ ...base, account: '' }, TypeError, 'empty account'],
    [{ ...base, issuer: '' }, TypeError, 'empty issuer'],
    [{ ...base, account: undefined as unknown as string }, TypeError, 'no account'],
    [{ ...base, type: 'motp' as 'totp' }, TypeError, 'unknown type'],
    [{ ...base, secret: 'not base32!' }, TypeError, 'secret not base32'],
    [{ ...base, secret: new Uint8Array(0) }, RangeError, 'empty secret'],
    [{ ...base, algorithm: 'MD5' as 'SHA1' }, TypeError, 'unknown algorithm'],
    [{ ...base, digits: 5 }, RangeError, 'digits 5'],
    [{ ...base, period: 0 }, RangeError, 'period 0'],
    [{ ...base, counter: 1 }, TypeError, 'counter on totp'],
    [{ ...base, type: 'hotp' }, TypeError, 'hotp without counter'],
    [{ ...base, type: 'hotp', counter: -1 }, RangeError, 'negative counter'],
    [{ ...base, type: 'hotp', counter: 1, period: 30 }, TypeError, 'period on hotp'],
  ];
  for (const [options, error, why] of cases) t.throws(() => buildUri(options), error, why);
});

t.test('parseUri reads real-world URIs', async (t) => {
  const short = { minSecretBytes: 10 };
  const seed = RFC_SEEDS.SHA1;
  const cases: [uri: string, expected: Omit<OtpauthUri, 'secret'> & { secret: Uint8Array }][] = [
    [
      // Google's Key URI format wiki example.
      `otpauth://totp/Example:alice@google.com?secret=${SHORT}&issuer=Example`,
      {
        type: 'totp',
        secret: HELLO,
        issuer: 'Example',
        account: 'alice@google.com',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/ACME%20Co:john.doe@email.com?secret=${SECRET}&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'ACME Co',
        account: 'john.doe@email.com',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://hotp/Example:alice@google.com?secret=${SECRET}&issuer=Example&counter=0`,
      {
        type: 'hotp',
        secret: seed,
        issuer: 'Example',
        account: 'alice@google.com',
        algorithm: 'SHA1',
        digits: 6,
        counter: 0,
      },
    ],
    [
      `otpauth://totp/alice@google.com?secret=${SECRET}&issuer=Example`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Example',
        account: 'alice@google.com',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/Example:alice?secret=${SECRET}`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Example',
        account: 'alice',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/alice?secret=${SECRET}`,
      { type: 'totp', secret: seed, account: 'alice', algorithm: 'SHA1', digits: 6, period: 30 },
    ],
    [
      `otpauth://totp/Big%20Corp%3Aalice?secret=${SECRET}&issuer=Big+Corp`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Big Corp',
        account: 'alice',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/Big%20Corp:%20%20alice?secret=${SECRET}&issuer=Big%20Corp`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Big Corp',
        account: 'alice',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/B%C3%BCcher%20GmbH:j%C3%BCrgen?secret=${SECRET}&issuer=B%C3%BCcher%20GmbH`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Bücher GmbH',
        account: 'jürgen',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/Bücher:jürgen?secret=${SECRET}&issuer=Bücher`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Bücher',
        account: 'jürgen',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `OTPAUTH://TOTP/Example:alice?secret=${SECRET.toLowerCase()}&algorithm=sha512&digits=8&period=60`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Example',
        account: 'alice',
        algorithm: 'SHA512',
        digits: 8,
        period: 60,
      },
    ],
    [
      `otpauth://totp/GitHub:octocat?secret=${SECRET}&issuer=GitHub&algorithm=SHA256&digits=8&period=60`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'GitHub',
        account: 'octocat',
        algorithm: 'SHA256',
        digits: 8,
        period: 60,
      },
    ],
    [
      // FreeOTP-style extra parameters are ignored; an empty issuer parameter counts as absent.
      `otpauth://totp/Example:alice?secret=${SECRET}&issuer=&image=https%3A%2F%2Fexample.com%2Flogo.png&lock=false`,
      {
        type: 'totp',
        secret: seed,
        issuer: 'Example',
        account: 'alice',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
    [
      `otpauth://totp/alice?secret=${encodeSecret(encoder.encode('1234567890123456'))}======&`,
      {
        type: 'totp',
        secret: encoder.encode('1234567890123456'),
        account: 'alice',
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    ],
  ];
  for (const [uri, expected] of cases) t.same(parseUri(uri, short), expected, uri);
});

t.test('parseUri refuses malformed URIs, each with its own code', async (t) => {
  const s = `secret=${SECRET}`;
  const cases: [uri: unknown, code: OtpErrorCode][] = [
    [42, 'OTP_INVALID_URI'],
    ['', 'OTP_INVALID_URI'],
    ['totp/alice', 'OTP_INVALID_URI'],
    [`otpauth:totp/alice?${s}`, 'OTP_INVALID_URI'],
    [`otpauth://totp/alice?${s}#fragment`, 'OTP_INVALID_URI'],
    [`otpauth://totp/alice?${s}&x=${'a'.repeat(9000)}`, 'OTP_INVALID_URI'],
    [`https://totp/alice?${s}`, 'OTP_URI_WRONG_SCHEME'],
    [`otpauth2://totp/alice?${s}`, 'OTP_URI_WRONG_SCHEME'],
    [`otpauth://motp/alice?${s}`, 'OTP_URI_UNKNOWN_TYPE'],
    [`otpauth:///alice?${s}`, 'OTP_URI_UNKNOWN_TYPE'],
    [`otpauth://totp?${s}`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/?${s}`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/Example:?${s}`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/:?${s}`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/%3A%20?${s}&issuer=Example`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/Example:%20?${s}`, 'OTP_URI_MISSING_ACCOUNT'],
    [`otpauth://totp/a:b:c?${s}`, 'OTP_URI_INVALID_LABEL'],
    [`otpauth://totp/a%3Ab%3Ac?${s}`, 'OTP_URI_INVALID_LABEL'],
    [`otpauth://totp/::alice?${s}`, 'OTP_URI_INVALID_LABEL'],
    ['otpauth://totp/alice', 'OTP_URI_INVALID_SECRET'],
    ['otpauth://totp/alice?issuer=Example', 'OTP_URI_INVALID_SECRET'],
    ['otpauth://totp/alice?secret=', 'OTP_URI_INVALID_SECRET'],
    ['otpauth://totp/alice?secret', 'OTP_URI_INVALID_SECRET'],
    [`otpauth://totp/alice?secret=${SECRET.slice(0, -1)}1`, 'OTP_URI_INVALID_SECRET'],
    [`otpauth://totp/alice?secret=${SECRET}=`, 'OTP_URI_INVALID_SECRET'],
    [`otpauth://totp/alice?secret=${SECRET}A`, 'OTP_URI_INVALID_SECRET'], // 33 symbols: impossible
    [`otpauth://totp/alice?secret=${SECRET.slice(0, -1)}0`, 'OTP_URI_INVALID_SECRET'],
    [`otpauth://totp/alice?secret=${SHORT}`, 'OTP_URI_INVALID_SECRET'],
    [`otpauth://totp/alice?${s}&algorithm=MD5`, 'OTP_URI_UNKNOWN_ALGORITHM'],
    [`otpauth://totp/alice?${s}&algorithm=SHA-256`, 'OTP_URI_UNKNOWN_ALGORITHM'],
    [`otpauth://totp/alice?${s}&algorithm=%20`, 'OTP_URI_UNKNOWN_ALGORITHM'],
    [`otpauth://totp/alice?${s}&algorithm=SHA`, 'OTP_URI_UNKNOWN_ALGORITHM'],
    [`otpauth://totp/alice?${s}&digits=5`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=11`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=six`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=6.0`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=+6`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=abc`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=+`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&digits=0`, 'OTP_URI_INVALID_DIGITS'],
    [`otpauth://totp/alice?${s}&period=0`, 'OTP_URI_INVALID_PERIOD'],
    [`otpauth://totp/alice?${s}&period=3601`, 'OTP_URI_INVALID_PERIOD'],
    [`otpauth://totp/alice?${s}&period=30s`, 'OTP_URI_INVALID_PERIOD'],
    [`otpauth://totp/alice?${s}&period=-30`, 'OTP_URI_INVALID_PERIOD'],
    [`otpauth://totp/alice?${s}&period=%20`, 'OTP_URI_INVALID_PERIOD'],
    [`otpauth://hotp/alice?${s}`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://hotp/alice?${s}&counter=`, 'OTP_URI_INVALID_COUNTER'], // empty is absent, still required
    [`otpauth://hotp/alice?${s}&counter=abc`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://hotp/alice?${s}&counter=-1`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://hotp/alice?${s}&counter=1.5`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://hotp/alice?${s}&counter=0x10`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://hotp/alice?${s}&counter=9007199254740992`, 'OTP_URI_INVALID_COUNTER'],
    [`otpauth://totp/ali%ce?${s}`, 'OTP_URI_MALFORMED_ENCODING'],
    [`otpauth://totp/alice%?${s}`, 'OTP_URI_MALFORMED_ENCODING'],
    [`otpauth://totp/alice%C3?${s}`, 'OTP_URI_MALFORMED_ENCODING'],
    [`otpauth://totp/alice?${s}&issuer=%zz`, 'OTP_URI_MALFORMED_ENCODING'],
    [`otpauth://totp/alice?${s}&${s}`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/alice?${s}&digits=6&digits=8`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/alice?${s}&issuer=A&issuer=A`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/alice?${s}&digits=&digits=8`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/:alice?secret=&${s}`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/alice?${s}&%69ssuer=A&issuer=A`, 'OTP_URI_DUPLICATE_PARAMETER'],
    [`otpauth://totp/Example:alice?${s}&issuer=Other`, 'OTP_URI_ISSUER_MISMATCH'],
    [`otpauth://totp/Example:alice?${s}&issuer=example`, 'OTP_URI_ISSUER_MISMATCH'],
  ];
  for (const [uri, code] of cases) {
    const label =
      typeof uri === 'string' && uri.length > 200 ? `${uri.slice(0, 60)}... (too long)` : String(uri);
    t.throws(() => parseUri(uri as string), { code }, label);
  }
});

t.test('parseUri reads an empty label prefix as no issuer, and empty parameters as absent', async (t) => {
  const seed = RFC_SEEDS.SHA1;
  const plain = {
    type: 'totp',
    secret: seed,
    account: 'alice',
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
  } as const;
  const cases: [uri: string, expected: OtpauthUri][] = [
    // Empty issuer prefix: no issuer (pyotp, passlib and otpauth read it so), unless the parameter gives one.
    [`otpauth://totp/:alice?secret=${SECRET}`, plain],
    [`otpauth://totp/%3Aalice?secret=${SECRET}`, plain],
    [`otpauth://totp/:%20alice?secret=${SECRET}&issuer=`, plain],
    [`otpauth://totp/:alice?secret=${SECRET}&issuer=Example`, { ...plain, issuer: 'Example' }],
    // Empty algorithm, digits, period and issuer: their defaults (parse_qsl drops blank values).
    [`otpauth://totp/alice?secret=${SECRET}&algorithm=&digits=&period=&issuer=`, plain],
    [`otpauth://totp/alice?secret=${SECRET}&algorithm&digits&period`, plain],
    [
      `otpauth://totp/Example:alice?secret=${SECRET}&issuer=&algorithm=&digits=8&period=`,
      { ...plain, issuer: 'Example', digits: 8 },
    ],
    [
      `otpauth://hotp/:alice?secret=${SECRET}&algorithm=&digits=&counter=5`,
      { type: 'hotp', secret: seed, account: 'alice', algorithm: 'SHA1', digits: 6, counter: 5 },
    ],
    // A secret with non-zero unused trailing bits: the bytes of its canonical spelling.
    [
      `otpauth://totp/alice?secret=S46SQCPPTCNPROMHWYBDCTBZXV`,
      {
        ...plain,
        secret: Uint8Array.from(Buffer.from('973d2809ef989af8b987b602314c39bd', 'hex')),
      },
    ],
  ];
  for (const [uri, expected] of cases) t.same(parseUri(uri), expected, uri);
  const totp = Totp.fromUri('otpauth://totp/:alice?secret=S46SQCPPTCNPROMHWYBDCTBZXV&period=&digits=');
  t.equal(totp.base32, 'S46SQCPPTCNPROMHWYBDCTBZXU', 'the instance keeps the bytes, written canonically');
  t.equal(totp.period, 30);
  t.equal(
    buildUri({ type: 'totp', secret: 'S46SQCPPTCNPROMHWYBDCTBZXV', account: 'alice' }),
    'otpauth://totp/alice?secret=S46SQCPPTCNPROMHWYBDCTBZXU',
    'buildUri reads the lenient spelling and writes the canonical one',
  );
});

t.test('every URI error is an OtpInvalidUriError', async (t) => {
  for (const uri of [
    'https://x',
    `otpauth://totp/a:b:c?secret=${SECRET}`,
    `otpauth://hotp/a?secret=${SECRET}`,
  ]) {
    t.type(
      t.throws(() => parseUri(uri)),
      OtpInvalidUriError,
      uri,
    );
  }
});

t.test('parseUri: minSecretBytes accepts legacy 10-byte secrets and is bounded', async (t) => {
  t.equal(parseUri(`otpauth://totp/a?secret=${SHORT}`, { minSecretBytes: 10 }).secret.length, 10);
  t.throws(() => parseUri(`otpauth://totp/a?secret=${SHORT}`, { minSecretBytes: 8 }), RangeError);
});

t.test('buildUri and parseUri round-trip', async (t) => {
  const cases: BuildUriOptions[] = [
    { type: 'totp', secret: RFC_SEEDS.SHA1, account: 'jane' },
    {
      type: 'totp',
      secret: RFC_SEEDS.SHA256,
      issuer: 'ACME Co',
      account: 'jane doe@example.com',
      algorithm: 'SHA256',
    },
    {
      type: 'totp',
      secret: RFC_SEEDS.SHA512,
      issuer: 'Ünïcödé ✓',
      account: '用户',
      algorithm: 'SHA512',
      digits: 10,
      period: 3600,
    },
    {
      type: 'totp',
      secret: RFC_SEEDS.SHA1,
      issuer: "a+b&c=d/e?f#g%h'",
      account: '100%',
      digits: 8,
      period: 1,
    },
    { type: 'hotp', secret: RFC_SEEDS.SHA1, issuer: 'Bank', account: 'jane', counter: 0 },
    {
      type: 'hotp',
      secret: RFC_SEEDS.SHA256,
      account: 'jane',
      algorithm: 'SHA256',
      digits: 7,
      counter: 2 ** 53 - 1,
    },
  ];
  for (const options of cases) {
    const parsed = parseUri(buildUri(options));
    const expected = {
      type: options.type,
      secret: options.secret,
      account: options.account,
      algorithm: options.algorithm ?? 'SHA1',
      digits: options.digits ?? 6,
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.type === 'totp' ? { period: options.period ?? 30 } : { counter: options.counter }),
    };
    t.same(parsed, expected, buildUri(options));
  }
});

t.test('Totp.toUri and Totp.fromUri round-trip the configuration', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA256, algorithm: 'SHA256', digits: 8, period: 60 });
  const uri = totp.toUri({ issuer: 'ACME Co', account: 'jane@example.com' });
  t.equal(
    uri,
    'otpauth://totp/ACME%20Co:jane%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60',
  );
  t.same(Totp.fromUri(uri).toJSON(), totp.toJSON());
  t.same(Totp.fromUri(totp.toUri({ account: 'jane' })).toJSON(), totp.toJSON());
});

t.test('Totp.toUri refuses t0 other than 0, which the URI format cannot carry', async (t) => {
  t.throws(() => new Totp({ secret: RFC_SEEDS.SHA1, t0: 60 }).toUri({ account: 'jane' }), RangeError);
});

t.test('Totp.toUri refuses a colon in the label', async (t) => {
  const totp = new Totp({ secret: RFC_SEEDS.SHA1 });
  t.throws(() => totp.toUri({ issuer: 'A:B', account: 'jane' }), TypeError);
  t.throws(() => totp.toUri({ account: 'ja:ne' }), TypeError);
});

t.test('Hotp.toUri and Hotp.fromUri round-trip, counter included', async (t) => {
  const hotp = new Hotp({ secret: RFC_SEEDS.SHA1, digits: 8, counter: 42 });
  const uri = hotp.toUri({ issuer: 'Bank', account: 'jane' });
  t.equal(uri, `otpauth://hotp/Bank:jane?secret=${SECRET}&issuer=Bank&digits=8&counter=42`);
  t.same(Hotp.fromUri(uri).toJSON(), hotp.toJSON());
  t.equal(Hotp.fromUri(hotp.toUri({ account: 'jane', counter: 7 })).counter, 7);
});

t.test('fromUri refuses a URI of the other type with OTP_URI_TYPE_MISMATCH', async (t) => {
  t.throws(() => Totp.fromUri(`otpauth://hotp/a?secret=${SECRET}&counter=1`), {
    code: 'OTP_URI_TYPE_MISMATCH',
  });
  t.throws(() => Hotp.fromUri(`otpauth://totp/a?secret=${SECRET}`), { code: 'OTP_URI_TYPE_MISMATCH' });
});

t.test('fromUri applies minSecretBytes', async (t) => {
  const uri = `otpauth://totp/Example:alice@google.com?secret=${SHORT}&issuer=Example`;
  t.throws(() => Totp.fromUri(uri), { code: 'OTP_URI_INVALID_SECRET' });
  t.equal(Totp.fromUri(uri, { minSecretBytes: 10 }).base32, SHORT);
});

t.test('URI errors never quote the secret', async (t) => {
  const uri = `otpauth://totp/Example:alice?secret=${SECRET}&issuer=Other`;
  const error = t.throws(() => parseUri(uri)) as Error;
  t.notMatch(error.message, SECRET);
});
