import Database from 'better-sqlite3';
import { runSqlSuite } from './helpers/run.js';

const db = new Database(':memory:');

runSqlSuite(
  'sqlStore on SQLite in memory',
  {
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
  false,
);
