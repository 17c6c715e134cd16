import t from 'tap';
import { normalizeToken } from '../src/index.js';

const accepted: [input: string | number, digits: number, normalised: string][] = [
  ['123456', 6, '123456'],
  ['000000', 6, '000000'],
  ['123 456', 6, '123456'],
  ['123-456', 6, '123456'],
  [' 12 34 56 ', 6, '123456'],
  ['12-34-56', 6, '123456'],
  ['1234 5678', 8, '12345678'],
  ['0123456789', 10, '0123456789'],
  [123456, 6, '123456'],
  [42, 6, '000042'],
  [0, 6, '000000'],
  [-0, 6, '000000'],
  [7081804, 8, '07081804'],
  [9999999999, 10, '9999999999'],
];

const malformed: [input: unknown, digits: number][] = [
  ['26920x', 6],
  ['12345a', 6],
  ['+123456', 6],
  ['1e5', 6],
  ['12345.6', 6],
  ['0x1234', 6],
  ['１２３４５６', 6], // full-width digits
  ['١٢٣٤٥٦', 6], // Arabic-Indic digits
  ['123\t456', 6],
  ['123\u00a0456', 6], // no-break space is not an ASCII space
  ['123_456', 6],
  [true, 6],
  [false, 6],
  [null, 6],
  [undefined, 6],
  [{}, 6],
  [['123456'], 6],
  [Number.NaN, 6],
  [Number.POSITIVE_INFINITY, 6],
  [-1, 6],
  [-123456, 6],
  [12345.6, 6],
  [2 ** 53, 10],
  [123456n, 6],
];

const wrongLength: [input: string | number, digits: number][] = [
  ['', 6],
  ['   ', 6],
  ['12345', 6],
  ['1234567', 6],
  ['123 4567', 6],
  ['123456', 8],
  [1234567, 6],
  [123456789, 8],
  [10000000000, 10],
];

t.test('accepted tokens and their normalised form', async (t) => {
  for (const [input, digits, normalised] of accepted) {
    t.equal(normalizeToken(input, digits), normalised, `${JSON.stringify(input)} with ${digits} digits`);
  }
});

t.test(
  'anything but ASCII digits, spaces and hyphens, or a bad number, is OTP_MALFORMED_TOKEN',
  async (t) => {
    for (const [input, digits] of malformed) {
      t.throws(() => normalizeToken(input as string, digits), { code: 'OTP_MALFORMED_TOKEN' }, String(input));
    }
  },
);

t.test('hyphens are separators anywhere, so "-123456" reads as 123456', async (t) => {
  t.equal(normalizeToken('-123456', 6), '123456');
});

t.test('a well-formed token of another length is OTP_WRONG_LENGTH', async (t) => {
  for (const [input, digits] of wrongLength) {
    t.throws(
      () => normalizeToken(input, digits),
      { code: 'OTP_WRONG_LENGTH' },
      `${input} with ${digits} digits`,
    );
  }
});

t.test('digits must be an integer from 6 to 10', async (t) => {
  t.throws(() => normalizeToken('12345', 5), RangeError);
  t.throws(() => normalizeToken('12345678901', 11), RangeError);
  t.throws(() => normalizeToken('123456', '6' as unknown as number), TypeError);
});
