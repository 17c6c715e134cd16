/**
 * Shared pieces of the reliability tests: real app processes (`server.ts`) started and always
 * stopped, their stdout/stderr captured, the check that no secret reached those logs, the skip rule
 * for missing servers, users and the enroll-and-confirm flow over HTTP.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { TwofoldMail } from '@twofold/core/http';
import type { ContractApp } from '@twofold/http-test-suite';
import { codeAt, KitClient, must, PERIOD_MS } from '@twofold/http-test-suite/helpers';
import { migrate, storeTableNames } from '@twofold/store-sql';
import { isListening, missing } from '@twofold/test-support';
import { Redis } from 'ioredis';
import pg from 'pg';
import type tap from 'tap';
import type { Test } from 'tap';
import type { AppConfig, AppMessage, AppUser } from './config.js';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

export const REDIS = { host: '127.0.0.1', port: 6379 } as const;
export const POSTGRES = { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' } as const;
export const LINK_URL = 'https://app.example.test/recover';

/**
 * A client of the shared Redis for one test, whose keys under `prefix` are deleted when the test
 * ends; undefined (the server reported missing) when Redis cannot be reached.
 */
export async function sharedRedis(t: Test, prefix: string): Promise<Redis | undefined> {
  if (!(await isListening(REDIS.host, REDIS.port))) {
    reportMissing(t, `Redis at ${REDIS.host}:${REDIS.port}`);
    return undefined;
  }
  const redis = new Redis(REDIS);
  t.teardown(async () => {
    let cursor = '0';
    do {
      const [after, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = after;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });
  return redis;
}

/**
 * The store tables of `prefix` migrated in PostgreSQL for one test, dropped when it ends; false (the
 * server reported missing) when PostgreSQL cannot be reached.
 */
export async function migratedPostgres(t: Test, prefix: string): Promise<boolean> {
  const pool = new pg.Pool({ ...POSTGRES, max: 2, connectionTimeoutMillis: 3000 });
  const reachable = await pool.query('select 1').then(
    () => true,
    () => false,
  );
  if (!reachable) {
    await pool.end();
    reportMissing(t, `PostgreSQL at ${POSTGRES.host}:${POSTGRES.port} (database ${POSTGRES.database})`);
    return false;
  }
  t.teardown(async () => {
    await pool.query(`drop table if exists ${storeTableNames(prefix).join(', ')}`);
    await pool.end();
  });
  await migrate(pool, { prefix });
  return true;
}

export { isListening };

/** A missing server: a failure under CI, a skip naming it elsewhere. */
export function reportMissing(t: Test | typeof tap, what: string): void {
  missing(t, `${what} not reachable`);
}

/**
 * Everything the app processes of one test wrote, and every secret the test handled. `check(t)`
 * asserts that no secret appears in any line (6-digit codes only as whole numbers, so a timestamp
 * that happens to contain the digits does not count).
 */
export class LogBook {
  readonly lines: string[] = [];
  private readonly secrets = new Set<string>();

  remember(...values: (string | undefined)[]): void {
    for (const value of values) if (value) this.secrets.add(value);
  }

  check(t: Test): void {
    const text = this.lines.join('\n');
    const leaked: string[] = [];
    for (const secret of this.secrets) {
      const found = /^\d+$/.test(secret)
        ? new RegExp(`(?<!\\d)${secret}(?!\\d)`).test(text)
        : text.includes(secret);
      // Only the kind of value goes into the message, never the value.
      if (found)
        leaked.push(
          /^\d+$/.test(secret) ? `a ${secret.length}-digit code` : `a ${secret.length}-character secret`,
        );
    }
    t.ok(this.lines.length > 0, `${this.lines.length} log lines captured`);
    t.strictSame(
      leaked,
      [],
      `none of ${this.secrets.size} codes, recovery codes, secrets, passwords and tokens in the logs`,
    );
  }
}

/** One running app process. */
export interface AppProcess {
  readonly pid: number;
  readonly name: string;
  readonly client: KitClient;
  readonly origin: string;
  readonly mails: TwofoldMail[];
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  /** SIGKILL now (a crash). */
  crash(): void;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `server.ts` with `config` and waits until it listens. Its stdout and stderr go line by
 * line into `logs`. `t.teardown` stops it even when the test fails.
 */
export async function startApp(t: Test, config: AppConfig, logs: LogBook, name: string): Promise<AppProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=@twofold/source', '--import', 'tsx', SERVER],
    {
      env: { ...process.env, TWOFOLD_RELIABILITY_APP: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const pending = { out: '', err: '' };
  const collect = (key: 'out' | 'err') => (chunk: Buffer) => {
    const lines = (pending[key] + chunk.toString('utf8')).split('\n');
    pending[key] = lines.pop() ?? '';
    logs.lines.push(...lines.filter((line) => line !== ''));
  };
  child.stdout?.on('data', collect('out'));
  child.stderr?.on('data', collect('err'));
  child.stdout?.on('end', () => pending.out && logs.lines.push(pending.out));
  child.stderr?.on('end', () => pending.err && logs.lines.push(pending.err));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.teardown(stop);

  const mails: TwofoldMail[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no port within 60 s`)), 60_000);
    child.on('message', (message: AppMessage) => {
      if (message.type === 'listening') {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.type === 'mail') {
        mails.push(message.mail);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${name} exited before listening (${code ?? signal}): ${logs.lines.slice(-5).join(' | ')}`),
      );
    });
  });
  const origin = `http://127.0.0.1:${port}`;
  const app: ContractApp = { origin, baseUrl: `${origin}/2fa`, logs: logs.lines, close: stop };
  return {
    pid: child.pid ?? -1,
    name,
    client: new KitClient(app),
    origin,
    mails,
    exited,
    crash: () => child.kill('SIGKILL'),
    stop,
  };
}

