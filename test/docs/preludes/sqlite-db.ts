/** @twofold/store-sql's samples over `db`: an in-memory better-sqlite3 Database. */
import Database, { type Database as SqliteDatabase } from 'better-sqlite3';
import { ok } from './users.js';

export const db: SqliteDatabase = new Database(':memory:');

export async function after(scope: {
  store?: { close?(): Promise<void> };
  twoFactor?: { status(id: string): Promise<unknown> };
  applied?: unknown;
  to?: number;
}) {
  if (scope.twoFactor) ok(await scope.twoFactor.status('readme-sample-nobody'));
  if (scope.to !== undefined) ok(scope.to >= 1, 'migrate reached a schema version');
  await scope.store?.close?.();
  db.close();
}
