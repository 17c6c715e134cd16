import { createHash } from 'node:crypto';
import {
  type AddAuthenticatorOutcome,
  type AttemptState,
  type AuthenticatorAlgorithm,
  type AuthenticatorRecord,
  type BeginSecondFactorInput,
  type BeginSecondFactorResult,
  beginSecondFactorInSteps,
  type CounterState,
  type FinishSecondFactorInput,
  type NonceWrite,
  type PendingAuthenticator,
  type RemoveAuthenticatorOutcome,
  type Store,
  type StoredAuthenticator,
  StoreUnavailableError,
  type WebAuthnCredentialRecord,
} from '@twofold/core';
import {
  type Expression,
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  type RawBuilder,
  type Selectable,
  type SqlBool,
  sql,
} from 'kysely';
import { SchemaMismatchError } from './errors.js';
import { type Connection, connect, type SqlDialect } from './internal/connect.js';
import { isDuplicateKey, isRetryable, toStoreError } from './internal/failures.js';
import { LATEST_VERSION } from './internal/migrations.js';
import { readSchemaVersion } from './internal/schema-version.js';
import { type Statement, shapes } from './internal/shapes.js';
import {
  type AuthenticatorsTable,
  type Database,
  type TableNames,
  tableNames,
  toBoolean,
  toNullableNumber,
  toNumber,
  type WebauthnCredentialsTable,
} from './internal/tables.js';
import { batchConnection, execute, inBatch, inTransaction } from './internal/transaction.js';
import { parseOptions, type SqlStoreOptions, sqlStoreOptionsSchema } from './options.js';

/**
 * How many times an operation the database aborted for a deadlock is run in all. InnoDB picks a
 * victim whenever inserts queued behind a delete of the same row (a failure counter ended by a
 * right code) each want the row: under a burst of 40 requests on one account five closely spaced
 * attempts were not always enough (seen in the fuzz test). Waits grow as in {@link retryDelay}.
 */
const MAX_ATTEMPTS = 10;

/**
 * The pause before attempt `attempts + 1`: a random time up to 5 ms doubled per attempt, capped at
 * 250 ms ("full jitter"), so the aborted transactions do not meet again in step. All ten attempts
 * take at most about 1.3 s of waiting.
 */
function retryDelay(attempts: number): number {
  return Math.random() * Math.min(250, 5 * 2 ** attempts);
}

/**
 * How many times takeAttempt goes round when the counter changed between its two steps (deleted,
 * expired or lowered in between) before it gives up, failing closed.
 */
const MAX_TAKE_ROUNDS = 20;

/** The largest count the counters table holds (a 32-bit INTEGER column on every dialect). */
const MAX_COUNT = 2_147_483_647;

/** The longest user id, authenticator id, key or recovery code hash the tables hold. */
const MAX_ID_LENGTH = 255;

/** The longest authenticator name (VARCHAR(64): 64 characters, counted as JavaScript does or fewer). */
const MAX_NAME_LENGTH = 64;

/** The longest WebAuthn credential id: 1,023 bytes in base64url. */
const MAX_CREDENTIAL_ID_LENGTH = 1366;

/** The length of an aaguid: a UUID in its text form. */
const MAX_AAGUID_LENGTH = 36;

/** How many user ids one statement of the sweep's lock-row cleanup names. */
const SWEEP_CHUNK = 500;

/**
 * Refuses a value longer than its column before a write, on every database alike: MySQL without a
 * strict sql_mode would otherwise cut it short and merge two ids into one.
 */
function checkLength(name: string, values: readonly string[], max = MAX_ID_LENGTH): void {
  if (values.some((value) => value.length > max)) {
    throw new RangeError(`sqlStore: ${name} must be at most ${max} characters`);
  }
}

/** Refuses a name longer than the name columns hold (null, a name never given, passes). */
function checkName(name: string | null): void {
  if (name !== null) checkLength('an authenticator name', [name], MAX_NAME_LENGTH);
}

/**
 * The key of a credential id in its table: SHA-256 in hex. The id itself (up to 1,366 characters)
 * is longer than MySQL can index; the hash is unique per user in its place.
 */
function credentialIdHash(credentialId: string): string {
  return createHash('sha256').update(credentialId, 'utf8').digest('hex');
}

/** Orders authenticators as listAuthenticators does: by createdAt, then by id (UTF-16 code units). */
function listOrder(a: StoredAuthenticator, b: StoredAuthenticator): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Thrown inside a transaction on MySQL when the user has no lock row yet (see `lockUser`): the
 * transaction rolls back, the row is inserted on its own, and the operation runs again.
 */
class MissingLockRow extends Error {}

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
   * epoch), and the lock row of a user whose expired enrollment was all the user had. Queries ignore
   * expired rows anyway; the sweep only keeps the tables small. Writes run it on their own at most
   * once per `sweepIntervalMs`; call it from a job when that is off.
   */
  sweep(now: number): Promise<SweepResult>;
  /**
   * One page of every TOTP authenticator's sealed secret (pending ones included, until swept; a
   * WebAuthn credential holds no secret), in
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
  /** How many TOTP authenticators (pending ones included, until swept) the store holds: the total of a full listing. */
  countSealedSecrets(): Promise<number>;
  /**
   * {@link Store.beginSecondFactor}, always present here. One statement on PostgreSQL (one round
   * trip; two attempts on one counter, or a refusal whose counter changed during the statement,
   * take more); the calls it stands for one after the other on MySQL, and in one transaction on
   * SQLite.
   */
  beginSecondFactor(userId: string, input: BeginSecondFactorInput): Promise<BeginSecondFactorResult>;
  /**
   * {@link Store.consumeCounterAndReset}, always present here: one statement on PostgreSQL; the
   * consume, then the reset, on MySQL; both in one transaction on SQLite.
   */
  consumeCounterAndReset(
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
    reset: { key: string; expected: CounterState },
  ): Promise<boolean>;
  /**
   * {@link Store.putNonces}, always present here: one multi-row upsert on PostgreSQL and SQLite, one
   * transaction on MySQL. Of two nonces with one key the last is written.
   */
  putNonces(userId: string, nonces: readonly NonceWrite[], now: number): Promise<void>;
  /**
   * {@link Store.finishSecondFactor}, always present here: one statement on PostgreSQL; the consume,
   * then the reset, then putNonces' transaction on MySQL; all in one transaction on SQLite.
   */
  finishSecondFactor(userId: string, input: FinishSecondFactorInput): Promise<boolean>;
  /**
   * {@link Store.atomically}: present on a better-sqlite3 Database only (given as `db` itself), where
   * `work`'s calls run in one transaction (BEGIN IMMEDIATE, one commit). The engine uses it for a
   * sign-in's second step. Absent on PostgreSQL and MySQL, whose clients run concurrently, and on a
   * Kysely instance of the host.
   */
  atomically?<T>(work: (store: Store) => Promise<T>): Promise<T>;
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
  const { db, prefix, dialect, sweepIntervalMs, preparedStatements } = parseOptions(
    sqlStoreOptionsSchema,
    options,
    'sqlStore',
  );
  const connection = connect(db, 'Invalid sqlStore options: "db"', dialect);
  const t = tableNames(prefix);
  let found: number;
  try {
    found = await readSchemaVersion(connection.db, connection.dialect, t);
  } catch (error) {
    throw toStoreError(error, connection.dialect);
  }
  if (found !== LATEST_VERSION) throw new SchemaMismatchError(LATEST_VERSION, found, prefix);
  return createStore(connection, t, sweepIntervalMs, preparedStatements);
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
type CredentialRow = Selectable<WebauthnCredentialsTable>;

/** A row of listAuthenticators' union: every column of both tables, null where the other type's. */
type ListRow = ({ type: 'totp' } & AuthenticatorRow) | ({ type: 'webauthn' } & CredentialRow);

