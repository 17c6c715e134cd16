import { CompiledQuery, type Kysely } from 'kysely';
import type { Connection } from './connect.js';
import type { Database } from './tables.js';

/** SQLite's transaction statements, compiled once (they run around every multi-step operation). */
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
 *
 * PostgreSQL and MySQL use Kysely's transactions (a conflict there surfaces as a deadlock or
 * serialization error, and the caller runs the whole operation again). SQLite starts with
 * BEGIN IMMEDIATE, taking the write lock up front, so that a transaction that reads before it
 * writes never fails to upgrade its lock when another process writes the same file.
 */
export async function inTransaction<T>(
  { db, dialect }: Connection,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (dialect !== 'sqlite') return db.transaction().execute(work);
  return db.connection().execute(async (connection) => {
    await connection.executeQuery(BEGIN_IMMEDIATE);
    try {
      const result = await work(connection);
      await connection.executeQuery(COMMIT);
      return result;
    } catch (error) {
      // The error that matters is the one thrown; a failed rollback (SQLite may already have rolled
      // back on its own) must not replace it.
      await connection.executeQuery(ROLLBACK).catch(() => undefined);
      throw error;
    }
  });
}
