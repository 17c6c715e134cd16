/**
 * MariaDB for the reliability tests: mysql2, loaded from @twofold/store-sql (a dev dependency of that
 * package; the workspace root does not depend on it), and a pool on the `test` database.
 */
import { createRequire } from 'node:module';
import type { SqlDatabase } from '@twofold/store-sql';

export const MARIADB = { host: '127.0.0.1', port: 3306, database: 'test', user: 'root' } as const;

/** What the tests use of a mysql2 callback pool (the store gets the pool itself). */
export interface MysqlPool {
  query(sql: string, values: unknown[], callback: (error: Error | null, rows: unknown) => void): void;
  end(callback: (error?: Error | null) => void): void;
}

interface Mysql2 {
  createPool(options: Record<string, unknown>): MysqlPool;
}

const fromStoreSql = createRequire(new URL('../../packages/store-sql/package.json', import.meta.url));

/** A mysql2 pool on MariaDB's `test` database; `options` add to or override the defaults. */
export function createMysqlPool(options: Record<string, unknown> = {}): MysqlPool & SqlDatabase {
  const mysql = fromStoreSql('mysql2') as Mysql2;
  return mysql.createPool({
    ...MARIADB,
    connectionLimit: 10,
    connectTimeout: 3000,
    ...options,
  }) as MysqlPool & SqlDatabase;
}

/** Runs one statement; resolves its rows. */
export function mysqlQuery<T = unknown>(pool: MysqlPool, sql: string, values: unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) =>
    pool.query(sql, values, (error, rows) => (error ? reject(error) : resolve(rows as T))),
  );
}

/** Ends the pool. */
export function endMysqlPool(pool: MysqlPool): Promise<void> {
  return new Promise((resolve, reject) => pool.end((error) => (error ? reject(error) : resolve())));
}
