import { type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { SqlDialect } from './connect.js';
import { isDuplicateColumn, isDuplicateIndex } from './failures.js';
import type { Database, TableNames } from './tables.js';

/** What a migration gets besides the database. */
export interface MigrationContext {
  dialect: SqlDialect;
  /** The prefixed table names. */
  t: TableNames;
  /** MySQL only: the binary, no-pad utf8mb4 collation of every table (see {@link mysqlCollation}). */
  collation: string;
}

/** One step of the schema; neither its version nor its name changes once released. */
export interface Migration {
  /** 1, 2, 3...: the schema version once this step is applied. */
  version: number;
  /**
   * Its name in Kysely's migration table (`<prefix>migration`): the version, zero-padded so that
   * names sort in version order as Kysely's Migrator requires, then what the step does.
   */
  name: string;
  /**
   * Applies the step. Written to be re-runnable (IF NOT EXISTS), because MySQL cannot roll DDL back:
   * a step interrupted there is finished by the next run.
   */
  up(db: Kysely<Database>, context: MigrationContext): Promise<void>;
}

/*
 * Ids, keys and hashes take up to 255 characters. MySQL limits an index key to 3072 bytes and
 * counts 4 bytes per utf8mb4 character, so a two-column primary key of them (2040 bytes) fits.
 */
const USER_ID = 'varchar(255)';
const AUTHENTICATOR_ID = 'varchar(255)';
const KEY = 'varchar(255)';
const HASH = 'varchar(255)';
/** Authenticator names: 1-64 characters (VARCHAR counts characters on PostgreSQL and MySQL). */
const NAME = 'varchar(64)';

/** Binary utf8mb4 collations that do not ignore trailing spaces, best first. */
const MYSQL_COLLATIONS = ['utf8mb4_0900_bin', 'utf8mb4_nopad_bin', 'utf8mb4_bin'];

/**
 * The collation of every MySQL table: binary, so ids compare byte for byte ('Alice' and 'alice'
 * are two users, as in PostgreSQL and SQLite), and NO PAD, so 'alice ' is not 'alice' either.
 * MySQL 8 has utf8mb4_0900_bin and MariaDB utf8mb4_nopad_bin; utf8mb4_bin (which pads) is only the
 * fallback of older servers.
 */
export async function mysqlCollation(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ name: string }>`
    select collation_name as name from information_schema.collations
    where collation_name in (${sql.join(MYSQL_COLLATIONS)})`.execute(db);
  const available = new Set(rows.map((row) => row.name));
  return MYSQL_COLLATIONS.find((name) => available.has(name)) ?? 'utf8mb4_bin';
}

/** CREATE TABLE IF NOT EXISTS; on MySQL an InnoDB table in the binary collation of the context. */
export function createTable(
  db: Kysely<Database>,
  { dialect, collation }: MigrationContext,
  name: string,
): CreateTableBuilder<string> {
  const builder = db.schema.createTable(name).ifNotExists();
  return dialect === 'mysql'
    ? builder.modifyEnd(sql`engine = InnoDB default character set utf8mb4 collate ${sql.raw(collation)}`)
    : builder;
}

/** CREATE INDEX IF NOT EXISTS, which MySQL 8 lacks: there a duplicate name means it exists. */
async function createIndex(
  db: Kysely<Database>,
  { dialect }: MigrationContext,
  table: string,
  column: string,
): Promise<void> {
  const builder = db.schema.createIndex(`${table}_${column}_idx`).on(table).column(column);
  if (dialect !== 'mysql') {
    await builder.ifNotExists().execute();
    return;
  }
  try {
    await builder.execute();
  } catch (error) {
    if (!isDuplicateIndex(error)) throw error;
  }
}

/**
 * ALTER TABLE ... ADD COLUMN of a nullable column. MySQL 8 has no IF NOT EXISTS there (MariaDB
 * has), so on MySQL a duplicate column means an interrupted run added it already; PostgreSQL and
 * SQLite run the whole migration in one transaction, where a step never half-applies.
 */
async function addColumn(
  db: Kysely<Database>,
  { dialect }: MigrationContext,
  table: string,
  column: string,
  type: 'varchar(64)',
): Promise<void> {
  const builder = db.schema.alterTable(table).addColumn(column, type);
  if (dialect !== 'mysql') {
    await builder.execute();
    return;
  }
  try {
    await builder.execute();
  } catch (error) {
    if (!isDuplicateColumn(error)) throw error;
  }
}

/** The columns of the nonces and counters tables (schema version 1), for their rebuild in version 3. */
const SHORT_LIVED_TABLES = {
  nonces: ['user_id', 'key', 'value', 'expires_at'],
  counters: ['user_id', 'key', 'count', 'expires_at'],
} as const;

/**
 * SQLite only: rebuilds `table` (nonces or counters) as a WITHOUT ROWID table clustered on its
 * primary key (user_id, key), without the expires_at index, keeping its rows. SQLite cannot change
 * either in place: the rows go to a new table, the old one is dropped (its index with it) and the
 * new one takes its name. The migration runs in one transaction, so a failure leaves the old table.
 */
