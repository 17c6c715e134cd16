/** @twofold/store-sql's migration sample: `db` (an in-memory better-sqlite3 Database) and `migrate`. */
import { migrate as runMigrations } from '@twofold/store-sql';
import Database, { type Database as SqliteDatabase } from 'better-sqlite3';
import { ok, strictEqual } from './users.js';

export const db: SqliteDatabase = new Database(':memory:');
export const migrate = runMigrations;

/** A fresh database goes from version 0 to the package's, in one or more steps. */
export async function after(scope: { from?: number; to?: number; applied?: unknown[] }) {
  strictEqual(scope.from, 0);
  ok(scope.to! >= 1 && scope.applied!.length === scope.to);
  db.close();
}
