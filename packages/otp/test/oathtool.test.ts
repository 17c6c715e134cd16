import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { missingSkip } from '@twofold/test-support';
import t from 'tap';
import { ALGORITHMS, encodeSecret, Hotp, Totp } from '../src/index.js';
import { seededRandom, TEST_SEED } from './helpers.js';

// Differential test: our codes must equal those of oathtool (OATH Toolkit), an independent C
// implementation, across algorithms, digits, periods, start times, secret lengths and times.

const run = promisify(execFile);
const TOTP_CASES = 1000;
const HOTP_CASES = 200;
const CONCURRENCY = 4;

async function oathtoolInstalled(): Promise<boolean> {
  try {
    await run('oathtool', ['--version']);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Runs `task` over `items` with at most `limit` running at once. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** oathtool prints one code per line: the first for the given counter/time, then `-w` more. */
async function oathtool(args: string[]): Promise<string[]> {
  const { stdout } = await run('oathtool', args);
  return stdout.trim().split('\n');
}

const installed = await oathtoolInstalled();
const skip = installed
  ? false
  : missingSkip(t, 'oathtool is not installed (apt-get install oathtool), which the differential test needs');

t.test(`TOTP codes equal oathtool's in ${TOTP_CASES} random cases`, { skip }, async (t) => {
  t.comment(`seed ${TEST_SEED} (set OTP_TEST_SEED to reproduce another run)`);
  const random = seededRandom(TEST_SEED);
  const cases = Array.from({ length: TOTP_CASES }, (_, index) => {
    const algorithm = random.pick(ALGORITHMS);
    const digits = random.int(6, 8);
    const period = random.int(0, 1) === 0 ? random.pick([30, 60, 15, 45, 90, 120]) : random.int(1, 3600);
    const t0 = random.int(0, 3) === 0 ? random.int(1, 1_000_000_000) : 0;
    const seconds = t0 + random.int(0, 2 ** 34);
    const time = seconds * 1000 + random.int(0, 999);
    return { index, algorithm, digits, period, t0, time, seconds, secret: random.bytes(random.int(16, 64)) };
  });
  const mismatches: number[] = [];
  await pool(cases, CONCURRENCY, async (c) => {
    const expected = await oathtool([
      `--totp=${c.algorithm}`,
      `--digits=${c.digits}`,
      `--time-step-size=${c.period}s`,
      `--start-time=@${c.t0}`,
      `--now=@${c.seconds}`,
      '--window=1',
      encodeSecret(c.secret, { encoding: 'hex' }),
    ]);
    const totp = new Totp({
      secret: c.secret,
      algorithm: c.algorithm,
      digits: c.digits,
      period: c.period,
      t0: c.t0,
    });
    const ours = [totp.generate(c.time).token, totp.generate(c.time + c.period * 1000).token];
    const accepted = totp.verify(expected[0]!, { time: c.time, window: 0 });
    if (ours.join() !== expected.join() || !accepted) mismatches.push(c.index);
  });
  t.same(mismatches, [], 'cases whose codes differ from oathtool (by index)');
});

t.test(`HOTP codes equal oathtool's in ${HOTP_CASES} random cases`, { skip }, async (t) => {
  const random = seededRandom(TEST_SEED + 1);
  const cases = Array.from({ length: HOTP_CASES }, (_, index) => ({
    index,
    digits: random.int(6, 8),
    counter: random.int(0, 3) === 0 ? random.int(2 ** 32 - 2, 2 ** 32 + 2) : random.int(0, 2 ** 40),
    secret: random.bytes(random.int(16, 64)),
  }));
  const mismatches: number[] = [];
  await pool(cases, CONCURRENCY, async (c) => {
    const expected = await oathtool([
      '--hotp',
      `--digits=${c.digits}`,
      `--counter=${c.counter}`,
      '--window=2',
      encodeSecret(c.secret, { encoding: 'hex' }),
    ]);
    const hotp = new Hotp({ secret: c.secret, digits: c.digits });
    const ours = [0, 1, 2].map((step) => hotp.generate(c.counter + step));
    if (ours.join() !== expected.join()) mismatches.push(c.index);
  });
  t.same(mismatches, [], 'cases whose codes differ from oathtool (by index)');
});
