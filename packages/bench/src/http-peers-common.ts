/**
 * Shared by the servers of the head-to-head benchmark (http-peers.ts, issue 18): the kits, the
 * databases and the IPC shapes. The server (http-peers-server.ts) runs one process per kit and
 * database: `http-peers-server.ts <kit> <db>` with kit `twofold`, `better-auth` or `manual` (the
 * route a team would write by hand) and db `sqlite` (a temp file of its own, deleted on stop),
 * `postgres` (127.0.0.1:5432 db test, a schema or table prefix of its own, dropped on stop) or
 * `memory`. Every server also has `POST /bare`, a bare JSON route, as the reference.
 *
 * IPC, one question at a time: `{ prepare: n }` enrolls n fresh users through the kit's own API and
 * signs each in (the first step of the login, untimed), answering `{ users }`: per user the base32
 * secret (the load generator computes the code when it sends the request) and what the second step
 * needs besides the code (challenge token or cookie). `{ replay: true }` signs one fresh user in
 * twice with the same code and answers both statuses. `{ cpu: true }` answers `process.cpuUsage()`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as OTPAuth from 'otpauth';
import pg from 'pg';
import { POSTGRES } from './stores.js';

export const PEER_KITS = ['twofold', 'better-auth', 'manual'] as const;
export type PeerKit = (typeof PEER_KITS)[number];
export const PEER_DBS = ['sqlite', 'postgres', 'memory'] as const;
export type PeerDb = (typeof PEER_DBS)[number];

/** What the load generator needs to send the second step of one user's login. */
export interface PeerUser {
  /** Base32 TOTP secret, as the kit's enrollment gave it. */
  secret: string;
  /** The JSON body of the second step without the code (e.g. the challenge token). */
  body: Record<string, string>;
  /** The `cookie` header of the second step, if the kit keeps the challenge in a cookie. */
  cookie?: string;
}

/** A replay attempt: the same code on two fresh sign-ins of one user, 30 s step unchanged. */
export interface ReplayResult {
  firstStatus: number;
  secondStatus: number;
  /** Whether the second answer carried a session (token or session cookie). */
  secondSession: boolean;
  secondBody: string;
}

export interface PeerKitServer {
  prepare(count: number): Promise<PeerUser[]>;
  replay(): Promise<ReplayResult>;
  close(): Promise<void>;
}

/** The database of one server: a better-sqlite3 file, a pg Pool on a schema of its own, or none. */
export type PeerDatabase =
  | { kind: 'sqlite'; db: Database.Database; path: string }
  | { kind: 'postgres'; pool: pg.Pool; schema: string }
  | { kind: 'memory' };

/** A short random name part for this run's schema, table prefix or file. */
export const runTag = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

/**
 * Opens the database of a server. SQLite: a fresh file in a temp directory, WAL and
 * synchronous=NORMAL (the same settings for every kit). PostgreSQL: a pool of 10 whose connections
 * use a fresh schema (search_path), so each kit's tables are its own and dropped whole.
 */
export async function openPeerDatabase(kind: PeerDb, name: string): Promise<PeerDatabase> {
  if (kind === 'memory') return { kind };
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), `twofold-peers-${name}-`));
    const path = join(dir, 'bench.sqlite');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return { kind, db, path };
  }
  const schema = `peers_${name.replace(/[^a-z]/g, '')}_${runTag}`;
  const admin = new pg.Pool({ ...POSTGRES, max: 1 });
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const pool = new pg.Pool({
    ...POSTGRES,
    max: 10,
    connectionTimeoutMillis: 5000,
    options: `-c search_path=${schema}`,
  });
  return { kind, pool, schema };
}

export async function closePeerDatabase(database: PeerDatabase): Promise<void> {
  if (database.kind === 'sqlite') {
    database.db.close();
    rmSync(join(database.path, '..'), { recursive: true, force: true });
  } else if (database.kind === 'postgres') {
    await database.pool.query(`drop schema if exists ${database.schema} cascade`);
    await database.pool.end();
  }
}

