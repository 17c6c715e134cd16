import t from 'tap';
import {
  type Algorithm,
  decodeSecret,
  encodeSecret,
  generateSecret,
  OtpInvalidSecretError,
  prettySecret,
} from '../src/index.js';
import { decodeBase32, encodeBase32 } from '../src/internal/base32.js';
import { decodeHex } from '../src/internal/hex.js';
import { encoder } from './helpers.js';

// RFC 4648 section 10 test vectors: [data, padded base32, base16].
const RFC4648: [data: string, base32: string, hex: string][] = [
  ['', '', ''],
  ['f', 'MY======', '66'],
  ['fo', 'MZXQ====', '666F'],
  ['foo', 'MZXW6===', '666F6F'],
  ['foob', 'MZXW6YQ=', '666F6F62'],
  ['fooba', 'MZXW6YTB', '666F6F6261'],
  ['foobar', 'MZXW6YTBOI======', '666F6F626172'],
];

t.test('base32: RFC 4648 vectors encode without padding and decode with or without it', async (t) => {
  for (const [data, base32] of RFC4648) {
    const bytes = encoder.encode(data);
    const unpadded = base32.replace(/=+$/, '');
    t.equal(encodeBase32(bytes), unpadded, `encode ${JSON.stringify(data)}`);
    t.same(decodeBase32(base32), bytes, `decode ${base32}`);
    t.same(decodeBase32(unpadded), bytes, `decode ${unpadded}`);
    t.same(decodeBase32(base32.toLowerCase()), bytes, `decode ${base32.toLowerCase()}`);
  }
});

t.test('base16: RFC 4648 vectors decode in either case', async (t) => {
  for (const [data, , hex] of RFC4648) {
    t.same(decodeHex(hex), encoder.encode(data), hex);
    t.same(decodeHex(hex.toLowerCase()), encoder.encode(data), hex.toLowerCase());
  }
});

t.test('base32: spaces, hyphens and mixed case are accepted', async (t) => {
  const bytes = encoder.encode('12345678901234567890');
  for (const text of [
    'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
    'gezdgnbvgy3tqojqgezdgnbvgy3tqojq',
    'GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ',
    'gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq',
    ' GeZd GnBv Gy3T QoJq GeZd GnBv Gy3T QoJq ',
  ]) {
    t.same(decodeBase32(text), bytes, text);
  }
});

t.test('base32: non-zero unused trailing bits are read and discarded, as b32decode does', async (t) => {
  // [text, the bytes of Python's base64.b32decode after padding (hex)]. The last symbol of a
  // 2, 4, 5 or 7 symbol quantum holds 2, 4, 1 or 3 bits that belong to no byte.
  const cases: [text: string, hex: string][] = [
    ['MZ', '66'], // canonical MY
    ['MZ======', '66'],
    ['mz', '66'],
    ['MZXR', '666f'], // canonical MZXQ
    ['MZXR====', '666f'],
    ['MZXW7', '666f6f'], // canonical MZXW6
    ['MZXW6YR', '666f6f62'], // canonical MZXW6YQ
    ['MZXW6YTBOJ', '666f6f626172'], // canonical MZXW6YTBOI
    ['MZXW6YTBOP', '666f6f626173'], // P differs from I in used bits too: another last byte
    ['S46SQCPPTCNPROMHWYBDCTBZXV', '973d2809ef989af8b987b602314c39bd'], // from pyotp's tests
    ['S46S QCPP TCNP ROMH WYBD CTBZ XV', '973d2809ef989af8b987b602314c39bd'],
    ['S46SQCPPTCNPROMHWYBDCTBZXU', '973d2809ef989af8b987b602314c39bd'], // its canonical spelling
    ['S46SQCPPTCNPROMHWYBDCTBZX7', '973d2809ef989af8b987b602314c39bf'], // a used bit differs
  ];
  for (const [text, hex] of cases) {
    t.equal(encodeSecret(decodeBase32(text), { encoding: 'hex' }), hex, text);
  }
  t.equal(encodeSecret(decodeSecret('S46SQCPPTCNPROMHWYBDCTBZXV')), 'S46SQCPPTCNPROMHWYBDCTBZXU');
  t.equal(prettySecret('mzxw6ytboj'), 'MZXW 6YTB OI', 'prettySecret writes the canonical spelling');
});