/** The columns of listAuthenticators' union, in order; each table's own, the other's as nulls. */
const LIST_COLUMNS = [
  'user_id',
  'id',
  'name',
  'created_at',
  'last_used_at',
  'status',
  'sealed_secret',
  'algorithm',
  'digits',
  'period',
  'last_counter',
  'confirmed_at',
  'expires_at',
  'credential_id',
  'public_key',
  'counter',
  'transports',
  'aaguid',
  'backup_eligible',
  'backup_state',
] as const;

/** The columns of the authenticators table, in the union. */
const TOTP_COLUMNS: readonly string[] = [
  'user_id',
  'id',
  'name',
  'created_at',
  'last_used_at',
  'status',
  'sealed_secret',
  'algorithm',
  'digits',
  'period',
  'last_counter',
  'confirmed_at',
  'expires_at',
];

/** The columns of the WebAuthn credentials table, in the union (not the hash: it stays inside). */
const CREDENTIAL_COLUMNS: readonly string[] = [
  'user_id',
  'id',
  'name',
  'created_at',
  'last_used_at',
  'credential_id',
  'public_key',
  'counter',
  'transports',
  'aaguid',
  'backup_eligible',
  'backup_state',
];

/** The select list of one side of the union: the columns in `own` as they are, the rest null. */
function listColumns(type: 'totp' | 'webauthn', own: readonly string[]) {
  return [
    sql.lit(type).as('type'),
    ...LIST_COLUMNS.map((name) => (own.includes(name) ? sql.ref(name) : sql`null`).as(name)),
  ];
}

