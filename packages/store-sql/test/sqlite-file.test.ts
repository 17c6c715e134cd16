import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runSqlSuite } from './helpers/run.js';

const dir = mkdtempSync(join(tmpdir(), 'twofold-store-sql-'));
const file = join(dir, 'store.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');

runSqlSuite(
  'sqlStore on an SQLite file',
  {
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
  false,
);
