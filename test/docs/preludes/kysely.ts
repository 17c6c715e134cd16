/** @twofold/store-sql's Kysely sample: `sqlStore`, and `kysely`, a migrated SQLite Kysely instance. */
import { createRequire } from 'node:module';
import { sqlStore as makeSqlStore, migrate } from '@twofold/store-sql';
import Database from 'better-sqlite3';

// kysely is a dependency of @twofold/store-sql, not of the repository root.
const require = createRequire(new URL('../../../packages/store-sql/package.json', import.meta.url));
const { Kysely, SqliteDialect } = require('kysely') as {
  Kysely: new (config: { dialect: unknown }) => { destroy(): Promise<void> };
  SqliteDialect: new (config: { database: unknown }) => unknown;
};

export const kysely = new Kysely({
  dialect: new SqliteDialect({ database: new Database(':memory:') }),
});
await migrate(kysely as Parameters<typeof migrate>[0]);
export const sqlStore = makeSqlStore;

export async function after() {
  await kysely.destroy();
}
