/**
 * The databases of the example: the users always live in SQLite (DATA_DIR/app.db); the 2FA state
 * lives where STORE says:
 *
 * - `sqlite` (default): @twofold/store-sql on the same SQLite file, through the same Kysely
 *   instance as the users, so both share one connection queue and never interleave transactions;
 * - `redis`: @twofold/store-redis on REDIS_URL (the rate-limit counts go there too, so several
 *   processes share them);
 * - `postgres` / `mysql`: @twofold/store-sql on DATABASE_URL.
 *
 * SQL schemas are migrated at startup (`migrate()` is a no-op when they are current).
 *
 * DATA_DIR is created mode 700 and `app.db` mode 600 before SQLite opens it: SQLite gives its
 * `-wal`, `-shm` and `-journal` files the database file's mode, and they are set to 600 again here
 * in case they were left over from an earlier run.
 */
import { join } from 'node:path';
import type { Store } from '@twofold/core';
import { redisStore } from '@twofold/store-redis';
import { migrate, type SqlDatabase, sqlStore } from '@twofold/store-sql';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { Kysely, SqliteDialect } from 'kysely';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ConfigError, type ExampleConfig } from './config.js';
import { ensurePrivateFile, makePrivateDir, restrictFile } from './files.js';
import type { UsersDatabase } from './users.js';

export interface Databases {
  /** The users' database (SQLite). */
  usersDb: Kysely<UsersDatabase>;
  /** The 2FA store. */
  store: Store;
  /** The Redis client, for STORE=redis: the plugins count rate limits in it. */
  redis: Redis | undefined;
  /** A line for the startup log: where the 2FA state lives (no credentials). */
  description: string;
  close(): Promise<void>;
}

export const SQLITE_FILE = 'app.db';

/** The files SQLite may keep next to the database file. */
export const SQLITE_COMPANIONS: readonly string[] = ['-wal', '-shm', '-journal'];

/** Sets the SQLite file and whichever of its companions exist to mode 600. */
export function restrictSqliteFiles(sqliteFile: string): void {
  restrictFile(sqliteFile);
  for (const suffix of SQLITE_COMPANIONS) restrictFile(`${sqliteFile}${suffix}`);
}

/** Opens the users' SQLite file and the 2FA store. @throws ConfigError when the store cannot be reached. */
export async function openDatabases(config: ExampleConfig): Promise<Databases> {
  makePrivateDir(config.dataDir);
  const sqliteFile = join(config.dataDir, SQLITE_FILE);
  // Created (or set) mode 600 before SQLite opens it: SQLite copies this mode to its companions.
  ensurePrivateFile(sqliteFile);
  restrictSqliteFiles(sqliteFile);
  const sqlite = new Database(sqliteFile);
  sqlite.pragma('journal_mode = WAL');
  restrictSqliteFiles(sqliteFile);
  const usersDb = new Kysely<UsersDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  const closers: (() => Promise<void>)[] = [() => usersDb.destroy()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };

  try {
    switch (config.store) {
      case 'sqlite': {
        const store = await migratedSqlStore(usersDb, config.tablePrefix, `STORE=sqlite (${sqliteFile})`);
        return { usersDb, store, redis: undefined, description: `SQLite ${sqliteFile}`, close };
      }
      case 'postgres': {
        const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
        closers.push(() => pool.end());
        const store = await migratedSqlStore(pool, config.tablePrefix, 'PostgreSQL at DATABASE_URL');
        return {
          usersDb,
          store,
          redis: undefined,
          description: `PostgreSQL (${hostOf(config.databaseUrl)})`,
          close,
        };
      }
      case 'mysql': {
        const pool = mysql.createPool({ uri: config.databaseUrl!, connectionLimit: 10 });
        closers.push(() => pool.end());
        const store = await migratedSqlStore(pool, config.tablePrefix, 'MySQL/MariaDB at DATABASE_URL');
        return {
          usersDb,
          store,
          redis: undefined,
          description: `MySQL (${hostOf(config.databaseUrl)})`,
          close,
        };
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
        const store = redisStore({ client: redis, prefix: 'twofold-example:' });
        return { usersDb, store, redis, description: `Redis (${hostOf(config.redisUrl)})`, close };
      }
    }
  } catch (error) {
    await close();
    throw error;
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
