/**
 * @twofold/store-sql's `store` samples (sweep, listing sealed secrets): an SQL store on an
 * in-memory SQLite database, migrated, sweeping only when asked, holding three enrolled users.
 */
import { createTwoFactor } from '@twofold/core';
import { migrate, sqlStore } from '@twofold/store-sql';
import Database from 'better-sqlite3';
import { ok, strictEqual } from './users.js';

const db = new Database(':memory:');
await migrate(db);
export const store = await sqlStore({ db, sweepIntervalMs: false });
const twoFactor = createTwoFactor({ store, keyring: process.env.TWOFOLD_KEYS!, issuer: 'Acme' });
for (const id of ['u-1', 'u-2', 'u-3']) await twoFactor.enroll(id);

export async function after(scope: { total?: number; authenticators?: number }) {
  if (scope.total !== undefined)
    strictEqual(scope.total, 3, 'countSealedSecrets counts the three enrollments');
  if (scope.authenticators !== undefined) ok(scope.authenticators >= 0);
  db.close();
}