t.test('base32: every final symbol decodes to its used bits; the writer clears the rest', async (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  // Symbols in the final quantum -> unused bits in its last symbol.
  const unusedBits: Record<number, number> = { 2: 2, 4: 4, 5: 1, 7: 3 };
  const wrong: string[] = [];
  for (const [symbols, unused] of Object.entries(unusedBits)) {
    const prefix = 'MZXW6YTB'.slice(0, Number(symbols) - 1);
    for (let value = 0; value < 32; value++) {
      const text = prefix + alphabet[value]!;
      const canonical = encodeBase32(decodeBase32(text));
      const expected = prefix + alphabet[value & ~((1 << unused) - 1)]!;
      if (canonical !== expected) wrong.push(text);
    }
  }
  t.same(wrong, [], 'inputs whose bytes are not those of the symbol with its unused bits cleared');
});

t.test('base32: invalid characters, impossible lengths and bad padding are OTP_INVALID_SECRET', async (t) => {
  const cases: [text: string, why: string][] = [
    ['MZXW6YT1', 'digit 1 is not in the alphabet'],
    ['MZXW6YT0', 'digit 0 is not in the alphabet'],
    ['MZXW6YT8', 'digit 8 is not in the alphabet'],
    ['MZXW6YTB!', 'punctuation'],
    ['MZXW\t6YTB', 'a tab is not a space'],
    ['MZXWÉYTB', 'a non-ASCII letter'],
    ['M', 'one character is an impossible length'],
    ['MZX', 'three characters are an impossible length'],
    ['MZXW6Y', 'six characters are an impossible length'],
    ['MY=====', 'padding one short'],
    ['MY=======', 'padding one too many'],
    ['MZXW6YTB========', 'padding after a full quantum'],
    ['MY==MY==', 'data after padding'],
    ['=', 'padding alone'],
    ['MY=', 'partial padding (pyotp pads it, oathtool refuses it)'],
    ['MY====', 'partial padding (pyotp pads it, oathtool refuses it)'],
    ['MZXW6YT0', 'zero is not O (passlib alone guesses so)'],
    ['MZXW6YTB1', 'nine characters are an impossible length'],
    ['MZXW6YTBOIA', 'eleven characters are an impossible length'],
    ['MZXW6YTBOIAAAA', 'fourteen characters are an impossible length'],
  ];
  for (const [text, why] of cases) {
    t.throws(() => decodeBase32(text), { code: 'OTP_INVALID_SECRET' }, why);
  }
});

t.test('generateSecret: default size is the hash output size', async (t) => {
  const sizes: [Algorithm | undefined, number][] = [
    [undefined, 20],
    ['SHA1', 20],
    ['SHA256', 32],
    ['SHA512', 64],
  ];
  for (const [algorithm, size] of sizes) {
    t.equal(generateSecret(algorithm ? { algorithm } : undefined).length, size, `${algorithm ?? 'default'}`);
  }
  t.equal(generateSecret({ bytes: 16 }).length, 16);
  t.equal(generateSecret({ algorithm: 'SHA512', bytes: 100 }).length, 100);
});

t.test('generateSecret: two secrets differ (CSPRNG)', async (t) => {
  t.not(encodeSecret(generateSecret()), encodeSecret(generateSecret()));
});

t.test('generateSecret: the random source is injectable and its bytes are copied', async (t) => {
  const requested: number[] = [];
  const source = new Uint8Array(32).fill(7);
  const secret = generateSecret({
    algorithm: 'SHA256',
    random: (size) => {
      requested.push(size);
      return source;
    },
  });
  t.same(requested, [32]);
  t.same(secret, source);
  source[0] = 0;
  t.equal(secret[0], 7);
});

t.test('generateSecret: never below 16 bytes; bad options are TypeError/RangeError', async (t) => {
  t.throws(() => generateSecret({ bytes: 15 }), RangeError);
  t.throws(() => generateSecret({ bytes: 10 }), RangeError);
  t.throws(() => generateSecret({ bytes: 0 }), RangeError);
  t.throws(() => generateSecret({ bytes: 20.5 }), RangeError);
  t.throws(() => generateSecret({ bytes: 1025 }), RangeError);
  t.throws(() => generateSecret({ bytes: '20' as unknown as number }), TypeError);
  t.throws(() => generateSecret({ algorithm: 'MD5' as Algorithm }), TypeError);
  t.throws(() => generateSecret({ random: () => new Uint8Array(5) }), TypeError);
});

