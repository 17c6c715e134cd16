/**
 * Django databases made by the real Django and django-otp (Debian's python3-django 3.2 and
 * python3-django-otp 1.1.3, run by django_otp_fixture.py beside this file), for the tests of the
 * django-otp import reader and of `twofold import`. Each call makes a fresh database: a temporary
 * SQLite file, or a `django_import_<random>` database on the local PostgreSQL or MariaDB server,
 * which `drop()` removes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2';
import pg from 'pg';

export type DjangoDialect = 'sqlite' | 'postgres' | 'mysql';

/** Debian's interpreter: the one python3-django and friends are installed for (not a pyenv shim). */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./django_otp_fixture.py', import.meta.url));

/** The local servers: a database is created on each per call (PostgreSQL trust auth, MariaDB root). */
export const DJANGO_SERVERS = {
  postgres: 'postgres://postgres@127.0.0.1:5432',
  mysql: 'mysql://root@127.0.0.1:3306',
} as const;

const SERVER_NAMES: Record<Exclude<DjangoDialect, 'sqlite'>, string> = {
  postgres: 'PostgreSQL',
  mysql: 'MariaDB',
};

/** One TOTPDevice to create; omitted fields take django-otp's defaults (a random 20-byte key...). */
export interface DjangoTotpSpec {
  name?: string;
  /** Default true. */
  confirmed?: boolean;
  /** Hex. */
  key?: string;
  digits?: number;
  step?: number;
  t0?: number;
  drift?: number;
  /** Have django-otp accept the current code with `device.verify_token`, which sets last_t. */
  verify?: boolean;
}

/** One StaticDevice with `tokens` random StaticTokens, the first `consume` used through verify_token. */
export interface DjangoStaticSpec {
  confirmed?: boolean;
  tokens?: number;
  consume?: number;
}

export interface DjangoUserSpec {
  username: string;
  email?: string;
  totp?: DjangoTotpSpec[];
  static?: DjangoStaticSpec[];
}

export interface DjangoOtpSpec {
  /** Unix seconds: the report gives each device's code at that time (django_otp.oath). */
  codesAt?: number;
  users: DjangoUserSpec[];
  /** Then as many users more (bulk-000000...), each with one confirmed TOTP device, made in bulk. */
  bulkUsers?: number;
}

export interface DjangoTotpReport {
  id: number;
  name: string;
  confirmed: boolean;
  key: string;
  digits: number;
  step: number;
  t0: number;
  drift: number;
  tolerance: number;
  last_t: number;
  /** The code django-otp accepted when the spec asked to verify one. */
  verifiedCode: string | null;
  /** The code at `codesAt`, by django_otp.oath.TOTP. */
  code?: string;
}

export interface DjangoStaticReport {
  id: number;
  confirmed: boolean;
  /** The tokens left in the table, in id order. */
  tokens: string[];
  /** The tokens used (and so deleted by django-otp). */
  consumed: string[];
}

export interface DjangoUserReport {
  id: number;
  username: string;
  email: string;
  totp: DjangoTotpReport[];
  static: DjangoStaticReport[];
}

export interface DjangoOtpReport {
  codesAt: number | null;
  /** Unix seconds when the script ran (the time of any verify_token). */
  madeAt: number;
  users: DjangoUserReport[];
}

export interface DjangoOtpDatabase {
  dialect: DjangoDialect;
  /** A `--url` for the database (parseDatabaseUrl reads it). */
  url: string;
  report: DjangoOtpReport;
  /** Drops the database (or removes the SQLite file); safe to call twice. */
  drop(): Promise<void>;
}

/**
 * What keeps Django databases of `dialect` from being made here, or undefined: a missing Python
 * module (with its Debian package) or an unreachable server. Pass it to `missingSkip`.
 */
export async function djangoOtpMissing(dialect: DjangoDialect): Promise<string | undefined> {
  let modules: string[];
  try {
    modules = JSON.parse((await runPython(['--check', dialect], '')).stdout) as string[];
  } catch (error) {
    return `${PYTHON} cannot run the django-otp fixture script (apt-get install python3 python3-django python3-django-otp): ${(error as Error).message}`;
  }
  if (modules.length > 0) {
    return `Python modules missing for the django-otp fixtures: ${modules.join(', ')} (apt-get install them)`;
  }
  if (dialect === 'sqlite') return undefined;
  try {
    await withServer(dialect, 'select 1');
    return undefined;
  } catch (error) {
    return `${SERVER_NAMES[dialect]} not reachable at ${DJANGO_SERVERS[dialect]} (${(error as Error).message})`;
  }
}

/** A fresh Django database of `dialect`, migrated and filled by django-otp as `spec` says. */
export async function makeDjangoOtpDatabase(
  dialect: DjangoDialect,
  spec: DjangoOtpSpec,
): Promise<DjangoOtpDatabase> {
  const { url, drop } = await createDatabase(dialect);
  try {
    const { stdout } = await runPython([url], JSON.stringify(spec));
    return { dialect, url, report: JSON.parse(stdout) as DjangoOtpReport, drop };
  } catch (error) {
    await drop();
    throw error;
  }
}

async function createDatabase(dialect: DjangoDialect): Promise<{ url: string; drop(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'django-import-'));
    return {
      url: `sqlite:${join(dir, 'django.sqlite3')}`,
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const name = `django_import_${randomBytes(6).toString('hex')}`;
  const charset = dialect === 'mysql' ? ' character set utf8mb4' : '';
  await withServer(dialect, `create database ${name}${charset}`);
  let dropped: Promise<void> | undefined;
  const force = dialect === 'postgres' ? ' with (force)' : '';
  return {
    url: `${DJANGO_SERVERS[dialect]}/${name}`,
    drop: () => {
      dropped ??= withServer(dialect, `drop database if exists ${name}${force}`);
      return dropped;
    },
  };
}

/** Runs one statement on the server's maintenance database, over a connection of its own. */
async function withServer(dialect: Exclude<DjangoDialect, 'sqlite'>, statement: string): Promise<void> {
  if (dialect === 'postgres') {
    const client = new pg.Client({
      connectionString: `${DJANGO_SERVERS.postgres}/postgres`,
      connectionTimeoutMillis: 3000,
    });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
    return;
  }
  const connection = mysql.createConnection({ uri: DJANGO_SERVERS.mysql, connectTimeout: 3000 }).promise();
  try {
    await connection.query(statement);
  } finally {
    await connection.end().catch(() => undefined);
  }
}

/** Runs the fixture script with `input` on stdin; rejects with its stderr when it fails. */
function runPython(args: readonly string[], input: string): Promise<{ stdout: string }> {
  const env = { ...process.env };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout });
      else
        reject(new Error(`django_otp_fixture.py ${args[0]} exited ${code}: ${stderr.trim().slice(-2000)}`));
    });
    child.stdin.end(input);
  });
}
