// The HTTP contract suite against the Express router on sqlStore over PostgreSQL
// (127.0.0.1:5432, database test): tables under a prefix of this run, dropped at the end.
// Skipped when PostgreSQL is not there, except under CI, where that is a failure.
import { randomBytes } from 'node:crypto';
import { runHttpContract } from '@twofold/http-test-suite';
import { migrate, sqlStore } from '@twofold/store-sql';
import { missing } from '@twofold/test-support';
import pg from 'pg';
import tap from 'tap';
import { makeExpressContractApp } from './contract-app.js';

const POSTGRES = { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' };

const pool = new pg.Pool({ ...POSTGRES, max: 10, connectionTimeoutMillis: 3000 });
const reachable = await pool.query('select 1').then(
  () => true,
  () => false,
);

if (!reachable) {
  await pool.end();
  missing(tap, `PostgreSQL not reachable at ${POSTGRES.host}:${POSTGRES.port}`);
} else {
  const prefix = `tfx${randomBytes(4).toString('hex')}_`;
  await migrate(pool, { prefix });
  tap.teardown(async () => {
    const { rows } = await pool.query<{ table_name: string }>(
      'select table_name from information_schema.tables where left(table_name, length($1)) = $1',
      [prefix],
    );
    for (const { table_name } of rows) await pool.query(`drop table if exists "${table_name}" cascade`);
    await pool.end();
  });
  runHttpContract('@twofold/express on sqlStore (PostgreSQL)', makeExpressContractApp, {
    async makeStore() {
      const store = await sqlStore({ db: pool, prefix });
      return { store, close: () => store.close() };
    },
  });
}