function toRecord(row: AuthenticatorRow): AuthenticatorRecord {
  return {
    type: 'totp',
    userId: row.user_id,
    id: row.id,
    name: row.name,
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

/** The rows of listAuthenticators' query as it resolves them, in its order. */
function toAuthenticators(rows: readonly ListRow[]): StoredAuthenticator[] {
  return rows.map((row) => (row.type === 'totp' ? toRecord(row) : toCredential(row))).sort(listOrder);
}

/** beginSecondFactor's answer when the claim's nonce was live: nothing counted, nothing read. */
function unclaimed(): BeginSecondFactorResult {
  return { claimed: false, authenticators: [], attempts: [], nonce: null };
}

/**
 * The nonces of putNonces, one per key: the last of a key wins, as calls of putNonce one after
 * the other would leave it (the contract asks for distinct keys; this keeps duplicates harmless).
 */
/** The values of a statement writing `rows` (shapes.ts): `userId`, then `key<i>`, `value<i>`, `expiresAt<i>`. */
function nonceValues(userId: string, rows: readonly NonceWrite[]): Record<string, string | number> {
  const values: Record<string, string | number> = { userId };
  for (const [i, { key, value, expiresAt }] of rows.entries()) {
    Object.assign(values, { [`key${i}`]: key, [`value${i}`]: value, [`expiresAt${i}`]: expiresAt });
  }
  return values;
}

/** The `count` rows named in `values` by {@link nonceValues}. */
function nonceRows(values: Record<string, unknown>, count: number): NonceWrite[] {
  return Array.from({ length: count }, (_, i) => ({
    key: values[`key${i}`] as string,
    value: values[`value${i}`] as string,
    expiresAt: values[`expiresAt${i}`] as number,
  }));
}

function lastPerKey(nonces: readonly NonceWrite[]): NonceWrite[] {
  return [...new Map(nonces.map((nonce) => [nonce.key, nonce])).values()];
}

/** One attempt of beginSecondFactor's list. */
type AttemptInput = BeginSecondFactorInput['attempts'][number];

/**
 * Counts one attempt on each of `attempts` in order with `take`, stopping after the first refused
 * (its state ends the list).
 */
async function takeInOrder(
  attempts: readonly AttemptInput[],
  take: (attempt: AttemptInput) => Promise<AttemptState>,
): Promise<AttemptState[]> {
  const states: AttemptState[] = [];
  for (const input of attempts) {
    const state = await take(input);
    states.push(state);
    if (!state.taken) break;
  }
  return states;
}

/**
 * The one rule every takeAttempt path applies to a counter it read: the counter refuses another
 * attempt while it is live at `now` and at or above `limit`. The upserts say the same in SQL (they
 * count only when the counter is absent, expired or below the limit); this decides what a refusal
 * reports, or that the counter changed since and the attempt is taken again.
 */
function refuses(counter: CounterState, limit: number, now: number): boolean {
  return counter.expiresAt > now && counter.count >= limit;
}

/** A step of an operation made of several statements, run by {@link inSteps}'s caller. */
type Step = <T>(work: () => Promise<T>) => Promise<T>;

function toCredential(row: CredentialRow): WebAuthnCredentialRecord {
  return {
    type: 'webauthn',
    userId: row.user_id,
    id: row.id,
    name: row.name,
    credentialId: row.credential_id,
    publicKey: row.public_key,
    counter: toNumber(row.counter),
    transports: JSON.parse(row.transports) as string[],
    aaguid: row.aaguid,
    backupEligible: toBoolean(row.backup_eligible),
    backupState: toBoolean(row.backup_state),
    createdAt: toNumber(row.created_at),
    lastUsedAt: toNullableNumber(row.last_used_at),
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
      await delay(retryDelay(attempts));
    }
  }
}

function createStore(
  connection: Connection,
  t: TableNames,
  sweepIntervalMs: number | false,
  preparedStatements: boolean,
): SqlStore {
  const { db, dialect } = connection;
  let nextSweepAt = Number.NEGATIVE_INFINITY;
  /** The hot statements, compiled once per shape (see {@link shapes}), named on a pg Pool. */
  const statements = shapes(db, preparedStatements ? connection.named : undefined);

  /** Runs on `q` the statement `build` makes of `values`, compiled once per `shape`. */
  function run<V extends Record<string, unknown>, R = Record<string, unknown>>(
    q: Kysely<Database>,
    shape: string,
    values: V,
    build: (values: V) => Statement,
  ) {
    return execute<R>(q, statements.compile(shape, values, build));
  }

  /** A column of `table` qualified by the table's real name (needed inside upserts). */
  const column = (table: keyof Database, name: string) => sql.ref(`${t[table]}.${name}`);

  /** A boolean as its column takes it: 0 or 1 on SQLite, which binds no booleans. */
  const flag = (value: boolean): boolean | number => (dialect === 'sqlite' ? Number(value) : value);

  async function sweep(now: number): Promise<SweepResult> {
    // The users whose enrollments expire here may be left with a lock row and nothing else.
    const abandoned =
      dialect === 'sqlite'
        ? []
        : await db
            .selectFrom(t.authenticators)
            .select('user_id')
            .distinct()
            .where('status', '=', 'pending')
            .where('expires_at', '<=', now)
            .execute();
    const authenticators = await db
      .deleteFrom(t.authenticators)
      .where('status', '=', 'pending')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    await releaseUnusedLocks(abandoned.map((row) => row.user_id));
    const counters = await db.deleteFrom(t.counters).where('expires_at', '<=', now).executeTakeFirst();
    const nonces = await db.deleteFrom(t.nonces).where('expires_at', '<=', now).executeTakeFirst();
    return {
      authenticators: touched(authenticators.numDeletedRows),
      counters: touched(counters.numDeletedRows),
      nonces: touched(nonces.numDeletedRows),
    };
  }

  /**
   * Deletes the lock rows of those of `userIds` that have no authenticator left. Not locked: a lock
   * row may go at any moment, since every transaction that needs one creates it (see `lockUser`),
   * and one held by a transaction waits for its end before it goes.
   */
  async function releaseUnusedLocks(userIds: readonly string[]): Promise<void> {
    for (let start = 0; start < userIds.length; start += SWEEP_CHUNK) {
      const chunk = userIds.slice(start, start + SWEEP_CHUNK);
      const { rows } = await sql<{ user_id: string }>`
        select l.user_id from ${sql.table(t.user_locks)} l
        where l.user_id in (${sql.join(chunk)})
        and not exists (select 1 from ${sql.table(t.authenticators)} a where a.user_id = l.user_id)
        and not exists (select 1 from ${sql.table(t.webauthn_credentials)} w where w.user_id = l.user_id)
      `.execute(db);
      if (rows.length === 0) continue;
      await db
        .deleteFrom(t.user_locks)
        .where(
          'user_id',
          'in',
          rows.map((row) => row.user_id),
        )
        .execute();
    }
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

  /**
   * Takes the user's lock inside `trx`, for a transaction that decides on the user's set of
   * authenticators (count the active ones, look for an id, then write): every such transaction
   * takes it before it reads anything of the user's, so they run one at a time per user, which a
   * row lock on rows that may not exist yet (the first authenticator) cannot do.
   *
   * - PostgreSQL: an upsert of the user's row in `<prefix>user_locks` that updates it when it
   *   exists, so either way the transaction holds its row lock (or the insert's), and a concurrent
   *   one waits for the commit; a row deleted meanwhile is inserted again by the upsert itself.
   * - MySQL: `SELECT ... FOR UPDATE` of the user's row, an exclusive lock on one existing record
   *   (never a gap lock that two transactions could share and then deadlock on inserting). When the
   *   row is missing, throws {@link MissingLockRow}: `userTransaction` inserts it on its own
   *   (autocommit, as takeAttempt's first insert) and runs the transaction again.
   * - SQLite: nothing; BEGIN IMMEDIATE already holds the database's write lock.
   *
   * Reads after it see what every earlier holder committed: a new statement snapshot on
   * PostgreSQL; on MySQL the transaction's first consistent read, which comes after the lock.
   */
  async function lockUser(trx: Kysely<Database>, userId: string): Promise<void> {
    switch (dialect) {
      case 'sqlite':
        return;
      case 'postgres':
        await trx
          .insertInto(t.user_locks)
          .values({ user_id: userId })
          .onConflict((conflict) => conflict.column('user_id').doUpdateSet({ user_id: userId }))
          .execute();
        return;
      case 'mysql': {
        const row = await trx
          .selectFrom(t.user_locks)
          .select('user_id')
          .where('user_id', '=', userId)
          .forUpdate()
          .executeTakeFirst();
        if (!row) throw new MissingLockRow();
        return;
      }
    }
  }

  /**
   * Runs `work` in one transaction; `work` takes the user's lock with {@link lockUser}. On MySQL, a
   * missing lock row rolls the transaction back, inserts the row and runs `work` again.
   */
  async function userTransaction<T>(userId: string, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    for (let rounds = 1; ; rounds++) {
      try {
        return await inTransaction(connection, work);
      } catch (error) {
        if (!(error instanceof MissingLockRow)) throw error;
      }
      // Deleted again each time before the transaction found it (a remove racing with each try).
      if (rounds >= MAX_TAKE_ROUNDS) {
        throw new StoreUnavailableError(
          `The ${dialect} lock row of a user kept disappearing under a twofold operation (${rounds} rounds)`,
        );
      }
      try {
        await db.insertInto(t.user_locks).values({ user_id: userId }).execute();
      } catch (error) {
        if (!isDuplicateKey(error, dialect)) throw error;
      }
    }
  }

  /**
   * Deletes the user's lock row, inside a transaction holding it, when the user has no authenticator
   * left: after an operation that found nothing to do, so that asking about unknown users leaves no
   * rows behind.
   */
  async function releaseLockIfUnused(trx: Kysely<Database>, userId: string): Promise<void> {
    if (dialect === 'sqlite') return;
    const totp = await trx
      .selectFrom(t.authenticators)
      .select('id')
      .where('user_id', '=', userId)
      .limit(1)
      .executeTakeFirst();
    if (totp) return;
    const webauthn = await trx
      .selectFrom(t.webauthn_credentials)
      .select('id')
      .where('user_id', '=', userId)
      .limit(1)
      .executeTakeFirst();
    if (webauthn) return;
    await trx.deleteFrom(t.user_locks).where('user_id', '=', userId).execute();
  }

  /** How many active authenticators (active TOTP ones and WebAuthn credentials) the user has. */
  async function countActive(trx: Kysely<Database>, userId: string): Promise<number> {
    const row = await trx
      .selectNoFrom((eb) => [
        eb
          .selectFrom(t.authenticators)
          .select((inner) => inner.fn.countAll<number | string | bigint>().as('count'))
          .where('user_id', '=', userId)
          .where('status', '=', 'active')
          .as('totp'),
        eb
          .selectFrom(t.webauthn_credentials)
          .select((inner) => inner.fn.countAll<number | string | bigint>().as('count'))
          .where('user_id', '=', userId)
          .as('webauthn'),
      ])
      .executeTakeFirstOrThrow();
    return toNumber(row.totp ?? 0) + toNumber(row.webauthn ?? 0);
  }

  /** The type of the user's active authenticator `id`, or null when the user has none with it. */
  async function activeType(
    trx: Kysely<Database>,
    userId: string,
    id: string,
  ): Promise<'totp' | 'webauthn' | null> {
    const totp = await trx
      .selectFrom(t.authenticators)
      .select('id')
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    if (totp) return 'totp';
    const webauthn = await trx
      .selectFrom(t.webauthn_credentials)
      .select('id')
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return webauthn ? 'webauthn' : null;
  }

  /**
   * Deletes every authenticator (of both types), recovery code and the lock row of the user inside
   * `trx`, which holds the user's lock, and says whether an active authenticator was among them.
   */
  async function deleteAll(trx: Kysely<Database>, userId: string): Promise<boolean> {
    const active = await trx
      .deleteFrom(t.authenticators)
      .where('user_id', '=', userId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    await trx.deleteFrom(t.authenticators).where('user_id', '=', userId).execute();
    const credentials = await trx
      .deleteFrom(t.webauthn_credentials)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    await trx.deleteFrom(t.recovery_codes).where('user_id', '=', userId).execute();
    await trx.deleteFrom(t.user_locks).where('user_id', '=', userId).execute();
    return touched(active.numDeletedRows) + touched(credentials.numDeletedRows) > 0;
  }

  async function savePending(record: PendingAuthenticator): Promise<boolean> {
    const { userId, id } = record;
    return userTransaction(userId, async (trx) => {
      await lockUser(trx, userId);
      if ((await activeType(trx, userId, id)) !== null) return false;
      // One enrollment under way per user: this one replaces every pending one, whatever its id.
      await trx
        .deleteFrom(t.authenticators)
        .where('user_id', '=', userId)
        .where('status', '=', 'pending')
        .execute();
      await trx
        .insertInto(t.authenticators)
        .values({
          user_id: userId,
          id,
          name: record.name,
          status: 'pending',
          sealed_secret: record.sealedSecret,
          algorithm: record.algorithm,
          digits: record.digits,
          period: record.period,
          last_counter: record.lastCounter,
          created_at: record.createdAt,
          confirmed_at: null,
          last_used_at: null,
          expires_at: record.expiresAt,
        })
        .execute();
      return true;
    });
  }

  /** A counters row as a CounterState. */
  function toCounter(row: { count: number | string | bigint; expires_at: number | string | bigint }) {
    return { count: toNumber(row.count), expiresAt: toNumber(row.expires_at) };
  }

  /**
   * takeAttempt's upsert on PostgreSQL and SQLite: it counts only while the counter is absent,
   * expired or below the limit, and returns the new state (no row when it counted nothing). With
   * `when`, the row is proposed only when that condition holds (`INSERT ... SELECT ... WHERE`, with
   * the values cast for PostgreSQL, which types a bare parameter there as text): how
   * beginSecondFactor chains attempts in one statement.
   */
  function takeAttemptQuery(
    q: Kysely<Database>,
    userId: string,
    key: string,
    limit: number,
    expiresAt: number,
    now: number,
    when?: Expression<SqlBool>,
  ) {
    const storedCount = column('counters', 'count');
    const storedExpiry = column('counters', 'expires_at');
    const count = sql<number>`case when ${storedExpiry} <= ${now} then 1 else ${storedCount} + 1 end`;
    const into = q.insertInto(t.counters);
    const insert =
      when === undefined
        ? into.values({ user_id: userId, key, count: 1, expires_at: expiresAt })
        : into
            .columns(['user_id', 'key', 'count', 'expires_at'])
            .expression(
              q
                .selectNoFrom([
                  sql<string>`cast(${userId} as text)`.as('user_id'),
                  sql<string>`cast(${key} as text)`.as('key'),
                  sql<number>`1`.as('count'),
                  sql<number>`cast(${expiresAt} as bigint)`.as('expires_at'),
                ])
                .where(when),
            );
    return insert
      .onConflict((conflict) =>
        conflict
          .columns(['user_id', 'key'])
          .doUpdateSet({ count, expires_at: expiresAt })
          .where((eb) => eb.or([eb(storedExpiry, '<=', now), eb(storedCount, '<', limit)])),
      )
      .returning(['count', 'expires_at']);
  }

  /** The live counter `key` of the user (getCounter's query). */
  function counterQuery(q: Kysely<Database>, userId: string, key: string, now: number) {
    return q
      .selectFrom(t.counters)
      .select(['count', 'expires_at'])
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('expires_at', '>', now);
  }

  /**
   * One round of takeAttempt on PostgreSQL or SQLite: the upsert of {@link takeAttemptQuery}, then
   * (when it counted nothing) the read of the counter, refused by {@link refuses}. Null when that
   * counter was deleted, expired or lowered in between.
   */
  async function takeAttemptUpsert(
    q: Kysely<Database>,
    userId: string,
    key: string,
    limit: number,
    expiresAt: number,
    now: number,
  ): Promise<AttemptState | null> {
    const values = { userId, key, limit, expiresAt, now };
    const [taken] = (
      await run(q, 'take-attempt', values, (v) =>
        takeAttemptQuery(db, v.userId, v.key, v.limit, v.expiresAt, v.now),
      )
    ).rows as CounterRow[];
    if (taken) return { taken: true, ...toCounter(taken) };
    const [row] = (await run(q, 'counter', values, (v) => counterQuery(db, v.userId, v.key, v.now)))
      .rows as CounterRow[];
    const standing = row && toCounter(row);
    return standing && refuses(standing, limit, now) ? { taken: false, ...standing } : null;
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
      if (refuses(current, limit, now)) return { taken: false, ...current };
      const count = current.expiresAt > now ? current.count + 1 : 1;
      await trx
        .updateTable(t.counters)
        .set({ count, expires_at: expiresAt })
        .where('user_id', '=', userId)
        .where('key', '=', key)
        .execute();
      return { taken: true, count, expiresAt };
    });
  }

  /**
   * takeAttempt through `q`: the pool, or on SQLite a transaction's connection (on MySQL always the
   * pool: takeAttemptLocked needs an insert of its own and a transaction of its own).
   */
  async function takeAttempt(
    q: Kysely<Database>,
    userId: string,
    key: string,
    limit: number,
    ttlMs: number,
    now: number,
  ): Promise<AttemptState> {
    checkLength('userId', [userId]);
    checkLength('the counter key', [key]);
    const expiresAt = now + ttlMs;
    for (let rounds = 1; ; rounds++) {
      const result =
        dialect === 'mysql'
          ? await takeAttemptLocked(userId, key, limit, expiresAt, now)
          : await takeAttemptUpsert(q, userId, key, limit, expiresAt, now);
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
   * claimNonce's statement on PostgreSQL and SQLite: inserts, or takes over an expired row; a live
   * row makes it touch nothing.
   */
  function claimNonceQuery(
    q: Kysely<Database>,
    userId: string,
    key: string,
    value: string,
    expiresAt: number,
    now: number,
  ) {
    return q
      .insertInto(t.nonces)
      .values({ user_id: userId, key, value, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict
          .columns(['user_id', 'key'])
          .doUpdateSet({ value, expires_at: expiresAt })
          .where(column('nonces', 'expires_at'), '<=', now),
      );
  }

  async function claimNonce(
    q: Kysely<Database>,
    userId: string,
    key: string,
    value: string,
    expiresAt: number,
    now: number,
  ) {
    checkLength('userId', [userId]);
    checkLength('the nonce key', [key]);
    if (dialect !== 'mysql') {
      const result = await run(q, 'claim-nonce', { userId, key, value, expiresAt, now }, (v) =>
        claimNonceQuery(db, v.userId, v.key, v.value, v.expiresAt, v.now),
      );
      return touched(result.numAffectedRows) > 0;
    }
    // MySQL: drop an expired row, then insert; of concurrent inserts the primary key lets one in.
    await q
      .deleteFrom(t.nonces)
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('expires_at', '<=', now)
      .execute();
    try {
      await q.insertInto(t.nonces).values({ user_id: userId, key, value, expires_at: expiresAt }).execute();
      return true;
    } catch (error) {
      if (isDuplicateKey(error, dialect)) return false;
      throw error;
    }
  }

  /** listAuthenticators' query: both tables in one UNION ALL, so one snapshot of both. */
  function listQuery(q: Kysely<Database>, userId: string, now: number) {
    return q
      .selectFrom(t.authenticators)
      .select(listColumns('totp', TOTP_COLUMNS))
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .unionAll(
        q
          .selectFrom(t.webauthn_credentials)
          .select(listColumns('webauthn', CREDENTIAL_COLUMNS))
          .where('user_id', '=', userId),
      )
      .$castTo<ListRow>();
  }

  /** getNonce's query: the value of the live nonce `key`. */
  function nonceQuery(q: Kysely<Database>, userId: string, key: string, now: number) {
    return q
      .selectFrom(t.nonces)
      .select('value')
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('expires_at', '>', now);
  }

  /** consumeCounter's conditional update: one row or none. */
  function consumeQuery(
    q: Kysely<Database>,
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
  ) {
    return q
      .updateTable(t.authenticators)
      .set({ last_counter: counter, last_used_at: now })
      .where('user_id', '=', userId)
      .where('id', '=', authenticatorId)
      .where('status', '=', 'active')
      .where('last_counter', '<', counter);
  }

  /** resetCounterIfUnchanged's conditional delete: one row or none. */
  function resetQuery(q: Kysely<Database>, userId: string, key: string, expected: CounterState) {
    return q
      .deleteFrom(t.counters)
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('count', '=', expected.count)
      .where('expires_at', '=', expected.expiresAt);
  }

  /** putNonce's upsert of one nonce, on every dialect. */
  function putNonceQuery(q: Kysely<Database>, userId: string, { key, value, expiresAt }: NonceWrite) {
    const insert = q.insertInto(t.nonces).values({ user_id: userId, key, value, expires_at: expiresAt });
    return dialect === 'mysql'
      ? insert.onDuplicateKeyUpdate({ value, expires_at: expiresAt })
      : insert.onConflict((conflict) =>
          conflict.columns(['user_id', 'key']).doUpdateSet({ value, expires_at: expiresAt }),
        );
  }

  /**
   * putNonces' statement on PostgreSQL and SQLite: one multi-row upsert taking each row's new values
   * from `excluded`; one statement, so all rows or none.
   */
  function putNoncesQuery(q: Kysely<Database>, userId: string, nonces: readonly NonceWrite[]) {
    return upsertNonces(
      q
        .insertInto(t.nonces)
        .values(
          nonces.map(({ key, value, expiresAt }) => ({ user_id: userId, key, value, expires_at: expiresAt })),
        ),
    );
  }

  /** The conflict clause of putNonces' upsert: a row of a key already there takes the new value and expiry. */
  function upsertNonces(insert: InsertQueryBuilder<Database, 'nonces', InsertResult>) {
    return insert.onConflict((conflict) =>
      conflict.columns(['user_id', 'key']).doUpdateSet((eb) => ({
        value: eb.ref('excluded.value'),
        expires_at: eb.ref('excluded.expires_at'),
      })),
    );
  }

  /**
   * putNonces' rows (distinct keys) on `q`: {@link putNoncesQuery}, compiled once per number of rows,
   * on PostgreSQL and SQLite; putNonce's statement per row in one transaction of its own on MySQL.
   */
  async function putRows(q: Kysely<Database>, userId: string, rows: readonly NonceWrite[]): Promise<void> {
    if (dialect !== 'mysql') {
      await run(q, `put-nonces:${rows.length}`, nonceValues(userId, rows), (v) =>
        putNoncesQuery(q, v.userId as string, nonceRows(v, rows.length)),
      );
      return;
    }
    // MySQL names an upsert's new values with VALUES(), deprecated since 8.0.20: putNonce's
    // statement per nonce instead, in one transaction, in key order (two of them writing the same
    // keys lock them in one order); a deadlock runs the whole transaction again.
    const sorted = [...rows].sort((a, b) => (a.key < b.key ? -1 : 1)); // distinct keys: never equal
    await inTransaction(connection, async (trx) => {
      for (const row of sorted) await putNonceQuery(trx, userId, row).execute();
    });
  }

  /** A counters row as the database returns it. */
  type CounterRow = { count: number | string | bigint; expires_at: number | string | bigint };

  /** listAuthenticators' rows (listQuery, compiled once). */
  async function list(q: Kysely<Database>, userId: string, now: number): Promise<ListRow[]> {
    const result = await run<{ userId: string; now: number }, ListRow>(q, 'list', { userId, now }, (v) =>
      listQuery(db, v.userId, v.now),
    );
    return result.rows;
  }

  /** getNonce's value (nonceQuery, compiled once). */
  async function readNonceValue(q: Kysely<Database>, userId: string, key: string, now: number) {
    const result = await run<{ userId: string; key: string; now: number }, { value: string }>(
      q,
      'nonce',
      { userId, key, now },
      (v) => nonceQuery(db, v.userId, v.key, v.now),
    );
    return result.rows[0]?.value ?? null;
  }

  /** consumeCounter's update (consumeQuery, compiled once): the rows it changed, 1 or 0. */
  async function consume(
    q: Kysely<Database>,
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
  ) {
    const result = await run(q, 'consume', { userId, authenticatorId, counter, now }, (v) =>
      consumeQuery(db, v.userId, v.authenticatorId, v.counter, v.now),
    );
    return touched(result.numAffectedRows);
  }

  /** resetCounterIfUnchanged's delete (resetQuery, compiled once): the rows it deleted, 1 or 0. */
  async function resetIfUnchanged(q: Kysely<Database>, userId: string, key: string, expected: CounterState) {
    const values = { userId, key, count: expected.count, expiresAt: expected.expiresAt };
    const result = await run(q, 'reset', values, (v) =>
      resetQuery(db, v.userId, v.key, { count: v.count, expiresAt: v.expiresAt }),
    );
    return touched(result.numAffectedRows);
  }

  /**
   * Runs an operation made of several statements. On SQLite in one transaction (BEGIN IMMEDIATE:
   * all or nothing, one commit); elsewhere (MySQL, and PostgreSQL's rare cases) statement by
   * statement on the pool, each step retried on its own after a deadlock, so a retry never repeats
   * a step that succeeded (a claim made twice would be refused the second time). Either way each
   * step keeps the guarantee of the operation it comes from.
   */
  function inSteps<T>(work: (q: Kysely<Database>, step: Step) => Promise<T>): Promise<T> {
    if (dialect === 'sqlite') {
      return attempt(dialect, () => inTransaction(connection, (trx) => work(trx, (run) => run())));
    }
    return work(db, (run) => attempt(dialect, run));
  }

  /**
   * beginSecondFactor as the calls it stands for, one after the other (claimNonce, then
   * listAuthenticators and getNonce, then takeAttempt for each attempt while they are taken), through
   * {@link inSteps}: MySQL, SQLite, and PostgreSQL when two attempts name one counter (a statement
   * may not change one row twice).
   */
  function beginInSteps(
    q: Kysely<Database>,
    step: Step,
    userId: string,
    input: BeginSecondFactorInput,
  ): Promise<BeginSecondFactorResult> {
    const { now } = input;
    return beginSecondFactorInSteps(
      {
        claimNonce: (key, value, expiresAt) => step(() => claimNonce(q, userId, key, value, expiresAt, now)),
        listAuthenticators: async () => toAuthenticators(await step(() => list(q, userId, now))),
        getNonce: (key) => step(() => readNonceValue(q, userId, key, now)),
        takeAttempt: (key, limit, ttlMs) => step(() => takeAttempt(q, userId, key, limit, ttlMs, now)),
      },
      input,
    );
  }

  /**
   * The statement of {@link beginInOneStatement} for its values (`userId`, `now`; `claimKey`,
   * `claimValue`, `claimExpiresAt` with a claim; `readNonce`; `key<i>`, `limit<i>`, `expiresAt<i>`
   * per attempt), as the shape cache builds it once.
   */
  function beginStatement(
    // biome-ignore lint/suspicious/noExplicitAny: the values by name, typed by the single operations' builders.
    v: Record<string, any>,
    claimed: boolean,
    readsNonce: boolean,
    attemptCount: number,
  ) {
    const ctes: RawBuilder<unknown>[] = [];
    if (claimed) {
      const insert = claimNonceQuery(db, v.userId, v.claimKey, v.claimValue, v.claimExpiresAt, v.now);
      ctes.push(sql`claim as (${insert.returning(sql<number>`1`.as('one'))})`);
    }
    const activeTotp = db
      .selectFrom(t.authenticators)
      .select(sql<number>`1`.as('one'))
      .where('user_id', '=', v.userId)
      .where('status', '=', 'active');
    const credentials = db
      .selectFrom(t.webauthn_credentials)
      .select(sql<number>`1`.as('one'))
      .where('user_id', '=', v.userId);
    ctes.push(sql`active as (select exists ${activeTotp} or exists ${credentials} as active)`);
    const columns: RawBuilder<unknown>[] = [
      sql`${claimed ? sql`exists (select 1 from claim)` : sql`true`} as claimed`,
      sql`(select active from active) as active`,
      sql`${readsNonce ? nonceQuery(db, v.userId, v.readNonce, v.now) : sql`cast(null as text)`} as nonce`,
    ];
    const joins: RawBuilder<unknown>[] = [];
    for (let i = 0; i < attemptCount; i++) {
      const name = sql.raw(`a${i}`);
      const found = sql.raw(`c${i}`);
      // The first only once the claim succeeded and the user has an active authenticator; each
      // next one only once the previous was taken.
      const when =
        i === 0
          ? claimed
            ? sql<SqlBool>`exists (select 1 from claim) and (select active from active)`
            : sql<SqlBool>`(select active from active)`
          : sql<SqlBool>`exists (select 1 from ${sql.raw(`a${i - 1}`)})`;
      const take = takeAttemptQuery(
        db,
        v.userId,
        v[`key${i}`],
        v[`limit${i}`],
        v[`expiresAt${i}`],
        v.now,
        when,
      );
      ctes.push(sql`${name} as (${take})`);
      columns.push(
        sql`${name}.count as ${sql.raw(`a${i}_count`)}`,
        sql`${name}.expires_at as ${sql.raw(`a${i}_expires_at`)}`,
        sql`${found}.count as ${sql.raw(`c${i}_count`)}`,
        sql`${found}.expires_at as ${sql.raw(`c${i}_expires_at`)}`,
      );
      joins.push(
        sql`left join ${name} on true left join ${counterQuery(db, v.userId, v[`key${i}`], v.now)} as ${found} on true`,
      );
    }
    return sql<Record<string, unknown>>`
      with ${sql.join(ctes)}
      select ${sql.join(columns)}, l.* from (select 1) as one ${sql.join(joins, sql` `)}
      left join ${listQuery(db, v.userId, v.now)} as l on true
    `;
  }

  /**
   * beginSecondFactor on PostgreSQL in one statement, data-modifying CTEs chained by their RETURNING:
   *
   *     with claim as (insert into nonces ... on conflict do update ... where expired returning 1),
   *          active as (select exists (active TOTP) or exists (credential) as active),
   *          a0 as (insert into counters (...) select ... where exists (select 1 from claim)
   *                   and (select active from active)
   *                 on conflict do update ... where expired or count < limit returning count, expires_at),
   *          a1 as (insert ... select ... where exists (select 1 from a0) on conflict ...), ...
   *     select <claimed, active, nonce, a<i> and the counter a<i> found> left join <the listing>
   *
   * Each upsert is claimNonce's or takeAttempt's own, so it decides on the latest committed row
   * under its row lock, as those do: concurrent claims let one in, concurrent takes stop at the
   * limit. The reads (the listing, the nonce, whether the user has an active authenticator, the
   * counters as they were) see the statement's snapshot, taken as it starts. A refused upsert
   * returns no row: its state is the counter in that snapshot when that one stands live at the
   * limit, as the refusal says it does at the moment of the lock. Otherwise (another request
   * changed the counter between the snapshot and the lock) `from` names the attempt to take again
   * with takeAttempt, after the statement: a rare second round trip.
   */
  async function beginInOneStatement(
    userId: string,
    { claim, attempts, readNonce, now }: BeginSecondFactorInput,
  ): Promise<{ result: BeginSecondFactorResult; from: number | null }> {
    const values: Record<string, string | number> = { userId, now };
    if (claim)
      Object.assign(values, {
        claimKey: claim.key,
        claimValue: claim.value,
        claimExpiresAt: claim.expiresAt,
      });
    if (readNonce !== null) values.readNonce = readNonce;
    for (const [i, { key, limit, ttlMs }] of attempts.entries()) {
      Object.assign(values, { [`key${i}`]: key, [`limit${i}`]: limit, [`expiresAt${i}`]: now + ttlMs });
    }
    const shape = `begin:${claim ? 'claim' : '-'}:${readNonce === null ? '-' : 'nonce'}:${attempts.length}`;
    const { rows } = await db.executeQuery<Record<string, unknown>>(
      statements.compile(shape, values, (v) =>
        beginStatement(v, Boolean(claim), readNonce !== null, attempts.length),
      ),
    );
    // One row per authenticator, or one row of nulls when the user has none; the rest repeats.
    const first = rows[0] as Record<string, unknown>;
    if (first.claimed !== true) return { result: unclaimed(), from: null };
    type Value = number | string | bigint;
    const states: AttemptState[] = [];
    let from: number | null = null;
    if (first.active === true) {
      for (const [i, { limit }] of attempts.entries()) {
        const count = first[`a${i}_count`] as Value | null;
        if (count !== null) {
          states.push({
            taken: true,
            ...toCounter({ count, expires_at: first[`a${i}_expires_at`] as Value }),
          });
          continue;
        }
        // The counter as the statement's snapshot saw it (counterQuery: live ones only).
        const found = first[`c${i}_count`] as Value | null;
        const standing =
          found === null ? null : toCounter({ count: found, expires_at: first[`c${i}_expires_at`] as Value });
        if (standing && refuses(standing, limit, now)) states.push({ taken: false, ...standing });
        else from = i;
        break;
      }
    }
    const listed = rows.filter((row) => row.type !== null) as unknown as ListRow[];
    return {
      result: {
        claimed: true,
        authenticators: toAuthenticators(listed),
        attempts: states,
        nonce: (first.nonce as string | null) ?? null,
      },
      from,
    };
  }

  /**
   * consumeCounterAndReset on PostgreSQL in one statement: consumeCounter's update, and
   * resetCounterIfUnchanged's delete only when the update returned its row.
   *
   *     with consumed as (update authenticators ... where last_counter < ? returning 1),
   *          reset as (delete from counters where ... and exists (select 1 from consumed))
   *     select exists (select 1 from consumed) as consumed
   */
  async function consumeAndResetInOneStatement(
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
    reset: { key: string; expected: CounterState },
  ): Promise<boolean> {
    const values = {
      userId,
      authenticatorId,
      counter,
      now,
      key: reset.key,
      count: reset.expected.count,
      expiresAt: reset.expected.expiresAt,
    };
    const { rows } = await db.executeQuery<{ consumed: boolean }>(
      statements.compile('consume-and-reset', values, (v) => {
        const consume = consumeQuery(db, v.userId, v.authenticatorId, v.counter, v.now).returning(
          sql<number>`1`.as('one'),
        );
        const remove = resetQuery(db, v.userId, v.key, { count: v.count, expiresAt: v.expiresAt }).where(
          sql<SqlBool>`exists (select 1 from consumed)`,
        );
        return sql<{ consumed: boolean }>`
          with consumed as (${consume}), reset as (${remove})
          select exists (select 1 from consumed) as consumed
        `;
      }),
    );
    return rows[0]?.consumed === true;
  }

  /** What putNonces checks before anything is written: the lengths of the user id and of the keys. */
  function checkNonces(userId: string, nonces: readonly NonceWrite[]): void {
    checkLength('userId', [userId]);
    checkLength(
      'the nonce key',
      nonces.map((nonce) => nonce.key),
    );
  }

  /**
   * finishSecondFactor on PostgreSQL in one statement: consumeCounter's update; resetCounterIfUnchanged's
   * delete and putNonces' upsert, each only when the update returned its row (the upsert selects its
   * rows from it).
   *
   *     with consumed as (update authenticators ... where last_counter < ? returning 1),
   *          reset as (delete from counters where ... and exists (select 1 from consumed)),
   *          put as (insert into nonces (...) select ? , v.key, v.value, v.expires_at
   *                  from consumed, (values (?, ?, cast(? as bigint)), ...) as v (key, value, expires_at)
   *                  on conflict ... do update ...)
   *     select exists (select 1 from consumed) as consumed
   */
  async function finishInOneStatement(
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
    reset: { key: string; expected: CounterState },
    rows: readonly NonceWrite[],
  ): Promise<boolean> {
    const values: Record<string, string | number> = {
      ...nonceValues(userId, rows),
      authenticatorId,
      counter,
      now,
      resetKey: reset.key,
      count: reset.expected.count,
      expiresAt: reset.expected.expiresAt,
    };
    const { rows: result } = await db.executeQuery<{ consumed: boolean }>(
      statements.compile(`finish:${rows.length}`, values, (v) => {
        const consume = consumeQuery(
          db,
          v.userId as string,
          v.authenticatorId as string,
          v.counter as number,
          v.now as number,
        ).returning(sql<number>`1`.as('one'));
        const remove = resetQuery(db, v.userId as string, v.resetKey as string, {
          count: v.count as number,
          expiresAt: v.expiresAt as number,
        }).where(sql<SqlBool>`exists (select 1 from consumed)`);
        const written = nonceRows(v, rows.length);
        if (written.length === 0) {
          return sql<{ consumed: boolean }>`
            with consumed as (${consume}), reset as (${remove})
            select exists (select 1 from consumed) as consumed
          `;
        }
        const listed = sql.join(
          written.map(({ key, value, expiresAt }) => sql`(${key}, ${value}, cast(${expiresAt} as bigint))`),
        );
        const put = upsertNonces(
          db
            .insertInto(t.nonces)
            .columns(['user_id', 'key', 'value', 'expires_at'])
            .expression(
              sql`select ${v.userId}, v.key, v.value, v.expires_at from consumed, (values ${listed}) as v (key, value, expires_at)`,
            ),
        );
        return sql<{ consumed: boolean }>`
          with consumed as (${consume}), reset as (${remove}), put as (${put})
          select exists (select 1 from consumed) as consumed
        `;
      }),
    );
    return result[0]?.consumed === true;
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

    listAuthenticators: (userId, now) =>
      attempt(dialect, async () => toAuthenticators(await list(db, userId, now))),

    async savePendingAuthenticator(record, now) {
      checkLength('userId', [record.userId]);
      checkLength('the authenticator id', [record.id]);
      checkName(record.name);
      await sweepIfDue(now);
      return attempt(dialect, () => savePending(record));
    },

    async confirmAuthenticator(userId, authenticatorId, input) {
      const { sealedSecret, counter, recoveryCodeHashes, maxActive, now } = input;
      checkLength('a recovery code hash', recoveryCodeHashes);
      await sweepIfDue(now);
      const pending = (trx: Kysely<Database>) =>
        trx
          .selectFrom(t.authenticators)
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where('status', '=', 'pending')
          .where('sealed_secret', '=', sealedSecret)
          .where('expires_at', '>', now);
      return attempt(dialect, () =>
        userTransaction(userId, async (trx): Promise<AddAuthenticatorOutcome> => {
          await lockUser(trx, userId);
          if (!(await pending(trx).select('id').executeTakeFirst())) {
            await releaseLockIfUnused(trx, userId);
            return 'missing';
          }
          const active = await countActive(trx, userId);
          if (active >= maxActive) return 'full';
          // Conditional still: a re-seal (which takes no lock) may have changed the secret since the
          // read, and then this confirm must not activate it.
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
          if (touched(activated.numUpdatedRows) === 0) return 'missing';
          if (active > 0) return 'added';
          await writeRecoveryCodes(trx, userId, recoveryCodeHashes);
          return 'enabled';
        }),
      );
    },

    async addWebAuthnCredential(record, input) {
      const { userId, id } = record;
      const { recoveryCodeHashes, maxActive, now } = input;
      checkLength('userId', [userId]);
      checkLength('the authenticator id', [id]);
      checkLength('the credential id', [record.credentialId], MAX_CREDENTIAL_ID_LENGTH);
      checkLength('the aaguid', [record.aaguid], MAX_AAGUID_LENGTH);
      checkName(record.name);
      checkLength('a recovery code hash', recoveryCodeHashes);
      const hash = credentialIdHash(record.credentialId);
      await sweepIfDue(now);
      return attempt(dialect, () =>
        userTransaction(userId, async (trx): Promise<AddAuthenticatorOutcome> => {
          await lockUser(trx, userId);
          // An expired enrollment is absent: one under this id goes now rather than at the sweep,
          // so that an id always names one authenticator of the user across both tables.
          await trx
            .deleteFrom(t.authenticators)
            .where('user_id', '=', userId)
            .where('id', '=', id)
            .where('status', '=', 'pending')
            .where('expires_at', '<=', now)
            .execute();
          // The id is taken by a TOTP authenticator, active or pending, or by a credential; a
          // credential id by a credential.
          const totp = await trx
            .selectFrom(t.authenticators)
            .select('id')
            .where('user_id', '=', userId)
            .where('id', '=', id)
            .executeTakeFirst();
          const credential = await trx
            .selectFrom(t.webauthn_credentials)
            .select('id')
            .where('user_id', '=', userId)
            .where((eb) => eb.or([eb('id', '=', id), eb('credential_id_hash', '=', hash)]))
            .executeTakeFirst();
          if (totp || credential) return 'duplicate';
          const active = await countActive(trx, userId);
          if (active >= maxActive) {
            await releaseLockIfUnused(trx, userId);
            return 'full';
          }
          await trx
            .insertInto(t.webauthn_credentials)
            .values({
              user_id: userId,
              id,
              name: record.name,
              credential_id: record.credentialId,
              credential_id_hash: hash,
              public_key: record.publicKey,
              counter: record.counter,
              transports: JSON.stringify(record.transports),
              aaguid: record.aaguid,
              backup_eligible: flag(record.backupEligible),
              backup_state: flag(record.backupState),
              created_at: record.createdAt,
              last_used_at: record.lastUsedAt,
            })
            .execute();
          if (active > 0) return 'added';
          await writeRecoveryCodes(trx, userId, recoveryCodeHashes);
          return 'enabled';
        }),
      );
    },

    useWebAuthnCredential: (userId, authenticatorId, { counter, backupState, now }) =>
      attempt(dialect, async () => {
        // One conditional statement: `counter < new OR (counter = 0 AND new = 0)`, the second half
        // decided here (0 keeps no counter; stored counters are never negative). Of concurrent
        // calls with one counter, the first to update makes the condition false for the others,
        // which wait for its row lock and then evaluate it on the updated row.
        const result = await db
          .updateTable(t.webauthn_credentials)
          .set({ counter, backup_state: flag(backupState), last_used_at: now })
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where((eb) => (counter === 0 ? eb('counter', '=', 0) : eb('counter', '<', counter)))
          .executeTakeFirst();
        return touched(result.numUpdatedRows) > 0;
      }),

    async renameAuthenticator(userId, authenticatorId, name, now) {
      checkName(name);
      await sweepIfDue(now);
      return attempt(dialect, async () => {
        // An id names one authenticator of the user across both tables, so at most one matches.
        const totp = await db
          .updateTable(t.authenticators)
          .set({ name })
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .where('status', '=', 'active')
          .executeTakeFirst();
        if (touched(totp.numUpdatedRows) > 0) return true;
        const credential = await db
          .updateTable(t.webauthn_credentials)
          .set({ name })
          .where('user_id', '=', userId)
          .where('id', '=', authenticatorId)
          .executeTakeFirst();
        return touched(credential.numUpdatedRows) > 0;
      });
    },

    async removeAuthenticator(userId, authenticatorId, now) {
      await sweepIfDue(now);
      return attempt(dialect, () =>
        userTransaction(userId, async (trx): Promise<RemoveAuthenticatorOutcome> => {
          await lockUser(trx, userId);
          const type = await activeType(trx, userId, authenticatorId);
          if (type === null) {
            await releaseLockIfUnused(trx, userId);
            return 'missing';
          }
          // Under the lock, of two removals of the last two, the second counts 1 and disables.
          if ((await countActive(trx, userId)) <= 1) {
            await deleteAll(trx, userId);
            return 'disabled';
          }
          await (type === 'totp'
            ? trx
                .deleteFrom(t.authenticators)
                .where('user_id', '=', userId)
                .where('id', '=', authenticatorId)
                .where('status', '=', 'active')
            : trx
                .deleteFrom(t.webauthn_credentials)
                .where('user_id', '=', userId)
                .where('id', '=', authenticatorId)
          ).execute();
          return 'removed';
        }),
      );
    },

    consumeCounter: (userId, authenticatorId, counter, now) =>
      attempt(dialect, async () => {
        return (await consume(db, userId, authenticatorId, counter, now)) > 0;
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
      attempt(dialect, () =>
        userTransaction(userId, async (trx) => {
          await lockUser(trx, userId);
          return deleteAll(trx, userId);
        }),
      ),

    async replaceRecoveryCodes(userId, hashes, now) {
      checkLength('a recovery code hash', hashes);
      await sweepIfDue(now);
      return attempt(dialect, () =>
        userTransaction(userId, async (trx) => {
          // Under the user's lock, so that a removal of the last authenticator (which deletes the
          // codes) cannot interleave and leave these codes without an authenticator.
          await lockUser(trx, userId);
          if ((await countActive(trx, userId)) === 0) {
            await releaseLockIfUnused(trx, userId);
            return false;
          }
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
        takeAttempt(db, userId, key, MAX_COUNT, ttlMs, now),
      );
      return { count, expiresAt };
    },

    async takeAttempt(userId, key, limit, ttlMs, now): Promise<AttemptState> {
      await sweepIfDue(now);
      return attempt(dialect, () => takeAttempt(db, userId, key, limit, ttlMs, now));
    },

    resetCounterIfUnchanged: (userId, key, expected) =>
      attempt(dialect, async () => {
        return (await resetIfUnchanged(db, userId, key, expected)) > 0;
      }),

    getCounter: (userId, key, now) =>
      attempt(dialect, async () => {
        const [row] = (
          await run(db, 'counter', { userId, key, now }, (v) => counterQuery(db, v.userId, v.key, v.now))
        ).rows as CounterRow[];
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
        await putNonceQuery(db, userId, { key, value, expiresAt }).execute();
      }),

    getNonce: (userId, key, now) => attempt(dialect, () => readNonceValue(db, userId, key, now)),

    async claimNonce(userId, key, value, expiresAt, now) {
      await sweepIfDue(now);
      return attempt(dialect, () => claimNonce(db, userId, key, value, expiresAt, now));
    },

    async beginSecondFactor(userId, input) {
      const { claim, attempts, now } = input;
      // Every length checked before anything is written (a claim must not stay for a bad key).
      checkLength('userId', [userId]);
      if (claim) checkLength('the nonce key', [claim.key]);
      checkLength(
        'the counter key',
        attempts.map((entry) => entry.key),
      );
      await sweepIfDue(now);
      const keys = new Set(attempts.map((entry) => entry.key));
      if (dialect !== 'postgres' || keys.size < attempts.length) {
        return inSteps((q, step) => beginInSteps(q, step, userId, input));
      }
      const { result, from } = await attempt(dialect, () => beginInOneStatement(userId, input));
      if (from === null) return result;
      const rest = await takeInOrder(attempts.slice(from), ({ key, limit, ttlMs }) =>
        attempt(dialect, () => takeAttempt(db, userId, key, limit, ttlMs, now)),
      );
      return { ...result, attempts: [...result.attempts, ...rest] };
    },

    consumeCounterAndReset(userId, authenticatorId, counter, now, reset) {
      if (dialect === 'postgres') {
        return attempt(dialect, () =>
          consumeAndResetInOneStatement(userId, authenticatorId, counter, now, reset),
        );
      }
      return inSteps(async (q, step) => {
        const consumed = await step(() => consume(q, userId, authenticatorId, counter, now));
        if (consumed === 0) return false;
        await step(() => resetIfUnchanged(q, userId, reset.key, reset.expected));
        return true;
      });
    },

    async putNonces(userId, nonces, now) {
      checkNonces(userId, nonces);
      const rows = lastPerKey(nonces);
      if (rows.length === 0) return;
      await sweepIfDue(now);
      await attempt(dialect, () => putRows(db, userId, rows));
    },

    async finishSecondFactor(userId, { authenticatorId, counter, reset, nonces, now }) {
      checkNonces(userId, nonces);
      const rows = lastPerKey(nonces);
      await sweepIfDue(now);
      if (dialect === 'postgres') {
        return attempt(dialect, () =>
          finishInOneStatement(userId, authenticatorId, counter, now, reset, rows),
        );
      }
      return inSteps(async (q, step) => {
        const consumed = await step(() => consume(q, userId, authenticatorId, counter, now));
        if (consumed === 0) return false;
        await step(() => resetIfUnchanged(q, userId, reset.key, reset.expected));
        if (rows.length > 0) await step(() => putRows(q, userId, rows));
        return true;
      });
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

    listNonces: (userId, prefix, now) =>
      attempt(dialect, async () => {
        // A prefix test without LIKE (no wildcards to escape): the key's first characters equal the
        // prefix. substr counts characters (code points) on every dialect, and `=` compares exactly
        // on each: PostgreSQL's collations are deterministic, the MySQL tables' binary (so 'ab'
        // never matches 'AB'), SQLite's BINARY. The primary key (user_id, key) makes it a scan of
        // the user's nonces only.
        const head = sql<string>`substr(${sql.ref('key')}, 1, ${sql.lit([...prefix].length)})`;
        const rows = await db
          .selectFrom(t.nonces)
          .select(['key', 'value', 'expires_at'])
          .where('user_id', '=', userId)
          .where(head, '=', prefix)
          .where('expires_at', '>', now)
          .execute();
        // Sorted here rather than by ORDER BY, whose order would be the database collation's.
        return rows
          .map((row) => ({ key: row.key, value: row.value, expiresAt: toNumber(row.expires_at) }))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }),

    async findNonces(key, now, { after, limit }) {
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new RangeError(`sqlStore: findNonces limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
      }
      return attempt(dialect, async () => {
        // Binary order of user ids on every dialect, for the sort and for `after` alike: PostgreSQL
        // compares them in the "C" collation (the database's own may be a locale's); the MySQL
        // tables are binary already, and SQLite compares bytes. No index serves `key` alone: this
        // reads the whole nonces table, as an operator's sweep may.
        const userIdOrder =
          dialect === 'postgres' ? sql<string>`${sql.ref('user_id')} collate "C"` : sql.ref('user_id');
        let query = db
          .selectFrom(t.nonces)
          .select(['user_id', 'value', 'expires_at'])
          .where('key', '=', key)
          .where('expires_at', '>', now)
          .orderBy(userIdOrder)
          .limit(limit);
        if (after !== undefined) query = query.where(userIdOrder, '>', after);
        const rows = await query.execute();
        return rows.map((row) => ({
          userId: row.user_id,
          key,
          value: row.value,
          expiresAt: toNumber(row.expires_at),
        }));
      });
    },

    takeNonceAndDeleteTwoFactor: (userId, key, value, now) =>
      attempt(dialect, () =>
        userTransaction(userId, async (trx) => {
          // The nonce's conditional delete decides, as in takeNonce: of concurrent calls only one
          // removes the row (the others wait on its lock and then find it gone). Then the user's
          // lock, as deleteTwoFactor takes it (on MySQL a missing lock row rolls the nonce back too).
          const taken = await trx
            .deleteFrom(t.nonces)
            .where('user_id', '=', userId)
            .where('key', '=', key)
            .where('value', '=', value)
            .where('expires_at', '>', now)
            .executeTakeFirst();
          if (touched(taken.numDeletedRows) === 0) return false;
          await lockUser(trx, userId);
          await deleteAll(trx, userId);
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
  const { sqlite } = connection;
  if (sqlite !== undefined && !connection.batched) {
    // The same store on the batch's connection, made once; whether a call of the batch failed.
    let failed = false;
    const inner = createStore(
      batchConnection({ ...connection, sqlite }),
      t,
      sweepIntervalMs,
      preparedStatements,
    );
    const view = noticingFailures(inner, () => {
      failed = true;
    });
    store.atomically = (work) =>
      inBatch(
        connection,
        () => {
          // Batches take turns on the database: this flag is the running one's.
          failed = false;
          return work(view);
        },
        () => failed,
        (begin) => attempt(dialect, begin),
      );
  }
  return store;
}

/**
 * `store` with every call that rejects reported to `onFailure` (then rejecting as it did); without
 * `close`, which is not the view's to call.
 */
function noticingFailures(store: SqlStore, onFailure: () => void): Store {
  const view: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(store)) {
    if (typeof method !== 'function' || name === 'close') continue;
    const call = method as (...args: unknown[]) => Promise<unknown>;
    view[name] = async (...args: unknown[]) => {
      try {
        return await call(...args);
      } catch (error) {
        onFailure();
        throw error;
      }
    };
  }
  return view as unknown as Store;
}
