import { TwofoldError } from '@twofold/core';

/**
 * The database's twofold tables are at another schema version than this package expects: not
 * migrated yet (or only partly), or migrated by a newer version of the package. `sqlStore()` and
 * `migrate()` reject with it instead of running against tables that might lack a column (a store
 * that silently lost its lockout counters would fail open unseen).
 *
 * Its `code` is `TWOFOLD_SCHEMA_MISMATCH` (a code of this package, added to `TwofoldErrorCode` below;
 * the HTTP plugins answer it 500); `expected` and `found` are the two versions (0 when the tables do
 * not exist).
 */
export class SchemaMismatchError extends TwofoldError {
  static override readonly code = 'TWOFOLD_SCHEMA_MISMATCH';
  /** The schema version this package works with. */
  readonly expected: number;
  /** The schema version recorded in the database (0 when it has none). */
  readonly found: number;
  /** The table-name prefix the check looked at. */
  readonly prefix: string;

  constructor(expected: number, found: number, prefix: string) {
    super(
      found < expected
        ? `The twofold tables (prefix "${prefix}") are at schema version ${found}, but @twofold/store-sql ` +
            `needs version ${expected}: run the migrations first, with migrate(db, { prefix: "${prefix}" }) ` +
            'from @twofold/store-sql or `twofold migrate`'
        : `The twofold tables (prefix "${prefix}") are at schema version ${found}, newer than this ` +
            `@twofold/store-sql supports (${expected}): upgrade @twofold/store-sql (migrations never go down)`,
    );
    this.expected = expected;
    this.found = found;
    this.prefix = prefix;
  }
}

declare module '@twofold/core' {
  interface TwofoldErrorCodeExtensions {
    [SchemaMismatchError.code]: SchemaMismatchError;
  }
}
