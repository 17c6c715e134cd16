/**
 * The one rule for a tool or server a test needs and does not find: outside CI its tests are
 * skipped with a message naming it; under CI the file fails, because a suite that silently skipped
 * its real peers would pass while proving nothing.
 */
import type { Test } from 'tap';

/** Values of `CI` that mean "not CI" (compared trimmed and lower-cased); an unset `CI` too. */
const NOT_CI = new Set(['', '0', 'false']);

/**
 * Whether the tests run under CI, where a missing tool or server is a failure: `CI` is set to
 * anything but `''`, `'0'` or `'false'` (any case, surrounding spaces ignored). GitHub Actions,
 * GitLab CI, CircleCI and `.ci/run` set `CI=true`; `CI=0` or `CI=false` runs like a local shell.
 * @param env The environment to read. Default: `process.env`.
 * @example isCI({ CI: 'true' }) // true
 * @example isCI({ CI: 'False' }) // false
 */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI;
  return value !== undefined && !NOT_CI.has(value.trim().toLowerCase());
}

/** What {@link missing} and {@link missingSkip} report on: a tap `Test`, or `tap` itself. */
export type Reporter = Pick<Test, 'fail' | 'test'>;

export interface MissingOptions {
  /** Why the probe failed (a connection error, say); added to the failure's diagnostics under CI. */
  error?: unknown;
  /** The environment {@link isCI} reads. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Fails `t` under CI, naming `what`; returns whether it did. */
function failUnderCi(t: Reporter, what: string, options: MissingOptions): boolean {
  const env = options.env ?? process.env;
  if (!isCI(env)) return false;
  const message = `${what} (CI=${env.CI} requires it)`;
  if (options.error === undefined) t.fail(message);
  else t.fail(message, { error: String(options.error) });
  return true;
}

/**
 * Reports that `what` is missing, for a file or group whose tests all need it: under CI a failure
 * on `t`; elsewhere a skipped test named by `what`. Name the tool or server and where it was looked
 * for, so the reader knows what to install or start.
 * @example if (!(await isListening(6379))) missing(t, 'Redis not reachable at 127.0.0.1:6379');
 */
export function missing(t: Reporter, what: string, options: MissingOptions = {}): void {
  if (!failUnderCi(t, what, options)) t.test(what, { skip: what }, () => {});
}

/**
 * The same rule for tests that take a `skip` option: returns `what`, to pass as `{ skip }`, and under
 * CI also fails `t`, so the file fails while the tests that need `what` are skipped.
 * @example const skip = installed ? false : missingSkip(t, 'oathtool not installed (apt-get install oathtool)');
 */
export function missingSkip(t: Reporter, what: string, options: MissingOptions = {}): string {
  failUnderCi(t, what, options);
  return what;
}
