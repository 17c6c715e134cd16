/**
 * Memory benchmark (issue 9): bytes of V8 heap per enrolled user in memoryStore, at 100,000 users
 * (10,000 with --quick). Target: at most 1 KiB per user.
 *
 * Each reading comes from a fresh child process (memory-worker.ts, `node --expose-gc`) that measures
 * the heap used after full garbage collections before and after enrolling and confirming the users
 * the way the engine does: a sealed 20-byte TOTP secret and 10 recovery code hashes per user. Two
 * more variants show what the recovery codes cost and whether flat strings would cost less.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type HarnessOptions, markdownTable } from './harness.js';

interface Reading {
  users: number;
  variant: string;
  before: number;
  after: number;
  enrollMs: number;
  codesOfLastUser: number;
}

const VARIANTS: Record<string, string> = {
  engine: 'as enroll + confirm store it (10 recovery code hashes)',
  'no-codes': 'without recovery codes',
  'flat-codes': '10 hashes, flattened before they reach the store',
};

const TARGET_BYTES = 1024;

function measure(users: number, variant: string): Promise<Reading> {
  const child = fork(
    fileURLToPath(new URL('./memory-worker.ts', import.meta.url)),
    [String(users), variant],
    {
      execArgv: ['--expose-gc', '--conditions=@twofold/source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise((resolve, reject) => {
    let reading: Reading | undefined;
    child.once('message', (message: Reading) => {
      reading = message;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (reading && code === 0) resolve(reading);
      else reject(new Error(`memory worker (${variant}) exited with ${code}`));
    });
  });
}

export async function runMemoryBench(options: HarnessOptions): Promise<boolean> {
  const quick = options.rounds < 5;
  const users = quick ? 10_000 : 100_000;
  const repeats = quick ? 1 : 2;
  const rows: string[][] = [];
  let engineBytes = Number.POSITIVE_INFINITY;
  for (const [variant, description] of Object.entries(VARIANTS)) {
    const perUser: number[] = [];
    let enrollMs = 0;
    for (let i = 0; i < repeats; i++) {
      const reading = await measure(users, variant);
      if (variant !== 'no-codes' && reading.codesOfLastUser !== 10) {
        throw new Error(`memory worker (${variant}) stored ${reading.codesOfLastUser} codes, not 10`);
      }
      perUser.push((reading.after - reading.before) / users);
      enrollMs = reading.enrollMs;
      console.error(`memory: ${variant} ${i + 1}/${repeats}: ${perUser.at(-1)!.toFixed(0)} bytes per user`);
    }
    const sorted = [...perUser].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    if (variant === 'engine') engineBytes = median;
    rows.push([
      description,
      median.toFixed(0),
      `${sorted[0]!.toFixed(0)}-${sorted.at(-1)!.toFixed(0)}`,
      (enrollMs / 1000).toFixed(1),
    ]);
  }
  console.log(
    `\nV8 heap used after full GC, after minus before enrolling ${users.toLocaleString('en-US')} users ` +
      `into one memoryStore, divided by the user count; median of ${repeats} fresh processes\n`,
  );
  console.log(markdownTable(['stored per user', 'bytes/user', 'range', 'enroll s (last)'], rows));
  const met = engineBytes <= TARGET_BYTES;
  console.log(
    `\ntarget: <= ${TARGET_BYTES} bytes per user: ${met ? 'met' : 'MISSED'} (${engineBytes.toFixed(0)})`,
  );
  return met;
}
