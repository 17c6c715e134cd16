import pg from 'pg';
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
