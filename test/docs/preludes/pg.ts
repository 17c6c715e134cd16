/** @twofold/store-sql's PostgreSQL sample: DATABASE_URL is the local PostgreSQL; the pool answers. */
import type { Pool } from 'pg';
import { strictEqual } from './users.js';

process.env.DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export async function after(scope: { db?: Pool }) {
  const { rows } = await scope.db!.query('select 1 as one');
  strictEqual(rows[0].one, 1);
  await scope.db!.end();
}
