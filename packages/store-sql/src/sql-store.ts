import {
  type AttemptState,
  type AuthenticatorAlgorithm,
  type AuthenticatorRecord,
  type CounterState,
  type PendingAuthenticator,
  type Store,
  StoreUnavailableError,
} from '@twofold/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import { SchemaMismatchError } from './errors.js';
import { type Connection, connect, type SqlDialect } from './internal/connect.js';
import { isDuplicateKey, isRetryable, toStoreError } from './internal/failures.js';
import { LATEST_VERSION } from './internal/migrations.js';
import { readSchemaVersion } from './internal/schema-version.js';
import {
  type AuthenticatorsTable,
  type Database,
  type TableNames,
  tableNames,
  toNullableNumber,
  toNumber,
} from './internal/tables.js';
import { inTransaction } from './internal/transaction.js';
import { parseOptions, type SqlStoreOptions, sqlStoreOptionsSchema } from './options.js';

/** How many times an operation the database aborted for a deadlock is run again. */
const MAX_ATTEMPTS = 5;

/**
 * How many times takeAttempt goes round when the counter changed between its two steps (deleted,
 * expired or lowered in between) before it gives up, failing closed.
 */
const MAX_TAKE_ROUNDS = 20;

/** The largest count the counters table holds (a 32-bit INTEGER column on every dialect). */
const MAX_COUNT = 2_147_483_647;

/** The longest user id, authenticator id, key or recovery code hash the tables hold. */
const MAX_ID_LENGTH = 255;

/**
 * Refuses an id longer than its column before a write, on every database alike: MySQL without a
 * strict sql_mode would otherwise cut it short and merge two ids into one.
 */
function checkLength(name: string, values: readonly string[]): void {
  if (values.some((value) => value.length > MAX_ID_LENGTH)) {
    throw new RangeError(`sqlStore: ${name} must be at most ${MAX_ID_LENGTH} characters`);
  }
}

/** What one {@link SqlStore.sweep} deleted. */
export interface SweepResult {
  /** Expired pending enrollments. */
  authenticators: number;
  counters: number;
  nonces: number;
}

/** One stored sealed secret, as {@link SqlStore.listSealedSecrets} returns it. */
export interface SealedSecretEntry {
  userId: string;
  authenticatorId: string;
  /** The envelope as stored (`tf1.<tag>.<...>`); opening it needs the keyring. */
  sealedSecret: string;
}

/** Where a page of {@link SqlStore.listSealedSecrets} starts: after this (user, authenticator). */
export interface SealedSecretCursor {
  userId: string;
  authenticatorId: string;
}

/** Options of {@link SqlStore.listSealedSecrets}. */
export interface ListSealedSecretsOptions {
  /** List only authenticators after this one in (user id, authenticator id) order; default: from the start. */
  after?: SealedSecretCursor | null;
  /** At most this many entries, 1 to 1000 (default 100). */
  limit?: number;
}

/** The most entries one page of {@link SqlStore.listSealedSecrets} returns. */
const MAX_LIST_LIMIT = 1000;

