import { z } from 'zod';
import type { SqlDatabase, SqlDialect } from './internal/connect.js';

const DAY = 24 * 60 * 60 * 1000;

const prefix = z
  .string({ error: 'must be a string' })
  .regex(
    /^[a-z][a-z0-9_]{0,29}$/,
    'must be 1-30 characters: a lowercase letter, then lowercase letters, digits or underscores',
  )
  .default('twofold_');

const dialect = z
  .enum(['postgres', 'mysql', 'sqlite'] as const satisfies readonly SqlDialect[], {
    error: "must be 'postgres', 'mysql' or 'sqlite'",
  })
  .optional();

/** The options of `migrate(db, options)`. */
export const migrateOptionsSchema = z.strictObject({
  /** Prepended to every table name (default `twofold_`); the same value as the store's. */
  prefix,
  /**
   * The dialect of a Kysely instance whose adapter is not one of Kysely's own (detected otherwise).
   */
  dialect,
});

/** The options of `sqlStore(options)`. */
export const sqlStoreOptionsSchema = z.strictObject({
  /**
   * The database: a Kysely instance, a pg Pool, a mysql2 pool (callback or promise API), a PGlite
   * instance or a better-sqlite3 Database. The store wraps a pool without owning it: `close()`
   * never ends it.
   */
  db: z.custom<SqlDatabase>(
    (value) => typeof value === 'object' && value !== null,
    'must be a Kysely instance, a pg Pool, a mysql2 pool, a PGlite instance or a better-sqlite3 Database',
  ),
  /** Prepended to every table name (default `twofold_`); lets several sets of tables share a database. */
  prefix,
  /**
   * The dialect of a Kysely instance whose adapter is not one of Kysely's own (detected otherwise).
   */
  dialect,
  /**
   * At most how often (in store time, the `now` of the calls) a write also sweeps expired rows, in
   * ms (default 60 000); `false` leaves sweeping to your own `store.sweep(now)` calls.
   */
  sweepIntervalMs: z
    .union([z.number().int().min(1000).max(DAY), z.literal(false)], {
      error: 'must be a whole number of milliseconds from 1000 to 86400000, or false',
    })
    .default(60_000),
  /**
   * PostgreSQL through a pg Pool: run the statements of a login (begin, consume, nonces...) as named
   * prepared statements, parsed and planned once per connection (default `true`). `false` for a
   * pooler between the app and the database that cannot keep them, such as PgBouncer in transaction
   * mode before 1.21. No effect on other databases, or on a Kysely instance.
   */
  preparedStatements: z.boolean({ error: 'must be true or false' }).default(true),
});

/** Options of `migrate(db, options)` (defaults filled in when omitted). */
export type MigrateOptions = z.input<typeof migrateOptionsSchema>;

/** Options of `sqlStore(options)` (defaults filled in when omitted). */
export type SqlStoreOptions = z.input<typeof sqlStoreOptionsSchema>;

export { parseOptions } from '@twofold/core';
