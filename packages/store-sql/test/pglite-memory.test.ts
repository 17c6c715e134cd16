import { PGlite } from '@electric-sql/pglite';
import tap from 'tap';
import { runSqlSuite } from './helpers/run.js';

// PGlite runs every statement in WebAssembly on this thread, one at a time, and a new database
// starts with initdb: on a loaded machine this file takes minutes, more than tap's default limit.
tap.setTimeout(600_000);

const db = await PGlite.create();

runSqlSuite(
  'sqlStore on PGlite in memory',
  {
    dialect: 'postgres',
    db,
    async close() {
      await db.close();
    },
    // Copies of the database (far quicker than a new one, which runs initdb).
    async unreachable() {
      const closed = await db.clone();
      await closed.close();
      return closed;
    },
    async disposable() {
      const own = await db.clone();
      return { db: own, close: () => own.close() };
    },
    // No peer: a PGlite instance is the one session of its database.
  },
  false,
);
