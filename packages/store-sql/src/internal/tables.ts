import type { ColumnType } from 'kysely';

/**
 * An integer column the drivers may hand back as a number, a string (pg BIGINT, mysql2 with
 * `bigNumberStrings`) or a bigint (better-sqlite3 with `safeIntegers`); written as a number.
 */
type Integer = ColumnType<number | string | bigint, number, number>;
type NullableInteger = ColumnType<number | string | bigint | null, number | null, number | null>;

/**
 * A yes/no column: BOOLEAN on PostgreSQL (read as a boolean), TINYINT(1) on MySQL and an integer
 * on SQLite (read as 0 or 1, or 0n/1n with `safeIntegers`); written as a boolean, or as 0 or 1 on
 * SQLite, which binds no booleans.
 */
type Flag = ColumnType<boolean | number | bigint, boolean | number, boolean | number>;

export interface AuthenticatorsTable {
  user_id: string;
  id: string;
  /** Added by schema version 2: null for rows written before (and by a version 1 store). */
  name: ColumnType<string | null, string | null | undefined, string | null>;
  status: 'pending' | 'active';
  sealed_secret: string;
  algorithm: string;
  digits: Integer;
  period: Integer;
  last_counter: Integer;
  created_at: Integer;
  confirmed_at: NullableInteger;
  last_used_at: NullableInteger;
  expires_at: NullableInteger;
}

/** Schema version 2: the WebAuthn credentials, one row per credential of a user. */
export interface WebauthnCredentialsTable {
  user_id: string;
  /** The authenticator id (the engine's), unique per user across both authenticator tables. */
  id: string;
  name: string | null;
  /** Base64url, up to 1,366 characters: too long for a MySQL index, so never a key itself. */
  credential_id: string;
  /** SHA-256 of `credential_id` (64 hex digits): the unique key of the credential per user. */
  credential_id_hash: string;
  public_key: string;
  counter: Integer;
  /** The transports as a JSON array of strings. */
  transports: string;
  aaguid: string;
  backup_eligible: Flag;
  backup_state: Flag;
  created_at: Integer;
  last_used_at: NullableInteger;
}

/**
 * Schema version 2: one row per user whose authenticators are being changed, locked first by every
 * transaction that decides on the user's set of authenticators (see `lockUser` in sql-store.ts).
 */
export interface UserLocksTable {
  user_id: string;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
}

export interface CountersTable {
  user_id: string;
  key: string;
  count: Integer;
  expires_at: Integer;
}

export interface NoncesTable {
  user_id: string;
  key: string;
  value: string;
  expires_at: Integer;
}

export interface SchemaVersionTable {
  id: number;
  version: Integer;
}

/** The store's tables under their unprefixed names (the names queries are typed against). */
export interface Database {
  authenticators: AuthenticatorsTable;
  webauthn_credentials: WebauthnCredentialsTable;
  user_locks: UserLocksTable;
  recovery_codes: RecoveryCodesTable;
  counters: CountersTable;
  nonces: NoncesTable;
  schema_version: SchemaVersionTable;
}

/**
 * The real (prefixed) name of each table, typed as its unprefixed name so that Kysely checks the
 * columns while the SQL names the prefixed table. Queries therefore never qualify a column with a
 * table name.
 */
export type TableNames = { readonly [K in keyof Database]: K };

/** The table names for `prefix`. */
export function tableNames(prefix: string): TableNames {
  const name = <K extends keyof Database>(table: K) => `${prefix}${table}` as K;
  return {
    authenticators: name('authenticators'),
    webauthn_credentials: name('webauthn_credentials'),
    user_locks: name('user_locks'),
    recovery_codes: name('recovery_codes'),
    counters: name('counters'),
    nonces: name('nonces'),
    schema_version: name('schema_version'),
  };
}

/** A value of an integer column as a JS number (the store's integers stay below 2^53). */
export function toNumber(value: number | string | bigint): number {
  return typeof value === 'number' ? value : Number(value);
}

/** A value of a {@link Flag} column as a boolean. */
export function toBoolean(value: boolean | number | bigint): boolean {
  return value === true || Number(value) === 1;
}

/** Like {@link toNumber}, keeping null. */
export function toNullableNumber(value: number | string | bigint | null): number | null {
  return value === null ? null : toNumber(value);
}