/** The code of `secret` (base32) at `now`: SHA-1, 6 digits, 30 s, as every kit here uses. */
export function totpCode(secret: string, now = Date.now()): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate({ timestamp: now });
}

/** The code of the 30 s step before `now`: enrollment is confirmed with it, leaving the current one unused. */
export function previousCode(secret: string, now = Date.now()): string {
  return totpCode(secret, now - 30_000);
}

/**
 * Confirms an enrollment with the code of the previous step (`attempt` resolves whether it was
 * accepted). When a step boundary passed between computing the code and checking it, that code is two
 * steps old and refused: the attempt is made once more with a fresh one.
 *
 * When the previous step's code is also the current step's (one secret in a million), a login in this
 * step would send the code just confirmed. twofold and otpauth's `validate` (the hand-written route)
 * both try the current step first, so the confirmation spends the current step and that login is
 * refused as a replay, rightly. Such a confirmation waits for the next step, whose previous code is
 * then a different step's.
 */
export async function confirmWithPreviousCode(
  secret: string,
  attempt: (code: string) => Promise<boolean>,
): Promise<void> {
  for (let tries = 0; tries < 2; tries++) {
    while (previousCode(secret) === totpCode(secret)) {
      await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 10));
    }
    const step = Math.floor(Date.now() / 30_000);
    if (await attempt(previousCode(secret))) return;
    if (Math.floor(Date.now() / 30_000) === step) break;
  }
  throw new Error('enrollment: the code of the previous step was refused');
}

/** Runs `one` `count` times, `parallel` at a time, in order. */
export async function inBatches<T>(
  count: number,
  parallel: number,
  one: (n: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  while (out.length < count) {
    const start = out.length;
    const batch = Math.min(parallel, count - start);
    out.push(...(await Promise.all(Array.from({ length: batch }, (_, k) => one(start + k)))));
  }
  return out;
}

/** Fails loudly on an answer preparation did not expect (a benchmark of failures is worthless). */
export function expectStatus(
  what: string,
  response: { statusCode: number; body: string },
  status = 200,
): void {
  if (response.statusCode !== status) {
    throw new Error(`${what}: HTTP ${response.statusCode} ${response.body.slice(0, 300)}`);
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux x86-64). */
const TICKS_PER_SECOND = 100;

/** CPU used so far by each PostgreSQL process, in clock ticks by pid. */
export type PostgresCpu = ReadonlyMap<string, number>;

/**
 * CPU (user + system) used so far by every PostgreSQL process of this machine, from /proc: its
 * backends (one per connection) and its helpers (WAL writer, checkpointer, autovacuum), which work
 * for the writes of a run too. Undefined where that cannot be read (no /proc, or no process named
 * postgres: a database on another machine). See {@link postgresCpuSince}.
 */
export function readPostgresCpu(): PostgresCpu | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const ticks = new Map<string, number>();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue;
    // After the command: the state is field 3 of the line, utime field 14, stime field 15.
    const fields = stat.slice(close + 2).split(' ');
    ticks.set(pid, Number(fields[11]) + Number(fields[12]));
  }
  return ticks.size > 0 ? ticks : undefined;
}

/**
 * The CPU in microseconds PostgreSQL's processes used since `before` (a {@link readPostgresCpu}):
 * per process alive now, what it used since then (all of it for a process started since). A process
 * that ended meanwhile is missed (an autovacuum worker, say). A tick is 10 ms: meaningful over
 * thousands of requests, not over one. Undefined when either reading is.
 */
export function postgresCpuSince(before: PostgresCpu | undefined): number | undefined {
  const now = readPostgresCpu();
  if (before === undefined || now === undefined) return undefined;
  let ticks = 0;
  // A pid reused by a new process since would count negative: at least 0 each.
  for (const [pid, used] of now) ticks += Math.max(0, used - (before.get(pid) ?? 0));
  return (ticks * 1_000_000) / TICKS_PER_SECOND;
}