/** `count` users whose ids and passwords are unique to this run. */
export function makeUsers(count: number, label: string): AppUser[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: count }, (_, index) => ({
    username: `${label}${index}-${run}`,
    userId: `u-${label}${index}-${run}`,
    password: `pw ${randomBytes(12).toString('base64url')}`,
    email: `${label}${index}.${run}@example.test`,
  }));
}

/** What enroll-and-confirm leaves: the secret, the recovery codes and the last code step used. */
export interface Enabled {
  secret: string;
  recoveryCodes: string[];
  /** Time of the step the confirm code belongs to. */
  confirmedAt: number;
}

/**
 * Logs in without 2FA (an access token), enrolls, and confirms with the current code; from client
 * address `ip` (X-Forwarded-For, for apps that trust loopback as a proxy) when given.
 */
export async function enable(client: KitClient, user: AppUser, logs: LogBook, ip?: string): Promise<Enabled> {
  const headers = forwardedFor(ip);
  const login = must(
    await client.post('/login', { username: user.username, password: user.password }, { headers }),
    200,
    'login',
  );
  const accessToken = String(login.accessToken);
  const enrollment = must(
    await client.post('/totp/enroll', undefined, { token: accessToken, headers }),
    201,
    'enroll',
  );
  const secret = String(enrollment.secret);
  const now = Date.now();
  const code = codeAt(secret, now);
  const confirmed = must(
    await client.post('/totp/confirm', { code }, { token: accessToken, headers }),
    200,
    'confirm',
  );
  const recoveryCodes = confirmed.recoveryCodes as string[];
  logs.remember(
    user.password,
    accessToken,
    String(login.refreshToken),
    secret,
    String(enrollment.prettySecret),
    code,
  );
  logs.remember(...recoveryCodes);
  return { secret, recoveryCodes, confirmedAt: now };
}

/** A code of the step after the confirm's: fresh (never used) and inside the window of +-1 step. */
export function nextCode(enabled: Enabled): string {
  return codeAt(enabled.secret, enabled.confirmedAt + PERIOD_MS);
}

/**
 * A challenge token of `user` (POST /login with the password once 2FA is on), from client address
 * `ip` when given.
 */
export async function challenge(
  client: KitClient,
  user: AppUser,
  logs: LogBook,
  ip?: string,
): Promise<string> {
  const answer = must(
    await client.post(
      '/login',
      { username: user.username, password: user.password },
      { headers: forwardedFor(ip) },
    ),
    200,
    'login',
  );
  if (answer.twoFactorRequired !== true) throw new Error('login: expected a challenge');
  const token = String(answer.challengeToken);
  logs.remember(token);
  return token;
}

/** `{ status: count }` of a list of answers, e.g. `{ 200: 1, 400: 49 }`. */
export function tally(statuses: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** `X-Forwarded-For: ip` (none without `ip`): the client address an app that trusts loopback sees. */
export function forwardedFor(ip?: string): Record<string, string> {
  return ip === undefined ? {} : { 'x-forwarded-for': ip };
}

/**
 * A source of client addresses, each new: IPv4 from the benchmarking range 198.18.0.0/15 and IPv6
 * from the documentation prefix 2001:db8::/32 in a /64 of its own, alternately, so that no two
 * requests share a per-IP rate-limit key (IPv6 is keyed by its /64).
 */
export function addressSource(): () => string {
  let next = 0;
  return () => {
    const n = next++;
    const high = Math.floor(n / 65_536);
    const low = n % 65_536;
    return n % 2 === 0
      ? `198.${18 + (high % 2)}.${low >> 8}.${low & 255 || 1}`
      : `2001:db8:${high.toString(16)}:${low.toString(16)}::${(n % 250) + 1}`;
  };
}
