import { type Kysely, type MigrationProvider, Migrator, type MigratorProps, sql } from 'kysely';
import { SchemaMismatchError } from './errors.js';
import { type Connection, connect, type SqlDatabase } from './internal/connect.js';
import { toStoreError } from './internal/failures.js';
import { LATEST_VERSION, MIGRATIONS, type MigrationContext, mysqlCollation } from './internal/migrations.js';
import { ensureSchemaVersion, readSchemaVersion, writeSchemaVersion } from './internal/schema-version.js';
import { type Database, type TableNames, tableNames } from './internal/tables.js';
import { inTransaction } from './internal/transaction.js';
import { type MigrateOptions, migrateOptionsSchema, parseOptions } from './options.js';

/** The schema version this version of the package needs; `migrate()` brings a database to it. */
export const SCHEMA_VERSION: number = LATEST_VERSION;

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
 * Creates or upgrades the store's tables to {@link SCHEMA_VERSION}, with Kysely's Migrator. Safe to
 * run at every deploy and from several processes at once: the Migrator's lock (an advisory lock on
 * PostgreSQL, GET_LOCK on MySQL; on SQLite the write lock, taken up front) serialises runs, and
 * only the missing versions are applied. On PostgreSQL and SQLite a run is one transaction.
 *
 * Rejects with {@link SchemaMismatchError} when the database is newer than this package (it never
 * migrates down), and with StoreUnavailableError when the database cannot be reached.
 *
 * @param db a Kysely instance, a pg Pool, a mysql2 pool, a PGlite instance or a better-sqlite3
 *   Database; not closed
 * @param options `prefix` of the table names (default `twofold_`, the same as the store's)
 * @example
 * import { migrate, sqlStore } from '@twofold/store-sql';
 * await migrate(pool);
 * const store = await sqlStore({ db: pool });
 */
/** The tables of Kysely's Migrator for `prefix`: what it has applied, and its lock. */
function migrationTableNames(prefix: string): { migration: string; lock: string } {
  return { migration: `${prefix}migration`, lock: `${prefix}migration_lock` };
}

/**
 * Every table `migrate()` creates for `prefix` (default `twofold_`): the store's six, its schema
 * version, and the Migrator's two. For tooling that removes a store (tests, teardown scripts).
 * @example for (const table of storeTableNames('app_')) await pool.query(`drop table if exists ${table}`);
 */
export function storeTableNames(prefix = 'twofold_'): string[] {
  const { migration, lock } = migrationTableNames(prefix);
  return [...Object.values(tableNames(prefix)), migration, lock];
}

export async function migrate(db: SqlDatabase, options: MigrateOptions = {}): Promise<MigrationResult> {
  const { prefix, dialect } = parseOptions(migrateOptionsSchema, options, 'migrate');
  const connection = connect(db, 'Invalid migrate arguments: "db"', dialect);
  const t = tableNames(prefix);
  try {
    await refuseNewerSchema(connection, t, prefix);
    const collation = connection.dialect === 'mysql' ? await mysqlCollation(connection.db) : '';
    const applied: number[] = [];
    const provider = migrationProvider({ dialect: connection.dialect, t, collation }, applied);
    try {
      await migrateToLatest(connection, {
        provider,
        migrationTableName: migrationTableNames(prefix).migration,
        migrationLockTableName: migrationTableNames(prefix).lock,
        ...(await migrationTableSchema(connection)),
      });
    } catch (error) {
      // A newer release that migrated meanwhile is a schema mismatch, not Kysely's "corrupted migrations".
      await refuseNewerSchema(connection, t, prefix);
      throw error;
    }
    const to = await readSchemaVersion(connection.db, connection.dialect, t);
    // Versions run 1, 2, 3...: the first one this run applied follows the one it found.
    return { from: applied.length > 0 ? applied[0]! - 1 : to, to, applied };
  } catch (error) {
    throw toStoreError(error, connection.dialect);
  }
}

/**
 * On PostgreSQL, the schema the tables go to (the first of the search_path that exists). Kysely's
 * Migrator looks for its own tables among every schema of the database unless it is given one: a
 * database where another schema already holds the store (one schema per tenant or per environment)
 * would make it skip creating them here, then fail on the missing lock table.
 */
async function migrationTableSchema(connection: Connection): Promise<{ migrationTableSchema?: string }> {
  if (connection.dialect !== 'postgres') return {};
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(
    connection.db,
  );
  const schema = rows[0]?.schema;
  return typeof schema === 'string' ? { migrationTableSchema: schema } : {};
}

/** Rejects with SchemaMismatchError when the database records a version newer than this code. */
async function refuseNewerSchema(connection: Connection, t: TableNames, prefix: string): Promise<void> {
  const found = await readSchemaVersion(connection.db, connection.dialect, t);
  if (found > SCHEMA_VERSION) throw new SchemaMismatchError(SCHEMA_VERSION, found, prefix);
}

/**
 * The steps as Kysely migrations. Each one also keeps `<prefix>schema_version`, which the store's
 * startup check reads: it skips a step that table already records (a database migrated before this
 * package used Kysely's Migrator has no Kysely records, only that table; Kysely records the skipped
 * step, so it is adopted once), and otherwise applies it and records its version. All of it runs
 * under the Migrator's lock. `applied` collects the versions this run applied.
 */
function migrationProvider(context: MigrationContext, applied: number[]): MigrationProvider {
  const migrations = Object.fromEntries(
    MIGRATIONS.map((migration) => [
      migration.name,
      {
        // biome-ignore lint/suspicious/noExplicitAny: Kysely's Migration interface types db as Kysely<any>.
        async up(db: Kysely<any>): Promise<void> {
          if ((await ensureSchemaVersion(db, context)) >= migration.version) return;
          await migration.up(db, context);
          await writeSchemaVersion(db, context.t, migration.version);
          applied.push(migration.version);
        },
      },
    ]),
  );
  return { getMigrations: async () => migrations };
}

/**
 * Runs the pending migrations with Kysely's Migrator; rejects with the error of a failed run.
 *
 * Kysely's SQLite lock is a no-op (it counts on one connection per database), and its transaction
 * starts with a deferred BEGIN: a second process migrating the same file would fail to upgrade its
 * read lock. So on SQLite the whole run, the Migrator's own tables included, goes in one
 * BEGIN IMMEDIATE transaction, which waits for the other process instead.
 */
async function migrateToLatest(connection: Connection, props: Omit<MigratorProps, 'db'>): Promise<void> {
  const run = async (db: Kysely<Database>, disableTransactions: boolean) => {
    const { error } = await new Migrator({ ...props, db, disableTransactions }).migrateToLatest();
    if (error !== undefined) throw error;
  };
  if (connection.dialect === 'sqlite') return inTransaction(connection, (db) => run(db, true));
  for (let round = 1; ; round++) {
    try {
      return await run(connection.db, false);
    } catch (error) {
      if (connection.dialect !== 'postgres' || round >= LISTING_ROUNDS || !isUndefinedTable(error))
        throw error;
    }
  }
}

/**
 * How many times a PostgreSQL run starts again after the Migrator's look at the catalog failed on a
 * table dropped meanwhile. Kysely's Migrator lists every table of the database to find its own, and
 * its listing names each table it found by its current name: a table that another connection drops
 * between the two (another app's, a test's) fails the listing with "relation ... does not exist".
 * The failed run changed nothing, and the next listing no longer sees that table.
 */
const LISTING_ROUNDS = 20;

/** PostgreSQL's undefined_table (42P01). */
function isUndefinedTable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '42P01';
}
