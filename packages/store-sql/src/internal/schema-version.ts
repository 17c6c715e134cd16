import type { Kysely } from 'kysely';
import type { SqlDialect } from './connect.js';
import { isMissingTable } from './failures.js';
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
