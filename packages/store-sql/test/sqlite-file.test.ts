import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reachBetterSqlite3 } from './helpers/databases.js';
import { runSqlSuite } from './helpers/run.js';

const { db: Database, skip } = await reachBetterSqlite3();
const dir = mkdtempSync(join(tmpdir(), 'twofold-store-sql-'));
const file = join(dir, 'store.db');
const db = Database && new Database(file);
db?.pragma('journal_mode = WAL');
if (!db) rmSync(dir, { recursive: true, force: true });

runSqlSuite(
  'sqlStore on an SQLite file',
  Database &&
    db && {
      dialect: 'sqlite',
      db,
      async close() {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
      async unreachable() {
        const closed = new Database(join(dir, 'closed.db'));
        closed.close();
        return closed;
      },
      async disposable() {
        const own = new Database(file);
        return {
          db: own,
          async close() {
            own.close();
          },
        };
      },
      // A second connection to the same file, as a second process would open.
      async peer(t) {
        const own = new Database(file);
        t.teardown(() => own.close());
        return own;
      },
    },
  skip,
);
