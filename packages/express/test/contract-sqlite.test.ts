// The HTTP contract suite against the Express router on sqlStore over SQLite in memory
// (better-sqlite3): a fresh, migrated database for each test. better-sqlite3 is an optional
// dependency: without it the suite is skipped (under CI the file fails).

import { runHttpContract } from '@twofold/http-test-suite';
import { migrate, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import tap from 'tap';
import { makeExpressContractApp } from './contract-app.js';

const { db: Database } = await reachBetterSqlite3(tap, () => import('better-sqlite3'), { all: true });

if (Database) {
  runHttpContract('@twofold/express on sqlStore (SQLite in memory)', makeExpressContractApp, {
    async makeStore() {
      const db = new Database(':memory:');
      await migrate(db);
      const store = await sqlStore({ db });
      return {
        store,
        async close() {
          await store.close();
          db.close();
        },
      };
    },
  });
}
