/**
 * The store of the commands that act on users (`twofold user`): a SQL database (through
 * database.ts) or a Redis server. Redis and its driver are loaded only when used.
 */
import type { Store } from '@twofold/core';
import { describeTarget, openDatabase, parseDatabaseUrl, prefixOption, URL_FORMS } from './database.js';
import { CommandError, storeFailure, UsageError } from './errors.js';

export const STORE_URL_FORMS = `${URL_FORMS}
  redis://[user:password@]host:6379[/db] (or rediss:// for TLS)  Redis (one server)`;

/** An open store, a description of where it is for messages (no password), and how to release it. */
export interface OpenStore {
  store: Store;
  where: string;
  close(): Promise<void>;
}

/** How long to wait for Redis to answer before failing. */
const REDIS_TIMEOUT_MS = 10_000;

/** `connections`: the pool size of a SQL server (default 2); Redis uses one connection, pipelined. */
export async function openStore(
  url: string | undefined,
  prefix: string | undefined,
  options: { connections?: number } = {},
): Promise<OpenStore> {
  const scheme =
    url === undefined ? undefined : /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1]?.toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') return openRedis(url!.trim(), prefix);
  const target = parseDatabaseUrl(url);
  const where = describeTarget(target);
  const database = await openDatabase(target, { create: false, connections: options.connections });
  try {
    const { sqlStore } = await import('@twofold/store-sql');
    const store = await sqlStore({
      db: database.db,
      prefix: prefixOption(prefix),
      sweepIntervalMs: false,
    }).catch(storeFailure(where));
    return { store, where, close: () => database.close() };
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function openRedis(url: string, prefix: string | undefined): Promise<OpenStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('--url is not a valid URL (percent-encode special characters in the password)');
  }
  if (parsed.hostname === '') throw new UsageError('--url has no host name');
  if (parsed.password !== '') parsed.password = '***';
  const where = parsed.toString();
  let Redis: typeof import('ioredis').Redis;
  let redisStore: typeof import('@twofold/store-redis').redisStore;
  try {
    ({ Redis } = await import('ioredis'));
    ({ redisStore } = await import('@twofold/store-redis'));
  } catch (error) {
    throw new CommandError(
      'the Redis driver is not available: install it next to @twofold/cli (npm install ioredis @twofold/store-redis)',
      { cause: error },
    );
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: REDIS_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  // A failure is reported by the command that meets it, not as an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new CommandError(`${where}: cannot connect: ${(error as Error).message}`, { cause: error });
  }
  let store: Store;
  try {
    store = redisStore({ client, ...(prefix === undefined ? {} : { prefix }) });
  } catch (error) {
    client.disconnect();
    if (error instanceof TypeError) throw new UsageError(`--prefix: ${error.message}`);
    throw error;
  }
  return {
    store,
    where,
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
