import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { missingSkip, reachBetterSqlite3 as reachSqlite } from '@twofold/test-support';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect } from 'kysely';
import mysql from 'mysql2';
import pg from 'pg';
import tap from 'tap';
import { PGliteDialect, type SqlDatabase, type SqlDialect, storeTableNames } from '../../src/index.js';
import { isPGlite } from '../../src/pglite.js';

export const POSTGRES = { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' } as const;
export const MARIADB = { host: '127.0.0.1', port: 3306, database: 'test', user: 'root' } as const;

/** A table prefix no other run uses, so parallel runs against one database never collide. */
export function uniquePrefix(tag = 'tf'): string {
  return `${tag}${Date.now().toString(36)}${randomBytes(3).toString('hex')}_`;
}

/** A database the tests reached, or why its tests are skipped. */
export type Reached<T> = { db: T; skip: false } | { db: undefined; skip: string };

/**
 * Opens a pool and checks that it answers. When it does not, the file's tests are skipped with
 * `message`, and under CI the file also fails.
 */
async function reach<T>(
  open: () => T,
  probe: (db: T) => Promise<unknown>,
  close: (db: T) => Promise<void>,
  message: string,
): Promise<Reached<T>> {
  const db = open();
  try {
    await probe(db);
    return { db, skip: false };
  } catch (error) {
    await close(db).catch(() => undefined);
    return { db: undefined, skip: missingSkip(tap, message, { error }) };
  }
}

/** A pg Pool of 10 connections to the test database. */
export function reachPostgres(): Promise<Reached<pg.Pool>> {
  return reach(
    () => new pg.Pool({ ...POSTGRES, max: 10, connectionTimeoutMillis: 3000 }),
    (pool) => pool.query('select 1'),
    (pool) => pool.end(),
    `PostgreSQL not reachable at ${POSTGRES.host}:${POSTGRES.port}`,
  );
}

/** better-sqlite3's Database class. */
export type BetterSqlite3 = typeof import('better-sqlite3');

/**
 * better-sqlite3, an optional dependency of the workspace (a native build that may have failed),
 * or the message its tests are skipped with (under CI the file also fails): the helper of
 * `@twofold/test-support`, which the other packages' tests use too.
 */
export function reachBetterSqlite3(): Promise<Reached<BetterSqlite3>> {
  return reachSqlite(tap, () => import('better-sqlite3'));
}

/** A mysql2 pool of 10 connections to the test database. */
export function reachMariadb(): Promise<Reached<mysql.Pool>> {
  return reach(
    () => mysql.createPool({ ...MARIADB, connectionLimit: 10, connectTimeout: 3000 }),
    (pool) => pool.promise().query('select 1'),
    endMysqlPool,
    `MariaDB not reachable at ${MARIADB.host}:${MARIADB.port}`,
  );
}

export function endMysqlPool(pool: mysql.Pool): Promise<void> {
  return new Promise((resolve, reject) => pool.end((error) => (error ? reject(error) : resolve())));
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/**
 * A Kysely instance of the tests' own over `db`, for looking at tables directly; the database
 * object stays open (only the instance's own, unused, resources are released).
 */
export function inspect(
  db: SqlDatabase,
  dialect: SqlDialect,
): Kysely<Record<string, Record<string, unknown>>> {
  if (db instanceof Kysely) return db.withoutPlugins();
  // Never destroyed: that would close the PGlite instance the tests share.
  if (isPGlite(db)) return new Kysely({ dialect: new PGliteDialect({ database: db }) });
  const kyselyDialect =
    dialect === 'postgres'
      ? new PostgresDialect({ pool: db as pg.Pool })
      : dialect === 'mysql'
        ? new MysqlDialect({ pool: db as mysql.Pool })
        : new SqliteDialect({ database: db as never });
  return new Kysely({ dialect: kyselyDialect });
}

/** Drops every table of `prefix` (every table `migrate()` creates: {@link storeTableNames}). */
export async function dropTables(db: SqlDatabase, dialect: SqlDialect, prefix: string): Promise<void> {
  const kysely = inspect(db, dialect);
  for (const table of storeTableNames(prefix)) await kysely.schema.dropTable(table).ifExists().execute();
}
