/**
 * better-sqlite3, an optional dependency of the workspace: its native build may fail on a fresh
 * machine, and `pnpm install` then goes on without it. Tests that need it load it through
 * {@link reachBetterSqlite3} and follow the rule of {@link missing}: skipped outside CI, a failure
 * under CI.
 */
import { type MissingOptions, missing, missingSkip, type Reporter } from './missing.js';

/** What the tests that need better-sqlite3 are skipped with (or, under CI, fail with). */
export const BETTER_SQLITE3_MISSING =
  'better-sqlite3 not installed or not built (an optional dependency whose native build may fail: ' +
  'npm_config_nodedir=/usr pnpm rebuild better-sqlite3, or install a C toolchain (python3, make, g++) ' +
  'and run pnpm rebuild better-sqlite3)';

/** The module, or why its tests are skipped (`skip` is the message, to pass as `{ skip }`). */
export type Reached<T> = { db: T; skip: false } | { db: undefined; skip: string };

/** What the probe needs of better-sqlite3's `Database` class: it opens `':memory:'` and closes. */
export type SqliteConstructor = new (filename: string) => { close(): unknown };

export interface ReachOptions extends MissingOptions {
  /**
   * Every test of the file needs it: report it with {@link missing} (outside CI a skipped test named
   * by the message) rather than {@link missingSkip} (the caller passes `skip` to its own tests).
   */
  all?: boolean;
}

/**
 * better-sqlite3's `Database` class, or the message its tests are skipped with (under CI `t` also
 * fails). The module is loaded by `load`, written in the test as `() => import('better-sqlite3')`,
 * so that it resolves from the test's own package (this one does not depend on it). Opening an
 * in-memory database proves that the native addon was built too: the import alone succeeds without it.
 * @example const { db: Database, skip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));
 */
export async function reachBetterSqlite3<D extends SqliteConstructor>(
  t: Reporter,
  load: () => Promise<{ default: D }>,
  options: ReachOptions = {},
): Promise<Reached<D>> {
  try {
    const { default: Database } = await load();
    new Database(':memory:').close();
    return { db: Database, skip: false };
  } catch (error) {
    const { all, ...rest } = options;
    const reportOptions = { ...rest, error };
    if (all) missing(t, BETTER_SQLITE3_MISSING, reportOptions);
    else missingSkip(t, BETTER_SQLITE3_MISSING, reportOptions);
    return { db: undefined, skip: BETTER_SQLITE3_MISSING };
  }
}
