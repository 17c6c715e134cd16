/**
 * The database options of the commands that open a SQL store (`--url`, `--prefix`) and the driver
 * connection behind each URL. Drivers are loaded only when used, so the CLI works with whichever of
 * pg, mysql2 and better-sqlite3 is installed.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SqlDatabase, SqlDialect } from '@twofold/store-sql';
import { CommandError, UsageError } from './errors.js';

/** A parsed `--url`. */
export type DatabaseTarget =
  | { dialect: 'sqlite'; path: string }
  | { dialect: 'postgres'; url: string }
  | { dialect: 'mysql'; url: string };

/** An open connection (pool or database) and how to release it. */
export interface OpenDatabase {
  db: SqlDatabase;
  dialect: SqlDialect;
  close(): Promise<void>;
}

export const URL_FORMS = `  sqlite:<path>  or a path ending in .db, .sqlite or .sqlite3   an SQLite file
  postgres://user:password@host:5432/database (or postgresql://) PostgreSQL
  mysql://user:password@host:3306/database (or mariadb://)       MySQL or MariaDB`;

const SQLITE_EXTENSIONS = /\.(db|sqlite|sqlite3)$/i;

/** Reads a `--url` value; a UsageError names the accepted forms (never the value, which may hold a password). */
export function parseDatabaseUrl(text: string | undefined): DatabaseTarget {
  if (text === undefined || text.trim() === '') {
    throw new UsageError('--url is required: the database to use');
  }
  const url = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'sqlite') {
    // sqlite:app.db, sqlite:/abs/app.db, and the URL-like sqlite:///abs/app.db.
    const rest = url.slice('sqlite:'.length);
    const path = rest.startsWith('//') ? rest.slice(2) : rest;
    if (path === '' || path === ':memory:') {
      throw new UsageError('--url sqlite: needs the path of a database file');
    }
    return { dialect: 'sqlite', path: resolve(path) };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    checkServerUrl(url);
    return { dialect: 'postgres', url };
  }
  if (scheme === 'mysql' || scheme === 'mariadb') {
    checkServerUrl(url);
    return { dialect: 'mysql', url: `mysql:${url.slice(scheme.length + 1)}` };
  }
  if (!url.includes('://') && SQLITE_EXTENSIONS.test(url)) return { dialect: 'sqlite', path: resolve(url) };
  throw new UsageError(`--url is not a database URL this command knows; use one of:\n${URL_FORMS}`);
}

function checkServerUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('--url is not a valid URL (percent-encode special characters in the password)');
  }
  if (parsed.hostname === '') throw new UsageError('--url has no host name');
}

const PREFIX = /^[a-z][a-z0-9_]{0,29}$/;

/** `--prefix`: the table name prefix, checked as the store checks it (default twofold_). */
export function prefixOption(text: string | undefined): string {
  if (text === undefined) return 'twofold_';
  if (!PREFIX.test(text)) {
    throw new UsageError(
      '--prefix must be 1-30 characters: a lowercase letter, then lowercase letters, digits or underscores',
    );
  }
  return text;
}

/** The target for messages: the path, or the URL with its password replaced by ***. */
export function describeTarget(target: DatabaseTarget): string {
  if (target.dialect === 'sqlite') return target.path;
  const url = new URL(target.url);
  if (url.password !== '') url.password = '***';
  return url.toString();
}

/** The npm package of each driver, for the "not installed" message. */
const DRIVERS: Record<SqlDialect, string> = { postgres: 'pg', mysql: 'mysql2', sqlite: 'better-sqlite3' };

async function loadDriver<T>(dialect: SqlDialect, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED') {
      throw new CommandError(
        `the ${dialect} driver is not available: install it next to @twofold/cli (npm install ${DRIVERS[dialect]})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** How long to wait for a database server to accept a connection. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens the database of `target`. An SQLite file must exist unless `create` is set (migrate may
 * create one; rotate-keys must not). `connections` sizes a server's pool (default 2: the commands
 * work one row at a time; import runs several). Connection failures surface later, at the first query.
 */
export async function openDatabase(
  target: DatabaseTarget,
  options: { create: boolean; connections?: number },
): Promise<OpenDatabase> {
  const connections = options.connections ?? 2;
  switch (target.dialect) {
    case 'sqlite': {
      if (!options.create && !existsSync(target.path)) {
        throw new CommandError(`no SQLite database at ${target.path}`);
      }
      if (!existsSync(dirname(target.path))) {
        throw new CommandError(`the directory of ${target.path} does not exist`);
      }
      const { default: Database } = await loadDriver('sqlite', () => import('better-sqlite3'));
      let db: InstanceType<typeof Database>;
      try {
        db = new Database(target.path, { fileMustExist: !options.create, timeout: 5000 });
      } catch (error) {
        throw new CommandError(
          `cannot open the SQLite database ${target.path}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      return {
        db,
        dialect: 'sqlite',
        async close() {
          db.close();
        },
      };
    }
    case 'postgres': {
      const { default: pg } = await loadDriver('postgres', () => import('pg'));
      const pool = new pg.Pool({
        connectionString: target.url,
        max: connections,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      // An idle client losing its connection must not crash the process; the next query reports it.
      pool.on('error', () => undefined);
      return { db: pool, dialect: 'postgres', close: () => pool.end() };
    }
    case 'mysql': {
      const { default: mysql } = await loadDriver('mysql', () => import('mysql2'));
      const pool = mysql.createPool({
        uri: target.url,
        connectionLimit: connections,
        connectTimeout: CONNECT_TIMEOUT_MS,
      });
      return {
        db: pool,
        dialect: 'mysql',
        close: () => new Promise((done) => pool.end(() => done())),
      };
    }
  }
}
