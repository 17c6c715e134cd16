import type { ColumnType } from 'kysely';

/**
 * An integer column the drivers may hand back as a number, a string (pg BIGINT, mysql2 with
 * `bigNumberStrings`) or a bigint (better-sqlite3 with `safeIntegers`); written as a number.
 */
type Integer = ColumnType<number | string | bigint, number, number>;
type NullableInteger = ColumnType<number | string | bigint | null, number | null, number | null>;

export interface AuthenticatorsTable {
  user_id: string;
  id: string;
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

/** Like {@link toNumber}, keeping null. */
export function toNullableNumber(value: number | string | bigint | null): number | null {
  return value === null ? null : toNumber(value);
}
