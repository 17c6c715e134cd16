import { createHash } from 'node:crypto';
import {
  Kysely,
  MysqlAdapter,
  MysqlDialect,
  type MysqlPool,
  PostgresAdapter,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
} from 'kysely';
import { isPGlite, type PGliteDatabase, PGliteDialect } from '../pglite.js';
import type { Database } from './tables.js';

/** The SQL dialects the store speaks. */
export type SqlDialect = 'postgres' | 'mysql' | 'sqlite';

/** A `mysql2/promise` pool: the callback pool it wraps is its `pool` property. */
export interface MysqlPromisePool {
  pool: MysqlPool;
}

/**
 * What `db` may be: a Kysely instance (PostgreSQL, MySQL/MariaDB or SQLite dialect), a `pg` Pool,
 * a `mysql2` pool (callback or promise API), a PGlite instance (`@electric-sql/pglite`) or a
 * `better-sqlite3` Database.
 */
export type SqlDatabase =
  // biome-ignore lint/suspicious/noExplicitAny: a host's Kysely instance is typed with its own tables.
  Kysely<any> | PostgresPool | MysqlPool | MysqlPromisePool | PGliteDatabase | SqliteDatabase;

/** The store's view of the database: a Kysely instance without the host's plugins, and its dialect. */
export interface Connection {
  db: Kysely<Database>;
  dialect: SqlDialect;
  /**
   * On a pg Pool only: the statements to run as named (prepared) statements, parsed and planned
   * once per connection. A text added here runs under its name from then on (see {@link nameStatement}).
   */
  named?: NamedStatements;
  /**
   * On a better-sqlite3 Database only: the database itself (preparing each text once), on which a
   * transaction of the store runs its statements directly (see `inTransaction`).
   */
  sqlite?: SqliteDatabase;
  /** The store inside a batch (`inBatch`): its transactions are the batch's. */
  batched?: true;
}

/** Statement texts the connection runs as named statements, and their names. */
export type NamedStatements = Map<string, string>;

/**
 * Marks `text` to run as a named statement on `named`'s pool. The name comes from the text itself,
 * so two stores on one pool give one text one name, and no two texts share a name (pg refuses a
 * name reused for another text).
 */
