import { CompiledQuery, Kysely, type QueryResult, type SqliteDatabase, SqliteDialect } from 'kysely';
import type { Connection } from './connect.js';
import type { Database } from './tables.js';

/** SQLite's transaction statements, compiled once (they run around every multi-step operation). */
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/** The better-sqlite3 database of each Kysely instance that holds it in a transaction of {@link inTransaction}. */
const held = new WeakMap<Kysely<Database>, SqliteDatabase>();

/**
 * Runs `query` on better-sqlite3 itself, as Kysely's SQLite driver would (a statement that returns
 * rows is read with `all`, any other is `run`), without Kysely's work around every query.
 */
function runDirectly<R>(database: SqliteDatabase, query: CompiledQuery): QueryResult<R> {
  const statement = database.prepare(query.sql);
  if (statement.reader) return { rows: statement.all(query.parameters) as R[] };
  const { changes } = statement.run(query.parameters);
  return { rows: [], numAffectedRows: BigInt(changes) };
}

/**
 * Runs `query` on `q`. Inside a transaction of {@link inTransaction} on a better-sqlite3 Database,
 * whose connection that transaction holds until it ends, the statement goes straight to the
 * database: Kysely's own path (connection provider, executor, driver) cost several times what
 * SQLite spends on a login's small statements. Anywhere else, through Kysely.
 */
export function execute<R>(
  q: Kysely<Database>,
  query: CompiledQuery,
): QueryResult<R> | Promise<QueryResult<R>> {
  const database = held.get(q);
  return database === undefined ? q.executeQuery<R>(query) : runDirectly<R>(database, query);
}

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
 *
 * PostgreSQL and MySQL use Kysely's transactions (a conflict there surfaces as a deadlock or
 * serialization error, and the caller runs the whole operation again). SQLite starts with
 * BEGIN IMMEDIATE, taking the write lock up front, so that a transaction that reads before it
 * writes never fails to upgrade its lock when another process writes the same file. The store's
 * statements in it (through {@link execute}) then run on better-sqlite3 directly: the transaction
 * holds Kysely's one connection to the database, so no other query can come between them.
 */
export async function inTransaction<T>(
  { db, dialect, sqlite, batched }: Connection,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  // Inside a batch (see inBatch): its transaction is this one.
  if (batched) return work(db);
  if (dialect !== 'sqlite') return db.transaction().execute(work);
  return db.connection().execute(async (connection) => {
    if (sqlite !== undefined) held.set(connection, sqlite);
    try {
      await execute(connection, BEGIN_IMMEDIATE);
      try {
        const result = await work(connection);
        await execute(connection, COMMIT);
        return result;
      } catch (error) {
        // The error that matters is the one thrown; a failed rollback (SQLite may already have rolled
        // back on its own) must not replace it.
        try {
          await execute(connection, ROLLBACK);
        } catch {}
        throw error;
      }
    } finally {
      held.delete(connection);
    }
  });
}

/**
 * The connection of the store that {@link inBatch} hands to its work, for a better-sqlite3
 * Database (`connection.sqlite`): its statements run straight on the database, and its own
 * transactions are the batch's. Only to be used inside a batch, which holds the database.
 */
export function batchConnection({ sqlite }: Connection & { sqlite: SqliteDatabase }): Connection {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  held.set(db, sqlite);
  return { db, dialect: 'sqlite', sqlite, batched: true };
}

/**
 * Runs `work` in one SQLite transaction (BEGIN IMMEDIATE, on the connection's better-sqlite3
 * Database, which it holds meanwhile): committed once `work` settles, resolved or rejected, unless
 * `failed()` then says a statement of it failed, in which case rolled back. Resolves or rejects as
 * `work` did, or with the error of the commit. `retry` runs the BEGIN, which is the only step that
 * may be run again: `work` runs once.
 */
export function inBatch<T>(
  { db, sqlite }: Connection,
  work: () => Promise<T>,
  failed: () => boolean,
  retry: (begin: () => Promise<unknown>) => Promise<unknown>,
): Promise<T> {
  return db.connection().execute(async (connection) => {
    held.set(connection, sqlite!);
    try {
      await retry(async () => execute(connection, BEGIN_IMMEDIATE));
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await work() };
      } catch (error) {
        outcome = { ok: false, error };
      }
      if (failed()) {
        try {
          await execute(connection, ROLLBACK);
        } catch {}
      } else {
        try {
          await execute(connection, COMMIT);
        } catch (error) {
          try {
            await execute(connection, ROLLBACK);
          } catch {}
          throw error;
        }
      }
      if (outcome.ok) return outcome.value;
      throw outcome.error;
    } finally {
      held.delete(connection);
    }
  });
}
