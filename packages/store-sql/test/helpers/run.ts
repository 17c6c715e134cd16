import type { PGlite } from '@electric-sql/pglite';
import { runStoreSuite } from '@twofold/store-test-suite';
import tap from 'tap';
import { migrate, sqlStore } from '../../src/index.js';
import { type SqlTarget, sqlAdapterTests } from './adapter-tests.js';
import { dropTables, uniquePrefix } from './databases.js';
import { secondFactorTests } from './second-factor-tests.js';

/**
 * Runs the Store conformance suite on `target` under a table prefix of this run (migrated before the
 * first store, dropped at the end), with the SQL store's own tests as additional tests; skips it all
 * with `skip` when the database is missing. `races`: the suite's race size, when not its default
 * (100 calls at once, 5 rounds).
 */
export function runSqlSuite(
  name: string,
  target: SqlTarget | undefined,
  skip: string | false,
  races: { concurrency?: number; rounds?: number } = {},
): void {
  const prefix = uniquePrefix('tfs');
  let migrated: Promise<unknown> | undefined;
  if (target) {
    tap.teardown(async () => {
      await dropTables(target.db, target.dialect, prefix);
      await target.close();
    });
  }
  runStoreSuite(
    name,
    async () => {
      if (!target) throw new Error('no database');
      migrated ??= migrate(target.db, { prefix });
      await migrated;
      return sqlStore({ db: target.db, prefix });
    },
    {
      skip,
      ...races,
      additionalTests: (t) => {
        if (!target) return;
        sqlAdapterTests(t, target);
        secondFactorTests(t, target);
      },
    },
  );
}

/**
 * The races for a PGlite instance: it is one session that runs one statement at a time, so 100
 * calls at once are 100 calls in a row, and the suite's default rounds spend most of the file's time
 * proving the same order again. Twenty at once, twice, still make every race's calls queue behind
 * each other (the losers see the winner's write), which is what a race can show on it.
 */
export const PGLITE_RACES = { concurrency: 20, rounds: 2 } as const;

/**
 * The suite's target for a PGlite instance (in memory or on a data directory): the stores it needs
 * besides `db` are clones of it, far quicker than a new database (which runs initdb). No peer: a
 * PGlite instance is the one session of its database.
 */
export function pgliteTarget(db: PGlite): SqlTarget {
  return {
    dialect: 'postgres',
    db,
    async close() {
      await db.close();
    },
    async unreachable() {
      const closed = await db.clone();
      await closed.close();
      return closed;
    },
    async disposable() {
      const own = await db.clone();
      return { db: own, close: () => own.close() };
    },
  };
}
