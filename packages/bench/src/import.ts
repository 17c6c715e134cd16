/**
 * Import benchmark: the wall-clock rate of `twofold import` (the real CLI, in a child process)
 * bringing N users (default 100,000; `--quick` 2,000; `--users=<n>` another number) from a list of
 * otpauth:// URIs into PostgreSQL and into Redis, at --concurrency 8 (the default) and 32 (or the
 * one `--concurrency=<n>` names), then the same import run again (every row `unchanged`: the rate
 * of a resumed or repeated run).
 * `--backend=postgres` or `--backend=redis` measures one store only.
 *
 * The list is written once per run to a temporary file (mode 0600, deleted at the end): one line per
 * user, `<user id> otpauth://totp/Acme:<user id>?secret=<base32 of 20 random bytes>&issuer=Acme`. The
 * keyring is a fresh `twofold keygen` key, handed to the CLI in TWOFOLD_KEYS; neither it nor any
 * secret is printed. Each measurement gets a store of its own: PostgreSQL tables under a fresh prefix
 * (`bench_import_<random>_`, created by `twofold migrate`), Redis keys under a fresh prefix
 * (`twofold-bench:import-<random>:`), dropped or deleted afterwards.
 *
 * Checked, or the suite fails: the CLI exits 0 and its summary says N imported (N turning 2FA on),
 * then N already there; the store holds N active authenticators; and for ~20 random users the
 * engine, opened on the store with the same keyring, accepts the current code computed from the
 * generated secret.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTwoFactor, parseKeyring } from '@twofold/core';
import { encodeSecret, Totp } from '@twofold/otp';
import { redisStore } from '@twofold/store-redis';
import { sqlStore } from '@twofold/store-sql';
import type { HarnessOptions } from './harness.js';
import { markdownTable } from './harness.js';
import { deleteRedisPrefix, dropSqlPrefix, POSTGRES, postgresPool, REDIS, redisClient } from './stores.js';

type Backend = 'postgres' | 'redis';
const BACKENDS: readonly Backend[] = ['postgres', 'redis'];
const CONCURRENCIES = [8, 32] as const;
const SPOT_CHECKS = 20;
const CLI = fileURLToPath(new URL('../../cli/bin/twofold.js', import.meta.url));
const POSTGRES_URL = `postgres://${POSTGRES.user}@${POSTGRES.host}:${POSTGRES.port}/${POSTGRES.database}`;
const REDIS_URL = `redis://${REDIS.host}:${REDIS.port}`;
const BACKEND_NAME: Record<Backend, string> = { postgres: 'PostgreSQL', redis: 'Redis' };

function userId(n: number): string {
  return `import-user-${n}`;
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The machine's 1-minute load average when the run ended (other processes share the cores). */
  load: number;
}

/** Runs the CLI with `args`, the keyring in its environment; resolves when it exits, with its wall time. */
function runCli(args: readonly string[], keys: string | undefined): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, TWOFOLD_CLI_SOURCE: '1' };
  delete env.TWOFOLD_DATABASE_URL;
  if (keys === undefined) delete env.TWOFOLD_KEYS;
  else env.TWOFOLD_KEYS = keys;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [CLI, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      reject(error);
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, load: os.loadavg()[0]! });
    });
  });
}

/** The CLI's output for a failure message: its stderr's last lines (the CLI never prints a secret there). */
function tail(result: CliResult): string {
  const lines = `${result.stdout}${result.stderr}`.trim().split('\n');
  return lines.slice(-8).join('\n');
}

/** A fresh keyring entry (`tag:key`) from `twofold keygen`; kept in memory, never printed. */
async function keygen(): Promise<string> {
  const result = await runCli(['keygen'], undefined);
  const entry = result.stdout.trim();
  if (result.code !== 0 || !/^[\w-]{1,32}:[\w-]+$/.test(entry)) {
    throw new Error(`import: twofold keygen failed (exit ${result.code})`);
  }
  return entry;
}

