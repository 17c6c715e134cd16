import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '@twofold/core';
import { BETTER_SQLITE3_MISSING, isListening, missingSkip, runCommand } from '@twofold/test-support';
import t from 'tap';
import {
  extractSamples,
  findReadmes,
  matchesPattern,
  type Sample,
  sampleModule,
  shellScript,
} from './samples.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const preludes = join(here, 'preludes');
const runtime = join(here, 'runtime.ts');
const runGroup = join(here, 'run-group.ts');
const tsx = import.meta.resolve('tsx');
const CONCURRENCY = 3;
const TIMEOUT_MS = 120_000;

const SERVERS: Record<string, { host: string; port: number; what: string }> = {
  redis: { host: '127.0.0.1', port: 6379, what: 'Redis not reachable at 127.0.0.1:6379' },
  postgres: {
    host: '127.0.0.1',
    port: 5432,
    what: 'PostgreSQL not reachable at 127.0.0.1:5432 (database test)',
  },
  mysql: { host: '127.0.0.1', port: 3306, what: 'MariaDB not reachable at 127.0.0.1:3306 (database test)' },
};

/** Drivers a sample may need (`needs=sqlite`): present when the module loads and opens a database. */
const DRIVERS: Record<string, { probe: () => Promise<boolean>; what: string }> = {
  sqlite: {
    probe: async () => {
      try {
        const { default: Database } = await import('better-sqlite3');
        new Database(':memory:').close();
        return true;
      } catch {
        return false;
      }
    },
    what: BETTER_SQLITE3_MISSING,
  },
};

const samples: Sample[] = findReadmes(root).flatMap((file) =>
  extractSamples(file, readFileSync(join(root, file), 'utf8')),
);

const run = `${process.pid}-${Date.now().toString(36)}`;
const scratch = mkdtempSync(join(tmpdir(), 'twofold-readme-samples-'));
const moduleDirs = new Set<string>();
t.teardown(() => {
  rmSync(scratch, { recursive: true, force: true });
  for (const dir of moduleDirs) rmSync(dir, { recursive: true, force: true });
});

const env = {
  ...process.env,
  TWOFOLD_KEYS: generateKey(),
  REDIS_URL: 'redis://127.0.0.1:6379',
  TWOFOLD_DOCS_ROOT: root,
  NO_COLOR: '1',
  FORCE_COLOR: '0',
};
delete (env as Record<string, string | undefined>).NODE_OPTIONS;
delete (env as Record<string, string | undefined>).TAP;

interface Outcome {
  ok: boolean;
  skip?: string;
  message?: string;
  claims?: number;
  ms?: number;
}

function exec(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return runCommand(command, args, { ...options, timeoutMs: TIMEOUT_MS });
}

const tail = (text: string) => text.trim().split('\n').slice(-25).join('\n');

/** A shell sample: its own bash process, from the repository root. */
async function runShell(sample: Sample, index: number): Promise<Outcome> {
  const { marker } = sample;
  if (!marker.run && !marker.prelude) {
    return {
      ok: false,
      message:
        'a shell sample runs only when marked: <!-- sample: run --> (or prelude=NAME), or skip reason="..."',
    };
  }
  const preludePath = marker.prelude ? join(preludes, `${marker.prelude}.sh`) : undefined;
  if (preludePath && !existsSync(preludePath)) return { ok: false, message: `no prelude ${preludePath}` };
  const cwd = join(scratch, `sh-${index}`);
  mkdirSync(cwd);
  const { script, expected } = shellScript(sample, preludePath);
  const result = await exec('bash', ['-c', script], { cwd: root, env: { ...env, TWOFOLD_DOCS_TMP: cwd } });
  if (result.code !== 0) return { ok: false, message: `exit code ${result.code}\n${tail(result.stderr)}` };
  if (expected) {
    const actual = result.stdout.trimEnd().split('\n');
    const same =
      actual.length === expected.length && expected.every((line, i) => matchesPattern(actual[i]!, line));
    if (!same)
      return { ok: false, message: `standard output differs from the sample's # lines:\n${result.stdout}` };
  }
  return { ok: true };
}

/**
 * The code and JSON samples of one README: each written as a module next to the README, then all
 * run one after the other in one process (run-group.ts), so node, tsx and the packages load once
 * per README.
 */