export function nameStatement(named: NamedStatements, text: string): void {
  if (!named.has(text)) {
    named.set(text, `twofold_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
  }
}

type Candidate = Record<string, unknown>;

/**
 * One Kysely instance per wrapped pool or database, shared by every store and migration on it.
 * This matters for SQLite: a better-sqlite3 Database is one connection, and only a shared instance
 * (whose mutex hands the connection to one transaction at a time) keeps two transactions from
 * interleaving on it. (A PGlite instance is one session too; its dialect keeps the line per
 * instance, so even Kysely instances of the host's wait in it.)
 */
const wrapped = new WeakMap<object, Connection>();

function wrap(target: object, create: () => Connection): Connection {
  let connection = wrapped.get(target);
  if (!connection) {
    connection = create();
    wrapped.set(target, connection);
  }
  return connection;
}

/** How many prepared statements one SQLite database keeps for reuse (the store uses about 60). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The database as Kysely's SQLite driver sees it, but preparing each SQL text once: the driver
 * prepares a statement for every query, and SQLite parsing and planning it again cost a sixth of a
 * verify's CPU. Statements are reused only for `all` and `run`, which finish before they return
 * (the store never streams, which would hold a statement open); past the cache size the least
 * recently used goes.
 */
function reusingStatements(database: SqliteDatabase): SqliteDatabase {
  const statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  return {
    close: () => database.close(),
    prepare(sql) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = database.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
      } else {
        statements.delete(sql);
      }
      // Last in the map's order: the least recently used goes first.
      statements.set(sql, statement);
      return statement;
    },
  };
}

/**
 * The pg Pool as Kysely's PostgreSQL driver sees it, but running the texts in `named` as named
 * statements: PostgreSQL then parses and plans each of them once per connection instead of on
 * every call (a login's one-statement begin is a chain of CTEs, and planning it cost the server
 * more than running it). Every other query, and a cursor, goes to the pool's client unchanged.
 */
function namingStatements(pool: PostgresPool, named: NamedStatements): PostgresPool {
  const clients = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let naming = clients.get(client);
      if (naming === undefined) {
        const query = client.query.bind(client) as (...args: unknown[]) => never;
        naming = {
          query(...args: unknown[]) {
            const [text, values] = args;
            const name = typeof text === 'string' ? named.get(text) : undefined;
            return name === undefined ? query(...args) : query({ name, text, values });
          },
          release: () => client.release(),
        } as PostgresPoolClient;
        clients.set(client, naming);
      }
      return naming;
    },
    end: () => pool.end(),
  };
}

function has(value: Candidate, ...methods: string[]): boolean {
  return methods.every((method) => typeof value[method] === 'function');
}

function isKysely(value: Candidate): value is Candidate & Kysely<Database> {
  return has(value, 'selectFrom', 'getExecutor', 'withoutPlugins', 'transaction');
}

function isBetterSqlite3(value: Candidate): boolean {
  return has(value, 'prepare', 'pragma', 'transaction') && typeof value.open === 'boolean';
}

function isMysql2Pool(value: unknown): value is MysqlPool {
  const candidate = value as Candidate | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    has(candidate, 'getConnection', 'query', 'end') &&
    typeof (candidate.config as Candidate | undefined)?.connectionConfig === 'object'
  );
}

function isPgPool(value: Candidate): boolean {
  return has(value, 'connect', 'query', 'end') && typeof value.totalCount === 'number';
}

const ADAPTERS: ReadonlyArray<[SqlDialect, abstract new () => unknown, string]> = [
  ['postgres', PostgresAdapter, 'PostgresAdapter'],
  ['mysql', MysqlAdapter, 'MysqlAdapter'],
  ['sqlite', SqliteAdapter, 'SqliteAdapter'],
];

/**
 * The dialect of a Kysely instance, from its adapter: by class when the host uses this copy of
 * Kysely, otherwise by the adapter's class names (a dialect package may subclass the built-in one).
 */
function kyselyDialect(db: Kysely<Database>): SqlDialect | undefined {
  const adapter = db.getExecutor().adapter;
  for (const [dialect, Adapter] of ADAPTERS) {
    if (adapter instanceof Adapter) return dialect;
  }
  for (let proto = Object.getPrototypeOf(adapter); proto; proto = Object.getPrototypeOf(proto)) {
    const name = (proto.constructor as { name?: unknown } | undefined)?.name;
    const match = ADAPTERS.find(([, , className]) => className === name);
    if (match) return match[0];
  }
  return undefined;
}

/**
 * Turns the `db` option into a Kysely instance and its dialect. A pool or database the host passed
 * is wrapped, never owned: the returned instance must not be destroyed (that would end the host's
 * pool). Throws a TypeError naming `option` for anything else.
 *
 * @param db what the host passed
 * @param option the option's name in messages, e.g. `sqlStore({ db })`
 * @param dialect the dialect of a Kysely instance whose adapter is not recognised
 */
export function connect(db: unknown, option: string, dialect?: SqlDialect): Connection {
  if (typeof db !== 'object' || db === null) throw notADatabase(option);
  const candidate = db as Candidate;
  if (isKysely(candidate)) {
    const detected = dialect ?? kyselyDialect(candidate);
    if (!detected) {
      throw new TypeError(
        `${option}: the Kysely instance uses an unrecognised dialect adapter; pass dialect: 'postgres', 'mysql' or 'sqlite'`,
      );
    }
    // The host's plugins (CamelCasePlugin, WithSchemaPlugin...) would rename the store's columns.
    return { db: candidate.withoutPlugins(), dialect: detected };
  }
  if (dialect !== undefined) {
    throw new TypeError(`${option}: the dialect option only applies to a Kysely instance`);
  }
  if (isPGlite(candidate)) {
    return wrap(candidate, () => ({
      db: new Kysely<Database>({ dialect: new PGliteDialect({ database: candidate }) }),
      dialect: 'postgres',
    }));
  }
  if (isBetterSqlite3(candidate)) {
    return wrap(candidate, () => {
      const sqlite = reusingStatements(candidate as unknown as SqliteDatabase);
      return {
        db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }),
        dialect: 'sqlite',
        sqlite,
      };
    });
  }
  const mysqlPool = isMysql2Pool(candidate)
    ? candidate
    : isMysql2Pool(candidate.pool)
      ? candidate.pool
      : undefined;
  if (mysqlPool) {
    return wrap(mysqlPool, () => ({
      db: new Kysely<Database>({ dialect: new MysqlDialect({ pool: mysqlPool }) }),
      dialect: 'mysql',
    }));
  }
  if (isPgPool(candidate)) {
    guardPgClients(candidate);
    return wrap(candidate, () => {
      const named: NamedStatements = new Map();
      const pool = namingStatements(candidate as unknown as PostgresPool, named);
      return {
        db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
        dialect: 'postgres',
        named,
      };
    });
  }
  if (has(candidate, 'connect', 'query')) {
    throw new TypeError(`${option}: got what looks like a single pg Client; pass a pg Pool instead`);
  }
  throw notADatabase(option);
}

function notADatabase(option: string): TypeError {
  return new TypeError(
    `${option} must be a Kysely instance, a pg Pool, a mysql2 pool (callback or promise API), a PGlite instance or a better-sqlite3 Database`,
  );
}

/** Pools already guarded, so wrapping one pool twice adds one listener. */
const guardedPools = new WeakSet<object>();

/**
 * pg's pool listens for errors only on idle clients: when the server drops a connection while a
 * client is checked out (between two statements of a transaction), the client emits 'error' with
 * nobody listening and Node ends the process. A listener on every client the pool connects keeps
 * the process alive; the failing query still rejects, and the store reports StoreUnavailable.
 * (A Kysely instance the host built itself is the host's to guard: see the README.)
 */
function guardPgClients(pool: Candidate): void {
  const on = (pool as { on?: unknown }).on;
  if (typeof on !== 'function' || guardedPools.has(pool)) return;
  guardedPools.add(pool);
  on.call(pool, 'connect', (client: { on?: (event: string, listener: (error: unknown) => void) => void }) => {
    client.on?.('error', () => {
      // Reported through the rejected query; nothing to do here but not crash.
    });
  });
}