/** The SQL store: a {@link Store} plus an explicit sweep and the listing key rotation needs. */
export interface SqlStore extends Store {
  /**
   * Deletes every expired row (pending enrollments, counters, nonces) as of `now` (ms since the
   * epoch). Queries ignore expired rows anyway; the sweep only keeps the tables small. Writes run
   * it on their own at most once per `sweepIntervalMs`; call it from a job when that is off.
   */
  sweep(now: number): Promise<SweepResult>;
  /**
   * One page of every authenticator's sealed secret (pending ones included, until swept), in
   * (user id, authenticator id) order, for offline maintenance such as re-sealing every secret under
   * a new key (`twofold rotate-keys`). Pass the last entry of a page as `after` to get the next;
   * a page shorter than `limit` is the last. Keyset paging: rows written or deleted meanwhile never
   * make a page skip or repeat the rows that stay. Change what it finds only with
   * {@link Store.replaceSealedSecret} (compare-and-set), never by writing the listed value back.
   * Not part of the Store contract: the engine never lists.
   * @throws {RangeError} `limit` is not a whole number from 1 to 1000.
   * @example
   * let page = await store.listSealedSecrets({ limit: 500 });
   * while (page.length > 0) {
   *   // ... handle page ...
   *   page = await store.listSealedSecrets({ after: page[page.length - 1], limit: 500 });
   * }
   */
  listSealedSecrets(options?: ListSealedSecretsOptions): Promise<SealedSecretEntry[]>;
  /** How many authenticators (pending ones included, until swept) the store holds: the total of a full listing. */
  countSealedSecrets(): Promise<number>;
  /**
   * Resolves at once: the store opens no connection of its own, and never ends the pool, database
   * or Kysely instance it was given; close those yourself when the app stops.
   */
  close(): Promise<void>;
}

/**
 * Creates the SQL store on PostgreSQL (a server, or PGlite in the process), MySQL/MariaDB or SQLite, through Kysely. Resolves once it has
 * checked that the tables are at the schema version this package needs, so the call is awaited:
 * `const store = await sqlStore({ db })`.
 *
 * Every operation decides in one conditional statement or one transaction; expired rows are
 * ignored by every query (compared with the caller's `now`, never the database clock) and swept.
 *
 * @param options.db a Kysely instance, a pg Pool, a mysql2 pool (callback or promise API), a PGlite
 *   instance or a better-sqlite3 Database; the store uses it and never ends it
 * @param options.prefix prepended to every table name (default `twofold_`)
 * @param options.dialect only for a Kysely instance with a third-party dialect: 'postgres',
 *   'mysql' or 'sqlite'
 * @param options.sweepIntervalMs at most how often writes sweep expired rows, in store time
 *   (default 60 000 ms); false to only sweep when you call `sweep(now)`
 * @returns a promise of the store; it rejects with a TypeError for bad options, with
 *   {@link SchemaMismatchError} when migrations are missing or newer than this package, and with
 *   StoreUnavailableError when the database cannot be reached
 * @example
 * import pg from 'pg';
 * import { migrate, sqlStore } from '@twofold/store-sql';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool); // at deploy time, or `twofold migrate`
 * const store = await sqlStore({ db: pool });
 */
export async function sqlStore(options: SqlStoreOptions): Promise<SqlStore> {
  const { db, prefix, dialect, sweepIntervalMs } = parseOptions(sqlStoreOptionsSchema, options, 'sqlStore');
  const connection = connect(db, 'Invalid sqlStore options: "db"', dialect);
  const t = tableNames(prefix);
  let found: number;
  try {
    found = await readSchemaVersion(connection.db, connection.dialect, t);
  } catch (error) {
    throw toStoreError(error, connection.dialect);
  }
  if (found !== LATEST_VERSION) throw new SchemaMismatchError(LATEST_VERSION, found, prefix);
  return createStore(connection, t, sweepIntervalMs);
}

