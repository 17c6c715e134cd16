/**
 * A Kysely dialect for PGlite (`@electric-sql/pglite`): PostgreSQL compiled to WebAssembly, run in
 * the process, in memory or in a data directory. Written on Kysely's public API: the PostgreSQL
 * adapter, query compiler and introspector, and a driver of its own.
 *
 * PGlite is one PostgreSQL session, so the driver hands out one connection at a time: a connection
 * is held by one query, or by one transaction from BEGIN to COMMIT, while the others wait in line
 * (as Kysely's SqliteDriver does for a better-sqlite3 Database). The line belongs to the PGlite
 * instance, not to the driver: several Kysely instances on one PGlite (the host's, the store's)
 * wait in the same line. A transaction runs inside PGlite's own `transaction()`, so that code using
 * the PGlite instance directly waits for it too and never lands in the middle of it.
 *
 * The types below describe the part of PGlite the driver uses, so that this package needs PGlite
 * only when a host brings it (an optional peer dependency); `PGlite` and `PGliteWorker` fit them.
 */
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/** What a PGlite query resolves to (the fields the driver reads). */
export interface PGliteResults {
  rows: unknown[];
  /** The command tag's verb: 'SELECT', 'INSERT'... (PGlite 0.5 and later). */
  command?: string;
  /** The command tag's row count (PGlite 0.5 and later). */
  rowCount?: number;
  /** The rows changed, summed over the statements of the query. */
  affectedRows?: number;
}

/** The transaction object PGlite passes to `transaction(callback)`. */
export interface PGliteTransaction {
  // biome-ignore lint/suspicious/noExplicitAny: PGlite types parameters as any[].
  query(query: string, params?: any[]): Promise<PGliteResults>;
  rollback(): Promise<void>;
}

