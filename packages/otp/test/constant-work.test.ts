import t, { type Test } from 'tap';
import type { Algorithm, TotpMatchOptions } from '../src/index.js';
import type { HashAlgorithm } from '../src/internal/hmac.js';
import * as hmac from '../src/internal/hmac.js';
import { RFC_SEEDS } from './helpers.js';

// Constant work across the window, shown without any timing: the HMAC module is replaced (through tap's
// mockImport) by one that records every counter it is asked for and then computes the real value. Whatever
// the token (a code of any step of the window, of no step, or of a step already used), Totp#verify and
// Totp#match must ask for exactly the same counters, in the same order: every step of the window, once.
// Peers that stop at the first match (notp, speakeasy, otpauth) ask for fewer when a step matches early.

const STEP = 30_000;
const N = 56_666_666; // a step in November 2023
/** A server time 10 s into step N. */
const now = N * STEP + 10_000;

interface Recorder {
  counters: number[];
}

async function recordingTotp(t: Test, recorder: Recorder) {
  const recording = {
    createTruncatedHmac(algorithm: HashAlgorithm, key: Uint8Array) {
      const compute = hmac.createTruncatedHmac(algorithm, key);
      return (counter: number) => {
        recorder.counters.push(counter);
        return compute(counter);
      };
    },
  };
  // tsx serves src/internal/hmac.js from the .ts file: the mock is keyed by that path.
  const mocked = await t.mockImport<typeof import('../src/totp.js')>('../src/totp.js', {
    '../src/internal/hmac.ts': recording,
  });
  return mocked.Totp;
}

/** The window's counters in the order twofold computes them: current, then by distance, past first. */
function windowCounters(past: number, future: number): number[] {
  const counters = [N];
  for (let distance = 1; distance <= Math.max(past, future); distance++) {
    if (distance <= past) counters.push(N - distance);
    if (distance <= future) counters.push(N + distance);
  }
  return counters;
}

const WINDOWS: [label: string, window: TotpMatchOptions['window'], past: number, future: number][] = [
  ['window 1', 1, 1, 1],
  ['window 0', 0, 0, 0],
  ['window 3', 3, 3, 3],
  ['past 2, future 0', { past: 2, future: 0 }, 2, 0],
  ['past 0, future 2', { past: 0, future: 2 }, 0, 2],
];

for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const satisfies readonly Algorithm[]) {
  t.test(`${algorithm}: every step of the window is computed once, whichever step matches`, async (t) => {
    const recorder: Recorder = { counters: [] };
    const Totp = await recordingTotp(t, recorder);
    const totp = new Totp({ secret: RFC_SEEDS[algorithm], algorithm });
    const codeAt = (counter: number): string => totp.generate(counter * STEP).token;
    const near = new Set(Array.from({ length: 21 }, (_, i) => codeAt(N - 10 + i)));
    const wrong = Array.from({ length: 1000 }, (_, i) => String(i).padStart(6, '0')).find(
      (code) => !near.has(code),
    )!;

    for (const [label, window, past, future] of WINDOWS) {
      const expected = windowCounters(past, future);
      const tokens: [name: string, token: string, options: TotpMatchOptions, accepted: boolean][] = [];
      for (let offset = -past; offset <= future; offset++) {
        tokens.push([`step ${offset}`, codeAt(N + offset), {}, true]);
        tokens.push([`step ${offset}, already used`, codeAt(N + offset), { lastCounter: N + future }, false]);
      }
      tokens.push(['no step', wrong, {}, false]);
      tokens.push(['a step just outside', codeAt(N + future + 1), {}, false]);
      for (const [name, token, options, accepted] of tokens) {
        recorder.counters = [];
        const result = totp.verify(token, { ...options, time: now, window });
        t.equal(result, accepted, `${label}, ${name}: verify`);
        t.same(recorder.counters, expected, `${label}, ${name}: verify computes every step`);

        recorder.counters = [];
        try {
          totp.match(token, { ...options, time: now, window });
        } catch {
          // A refusal (OtpNoMatchError, OtpReusedError) comes after the same work.
        }
        t.same(recorder.counters, expected, `${label}, ${name}: match computes every step`);
      }
    }
  });
}
