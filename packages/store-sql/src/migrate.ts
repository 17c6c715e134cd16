import { StoreUnavailableError } from '@twofold/core';
import { type Kysely, sql } from 'kysely';
import { SchemaMismatchError } from './errors.js';
import { type Connection, connect, type SqlDatabase } from './internal/connect.js';
import { toStoreError } from './internal/failures.js';
import {
  createTable,
  LATEST_VERSION,
  MIGRATIONS,
  type MigrationContext,
  mysqlCollation,
} from './internal/migrations.js';
import { readSchemaVersion, VERSION_ROW } from './internal/schema-version.js';
import { type Database, tableNames, toNumber } from './internal/tables.js';
import { inTransaction } from './internal/transaction.js';
import { type MigrateOptions, migrateOptionsSchema, parseOptions } from './options.js';

/** The schema version this version of the package needs; `migrate()` brings a database to it. */
export const SCHEMA_VERSION: number = LATEST_VERSION;

/** How long a MySQL migration waits for another one running on the same prefix, in seconds. */
const MYSQL_LOCK_TIMEOUT_S = 60;

/** What {@link migrate} did. */
export interface MigrationResult {
  /** The schema version found before (0 for an empty database). */
  from: number;
  /** The schema version now. */
  to: number;
  /** The versions applied by this run, in order; empty when the schema was already current. */
  applied: number[];
}

/**
 * Creates or upgrades the store's tables to {@link SCHEMA_VERSION}. Safe to run at every deploy and
 * from several processes at once: it takes a lock (an advisory lock on PostgreSQL, GET_LOCK on
 * MySQL, the write lock on SQLite), applies only the missing versions and records each one.
 * On PostgreSQL and SQLite all of it is one transaction.
 *
 * Rejects with {@link SchemaMismatchError} when the database is newer than this package (it never
 * migrates down), and with StoreUnavailableError when the database cannot be reached.
 *
 * @param db a Kysely instance, a pg Pool, a mysql2 pool or a better-sqlite3 Database; not closed
 * @param options `prefix` of the table names (default `twofold_`, the same as the store's)
 * @example
 * import { migrate, sqlStore } from '@twofold/store-sql';
 * await migrate(pool);
 * const store = await sqlStore({ db: pool });
 */
export async function migrate(db: SqlDatabase, options: MigrateOptions = {}): Promise<MigrationResult> {
  const { prefix, dialect } = parseOptions(migrateOptionsSchema, options, 'migrate');
  const connection = connect(db, 'Invalid migrate arguments: "db"', dialect);
  const t = tableNames(prefix);
  try {
    return await withMigrationLock(connection, prefix, async (locked) => {
      const collation = connection.dialect === 'mysql' ? await mysqlCollation(locked) : '';
      return applyMigrations(locked, { dialect: connection.dialect, t, collation }, prefix);
    });
  } catch (error) {
    throw toStoreError(error, connection.dialect);
  }
}

async function applyMigrations(
  db: Kysely<Database>,
  context: MigrationContext,
  prefix: string,
): Promise<MigrationResult> {
  const { t, dialect } = context;
  await createTable(db, context, t.schema_version)
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  const row = await db
    .selectFrom(t.schema_version)
    .select('version')
    .where('id', '=', VERSION_ROW)
    .executeTakeFirst();
  if (!row) await db.insertInto(t.schema_version).values({ id: VERSION_ROW, version: 0 }).execute();
  const from = row ? toNumber(row.version) : 0;
  if (from > SCHEMA_VERSION) throw new SchemaMismatchError(SCHEMA_VERSION, from, prefix);

  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (migration.version <= from) continue;
    await migration.up(db, context);
    await db
      .updateTable(t.schema_version)
      .set({ version: migration.version })
      .where('id', '=', VERSION_ROW)
      .execute();
    applied.push(migration.version);
  }
  const to = await readSchemaVersion(db, dialect, t);
  return { from, to, applied };
}

/** Runs `work` while holding the migration lock of `prefix`. */
async function withMigrationLock<T>(
  connection: Connection,
  prefix: string,
  work: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const name = `twofold_migrate_${prefix}`;
  const { db, dialect } = connection;
  switch (dialect) {
    case 'postgres':
      // DDL is transactional here: the whole run commits or nothing does.
      return db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtext(${name}))`.execute(trx);
        return work(trx);
      });
    case 'sqlite':
      return inTransaction(connection, work);
    case 'mysql':
      // DDL commits implicitly here, so a lock on one connection serialises concurrent runs and
      // each step is re-runnable.
      return db.connection().execute(async (single) => {
        const { rows } = await sql<{
          locked: number | string | null;
        }>`select get_lock(${name}, ${MYSQL_LOCK_TIMEOUT_S}) as locked`.execute(single);
        if (Number(rows[0]?.locked) !== 1) {
          throw new StoreUnavailableError(
            `Timed out after ${MYSQL_LOCK_TIMEOUT_S} s waiting for another migration of prefix "${prefix}"`,
          );
        }
        try {
          return await work(single);
        } finally {
          await sql`select release_lock(${name})`.execute(single);
        }
      });
  }
}