/** A PGlite instance (`new PGlite(dataDir)`, `PGlite.create()` or a `PGliteWorker`). */
export interface PGliteDatabase {
  readonly closed: boolean;
  readonly waitReady: Promise<void>;
  // biome-ignore lint/suspicious/noExplicitAny: PGlite types parameters as any[].
  query(query: string, params?: any[]): Promise<PGliteResults>;
  transaction<T>(callback: (tx: PGliteTransaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The options of {@link PGliteDialect}. */
export interface PGliteDialectConfig {
  /** The PGlite instance. `Kysely.destroy()` closes it, as Kysely's own dialects end their pool. */
  database: PGliteDatabase;
}

/**
 * Kysely on PGlite. The adapter is Kysely's PostgresAdapter, so the store (and any code that looks
 * at the adapter) treats it as PostgreSQL.
 * @example
 * import { PGlite } from '@electric-sql/pglite';
 * import { Kysely } from 'kysely';
 * import { PGliteDialect } from '@twofold/store-sql';
 * const pglite = new PGlite('./data/pglite'); // or new PGlite() in memory
 * const db = new Kysely<AppTables>({ dialect: new PGliteDialect({ database: pglite }) });
 */
export class PGliteDialect implements Dialect {
  readonly #config: PGliteDialectConfig;

  constructor(config: PGliteDialectConfig) {
    this.#config = { ...config };
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#config.database);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface types db as Kysely<any>.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

/** True when `value` looks like a PGlite instance (or a PGliteWorker). */
export function isPGlite(value: unknown): value is PGliteDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    ['query', 'exec', 'transaction', 'close', 'listen', 'dumpDataDir'].every(
      (method) => typeof candidate[method] === 'function',
    ) && typeof candidate.closed === 'boolean'
  );
}

/** A FIFO lock: `acquire()` resolves with the function that releases it. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const turn = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return turn;
  }
}

/** One line per PGlite instance, shared by every driver on it (see the file comment). */
const lines = new WeakMap<PGliteDatabase, Mutex>();

function lineOf(database: PGliteDatabase): Mutex {
  let mutex = lines.get(database);
  if (!mutex) {
    mutex = new Mutex();
    lines.set(database, mutex);
  }
  return mutex;
}

class PGliteDriver implements Driver {
  readonly #database: PGliteDatabase;
  readonly #mutex: Mutex;
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();
  #destroyed = false;

  constructor(database: PGliteDatabase) {
    this.#database = database;
    this.#mutex = lineOf(database);
  }

  async init(): Promise<void> {
    await this.#database.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.acquire();
    if (this.#destroyed) {
      release();
      throw new Error('driver has already been destroyed');
    }
    const connection = new PGliteConnection(this.#database);
    this.#releases.set(connection, release);
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await (connection as PGliteConnection).begin(settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PGliteConnection).end(true);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as PGliteConnection).end(false);
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${identifier(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${identifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${identifier(name)}`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const release = this.#releases.get(connection);
    this.#releases.delete(connection);
    release?.();
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Waits for the connection in use, if any, so that closing never cuts a transaction short.
    const release = await this.#mutex.acquire();
    try {
      if (!this.#database.closed) await this.#database.close();
    } finally {
      release();
    }
  }
}

/** A double-quoted PostgreSQL identifier. */
function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The commands whose row count Kysely reports as numAffectedRows (as its PostgresDriver does). */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** A transaction open in PGlite's `transaction()`, waiting for the word to commit or roll back. */
interface OpenTransaction {
  tx: PGliteTransaction;
  /** Ends the callback: true commits, false rolls back. */
  finish(commit: boolean): void;
  /** Settles when PGlite has committed (or rolled back); rejects with a failed COMMIT's error. */
  done: Promise<void>;
}

class PGliteConnection implements DatabaseConnection {
  readonly #database: PGliteDatabase;
  #transaction: OpenTransaction | undefined;

  constructor(database: PGliteDatabase) {
    this.#database = database;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const target = this.#transaction?.tx ?? this.#database;
    const { rows, command, rowCount, affectedRows } = await target.query(compiledQuery.sql, [
      ...compiledQuery.parameters,
    ]);
    const changed = command === undefined ? affectedRows : WRITES.has(command) ? (rowCount ?? 0) : undefined;
    return changed === undefined
      ? { rows: rows as R[] }
      : { rows: rows as R[], numAffectedRows: BigInt(changed) };
  }

  /** PGlite has no cursors: the rows are read at once and handed out `chunkSize` at a time. */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize = 100,
  ): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
      throw new Error('chunkSize must be a positive integer');
    }
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (let start = 0; start < rows.length; start += chunkSize) {
      yield { rows: rows.slice(start, start + chunkSize) };
    }
  }

  async begin(settings: TransactionSettings): Promise<void> {
    if (this.#transaction) throw new Error('a transaction is already open on this connection');
    const open = await openTransaction(this.#database);
    this.#transaction = open;
    const { isolationLevel, accessMode } = settings;
    if (isolationLevel || accessMode) {
      const characteristics = [isolationLevel && `isolation level ${isolationLevel}`, accessMode].filter(
        Boolean,
      );
      try {
        await open.tx.query(`set transaction ${characteristics.join(' ')}`);
      } catch (error) {
        await this.end(false).catch(() => undefined);
        throw error;
      }
    }
  }

  async end(commit: boolean): Promise<void> {
    const open = this.#transaction;
    if (!open) throw new Error('no transaction is open on this connection');
    this.#transaction = undefined;
    open.finish(commit);
    await open.done;
  }
}

/**
 * Opens a transaction with PGlite's `transaction()`: resolves once PGlite has run BEGIN (PGlite's
 * own lock is then held, so direct use of the instance waits), rejects when it cannot start one
 * (a closed instance, say).
 */
async function openTransaction(database: PGliteDatabase): Promise<OpenTransaction> {
  let finish!: (commit: boolean) => void;
  const outcome = new Promise<boolean>((resolve) => {
    finish = resolve;
  });
  let begun!: (tx: PGliteTransaction) => void;
  const started = new Promise<PGliteTransaction>((resolve) => {
    begun = resolve;
  });
  const done = database.transaction(async (tx) => {
    begun(tx);
    if (!(await outcome)) await tx.rollback();
  });
  const tx = await Promise.race([
    started,
    done.then(() => {
      throw new Error('PGlite ended the transaction before it began');
    }),
  ]);
  return { tx, finish, done };
}
