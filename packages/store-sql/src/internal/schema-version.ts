/**
 * The schema version table, `<prefix>schema_version`: one row holding the version of the tables.
 * `sqlStore()` checks it at startup; every migration step writes it along with Kysely's own record
 * (see migrate.ts), so a release before Kysely's Migrator and a release after it read the same.
 */
import type { Kysely } from 'kysely';
import type { SqlDialect } from './connect.js';
import { isMissingTable } from './failures.js';
import { createTable, type MigrationContext } from './migrations.js';
import { type Database, type TableNames, toNumber } from './tables.js';

/** The id of the one row of the schema-version table. */
export const VERSION_ROW = 1;

/** The schema version recorded in the database: 0 when the version table or its row is missing. */
export async function readSchemaVersion(
  db: Kysely<Database>,
  dialect: SqlDialect,
  t: TableNames,
): Promise<number> {
  try {
    const row = await db
      .selectFrom(t.schema_version)
      .select('version')
      .where('id', '=', VERSION_ROW)
      .executeTakeFirst();
    return row ? toNumber(row.version) : 0;
  } catch (error) {
    if (isMissingTable(error, dialect)) return 0;
    throw error;
  }
}

/**
 * The recorded schema version, creating the table and its row (at 0) when missing. For use inside
 * a migration run only: a query on a missing table would abort a PostgreSQL transaction, so the
 * table is created rather than probed.
 */
export async function ensureSchemaVersion(db: Kysely<Database>, context: MigrationContext): Promise<number> {
  const { t } = context;
  await createTable(db, context, t.schema_version)
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  const row = await db
    .selectFrom(t.schema_version)
    .select('version')
    .where('id', '=', VERSION_ROW)
    .executeTakeFirst();
  if (row) return toNumber(row.version);
  await db.insertInto(t.schema_version).values({ id: VERSION_ROW, version: 0 }).execute();
  return 0;
}

/** Records `version` as the schema version (the row exists: see {@link ensureSchemaVersion}). */
export async function writeSchemaVersion(
  db: Kysely<Database>,
  t: TableNames,
  version: number,
): Promise<void> {
  await db.updateTable(t.schema_version).set({ version }).where('id', '=', VERSION_ROW).execute();
}
