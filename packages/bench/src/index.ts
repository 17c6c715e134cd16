/**
 * `pnpm bench [suite...] [--quick]`: runs the selected benchmark suites (all but the opt-in ones when
 * none is named) in this process and prints their tables. `--quick` shortens every measurement, for checking that the suites
 * run, not for numbers. Progress goes to stderr, the report to stdout.
 *
 * A suite is one file exporting a runner; add new ones (e.g. the HTTP benchmark) to SUITES.
 */
import os from 'node:os';
import { runAuthCheckBench } from './auth-check.js';
import type { HarnessOptions } from './harness.js';
import { runHttpBench } from './http.js';
import { runHttpPeersBench } from './http-peers.js';
import { runHttpStoresBench } from './http-stores.js';
import { runImportBench } from './import.js';
import { runMemoryBench } from './memory.js';
import { runOtpBench } from './otp.js';
import { runRecoveryTimingBench } from './recovery-timing.js';
import { runScaleBench } from './scale.js';
import { runTokensBench } from './tokens.js';

type Suite = (options: HarnessOptions) => Promise<boolean>;

const SUITES: Record<string, Suite> = {
  otp: runOtpBench,
  http: runHttpBench,
  'http-stores': runHttpStoresBench,
  'http-peers': runHttpPeersBench,
  scale: runScaleBench,
  memory: runMemoryBench,
  'recovery-timing': runRecoveryTimingBench,
  'auth-check': runAuthCheckBench,
  tokens: runTokensBench,
  import: runImportBench,
};

/**
 * Suites that need Redis and PostgreSQL, load large data sets or measure one issue (recovery-timing,
 * tokens, import): they run only when named, never as part of a bare `pnpm bench`.
 */
const OPT_IN = new Set([
  'http-stores',
  'http-peers',
  'scale',
  'recovery-timing',
  'auth-check',
  'tokens',
  'import',
]);

const FULL: HarnessOptions = { warmupMs: 150, rounds: 7, sampleMs: 100 };
const QUICK: HarnessOptions = { warmupMs: 30, rounds: 3, sampleMs: 15 };

function cpuModel(): string {
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const names = argv.filter((arg) => !arg.startsWith('--'));
  const unknown = names.filter((name) => !Object.hasOwn(SUITES, name));
  if (unknown.length > 0) {
    console.error(`Unknown suite(s): ${unknown.join(', ')}. Available: ${Object.keys(SUITES).join(', ')}`);
    return 2;
  }
  const selected = names.length > 0 ? names : Object.keys(SUITES).filter((name) => !OPT_IN.has(name));
  const options = quick ? QUICK : FULL;

  console.log(`# twofold benchmarks${quick ? ' (quick mode: not for publishing)' : ''}\n`);
  console.log(`- date: ${new Date().toISOString()}`);
  console.log(
    `- node ${process.version}, ${os.cpus().length} cores, ${cpuModel()}, ${os.platform()} ${os.arch()}`,
  );
  console.log(
    `- method: one process, ${options.rounds} interleaved rounds of ~${options.sampleMs} ms per contender ` +
      `after ${options.warmupMs} ms warm-up; median ops/s`,
  );

  let allMet = true;
  for (const name of selected) {
    console.log(`\n## ${name}`);
    const started = performance.now();
    const met = await SUITES[name]!(options);
    allMet &&= met;
    console.error(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  // A missed target is reported, not an error: the numbers are still the numbers.
  if (!allMet) console.log('\nSome targets were missed (see above).');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
