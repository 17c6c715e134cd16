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

tap.test(
  'migrate succeeds while another connection creates and drops tables of its own',
  { skip },
  async (t) => {
    if (!pool) throw new Error('no database');
    // Kysely's Migrator lists every table of the database; a table dropped during that listing failed
    // the whole migrate with "relation ... does not exist" (most runs, before the fix, while another
    // connection did this in a loop).
    const churn = new pg.Pool({ ...POSTGRES, max: 1 });
    const prefixes = Array.from({ length: 20 }, (_, i) => `tfs_churn_${process.pid}_${i}_`);
    let stop = false;
    let made = 0;
    const churner = (async () => {
      while (!stop) {
        const name = `tfs_churned_${process.pid}_${made++}`;
        await churn.query(`create table ${name} (id int primary key, v text)`);
        await churn.query(`drop table ${name}`);
      }
    })();
    t.teardown(async () => {
      stop = true;
      await Promise.allSettled([churner]);
      await churn.end();
      for (const prefix of prefixes) {
        for (const table of storeTableNames(prefix))
          await pool.query(`drop table if exists ${table} cascade`);
      }
    });
    const failures: string[] = [];
    for (const prefix of prefixes) {
      try {
        t.equal((await migrate(pool, { prefix })).to, SCHEMA_VERSION);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    stop = true;
    await churner;
    t.ok(made > prefixes.length, `tables were created and dropped meanwhile (${made})`);
    t.same(failures, [], 'every migrate succeeded');
  },
);

tap.test(
  "a login's statements run as named statements on a pg Pool, and still after a table gains a column",
  { skip },
  async (t) => {
    if (!pool) throw new Error('no database');
    const schema = `tfs_named_${process.pid}`;
    // One connection per pool: pg_prepared_statements shows that session's own statements.
    const open = () => new pg.Pool({ ...POSTGRES, max: 1, options: `-c search_path=${schema}` });
    const named = open();
    const unnamed = open();
    t.teardown(async () => {
      await Promise.all([named.end(), unnamed.end()]);
      await pool.query(`drop schema if exists ${schema} cascade`);
    });
    await pool.query(`create schema ${schema}`);
    await migrate(named);
    const prepared = async (own: pg.Pool) =>
      (
        await own.query<{ statement: string }>(
          `select statement from pg_prepared_statements where name like 'twofold\\_%' order by statement`,
        )
      ).rows.map((row) => row.statement);
    const login = async (store: Awaited<ReturnType<typeof sqlStore>>, user: string) => {
      const now = Date.now();
      await store.putNonces(user, [{ key: 'k', value: 'v', expiresAt: now + 60_000 }], now);
      return store.getNonce(user, 'k', now);
    };

    const store = await sqlStore({ db: named });
    t.equal(await login(store, 'user-1'), 'v');
    const statements = await prepared(named);
    t.equal(statements.length, 2, 'the nonce upsert and read, each prepared once');
    t.ok(
      statements.every((statement) => statement.includes('twofold_nonces')),
      'both on the nonces table',
    );
    t.equal(await login(store, 'user-2'), 'v');
    t.same(await prepared(named), statements, 'the same two reused, none added');

    // A migration that adds a column must not break a connection's prepared statements: they name
    // their columns, so PostgreSQL replans them and their results keep their type.
    await pool.query(`alter table ${schema}.twofold_nonces add column extra text`);
    t.equal(await login(store, 'user-3'), 'v', 'still answers after the table changed');
    await store.close?.();

    const plain = await sqlStore({ db: unnamed, preparedStatements: false });
    t.equal(await login(plain, 'user-4'), 'v');
    t.same(await prepared(unnamed), [], 'preparedStatements: false names nothing');
    await plain.close?.();
  },
);
