import t from 'tap';
import { ALGORITHMS, Hotp, Totp } from '../src/index.js';
import { referenceHotp, seededRandom, TEST_SEED } from './helpers.js';

// Light sanity check of the HMAC path against node:crypto for every option combination.
// (The exhaustive HMAC differential test lives with the HMAC implementation.)

const DIGITS = [6, 7, 8, 9, 10];
const PERIODS = [1, 15, 30, 60, 3600];
const CASES_PER_COMBINATION = 4;

t.test(
  'TOTP and HOTP agree with a node:crypto reference for every algorithm, digits and period',
  async (t) => {
    t.comment(`seed ${TEST_SEED} (set OTP_TEST_SEED to reproduce another run)`);
    const random = seededRandom(TEST_SEED + 2);
    const mismatches: string[] = [];
    let checked = 0;
    for (const algorithm of ALGORITHMS) {
      for (const digits of DIGITS) {
        for (const period of PERIODS) {
          for (let i = 0; i < CASES_PER_COMBINATION; i++) {
            // 10..200 bytes: covers keys shorter and longer than every block size (64 / 128).
            const secret = random.bytes(random.int(10, 200));
            const t0 = random.int(0, 1) === 0 ? 0 : random.int(1, 2_000_000_000);
            const time = t0 * 1000 + random.int(0, 2 ** 44);
            const counter = Math.floor((time - t0 * 1000) / (period * 1000));
            const expected = referenceHotp(algorithm, secret, counter, digits);
            const totp = new Totp({ secret, algorithm, digits, period, t0, minSecretBytes: 10 });
            const hotp = new Hotp({ secret, algorithm, digits, minSecretBytes: 10 });
            const generated = totp.generate(time);
            const ok =
              generated.token === expected &&
              generated.counter === counter &&
              hotp.generate(counter) === expected &&
              totp.match(expected, { time, window: 0 }).counter === counter &&
              totp.match(Number(expected), { time, window: 0 }).counter === counter &&
              hotp.match(expected, { counter, lookAhead: 0 }).counter === counter;
            if (!ok) mismatches.push(`${algorithm}/${digits}/${period}/#${i}`);
            checked++;
          }
        }
      }
    }
    t.equal(checked, ALGORITHMS.length * DIGITS.length * PERIODS.length * CASES_PER_COMBINATION);
    t.same(mismatches, [], 'combinations that differ from the reference');
  },
);

t.test('counters around 2^31, 2^32 and 2^53 - 1 agree with the reference', async (t) => {
  const secret = seededRandom(TEST_SEED + 3).bytes(32);
  for (const algorithm of ALGORITHMS) {
    const hotp = new Hotp({ secret, algorithm, digits: 8 });
    for (const counter of [
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 32 + 5,
      2 ** 52 + 1,
      2 ** 53 - 1,
    ]) {
      t.equal(
        hotp.generate(counter),
        referenceHotp(algorithm, secret, counter, 8),
        `${algorithm} counter ${counter}`,
      );
    }
  }
});
