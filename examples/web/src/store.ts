/**
 * The databases of the example. The users live in the embedded database: PGlite (PostgreSQL in
 * WebAssembly, in DATA_DIR/pglite), or SQLite (DATA_DIR/app.db) with STORE=sqlite. The 2FA state
 * lives where STORE says:
 *
 * - `pglite` (default): @twofold/store-sql on the same PGlite instance as the users, through the
 *   same Kysely instance, so both wait in one connection line and never interleave transactions;
 *   nothing to install or run, and the data stays in DATA_DIR/pglite across restarts;
 * - `sqlite`: the same on SQLite, with better-sqlite3 (an optional dependency, built natively: when
 *   it is missing the start stops with a ConfigError saying how to install it);
 * - `redis`: @twofold/store-redis on REDIS_URL (the rate-limit counts go there too, so several
 *   processes share them);
 * - `postgres` / `mysql`: @twofold/store-sql on DATABASE_URL.
 *
 * SQL schemas are migrated at startup (`migrate()` is a no-op when they are current).
 *
 * DATA_DIR is created mode 700. PGlite's files are set to 600 and its folders to 700 at start and at
 * close (PGlite creates them with the process umask only). `app.db` is created mode 600 before
 * SQLite opens it: SQLite gives its `-wal`, `-shm` and `-journal` files the database file's mode,
 * and they are set to 600 again here in case they were left over from an earlier run.
 */
import { chmodSync, type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Store } from '@twofold/core';
import { redisStore } from '@twofold/store-redis';
import { migrate, PGliteDialect, type SqlDatabase, sqlStore } from '@twofold/store-sql';
import type BetterSqlite3 from 'better-sqlite3';
import { Redis } from 'ioredis';
import { Kysely, SqliteDialect } from 'kysely';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ConfigError, type ExampleConfig } from './config.js';
import { ensurePrivateFile, makePrivateDir, PRIVATE_DIR_MODE, restrictFile } from './files.js';
import type { UsersDatabase } from './users.js';

export interface Databases {
  /** The users' database: PGlite, or SQLite with STORE=sqlite. */
  usersDb: Kysely<UsersDatabase>;
  /** The 2FA store. */
  store: Store;
  /** The Redis client, for STORE=redis: the plugins count rate limits in it. */
  redis: Redis | undefined;
  /** A line for the startup log: where the 2FA state lives (no credentials). */
  description: string;
  /** Sets the embedded database's files to 600 and its folders to 700 (those made since, too). */
  restrictFiles(): void;
  close(): Promise<void>;
}

/** The PGlite data directory, in DATA_DIR. */
export const PGLITE_DIR = 'pglite';

export const SQLITE_FILE = 'app.db';

/** The files SQLite may keep next to the database file. */
export const SQLITE_COMPANIONS: readonly string[] = ['-wal', '-shm', '-journal'];

/** Sets the SQLite file and whichever of its companions exist to mode 600. */
export function restrictSqliteFiles(sqliteFile: string): void {
  restrictFile(sqliteFile);
  for (const suffix of SQLITE_COMPANIONS) restrictFile(`${sqliteFile}${suffix}`);
}

/** Sets every folder under `dir` (itself included) to mode 700 and every file to 600. */
export function restrictTree(dir: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  chmodSync(dir, PRIVATE_DIR_MODE);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) restrictTree(path);
    else if (entry.isFile()) restrictFile(path);
  }
}

/** The users' database: PGlite in DATA_DIR/pglite, or SQLite in DATA_DIR/app.db for STORE=sqlite. */
async function openUsersDb(config: ExampleConfig): Promise<{
  usersDb: Kysely<UsersDatabase>;
  where: string;
  restrictFiles(): void;
}> {
  makePrivateDir(config.dataDir);
  if (config.store === 'sqlite') {
    const sqliteFile = join(config.dataDir, SQLITE_FILE);
    const Database = await loadBetterSqlite3();
    // Created (or set) mode 600 before SQLite opens it: SQLite copies this mode to its companions.
    ensurePrivateFile(sqliteFile);
    restrictSqliteFiles(sqliteFile);
    let sqlite: BetterSqlite3.Database;
    try {
      sqlite = new Database(sqliteFile);
    } catch (error) {
      throw notInstalled(error) ? betterSqlite3Missing() : error;
    }
    sqlite.pragma('journal_mode = WAL');
    const restrictFiles = () => restrictSqliteFiles(sqliteFile);
    restrictFiles();
    const usersDb = new Kysely<UsersDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { usersDb, where: sqliteFile, restrictFiles };
  }
  const dir = join(config.dataDir, PGLITE_DIR);
  makePrivateDir(dir);
  const pglite = new PGlite(dir);
  try {
    await pglite.waitReady;
  } catch (error) {
    throw new ConfigError(
      `Cannot open the PGlite database in DATA_DIR (${dir}): ${(error as Error).message}`,
    );
  }
  const restrictFiles = () => restrictTree(dir);
  restrictFiles();
  // Kysely's destroy() closes the PGlite instance.
  const usersDb = new Kysely<UsersDatabase>({ dialect: new PGliteDialect({ database: pglite }) });
  return { usersDb, where: dir, restrictFiles };
}