t.test('decodeSecret: base32 (default) and hex, with the same bytes', async (t) => {
  const bytes = encoder.encode('12345678901234567890');
  t.same(decodeSecret('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), bytes);
  t.same(decodeSecret('gezd gnbv gy3t qojq gezd gnbv gy3t qojq', { encoding: 'base32' }), bytes);
  const sixteen = encoder.encode('1234567890123456');
  t.same(decodeSecret(`${encodeSecret(sixteen)}======`), sixteen, '16 bytes with their 6 padding characters');
  t.same(decodeSecret('3132333435363738393031323334353637383930', { encoding: 'hex' }), bytes);
  t.same(
    decodeSecret('31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30', { encoding: 'hex' }),
    bytes,
  );
});

t.test('decodeSecret: bytes are copied', async (t) => {
  const bytes = new Uint8Array(16).fill(1);
  const decoded = decodeSecret(bytes);
  bytes[0] = 9;
  t.equal(decoded[0], 1);
});

t.test('decodeSecret: empty, short or undecodable input is OTP_INVALID_SECRET', async (t) => {
  const cases: [input: unknown, options: Parameters<typeof decodeSecret>[1], why: string][] = [
    ['', {}, 'empty base32'],
    ['   ', {}, 'only spaces'],
    ['', { encoding: 'hex' }, 'empty hex'],
    [new Uint8Array(0), {}, 'empty bytes'],
    ['JBSWY3DPEHPK3PXP', {}, '10 bytes, below the default 16'],
    [new Uint8Array(15), {}, '15 bytes'],
    ['313233', { encoding: 'hex' }, '3 bytes of hex'],
    ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1', {}, 'a character outside base32'],
    ['313233343536373839303132333435363738393', { encoding: 'hex' }, 'odd hex'],
    ['3132333435363738393031323334353637383g30', { encoding: 'hex' }, 'a character outside hex'],
    [42, {}, 'a number'],
    [null, {}, 'null'],
  ];
  for (const [input, options, why] of cases) {
    t.throws(() => decodeSecret(input as string, options), { code: 'OTP_INVALID_SECRET' }, why);
  }
});

t.test('decodeSecret: minBytes can lower the floor to 10 bytes, never below', async (t) => {
  t.equal(decodeSecret('JBSWY3DPEHPK3PXP', { minBytes: 10 }).length, 10);
  t.throws(() => decodeSecret('JBSWY3DPEHPK3PXP', { minBytes: 9 }), RangeError);
  t.throws(() => decodeSecret('JBSWY3DPEHPK3PXP', { encoding: 'base64' as 'hex' }), TypeError);
});

t.test('an invalid secret error never quotes the input', async (t) => {
  const input = 'SECRETVALUE1SECRET';
  const error = t.throws(() => decodeSecret(input)) as Error;
  t.type(error, OtpInvalidSecretError);
  t.notMatch(error.message, 'SECRETVALUE');
});

t.test('encodeSecret: unpadded uppercase base32 or lowercase hex', async (t) => {
  const bytes = encoder.encode('foobar');
  t.equal(encodeSecret(bytes), 'MZXW6YTBOI');
  t.equal(encodeSecret(bytes, { encoding: 'base32' }), 'MZXW6YTBOI');
  t.equal(encodeSecret(bytes, { encoding: 'hex' }), '666f6f626172');
  t.throws(() => encodeSecret('MZXW6YTBOI' as unknown as Uint8Array), TypeError);
});

t.test('prettySecret: groups of four, uppercase, from bytes or any base32 spelling', async (t) => {
  const cases: [input: Uint8Array | string, pretty: string][] = [
    ['JBSWY3DPEHPK3PXP', 'JBSW Y3DP EHPK 3PXP'],
    ['jbswy3dpehpk3pxp', 'JBSW Y3DP EHPK 3PXP'],
    ['jbsw-y3dp ehpk3pxp', 'JBSW Y3DP EHPK 3PXP'],
    [encoder.encode('12345678901234567890'), 'GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ'],
    [encoder.encode('foobar'), 'MZXW 6YTB OI'],
    ['MZXW6YTBOI======', 'MZXW 6YTB OI'],
    [new Uint8Array(0), ''],
  ];
  for (const [input, pretty] of cases) t.equal(prettySecret(input), pretty, String(input));
  t.throws(() => prettySecret('not base32!'), { code: 'OTP_INVALID_SECRET' });
});