async function runCode(indexes: number[], outcomes: Outcome[]): Promise<void> {
  const first = samples[indexes[0]!]!;
  const readmeDir = join(root, dirname(first.file));
  const moduleDir = join(readmeDir, '.readme-samples');
  moduleDirs.add(moduleDir);
  mkdirSync(join(moduleDir, run), { recursive: true });
  const files = new Map<string, { index: number; claims: number }>();
  for (const index of indexes) {
    const sample = samples[index]!;
    const preludePath = sample.marker.prelude ? join(preludes, `${sample.marker.prelude}.ts`) : undefined;
    if (preludePath && !existsSync(preludePath)) {
      outcomes[index] = { ok: false, message: `no prelude ${preludePath}` };
      continue;
    }
    const { source, claims } = sampleModule({
      sample,
      runtime,
      prelude: preludePath ? { path: preludePath, source: readFileSync(preludePath, 'utf8') } : undefined,
      readmeDir,
      moduleDir: join(moduleDir, run),
    });
    const file = join(moduleDir, run, `${sample.file.replace(/[^\w]+/g, '-')}-${sample.line}.ts`);
    writeFileSync(file, source);
    files.set(file, { index, claims });
  }
  if (files.size === 0) return;
  const cwd = join(scratch, `code-${indexes[0]}`);
  mkdirSync(cwd);
  const resultsFile = join(cwd, '.results.json');
  const result = await exec(
    process.execPath,
    [`--import=${tsx}`, '--conditions=@twofold/source', runGroup, resultsFile, ...files.keys()],
    { cwd, env },
  );
  const results: Array<{ module: string; ok: boolean; error?: string; ms: number }> = existsSync(resultsFile)
    ? JSON.parse(readFileSync(resultsFile, 'utf8'))
    : [];
  for (const [file, { index, claims }] of files) {
    const found = results.find((entry) => entry.module === file);
    outcomes[index] = found
      ? { ok: found.ok, message: found.error && tail(found.error), claims, ms: found.ms }
      : {
          ok: false,
          message: `the group ended before this sample (exit code ${result.code})\n${tail(result.stderr)}`,
        };
  }
}

const reachable: Record<string, boolean> = {};
for (const name of new Set(
  samples.flatMap((sample) => (sample.marker.skip === undefined ? sample.marker.needs : [])),
)) {
  const server = SERVERS[name];
  const driver = DRIVERS[name];
  reachable[name] = server
    ? await isListening(server.host, server.port)
    : driver
      ? await driver.probe()
      : false;
}

// Decide what runs; the jobs are one per README's code samples and one per shell sample.
const outcomes: Outcome[] = new Array(samples.length);
const jobs: Array<() => Promise<void>> = [];
const codeByReadme = new Map<string, number[]>();
samples.forEach((sample, index) => {
  const { marker } = sample;
  const absent = marker.skip === undefined ? marker.needs.find((name) => !reachable[name]) : undefined;
  if (marker.error) outcomes[index] = { ok: false, message: marker.error };
  else if (marker.skip !== undefined) outcomes[index] = { ok: true, skip: marker.skip };
  else if (absent) {
    const what = SERVERS[absent]?.what ?? DRIVERS[absent]?.what;
    outcomes[index] = what
      ? { ok: true, skip: missingSkip(t, what) }
      : { ok: false, message: `unknown server or driver "${absent}" in needs=` };
  } else if (sample.language === 'sh') {
    jobs.push(async () => {
      const begin = Date.now();
      outcomes[index] = { ...(await runShell(sample, index)), ms: Date.now() - begin };
    });
  } else codeByReadme.set(sample.file, [...(codeByReadme.get(sample.file) ?? []), index]);
});
for (const indexes of codeByReadme.values()) jobs.unshift(() => runCode(indexes, outcomes));

const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < jobs.length) await jobs[next++]!();
  }),
);
t.comment(`${samples.length} samples in ${((Date.now() - started) / 1000).toFixed(1)} s`);

t.ok(samples.length > 0, 'the READMEs have code samples');
samples.forEach((sample, index) => {
  const outcome = outcomes[index]!;
  const name = `${sample.file}:${sample.line} (${sample.language})`;
  t.test(name, { skip: outcome.skip ?? false }, async (t) => {
    t.ok(
      outcome.ok,
      outcome.ok
        ? `ran in ${outcome.ms} ms${outcome.claims ? `, ${outcome.claims} claim(s) checked` : ''}`
        : (outcome.message ?? ''),
    );
  });
});
