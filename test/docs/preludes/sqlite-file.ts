/** @twofold/store-sql's SQLite sample opens a file in the working directory (a scratch folder here). */
import { existsSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import { ok, strictEqual } from './users.js';

export async function after(scope: { db?: Database }) {
  strictEqual(scope.db!.pragma('journal_mode', { simple: true }), 'wal');
  scope.db!.close();
  ok(existsSync('app.db'));
}