async function rebuildWithoutRowid(
  db: Kysely<Database>,
  context: MigrationContext,
  kind: keyof typeof SHORT_LIVED_TABLES,
): Promise<void> {
  const table = context.t[kind];
  const rebuilt = `${table}_v3`;
  let builder = createTable(db, context, rebuilt)
    .addColumn('user_id', USER_ID, (c) => c.notNull())
    .addColumn('key', KEY, (c) => c.notNull());
  builder =
    kind === 'nonces'
      ? builder.addColumn('value', 'text', (c) => c.notNull())
      : builder.addColumn('count', 'integer', (c) => c.notNull());
  await builder
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint(`${table}_pk`, ['user_id', 'key'])
    .modifyEnd(sql`without rowid`)
    .execute();
  const columns = sql.join(SHORT_LIVED_TABLES[kind].map((name) => sql.ref(name)));
  await sql`insert into ${sql.table(rebuilt)} (${columns}) select ${columns} from ${sql.table(table)}`.execute(
    db,
  );
  await db.schema.dropTable(table).execute();
  await db.schema.alterTable(rebuilt).renameTo(table).execute();
}

/** Every migration, in order. The last one's version is the schema version this code needs. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: '0001_authenticators_recovery_codes_counters_nonces',
    async up(db, context) {
      const { t } = context;
      await createTable(db, context, t.authenticators)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addColumn('id', AUTHENTICATOR_ID, (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('sealed_secret', 'text', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(16)', (c) => c.notNull())
        .addColumn('digits', 'integer', (c) => c.notNull())
        .addColumn('period', 'integer', (c) => c.notNull())
        .addColumn('last_counter', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('confirmed_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addPrimaryKeyConstraint(`${t.authenticators}_pk`, ['user_id', 'id'])
        .addCheckConstraint(`${t.authenticators}_status_check`, sql`status in ('pending', 'active')`)
        .execute();
      // The sweep of expired pending enrollments.
      await createIndex(db, context, t.authenticators, 'expires_at');

      await createTable(db, context, t.recovery_codes)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addColumn('code_hash', HASH, (c) => c.notNull())
        .addPrimaryKeyConstraint(`${t.recovery_codes}_pk`, ['user_id', 'code_hash'])
        .execute();

      await createTable(db, context, t.counters)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addColumn('key', KEY, (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${t.counters}_pk`, ['user_id', 'key'])
        .execute();
      await createIndex(db, context, t.counters, 'expires_at');

      await createTable(db, context, t.nonces)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addColumn('key', KEY, (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${t.nonces}_pk`, ['user_id', 'key'])
        .execute();
      await createIndex(db, context, t.nonces, 'expires_at');
    },
  },
  {
    version: 2,
    name: '0002_authenticator_names_webauthn_credentials_user_locks',
    async up(db, context) {
      const { t } = context;
      // Names of TOTP authenticators; null for the ones enrolled before (the engine shows a default).
      await addColumn(db, context, t.authenticators, 'name', NAME);

      // A credential id is up to 1,366 characters: TEXT, which MySQL cannot index whole (and a
      // VARCHAR(1366) key of utf8mb4 would pass its 3072-byte limit). Its SHA-256 in hex is the key
      // instead: unique per user, 64 characters on every dialect.
      await createTable(db, context, t.webauthn_credentials)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addColumn('id', AUTHENTICATOR_ID, (c) => c.notNull())
        .addColumn('name', NAME)
        .addColumn('credential_id', 'text', (c) => c.notNull())
        .addColumn('credential_id_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', 'bigint', (c) => c.notNull())
        .addColumn('transports', 'text', (c) => c.notNull())
        .addColumn('aaguid', 'varchar(36)', (c) => c.notNull())
        .addColumn('backup_eligible', 'boolean', (c) => c.notNull())
        .addColumn('backup_state', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addPrimaryKeyConstraint(`${t.webauthn_credentials}_pk`, ['user_id', 'id'])
        // At most 58 characters with the longest prefix (30): within PostgreSQL's 63 and MySQL's 64.
        .addUniqueConstraint(`${t.webauthn_credentials}_cred_uq`, ['user_id', 'credential_id_hash'])
        .execute();

      // One row per user whose authenticators a transaction is changing: the row it locks first.
      await createTable(db, context, t.user_locks)
        .addColumn('user_id', USER_ID, (c) => c.notNull())
        .addPrimaryKeyConstraint(`${t.user_locks}_pk`, ['user_id'])
        .execute();
    },
  },
  {
    version: 3,
    name: '0003_sqlite_short_lived_tables_without_rowid',
    async up(db, context) {
      // Every login writes and deletes rows of nonces and counters (challenge attempts, the spent
      // step, the session family). On SQLite a table clustered on (user_id, key), with no expires_at
      // index to keep up, makes those writes cheaper (about a seventh less CPU per POST
      // /2fa/login/verify, measured in process); the sweep of expired rows, once a minute at most,
      // then reads the whole table instead of an index range (~7 ms per 100,000 rows). PostgreSQL
      // and MySQL keep their tables: the version is recorded there and nothing else changes (InnoDB
      // tables are clustered on the primary key already, and a sweep without an index would lock
      // every row it reads).
      if (context.dialect !== 'sqlite') return;
      await rebuildWithoutRowid(db, context, 'nonces');
      await rebuildWithoutRowid(db, context, 'counters');
    },
  },
];

/** The schema version this code reads and writes. */
export const LATEST_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;
