// The HTTP contract suite against the Express router on sqlStore over SQLite in memory
// (better-sqlite3): a fresh, migrated database for each test.

import { runHttpContract } from '@twofold/http-test-suite';
import { migrate, sqlStore } from '@twofold/store-sql';
import Database from 'better-sqlite3';
import { makeExpressContractApp } from './contract-app.js';

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
