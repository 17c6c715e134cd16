import { StoreUnavailableError } from '@twofold/core';
import type { SqlDialect } from './connect.js';

/** Driver error fields the classifiers look at (pg: code = SQLSTATE; mysql2: code + errno). */
interface DriverError {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  errors?: unknown;
}

/** Socket, pool and contention failures: the database cannot serve the operation right now. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_FULL',
]);

/**
 * PostgreSQL SQLSTATEs for an unusable server: connection exceptions (class 08), too many
 * connections, lock and statement timeouts, shutdown and recovery (57P01-57P03).
 */
const POSTGRES_UNAVAILABLE = /^(08...|53300|55P03|57014|57P0[1-3])$/;

/** Errors that carry no code but mean the pool, connection or driver is gone. */
const UNAVAILABLE_MESSAGES = [
  /^Cannot use a pool after calling end on the pool/, // pg-pool
  /^timeout exceeded when trying to connect/, // pg-pool connectionTimeoutMillis
  /^Connection terminated/, // pg
  /^Pool is closed/, // mysql2
  /^Can't add new command when connection is in closed state/, // mysql2
  /^driver has already been destroyed/, // Kysely after destroy()
  /^The database connection is not open/, // better-sqlite3 after close()
  /^PGlite is closed/, // PGlite after close()
];

function fields(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

/** True when `error` says the database cannot be reached (socket, pool, server state). */
export function isUnavailable(error: unknown): boolean {
  const { code, message, errors } = fields(error);
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('SQLITE_IOERR') || POSTGRES_UNAVAILABLE.test(code)) {
      return true;
    }
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) {
    return true;
  }
  // Node reports a refused connection to every address of a host name as an AggregateError.
  return Array.isArray(errors) && errors.length > 0 && errors.every(isUnavailable);
}

/**
 * True for a transaction the database aborted to resolve a conflict (deadlock, serialization
 * failure, MariaDB's "record has changed since last read" under snapshot isolation); running the
 * whole operation again is safe and expected.
 */
export function isRetryable(error: unknown, dialect: SqlDialect): boolean {
  const { code, errno } = fields(error);
  switch (dialect) {
    case 'postgres':
      return code === '40001' || code === '40P01';
    case 'mysql':
      return errno === 1213 || errno === 1020;
    case 'sqlite':
      return false;
  }
}

/** True for a primary-key (unique) violation. */
export function isDuplicateKey(error: unknown, dialect: SqlDialect): boolean {
  const { code, errno } = fields(error);
  switch (dialect) {
    case 'postgres':
      return code === '23505';
    case 'mysql':
      return errno === 1062;
    case 'sqlite':
      return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
  }
}

/** True when a query failed because its table does not exist. */
export function isMissingTable(error: unknown, dialect: SqlDialect): boolean {
  const { code, errno, message } = fields(error);
  switch (dialect) {
    case 'postgres':
      return code === '42P01';
    case 'mysql':
      return errno === 1146;
    case 'sqlite':
      return code === 'SQLITE_ERROR' && typeof message === 'string' && message.startsWith('no such table');
  }
}

/** True when MySQL refused an index because one of that name exists (no IF NOT EXISTS there). */
export function isDuplicateIndex(error: unknown): boolean {
  return fields(error).errno === 1061;
}

/** True when MySQL refused a column because the table has one of that name (no IF NOT EXISTS there). */
export function isDuplicateColumn(error: unknown): boolean {
  return fields(error).errno === 1060;
}

/**
 * The error an operation rejects with: a {@link StoreUnavailableError} (with the driver error as
 * `cause`) when the database cannot be reached, otherwise the driver's error unchanged, so that a
 * constraint or programming error is never mistaken for an outage. Either way the operation rejects.
 */
export function toStoreError(error: unknown, dialect: SqlDialect): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  const { code } = fields(error);
  const detail = typeof code === 'string' ? ` (${code})` : '';
  return new StoreUnavailableError(`The ${dialect} database of the twofold store is unavailable${detail}`, {
    cause: error,
  });
}