/** Loads better-sqlite3, an optional dependency; a ConfigError saying how to install it when absent. */
async function loadBetterSqlite3(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    throw notInstalled(error) ? betterSqlite3Missing() : error;
  }
}

/** A missing package, or a package whose native build is missing. */
function notInstalled(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    (typeof message === 'string' && /Could not locate the bindings file|better_sqlite3\.node/.test(message))
  );
}

function betterSqlite3Missing(): ConfigError {
  return new ConfigError(
    'STORE=sqlite needs better-sqlite3, an optional dependency that is not installed (its native build ' +
      'failed or was skipped): run "npm_config_nodedir=/usr pnpm install" (or "pnpm add better-sqlite3" in ' +
      'your app), or leave STORE unset for the embedded PGlite database',
  );
}

/**
 * Opens the users' database and the 2FA store. A server store (Redis, PostgreSQL, MySQL) is reached
 * first, so that a wrong URL stops the start before the embedded database opens.
 * @throws ConfigError when the store cannot be reached, or STORE=sqlite without better-sqlite3.
 */
export async function openDatabases(config: ExampleConfig): Promise<Databases> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const server = await openServerStore(config, closers);
    const { usersDb, where, restrictFiles } = await openUsersDb(config);
    closers.push(async () => {
      await usersDb.destroy();
      restrictFiles();
    });
    const databases = (store: Store, description: string, redis?: Redis): Databases => ({
      usersDb,
      store,
      redis,
      description,
      restrictFiles,
      close,
    });
    if (server) return databases(server.store, server.description, server.redis);
    const kind = config.store === 'sqlite' ? 'SQLite' : 'PGlite';
    const store = await migratedSqlStore(usersDb, config.tablePrefix, `STORE=${config.store} (${where})`);
    return databases(store, `${kind} ${where}`);
  } catch (error) {
    await close();
    throw error;
  }
}

/** The store on a server (STORE=postgres, mysql or redis), its closer added to `closers`; else undefined. */
async function openServerStore(
  config: ExampleConfig,
  closers: (() => Promise<void>)[],
): Promise<{ store: Store; description: string; redis?: Redis } | undefined> {
  switch (config.store) {
    case 'pglite':
    case 'sqlite':
      return undefined;
    case 'postgres': {
      const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
      closers.push(() => pool.end());
      const store = await migratedSqlStore(pool, config.tablePrefix, 'PostgreSQL at DATABASE_URL');
      return { store, description: `PostgreSQL (${hostOf(config.databaseUrl)})` };
    }
    case 'mysql': {
      const pool = mysql.createPool({ uri: config.databaseUrl!, connectionLimit: 10 });
      closers.push(() => pool.end());
      const store = await migratedSqlStore(pool, config.tablePrefix, 'MySQL/MariaDB at DATABASE_URL');
      return { store, description: `MySQL (${hostOf(config.databaseUrl)})` };
    }
    case 'redis': {
      const redis = new Redis(config.redisUrl!, { lazyConnect: true, maxRetriesPerRequest: 2 });
      closers.push(async () => {
        redis.disconnect();
      });
      try {
        await redis.connect();
      } catch (error) {
        throw new ConfigError(`Cannot reach Redis at REDIS_URL: ${(error as Error).message}`);
      }
      return {
        store: redisStore({ client: redis, prefix: 'twofold-example:' }),
        description: `Redis (${hostOf(config.redisUrl)})`,
        redis,
      };
    }
  }
}

async function migratedSqlStore(db: SqlDatabase, prefix: string, where: string): Promise<Store> {
  try {
    await migrate(db, { prefix });
    return await sqlStore({ db, prefix });
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: string };
    if (code === 'TWOFOLD_STORE_UNAVAILABLE') {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new ConfigError(`Cannot reach the 2FA store, ${where}: ${cause ?? message}`);
    }
    if (code === 'TWOFOLD_SCHEMA_MISMATCH') throw new ConfigError(`2FA store, ${where}: ${message}`);
    throw error;
  }
}

/** host:port of a URL, for the log: never its user name or password. */
function hostOf(url: string | undefined): string {
  try {
    return new URL(url ?? '').host;
  } catch {
    return 'unknown host';
  }
}