/** Checks the options of listSealedSecrets, filling in the default limit. */
function listOptions(options: ListSealedSecretsOptions): { after: SealedSecretCursor | null; limit: number } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('listSealedSecrets: options must be an object');
  }
  const { after = null, limit = 100 } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new RangeError(`listSealedSecrets: limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  if (
    after !== null &&
    (typeof after !== 'object' ||
      typeof after.userId !== 'string' ||
      typeof after.authenticatorId !== 'string')
  ) {
    throw new TypeError('listSealedSecrets: after must be { userId, authenticatorId } (strings) or null');
  }
  return { after, limit };
}

type AuthenticatorRow = Selectable<AuthenticatorsTable>;

function toRecord(row: AuthenticatorRow): AuthenticatorRecord {
  return {
    userId: row.user_id,
    id: row.id,
    status: row.status,
    sealedSecret: row.sealed_secret,
    algorithm: row.algorithm as AuthenticatorAlgorithm,
    digits: toNumber(row.digits),
    period: toNumber(row.period),
    lastCounter: toNumber(row.last_counter),
    createdAt: toNumber(row.created_at),
    confirmedAt: toNullableNumber(row.confirmed_at),
    lastUsedAt: toNullableNumber(row.last_used_at),
    expiresAt: toNullableNumber(row.expires_at),
  };
}

/** How many rows a statement touched (Kysely reports bigints, or undefined for none). */
function touched(count: bigint | undefined): number {
  return count === undefined ? 0 : Number(count);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs one operation: again (with a short random pause) when the database aborted it to break a
 * deadlock, or when `retryIf` says so, and with a connection failure turned into
 * StoreUnavailableError. Any other error rejects unchanged.
 */
async function attempt<T>(
  dialect: SqlDialect,
  work: () => Promise<T>,
  retryIf: (error: unknown) => boolean = () => false,
): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await work();
    } catch (error) {
      if (!isRetryable(error, dialect) && !retryIf(error)) throw toStoreError(error, dialect);
      if (attempts >= MAX_ATTEMPTS) {
        throw new StoreUnavailableError(
          `The ${dialect} database kept aborting a twofold store operation on lock conflicts`,
          { cause: error },
        );
      }
      await delay(attempts * 5 + Math.random() * 20);
    }
  }
}

function createStore(connection: Connection, t: TableNames, sweepIntervalMs: number | false): SqlStore {
  const { db, dialect } = connection;
  let nextSweepAt = Number.NEGATIVE_INFINITY;

  /** A column of `table` qualified by the table's real name (needed inside upserts). */
  const column = (table: keyof Database, name: string) => sql.ref(`${t[table]}.${name}`);

  async function sweep(now: number): Promise<SweepResult> {
    const authenticators = await db
      .deleteFrom(t.authenticators)
      .where('status', '=', 'pending')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    const counters = await db.deleteFrom(t.counters).where('expires_at', '<=', now).executeTakeFirst();
    const nonces = await db.deleteFrom(t.nonces).where('expires_at', '<=', now).executeTakeFirst();
    return {
      authenticators: touched(authenticators.numDeletedRows),
      counters: touched(counters.numDeletedRows),
      nonces: touched(nonces.numDeletedRows),
    };
  }

  /** Sweeps before a write when `sweepIntervalMs` of store time have passed since the last sweep. */
  async function sweepIfDue(now: number): Promise<void> {
    if (sweepIntervalMs === false || now < nextSweepAt) return;
    nextSweepAt = now + sweepIntervalMs;
    await attempt(dialect, () => sweep(now));
  }

  async function writeRecoveryCodes(trx: Kysely<Database>, userId: string, hashes: readonly string[]) {
    checkLength('a recovery code hash', hashes);
    await trx.deleteFrom(t.recovery_codes).where('user_id', '=', userId).execute();
    const unique = [...new Set(hashes)];
    if (unique.length === 0) return;
    await trx
      .insertInto(t.recovery_codes)
      .values(unique.map((codeHash) => ({ user_id: userId, code_hash: codeHash })))
      .execute();
  }

  async function savePending(record: PendingAuthenticator): Promise<boolean> {
    const { userId, id, ...rest } = record;
    checkLength('userId', [userId]);
    checkLength('the authenticator id', [id]);
    const fields = {
      status: 'pending' as const,
      sealed_secret: rest.sealedSecret,
      algorithm: rest.algorithm,
      digits: rest.digits,
      period: rest.period,
      last_counter: rest.lastCounter,
      created_at: rest.createdAt,
      confirmed_at: null,
      last_used_at: null,
      expires_at: rest.expiresAt,
    };
    if (dialect !== 'mysql') {
      // One upsert whose update applies only to a pending row: an active one is left as it is.
      const result = await db
        .insertInto(t.authenticators)
        .values({ user_id: userId, id, ...fields })
        .onConflict((conflict) =>
          conflict
            .columns(['user_id', 'id'])
            .doUpdateSet(fields)
            .where(column('authenticators', 'status'), '=', 'pending'),
        )
        .executeTakeFirst();
      return touched(result.numInsertedOrUpdatedRows) > 0;
    }
    // MySQL's upsert has no condition: lock the row (or its gap) and decide. Two transactions that
    // both find no row deadlock on insert (or, under READ COMMITTED, one hits the primary key); the
    // loser is run again by attempt() and finds the row.
    return inTransaction(connection, async (trx) => {
      const existing = await trx
        .selectFrom(t.authenticators)
        .select('status')
        .where('user_id', '=', userId)
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (existing?.status === 'active') return false;
      if (existing) {
        await trx
          .updateTable(t.authenticators)
          .set(fields)
          .where('user_id', '=', userId)
          .where('id', '=', id)
          .execute();
      } else {
        await trx
          .insertInto(t.authenticators)
          .values({ user_id: userId, id, ...fields })
          .execute();
      }
      return true;
    });
  }

  /** A counters row as a CounterState. */
  function toCounter(row: { count: number | string | bigint; expires_at: number | string | bigint }) {
    return { count: toNumber(row.count), expiresAt: toNumber(row.expires_at) };
  }

  /**
   * One round of takeAttempt on PostgreSQL or SQLite: one upsert that counts only while the counter
   * is absent, expired or below the limit, then (when it counted nothing) the read of the counter
   * that stands at the limit. Null when that counter was deleted, expired or lowered in between.
   */
  async function takeAttemptUpsert(
    userId: string,
    key: string,
    limit: number,
    expiresAt: number,
    now: number,
  ): Promise<AttemptState | null> {
    const storedCount = column('counters', 'count');
    const storedExpiry = column('counters', 'expires_at');
    const count = sql<number>`case when ${storedExpiry} <= ${now} then 1 else ${storedCount} + 1 end`;
    const taken = await db
      .insertInto(t.counters)
      .values({ user_id: userId, key, count: 1, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict
          .columns(['user_id', 'key'])
          .doUpdateSet({ count, expires_at: expiresAt })
          .where((eb) => eb.or([eb(storedExpiry, '<=', now), eb(storedCount, '<', limit)])),
      )
      .returning(['count', 'expires_at'])
      .executeTakeFirst();
    if (taken) return { taken: true, ...toCounter(taken) };
    const standing = await db
      .selectFrom(t.counters)
      .select(['count', 'expires_at'])
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .where('count', '>=', limit)
      .executeTakeFirst();
    return standing ? { taken: false, ...toCounter(standing) } : null;
  }

  /**
   * One round of takeAttempt on MySQL, whose upsert has neither a condition nor RETURNING. An insert
   * of its own (autocommit) counts the first attempt when there is no row, the usual case since a
   * success deletes the counter. Otherwise a transaction locks the row and decides; locking only an
   * existing row (never a gap) keeps concurrent takes from deadlocking each other. Null when the row
   * was deleted between the two.
   */
  async function takeAttemptLocked(
    userId: string,
    key: string,
    limit: number,
    expiresAt: number,
    now: number,
  ): Promise<AttemptState | null> {
    try {
      await db
        .insertInto(t.counters)
        .values({ user_id: userId, key, count: 1, expires_at: expiresAt })
        .execute();
      return { taken: true, count: 1, expiresAt };
    } catch (error) {
      if (!isDuplicateKey(error, dialect)) throw error;
    }
    return inTransaction(connection, async (trx) => {
      const row = await trx
        .selectFrom(t.counters)
        .select(['count', 'expires_at'])
        .where('user_id', '=', userId)
        .where('key', '=', key)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return null;
      const current = toCounter(row);
      const live = current.expiresAt > now;
      if (live && current.count >= limit) return { taken: false, ...current };
      const count = live ? current.count + 1 : 1;
      await trx
        .updateTable(t.counters)
        .set({ count, expires_at: expiresAt })
        .where('user_id', '=', userId)
        .where('key', '=', key)
        .execute();
      return { taken: true, count, expiresAt };
    });
  }

  async function takeAttempt(
    userId: string,
    key: string,
    limit: number,
    ttlMs: number,
    now: number,
  ): Promise<AttemptState> {
    checkLength('userId', [userId]);
    checkLength('the counter key', [key]);
    const expiresAt = now + ttlMs;
    const round = dialect === 'mysql' ? takeAttemptLocked : takeAttemptUpsert;
    for (let rounds = 1; ; rounds++) {
      const result = await round(userId, key, limit, expiresAt, now);
      if (result) return result;
      // The counter changed between the round's two steps (a reset or sweep): decide again.
      if (rounds >= MAX_TAKE_ROUNDS) {
        throw new StoreUnavailableError(
          `The ${dialect} counter kept changing under a twofold takeAttempt (${rounds} rounds)`,
        );
      }
    }
  }

  /**
   * Deletes every authenticator and recovery code of the user inside `trx`, and says whether an
   * active authenticator was among them.
   */
  async function deleteTwoFactorIn(trx: Kysely<Database>, userId: string): Promise<boolean> {
    const active = await trx
      .deleteFrom(t.authenticators)
      .where('user_id', '=', userId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    await trx.deleteFrom(t.authenticators).where('user_id', '=', userId).execute();
    await trx.deleteFrom(t.recovery_codes).where('user_id', '=', userId).execute();
    return touched(active.numDeletedRows) > 0;
  }

  async function claimNonce(userId: string, key: string, value: string, expiresAt: number, now: number) {
    checkLength('userId', [userId]);
    checkLength('the nonce key', [key]);
    if (dialect !== 'mysql') {
      // Inserts, or takes over an expired row; a live row makes the statement touch nothing.
      const result = await db
        .insertInto(t.nonces)
        .values({ user_id: userId, key, value, expires_at: expiresAt })
        .onConflict((conflict) =>
          conflict
            .columns(['user_id', 'key'])
            .doUpdateSet({ value, expires_at: expiresAt })
            .where(column('nonces', 'expires_at'), '<=', now),
        )
        .executeTakeFirst();
      return touched(result.numInsertedOrUpdatedRows) > 0;
    }
    // MySQL: drop an expired row, then insert; of concurrent inserts the primary key lets one in.
    await db
      .deleteFrom(t.nonces)
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('expires_at', '<=', now)
      .execute();
    try {
      await db.insertInto(t.nonces).values({ user_id: userId, key, value, expires_at: expiresAt }).execute();
      return true;
    } catch (error) {
      if (isDuplicateKey(error, dialect)) return false;
      throw error;
    }
  }

  const store: SqlStore = {
    getAuthenticator: (userId, authenticatorId, now) =>
      attempt(dialect, async () => {
        const row = await db
          .selectFrom(t.authenticators)
          .selectAll()
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
          .executeTakeFirst();
        return row ? toRecord(row) : null;
      }),

    async savePendingAuthenticator(record, now) {
      await sweepIfDue(now);
      return attempt(
        dialect,
        () => savePending(record),
        (error) => dialect === 'mysql' && isDuplicateKey(error, dialect),
      );
    },

    async confirmAuthenticator(userId, authenticatorId, { sealedSecret, counter, recoveryCodeHashes, now }) {
      await sweepIfDue(now);
      return attempt(dialect, () =>
        inTransaction(connection, async (trx) => {
          // The conditional update decides: of concurrent confirms only one finds the row pending,
          // and only while it still holds the secret the confirming code was checked against.
          const activated = await trx
            .updateTable(t.authenticators)
            .set({
              status: 'active',
              confirmed_at: now,
              last_used_at: now,
              last_counter: counter,
              expires_at: null,
            })
            .where('user_id', '=', userId)
            .where('id', '=', authenticatorId)
            .where('status', '=', 'pending')
            .where('sealed_secret', '=', sealedSecret)
            .where('expires_at', '>', now)
            .executeTakeFirst();
          if (touched(activated.numUpdatedRows) === 0) return false;
          await writeRecoveryCodes(trx, userId, recoveryCodeHashes);
          return true;
        }),
      );
    },

    consumeCounter: (userId, authenticatorId, counter, now) =>
      attempt(dialect, async () => {
        const result = await db
          .updateTable(t.authenticators)
          .set({ last_counter: counter, last_used_at: now })
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where('status', '=', 'active')
          .where('last_counter', '<', counter)
          .executeTakeFirst();
        return touched(result.numUpdatedRows) > 0;
      }),

    replaceSealedSecret: (userId, authenticatorId, expected, next) =>
      attempt(dialect, async () => {
        const result = await db
          .updateTable(t.authenticators)
          .set({ sealed_secret: next })
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where('sealed_secret', '=', expected)
          .executeTakeFirst();
        return touched(result.numUpdatedRows) > 0;
      }),

    deleteTwoFactor: (userId) =>
      attempt(dialect, () => inTransaction(connection, (trx) => deleteTwoFactorIn(trx, userId))),

    async replaceRecoveryCodes(userId, hashes, now) {
      await sweepIfDue(now);
      return attempt(dialect, () =>
        inTransaction(connection, async (trx) => {
          // Locks the active authenticators so that a concurrent disable cannot interleave (SQLite's
          // transaction already holds the write lock).
          const query = trx
            .selectFrom(t.authenticators)
            .select('id')
            .where('user_id', '=', userId)
            .where('status', '=', 'active');
          const active = await (dialect === 'sqlite' ? query : query.forUpdate()).execute();
          if (active.length === 0) return false;
          await writeRecoveryCodes(trx, userId, hashes);
          return true;
        }),
      );
    },

    consumeRecoveryCode: (userId, hash) =>
      attempt(dialect, async () => {
        const result = await db
          .deleteFrom(t.recovery_codes)
          .where('user_id', '=', userId)
          .where('code_hash', '=', hash)
          .executeTakeFirst();
        return touched(result.numDeletedRows) > 0;
      }),

    countRecoveryCodes: (userId) =>
      attempt(dialect, async () => {
        const row = await db
          .selectFrom(t.recovery_codes)
          .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
          .where('user_id', '=', userId)
          .executeTakeFirstOrThrow();
        return toNumber(row.count);
      }),

    async incrementCounter(userId, key, ttlMs, now): Promise<CounterState> {
      await sweepIfDue(now);
      // An increment is an attempt whose limit a count never reaches (the column's largest value,
      // the count's own ceiling): one statement for both.
      const { count, expiresAt } = await attempt(dialect, () =>
        takeAttempt(userId, key, MAX_COUNT, ttlMs, now),
      );
      return { count, expiresAt };
    },

    async takeAttempt(userId, key, limit, ttlMs, now): Promise<AttemptState> {
      await sweepIfDue(now);
      return attempt(dialect, () => takeAttempt(userId, key, limit, ttlMs, now));
    },

    resetCounterIfUnchanged: (userId, key, expected) =>
      attempt(dialect, async () => {
        const result = await db
          .deleteFrom(t.counters)
          .where('user_id', '=', userId)
          .where('key', '=', key)
          .where('count', '=', expected.count)
          .where('expires_at', '=', expected.expiresAt)
          .executeTakeFirst();
        return touched(result.numDeletedRows) > 0;
      }),

    getCounter: (userId, key, now) =>
      attempt(dialect, async () => {
        const row = await db
          .selectFrom(t.counters)
          .select(['count', 'expires_at'])
          .where('user_id', '=', userId)
          .where('key', '=', key)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        return row ? toCounter(row) : null;
      }),

    resetCounter: (userId, key) =>
      attempt(dialect, async () => {
        await db.deleteFrom(t.counters).where('user_id', '=', userId).where('key', '=', key).execute();
      }),

    putNonce: (userId, key, value, expiresAt, now) =>
      attempt(dialect, async () => {
        checkLength('userId', [userId]);
        checkLength('the nonce key', [key]);
        await sweepIfDue(now);
        const insert = db.insertInto(t.nonces).values({ user_id: userId, key, value, expires_at: expiresAt });
        await (dialect === 'mysql'
          ? insert.onDuplicateKeyUpdate({ value, expires_at: expiresAt })
          : insert.onConflict((conflict) =>
              conflict.columns(['user_id', 'key']).doUpdateSet({ value, expires_at: expiresAt }),
            )
        ).execute();
      }),

    getNonce: (userId, key, now) =>
      attempt(dialect, async () => {
        const row = await db
          .selectFrom(t.nonces)
          .select('value')
          .where('user_id', '=', userId)
          .where('key', '=', key)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        return row?.value ?? null;
      }),

    async claimNonce(userId, key, value, expiresAt, now) {
      await sweepIfDue(now);
      return attempt(dialect, () => claimNonce(userId, key, value, expiresAt, now));
    },

    takeNonce: (userId, key, value, now) =>
      attempt(dialect, async () => {
        const result = await db
          .deleteFrom(t.nonces)
          .where('user_id', '=', userId)
          .where('key', '=', key)
          .where('value', '=', value)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        return touched(result.numDeletedRows) > 0;
      }),

    swapNonce: (userId, key, expected, next, expiresAt, now) =>
      attempt(dialect, async () => {
        const result = await db
          .updateTable(t.nonces)
          .set({ value: next, expires_at: expiresAt })
          .where('user_id', '=', userId)
          .where('key', '=', key)
          .where('value', '=', expected)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        return touched(result.numUpdatedRows) > 0;
      }),

    deleteNonce: (userId, key) =>
      attempt(dialect, async () => {
        await db.deleteFrom(t.nonces).where('user_id', '=', userId).where('key', '=', key).execute();
      }),

    takeNonceAndDeleteTwoFactor: (userId, key, value, now) =>
      attempt(dialect, () =>
        inTransaction(connection, async (trx) => {
          // The nonce's conditional delete decides, as in takeNonce: of concurrent calls only one
          // removes the row (the others wait on its lock and then find it gone).
          const taken = await trx
            .deleteFrom(t.nonces)
            .where('user_id', '=', userId)
            .where('key', '=', key)
            .where('value', '=', value)
            .where('expires_at', '>', now)
            .executeTakeFirst();
          if (touched(taken.numDeletedRows) === 0) return false;
          await deleteTwoFactorIn(trx, userId);
          return true;
        }),
      ),

    sweep: (now) => attempt(dialect, () => sweep(now)),

    async listSealedSecrets(options = {}) {
      const { after, limit } = listOptions(options);
      return attempt(dialect, async () => {
        let query = db
          .selectFrom(t.authenticators)
          .select(['user_id', 'id', 'sealed_secret'])
          .orderBy('user_id')
          .orderBy('id')
          .limit(limit);
        if (after) {
          query = query.where((eb) =>
            eb.or([
              eb('user_id', '>', after.userId),
              eb.and([eb('user_id', '=', after.userId), eb('id', '>', after.authenticatorId)]),
            ]),
          );
        }
        const rows = await query.execute();
        return rows.map((row) => ({
          userId: row.user_id,
          authenticatorId: row.id,
          sealedSecret: row.sealed_secret,
        }));
      });
    },

    countSealedSecrets: () =>
      attempt(dialect, async () => {
        const row = await db
          .selectFrom(t.authenticators)
          .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
          .executeTakeFirstOrThrow();
        return toNumber(row.count);
      }),

    async close() {},
  };
  return store;
}