interface Summary {
  imported: number;
  enabled: number;
  added: number;
  unchanged: number;
  skipped: number;
  failed: number;
}

/** The counts of the summary line `import: N imported (E turning 2FA on, A next to existing ones), U already there, S skipped, F failed`. */
function parseSummary(stdout: string): Summary | null {
  const match =
    /import: (\d+) imported \((\d+) turning 2FA on, (\d+) next to existing ones\), (\d+) already there, (\d+) skipped, (\d+) failed/.exec(
      stdout,
    );
  if (match === null) return null;
  const [imported, enabled, added, unchanged, skipped, failed] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { imported, enabled, added, unchanged, skipped, failed };
}

/** The otpauth list of `users` users with fresh random secrets, and the secrets (for the spot checks). */
function writeList(path: string, users: number): Uint8Array[] {
  const secrets: Uint8Array[] = [];
  const lines: string[] = [];
  for (let n = 0; n < users; n++) {
    const secret = new Uint8Array(randomBytes(20));
    secrets.push(secret);
    const user = userId(n);
    lines.push(`${user} otpauth://totp/Acme:${user}?secret=${encodeSecret(secret)}&issuer=Acme`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return secrets;
}

interface Target {
  backend: Backend;
  prefix: string;
  url: string;
  /** Creates what the store needs (PostgreSQL: `twofold migrate`). */
  prepare(): Promise<void>;
  /** How many active authenticators the store holds under the prefix. */
  countActive(): Promise<number>;
  /** Spot-checks `users` users: the engine on this store accepts each one's current code. */
  verifyUsers(users: readonly number[], secrets: readonly Uint8Array[], keys: string): Promise<string[]>;
  /** Deletes the prefix's tables or keys. */
  cleanup(): Promise<void>;
}

function runTag(): string {
  return randomBytes(4).toString('hex');
}

/** Verifies each user's current code through the engine; returns the problems found (no secrets). */
async function verifyThrough(
  store: Parameters<typeof createTwoFactor>[0]['store'],
  keys: string,
  users: readonly number[],
  secrets: readonly Uint8Array[],
): Promise<string[]> {
  const engine = createTwoFactor({ store, keyring: parseKeyring(keys), issuer: 'Acme' });
  const problems: string[] = [];
  for (const n of users) {
    const user = userId(n);
    const { token } = new Totp({ secret: secrets[n]! }).generate(Date.now());
    try {
      const verified = await engine.verify(user, token);
      if (verified.userId !== user || verified.method !== 'totp') {
        problems.push(`${user}: verify answered ${verified.method} for ${verified.userId}`);
      }
    } catch (error) {
      problems.push(
        `${user}: verify refused the current code (${(error as { code?: string }).code ?? error})`,
      );
    }
  }
  return problems;
}

function postgresTarget(): Target {
  const prefix = `bench_import_${runTag()}_`;
  return {
    backend: 'postgres',
    prefix,
    url: POSTGRES_URL,
    async prepare() {
      const result = await runCli(['migrate', '--url', POSTGRES_URL, '--prefix', prefix], undefined);
      if (result.code !== 0) throw new Error(`import: twofold migrate failed:\n${tail(result)}`);
    },
    async countActive() {
      const pool = postgresPool(1);
      try {
        const { rows } = await pool.query<{ n: string }>(
          `select count(*) as n from ${prefix}authenticators where status = 'active'`,
        );
        return Number(rows[0]!.n);
      } finally {
        await pool.end();
      }
    },
    async verifyUsers(users, secrets, keys) {
      const pool = postgresPool(2);
      try {
        const store = await sqlStore({ db: pool, prefix, sweepIntervalMs: false });
        return await verifyThrough(store, keys, users, secrets);
      } finally {
        await pool.end();
      }
    },
    async cleanup() {
      const pool = postgresPool(1);
      try {
        await dropSqlPrefix(pool, prefix);
      } finally {
        await pool.end();
      }
    },
  };
}

function redisTarget(): Target {
  const prefix = `twofold-bench:import-${runTag()}:`;
  return {
    backend: 'redis',
    prefix,
    url: REDIS_URL,
    async prepare() {},
    async countActive() {
      // Every user's authenticator index (`<prefix>{<user tag>}:ai`), each holding the imported id.
      const redis = redisClient();
      try {
        const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*:ai`;
        let cursor = '0';
        let count = 0;
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
          cursor = next;
          if (keys.length > 0) {
            const pipeline = redis.pipeline();
            for (const key of keys) pipeline.scard(key);
            for (const [error, size] of (await pipeline.exec()) ?? []) {
              if (error) throw error;
              count += Number(size);
            }
          }
        } while (cursor !== '0');
        return count;
      } finally {
        await redis.quit();
      }
    },
    async verifyUsers(users, secrets, keys) {
      const redis = redisClient();
      try {
        return await verifyThrough(redisStore({ client: redis, prefix }), keys, users, secrets);
      } finally {
        await redis.quit();
      }
    },
    async cleanup() {
      const redis = redisClient();
      try {
        await deleteRedisPrefix(redis, prefix);
      } finally {
        await redis.quit();
      }
    },
  };
}

/** `count` distinct random user numbers below `users`. */
function pick(users: number, count: number): number[] {
  const picked = new Set<number>();
  while (picked.size < Math.min(count, users)) picked.add(randomInt(users));
  return [...picked];
}

interface Measured {
  backend: Backend;
  concurrency: number;
  first: CliResult;
  rerun: CliResult;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function rate(rows: number, ms: number): string {
  return Math.round(rows / (ms / 1000)).toLocaleString('en-US');
}

/** `--backend=postgres` or `--backend=redis` measures only that store. */
function backendsOption(argv: readonly string[]): readonly Backend[] {
  const given = argv.find((arg) => arg.startsWith('--backend='));
  if (given === undefined) return BACKENDS;
  const backend = given.slice('--backend='.length);
  if (backend !== 'postgres' && backend !== 'redis') {
    throw new Error('import: --backend= takes postgres or redis');
  }
  return [backend];
}

/** `--concurrency=<n>` measures that one concurrency instead of 8 and 32. */
function concurrenciesOption(argv: readonly string[]): readonly number[] {
  const given = argv.find((arg) => arg.startsWith('--concurrency='));
  if (given === undefined) return CONCURRENCIES;
  const concurrency = Number(given.slice('--concurrency='.length));
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new Error('import: --concurrency=<n> takes a whole number from 1 to 64');
  }
  return [concurrency];
}

function usersOption(argv: readonly string[], quick: boolean): number {
  const given = argv.find((arg) => arg.startsWith('--users='));
  if (given === undefined) return quick ? 2000 : 100_000;
  const users = Number(given.slice('--users='.length));
  if (!Number.isInteger(users) || users < 1) throw new Error('import: --users=<n> takes a whole number');
  return users;
}

/** One import and its re-run into a fresh store; checks both summaries, the store and a few users. */
async function measure(
  target: Target,
  concurrency: number,
  file: string,
  users: number,
  secrets: readonly Uint8Array[],
  keys: string,
): Promise<{ measured?: Measured; problems: string[] }> {
  const label = `${BACKEND_NAME[target.backend]} --concurrency ${concurrency}`;
  const args = [
    'import',
    '--from',
    'otpauth',
    file,
    '--url',
    target.url,
    '--prefix',
    target.prefix,
    '--quiet',
    '--concurrency',
    String(concurrency),
  ];
  const problems: string[] = [];
  await target.prepare();
  console.error(`import: ${label}: importing ${users} users...`);
  const first = await runCli(args, keys);
  console.error(`import: ${label}: first import ${seconds(first.ms)} s`);
  const firstSummary = parseSummary(first.stdout);
  if (
    first.code !== 0 ||
    firstSummary?.imported !== users ||
    firstSummary.enabled !== users ||
    firstSummary.unchanged !== 0
  ) {
    problems.push(
      `${label}: first import: exit ${first.code ?? first.signal}, expected ${users} imported:\n${tail(first)}`,
    );
    return { problems };
  }
  const rerun = await runCli(args, keys);
  console.error(`import: ${label}: re-run ${seconds(rerun.ms)} s`);
  const rerunSummary = parseSummary(rerun.stdout);
  if (rerun.code !== 0 || rerunSummary?.unchanged !== users || rerunSummary.imported !== 0) {
    problems.push(
      `${label}: re-run: exit ${rerun.code ?? rerun.signal}, expected ${users} already there:\n${tail(rerun)}`,
    );
  }
  const active = await target.countActive();
  if (active !== users)
    problems.push(`${label}: the store holds ${active} active authenticators, not ${users}`);
  problems.push(
    ...(await target.verifyUsers(pick(users, SPOT_CHECKS), secrets, keys)).map((p) => `${label}: ${p}`),
  );
  return { measured: { backend: target.backend, concurrency, first, rerun }, problems };
}

export async function runImportBench(options: HarnessOptions): Promise<boolean> {
  const quick = options.rounds < 5;
  const users = usersOption(process.argv.slice(2), quick);
  const backends = backendsOption(process.argv.slice(2));
  const concurrencies = concurrenciesOption(process.argv.slice(2));
  const dir = mkdtempSync(join(os.tmpdir(), 'twofold-bench-import-'));
  const file = join(dir, 'users.otpauth');
  const results: Measured[] = [];
  const problems: string[] = [];
  try {
    const generated = performance.now();
    const secrets = writeList(file, users);
    console.error(`import: wrote ${users} otpauth lines in ${seconds(performance.now() - generated)} s`);
    const keys = await keygen();
    // What every CLI run pays before its first row: node, tsx compiling the sources, loading the command.
    const startup = await runCli(['import', '--help'], undefined);
    for (const backend of backends) {
      for (const concurrency of concurrencies) {
        const target = backend === 'postgres' ? postgresTarget() : redisTarget();
        try {
          const outcome = await measure(target, concurrency, file, users, secrets, keys);
          problems.push(...outcome.problems);
          if (outcome.measured) results.push(outcome.measured);
        } catch (error) {
          problems.push(`${BACKEND_NAME[backend]} --concurrency ${concurrency}: ${(error as Error).message}`);
        } finally {
          await target.cleanup();
        }
      }
    }

    console.log(
      `\n\`twofold import --from otpauth\` of ${users.toLocaleString('en-US')} users (one TOTP authenticator each, ` +
        'no recovery codes), the real CLI in a child process (TWOFOLD_CLI_SOURCE=1: tsx runs the sources), ' +
        'wall clock from spawn to exit; fresh tables or keys for each backend and concurrency; then the same ' +
        'import again (every row unchanged). load: the 1-minute load average at the end of the run\n',
    );
    const rows = results.flatMap((result) => [
      [
        BACKEND_NAME[result.backend],
        String(result.concurrency),
        'first import',
        users.toLocaleString('en-US'),
        seconds(result.first.ms),
        rate(users, result.first.ms),
        result.first.load.toFixed(1),
      ],
      [
        BACKEND_NAME[result.backend],
        String(result.concurrency),
        're-run (unchanged)',
        users.toLocaleString('en-US'),
        seconds(result.rerun.ms),
        rate(users, result.rerun.ms),
        result.rerun.load.toFixed(1),
      ],
    ]);
    console.log(markdownTable(['backend', 'concurrency', 'run', 'rows', 'seconds', 'rows/s', 'load'], rows));
    console.log(
      `\nCLI start-up alone (\`twofold import --help\`, included in every figure): ${seconds(startup.ms)} s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (problems.length > 0) {
    console.log(`\nFAILED checks:\n${problems.map((problem) => `- ${problem}`).join('\n')}`);
    return false;
  }
  console.log(
    `\nchecked: every run exited 0; summaries ${users} imported, then ${users} already there; ` +
      `${users} active authenticators in each store; ${SPOT_CHECKS} random users per store verified their current code through the engine`,
  );
  return true;
}
