import pg from 'pg';
import tap from 'tap';
import { migrate, SCHEMA_VERSION, sqlStore, storeTableNames } from '../src/index.js';
import { closedPort, POSTGRES, reachPostgres } from './helpers/databases.js';
import { runSqlSuite } from './helpers/run.js';

const { db: pool, skip } = await reachPostgres();

runSqlSuite(
  'sqlStore on PostgreSQL',
  pool && {
    dialect: 'postgres',
    db: pool,
    close: () => pool.end(),
    async unreachable(t) {
      const closed = new pg.Pool({ ...POSTGRES, port: await closedPort(), connectionTimeoutMillis: 2000 });
      t.teardown(() => closed.end());
      return closed;
    },
    async disposable() {
      const own = new pg.Pool({ ...POSTGRES, max: 2 });
      return { db: own, close: () => own.end() };
    },
    async peer(t) {
      const own = new pg.Pool({ ...POSTGRES, max: 10 });
      t.teardown(() => own.end());
      return own;
    },
  },
  skip,
);

tap.test(
  'migrate works in a schema of its own while another schema of the database holds the store',
  { skip },
  async (t) => {
    if (!pool) throw new Error('no database');
    const schemas = [`tfs_a_${process.pid}`, `tfs_b_${process.pid}`];
    const pools = schemas.map(
      (schema) => new pg.Pool({ ...POSTGRES, max: 2, options: `-c search_path=${schema}` }),
    );
    t.teardown(async () => {
      await Promise.all(pools.map((own) => own.end()));
      for (const schema of schemas) await pool.query(`drop schema if exists ${schema} cascade`);
    });
    for (const schema of schemas) await pool.query(`create schema ${schema}`);
    // The same default prefix in both: each schema gets the store's tables and Kysely's two of its own.
    for (const own of pools) t.same((await migrate(own)).applied.length, SCHEMA_VERSION);
    const { rows } = await pool.query<{ schema: string; tables: number }>(
      `select table_schema as schema, count(*)::int as tables from information_schema.tables
     where table_schema = any($1) group by table_schema order by table_schema`,
      [schemas],
    );
    t.same(
      rows,
      schemas.map((schema) => ({ schema, tables: storeTableNames().length })),
    );
    // And each store works on its own schema.
    for (const [index, own] of pools.entries()) {
      const store = await sqlStore({ db: own });
      await store.putNonce(`user-${index}`, 'k', 'v', Date.now() + 60_000, Date.now());
      t.equal(await store.getNonce(`user-${index}`, 'k', Date.now()), 'v');
      await store.close?.();
    }
  },
);
