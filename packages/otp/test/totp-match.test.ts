import t from 'tap';
import { Totp, type TotpMatchOptions } from '../src/index.js';
import type { HashAlgorithm } from '../src/internal/hmac.js';
import * as hmac from '../src/internal/hmac.js';
import { RFC_SEEDS } from './helpers.js';

const STEP = 30_000;
const N = 56_666_666; // a step in November 2023
const totp = new Totp({ secret: RFC_SEEDS.SHA1 });
/** The code of step `counter`. */
const codeAt = (counter: number): string => totp.generate(counter * STEP).token;
/** A server time 10 s into step N. */
const now = N * STEP + 10_000;
/** A 6-digit code that belongs to no step near N. */
const wrong = (() => {
  const near = new Set(Array.from({ length: 41 }, (_, i) => codeAt(N - 20 + i)));
  for (let i = 0; ; i++) {
    const candidate = String(i).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
})();

t.test('the current code matches with skipped 0 and its step boundaries', async (t) => {
  t.same(totp.match(codeAt(N), { time: now }), {
    counter: N,
    expectedCounter: N,
    skipped: 0,
    expiresAt: (N + 1) * STEP,
    cacheUntil: (N + 2) * STEP,
  });
});

t.test('with the default window, one step back and one step ahead match and report skipped', async (t) => {
  const cases: [offset: number, cacheUntilStep: number][] = [
    [-1, N + 1],
    [1, N + 3],
  ];
  for (const [offset, cacheUntilStep] of cases) {
    t.same(
      totp.match(codeAt(N + offset), { time: now }),
      {
        counter: N + offset,
        expectedCounter: N,
        skipped: offset,
        expiresAt: (N + offset + 1) * STEP,
        cacheUntil: cacheUntilStep * STEP,
      },
      `offset ${offset}`,
    );
  }
});

t.test('window sizes: which offsets are accepted', async (t) => {
  const cases: [window: TotpMatchOptions['window'], accepted: number[], refused: number[]][] = [
    [undefined, [-1, 0, 1], [-3, -2, 2, 3]],
    [1, [-1, 0, 1], [-2, 2]],
    [0, [0], [-1, 1]],
    [{ past: 0, future: 0 }, [0], [-1, 1]],
    [2, [-2, -1, 0, 1, 2], [-3, 3]],
    [{ past: 2, future: 0 }, [-2, -1, 0], [-3, 1]],
    [{ past: 0, future: 3 }, [0, 1, 2, 3], [-1, 4]],
    [10, [-10, -5, 0, 5, 10], [-11, 11]],
  ];
  for (const [window, accepted, refused] of cases) {
    const name = `window ${JSON.stringify(window)}`;
    for (const offset of accepted) {
      t.equal(
        totp.match(codeAt(N + offset), { time: now, window }).counter,
        N + offset,
        `${name} accepts ${offset}`,
      );
    }
    for (const offset of refused) {
      t.throws(
        () => totp.match(codeAt(N + offset), { time: now, window }),
        { code: 'OTP_NO_MATCH' },
        `${name} refuses ${offset}`,
      );
    }
  }
});

t.test('window is capped at 10 steps each side, and must be a non-negative integer', async (t) => {
  const cases: [window: unknown, error: typeof TypeError | typeof RangeError][] = [
    [11, RangeError],
    [-1, RangeError],
    [1.5, RangeError],
    [{ past: 11, future: 0 }, RangeError],
    [{ past: 0, future: 11 }, RangeError],
    [{ past: 1 }, TypeError],
    ['1', TypeError],
    [null, TypeError],
  ];
  for (const [window, error] of cases) {
    t.throws(
      () => totp.match(codeAt(N), { time: now, window: window as TotpMatchOptions['window'] }),
      error,
      `window ${JSON.stringify(window)}`,
    );
  }
});

t.test('a wrong code is OTP_NO_MATCH', async (t) => {
  t.throws(() => totp.match(wrong, { time: now }), { code: 'OTP_NO_MATCH' });
  t.throws(() => totp.match(wrong, { time: now, lastCounter: N }), { code: 'OTP_NO_MATCH' });
});

t.test(
  'cacheUntil is the last moment the same code can still be accepted with the same window',
  async (t) => {
    const window = { past: 3, future: 1 };
    const code = codeAt(N);
    const { cacheUntil } = totp.match(code, { time: now, window });
    t.equal(cacheUntil, (N + 4) * STEP);
    t.equal(totp.match(code, { time: cacheUntil - 1, window }).counter, N);
    t.throws(() => totp.match(code, { time: cacheUntil, window }), { code: 'OTP_NO_MATCH' });
  },
);

t.test('lastCounter: the used code is refused as OTP_REUSED', async (t) => {
  const code = codeAt(N);
  const { counter } = totp.match(code, { time: now });
  t.throws(() => totp.match(code, { time: now, lastCounter: counter }), { code: 'OTP_REUSED' });
});

t.test('lastCounter: an older code from the same window fails once a newer one was used', async (t) => {
  const { counter } = totp.match(codeAt(N + 1), { time: now });
  t.throws(() => totp.match(codeAt(N), { time: now, lastCounter: counter }), { code: 'OTP_REUSED' });
  t.throws(() => totp.match(codeAt(N - 1), { time: now, lastCounter: counter }), { code: 'OTP_REUSED' });
});

t.test('lastCounter: a newer code is accepted; null and undefined mean nothing was used', async (t) => {
  t.equal(totp.match(codeAt(N + 1), { time: now, lastCounter: N }).counter, N + 1);
  t.equal(totp.match(codeAt(N), { time: now, lastCounter: N - 1 }).counter, N);
  t.equal(totp.match(codeAt(N), { time: now, lastCounter: null }).counter, N);
  t.equal(totp.match(codeAt(N), { time: now, lastCounter: undefined }).counter, N);
});

t.test('lastCounter must be a safe integer', async (t) => {
  for (const lastCounter of [1.5, Number.NaN, 2 ** 53]) {
    t.throws(() => totp.match(codeAt(N), { time: now, lastCounter }), RangeError, String(lastCounter));
  }
});

// Pairs of steps whose 6-digit codes coincide for the RFC SHA1 seed (found by search; each case
// first checks that they do). They show which match is preferred when a code matches twice.
t.test('preference when a code matches two steps: current first, then nearest, past on ties', async (t) => {
  const cases: {
    name: string;
    steps: [number, number];
    expected: number;
    window: number;
    lastCounter?: number;
    chosen: number;
  }[] = [
    {
      name: 'current over the next step',
      steps: [56188870, 56188871],
      expected: 56188870,
      window: 1,
      chosen: 56188870,
    },
    {
      name: 'current over the previous step',
      steps: [56188870, 56188871],
      expected: 56188871,
      window: 1,
      chosen: 56188871,
    },
    {
      name: 'current over a step 2 ahead',
      steps: [56295193, 56295195],
      expected: 56295193,
      window: 2,
      chosen: 56295193,
    },
    {
      name: 'past before future at equal distance',
      steps: [56295193, 56295195],
      expected: 56295194,
      window: 1,
      chosen: 56295193,
    },
    {
      name: 'nearer past over farther future',
      steps: [56904584, 56904589],
      expected: 56904586,
      window: 3,
      chosen: 56904584,
    },
    {
      name: 'nearer future over farther past',
      steps: [56904584, 56904589],
      expected: 56904587,
      window: 3,
      chosen: 56904589,
    },
    {
      name: 'the other step when the preferred one is at or below lastCounter',
      steps: [56295193, 56295195],
      expected: 56295194,
      window: 1,
      lastCounter: 56295193,
      chosen: 56295195,
    },
  ];
  for (const c of cases) {
    const code = codeAt(c.steps[0]);
    t.equal(codeAt(c.steps[1]), code, `${c.name}: precondition, both steps share the code`);
    const match = totp.match(code, { time: c.expected * STEP, window: c.window, lastCounter: c.lastCounter });
    t.equal(match.counter, c.chosen, c.name);
  }
});

t.test('a code shown by two consecutive steps works once per step it can still spend', async (t) => {
  // 56188870 and 56188871 share their code. Sent once during 56188871 (an enrollment confirmed with
  // "the previous step's code", which is also the current one), the match spends the current step,
  // so the same code sent again in that step is a replay and is refused, whoever sends it.
  const [previous, current] = [56188870, 56188871];
  const code = codeAt(previous);
  t.equal(codeAt(current), code, 'precondition: both steps share the code');
  const during = (step: number) => step * STEP + 10_000;
  const first = totp.match(code, { time: during(current) });
  t.equal(first.counter, current, 'the current step is spent, not the previous one');
  t.throws(() => totp.match(code, { time: during(current), lastCounter: first.counter }), {
    code: 'OTP_REUSED',
  });
  // Spent during the previous step, the code still stands for the next one, once.
  const early = totp.match(code, { time: during(previous) });
  t.equal(early.counter, previous);
  const next = totp.match(code, { time: during(current), lastCounter: early.counter });
  t.equal(next.counter, current, 'the next step, not yet spent, accepts the same code');
  t.throws(() => totp.match(code, { time: during(current), lastCounter: next.counter }), {
    code: 'OTP_REUSED',
  });
});

t.test('skew (seconds) shifts the server time before steps are computed', async (t) => {
  t.same(totp.match(codeAt(N + 1), { time: now, skew: 30, window: 0 }), {
    counter: N + 1,
    expectedCounter: N + 1,
    skipped: 0,
    expiresAt: (N + 2) * STEP,
    cacheUntil: (N + 2) * STEP - 30_000,
  });
  t.equal(totp.match(codeAt(N - 2), { time: now, skew: -60, window: 0 }).counter, N - 2);
  t.throws(() => totp.match(codeAt(N), { time: now, skew: -60, window: 0 }), { code: 'OTP_NO_MATCH' });
});

t.test('a code generated 30 s ago or 29 s ahead matches; 70 s ago or 61 s ahead does not', async (t) => {
  const cases: [generatedAt: number, accepted: boolean][] = [
    [now - 30_000, true],
    [now + 29_000, true],
    [now - 70_000, false],
    [now + 61_000, false],
  ];
  for (const [generatedAt, accepted] of cases) {
    t.equal(
      totp.verify(totp.generate(generatedAt).token, { time: now }),
      accepted,
      `generated at ${generatedAt - now} ms`,
    );
  }
});

t.test('time may be a Date and defaults to Date.now()', async (t) => {
  t.equal(totp.match(codeAt(N), { time: new Date(now) }).counter, N);
  const before = Math.floor(Date.now() / STEP);
  const expected = totp.match(totp.generate().token).expectedCounter;
  const after = Math.floor(Date.now() / STEP);
  // A step may end between the calls: the counter is the step of one of them.
  t.ok(expected === before || expected === after, `expected counter ${expected} is the current step`);
});

t.test('a time before t0 or outside the range of a Date is a RangeError', async (t) => {
  const late = new Totp({ secret: RFC_SEEDS.SHA1, t0: 1_000_000 });
  t.throws(() => late.match('123456', { time: 999_999_999 }), RangeError);
  t.throws(() => late.generate(999_999_999), RangeError);
  for (const time of [Number.NaN, Number.POSITIVE_INFINITY, 9e15]) {
    t.throws(() => totp.match('123456', { time }), RangeError, String(time));
  }
  t.throws(() => totp.match('123456', { time: new Date(Number.NaN) }), RangeError);
  t.throws(() => totp.match('123456', { time: '2024-01-01' as unknown as number }), TypeError);
  t.throws(() => totp.match('123456', { time: now, skew: '30' as unknown as number }), TypeError);
  t.throws(() => totp.match('123456', { time: now, skew: Number.NaN }), RangeError);
});

t.test('tokens are normalised before matching; bad tokens have their own codes', async (t) => {
  const code = codeAt(N);
  t.equal(totp.match(`${code.slice(0, 3)} ${code.slice(3)}`, { time: now }).counter, N);
  t.equal(totp.match(`${code.slice(0, 3)}-${code.slice(3)}`, { time: now }).counter, N);
  t.equal(totp.match(Number(code), { time: now }).counter, N);
  t.throws(() => totp.match(`${code}0`, { time: now }), { code: 'OTP_WRONG_LENGTH' });
  t.throws(() => totp.match(`${code.slice(0, 5)}x`, { time: now }), { code: 'OTP_MALFORMED_TOKEN' });
  t.throws(() => totp.match(true as unknown as string, { time: now }), { code: 'OTP_MALFORMED_TOKEN' });
});

t.test('a zero-padded 8-digit code matches as a number too', async (t) => {
  const rfc = new Totp({ secret: RFC_SEEDS.SHA1, digits: 8 });
  t.equal(rfc.match(7081804, { time: 1111111109_000, window: 0 }).counter, 37037036);
});

t.test('a 10-digit token above 2^31 never matches a code equal to it modulo 2^32', async (t) => {
  const ten = new Totp({ secret: RFC_SEEDS.SHA1, digits: 10 });
  const code = ten.generate(now).token;
  const aliased = String(Number(code) + 2 ** 32).padStart(10, '0');
  t.equal(ten.match(code, { time: now }).counter, N);
  t.throws(() => ten.match(aliased, { time: now }), { code: 'OTP_NO_MATCH' });
});

t.test('verify returns true or false for tokens and still throws for bad options', async (t) => {
  t.equal(totp.verify(codeAt(N), { time: now }), true);
  t.equal(totp.verify(wrong, { time: now }), false);
  t.equal(totp.verify(codeAt(N), { time: now, lastCounter: N }), false);
  t.equal(totp.verify('12a456', { time: now }), false);
  t.equal(totp.verify('1234', { time: now }), false);
  t.throws(() => totp.verify(codeAt(N), { time: now, window: 11 }), RangeError);
});

t.test('every candidate of the window is computed, whatever matches (no early exit)', async (t) => {
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
  const mocked = await t.mockImport<typeof import('../src/totp.js')>('../src/totp.js', {
    '../src/internal/hmac.ts': counting,
  });
  const spied = new mocked.Totp({ secret: RFC_SEEDS.SHA1 });
  const cases: [name: string, token: string, options: TotpMatchOptions, candidates: number][] = [
    ['current step, window 1', codeAt(N), { window: 1 }, 3],
    ['past step, window 1', codeAt(N - 1), { window: 1 }, 3],
    ['no match, window 1', wrong, { window: 1 }, 3],
    ['reused, window 1', codeAt(N), { window: 1, lastCounter: N }, 3],
    ['current step, window 10', codeAt(N), { window: 10 }, 21],
    ['current step, past 2 future 0', codeAt(N), { window: { past: 2, future: 0 } }, 3],
  ];
  for (const [name, token, options, candidates] of cases) {
    calls = 0;
    spied.verify(token, { ...options, time: now });
    t.equal(calls, candidates, name);
  }
});
