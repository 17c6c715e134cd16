import mysql from 'mysql2';
import { closedPort, endMysqlPool, MARIADB, reachMariadb } from './helpers/databases.js';
import { runSqlSuite } from './helpers/run.js';

const { db: pool, skip } = await reachMariadb();

runSqlSuite(
  'sqlStore on MariaDB',
  pool && {
    dialect: 'mysql',
    db: pool,
    close: () => endMysqlPool(pool),
    async unreachable(t) {
      const closed = mysql.createPool({ ...MARIADB, port: await closedPort(), connectTimeout: 2000 });
      t.teardown(() => endMysqlPool(closed));
      return closed;
    },
    async disposable() {
      const own = mysql.createPool({ ...MARIADB, connectionLimit: 2 });
      return { db: own, close: () => endMysqlPool(own) };
    },
    // The promise API of mysql2, which the store accepts as well.
    async peer(t) {
      const own = mysql.createPool({ ...MARIADB, connectionLimit: 10 }).promise();
      t.teardown(() => own.end());
      return own;
    },
  },
  skip,
);
