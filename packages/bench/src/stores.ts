/**
 * The stores the benchmarks run against: memoryStore, Redis (ioredis, 127.0.0.1:6379) and PostgreSQL
 * (pg, 127.0.0.1:5432, database `test`). Each Redis or PostgreSQL store of a run gets a key or table
 * prefix of its own, and `dispose()` removes what it wrote (unless asked to keep it), so a benchmark
 * never touches another program's data.
 */
import { randomBytes } from 'node:crypto';
import { memoryStore, type Store } from '@twofold/core';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore, storeTableNames } from '@twofold/store-sql';
import { Redis } from 'ioredis';
import pg from 'pg';

export const STORE_KINDS = ['memory', 'redis', 'postgres'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export const REDIS = { host: '127.0.0.1', port: 6379 } as const;
export const POSTGRES = { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' } as const;

export function isStoreKind(value: unknown): value is StoreKind {
  return typeof value === 'string' && (STORE_KINDS as readonly string[]).includes(value);
}

export interface BenchStore {
  kind: StoreKind;
  store: Store;
  /** Deletes the keys or tables of this store (unless `keep`), then closes its connections. */
  dispose(options?: { keep?: boolean }): Promise<void>;
}

/** A Redis client that fails fast when the server is missing instead of retrying forever. */
export function redisClient(): Redis {
  return new Redis({ ...REDIS, maxRetriesPerRequest: 2, connectTimeout: 3000, lazyConnect: false });
}

export function postgresPool(max = 10): pg.Pool {
  return new pg.Pool({ ...POSTGRES, max, connectionTimeoutMillis: 5000 });
}

/** Deletes every Redis key that starts with `prefix` (SCAN + UNLINK, in batches). */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  // SCAN's MATCH is a glob: escape its metacharacters in the prefix.
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Drops the store's tables of `prefix` (and the schema version table). */
export async function dropSqlPrefix(pool: pg.Pool, prefix: string): Promise<void> {
  if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`refusing to drop tables of prefix ${prefix}`);
  await pool.query(`drop table if exists ${storeTableNames(prefix).join(', ')}`);
}

/** A short random suffix for a run's own prefix. */
function runId(): string {
  return `${process.pid}_${randomBytes(3).toString('hex')}`;
}

/**
 * Opens a store of `kind`. Without `prefix`, Redis and PostgreSQL stores get a fresh one of this run.
 * PostgreSQL tables are migrated before the store opens.
 */
export async function openBenchStore(kind: StoreKind, prefix?: string): Promise<BenchStore> {
  if (kind === 'memory') {
    const store = memoryStore();
    return { kind, store, dispose: async () => store.close?.() };
  }
  if (kind === 'redis') {
    const redis = redisClient();
    const keyPrefix = prefix ?? `twofold-bench:${runId()}:`;
    try {
      await redis.ping();
    } catch (error) {
      redis.disconnect();
      throw new Error(`Redis at ${REDIS.host}:${REDIS.port} is not reachable`, { cause: error });
    }
    const store = redisStore({ client: redis, prefix: keyPrefix });
    return {
      kind,
      store,
      async dispose({ keep = false } = {}) {
        if (!keep) await deleteRedisPrefix(redis, keyPrefix);
        await redis.quit();
      },
    };
  }
  const pool = postgresPool();
  const tablePrefix = prefix ?? `bench_${runId()}_`;
  try {
    await migrate(pool, { prefix: tablePrefix });
  } catch (error) {
    await pool.end();
    throw new Error(`PostgreSQL at ${POSTGRES.host}:${POSTGRES.port} (db test) is not usable`, {
      cause: error,
    });
  }
  const store = await sqlStore({ db: pool, prefix: tablePrefix });
  return {
    kind,
    store,
    async dispose({ keep = false } = {}) {
      if (!keep) await dropSqlPrefix(pool, tablePrefix);
      await pool.end();
    },
  };
}
