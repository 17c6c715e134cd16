import { reachBetterSqlite3 } from './helpers/databases.js';
import { runSqlSuite } from './helpers/run.js';

const { db: Database, skip } = await reachBetterSqlite3();
const db = Database && new Database(':memory:');

runSqlSuite(
  'sqlStore on SQLite in memory',
  Database &&
    db && {
      dialect: 'sqlite',
      db,
      async close() {
        db.close();
      },
      async unreachable() {
        const closed = new Database(':memory:');
        closed.close();
        return closed;
      },
      async disposable() {
        const own = new Database(':memory:');
        return {
          db: own,
          async close() {
            own.close();
          },
        };
      },
    },
  skip,
);
