import { parseOptions } from '@twofold/core';
import { z } from 'zod';
import type { RedisClientLike } from './internal/client.js';

function isRedisClient(value: unknown): value is RedisClientLike {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  return (
    typeof client.status === 'string' &&
    ['evalsha', 'eval', 'del', 'srem', 'scard', 'scan'].every(
      (method) => typeof client[method] === 'function',
    )
  );
}

/** The options of {@link redisStore}, validated once when the store is created. */
export const redisStoreOptionsSchema = z.strictObject({
  /**
   * The host app's ioredis client: `new Redis(...)` or `new Cluster([...])`. The store borrows it and
   * never closes it.
   */
  client: z.custom<RedisClientLike>(isRedisClient, 'must be an ioredis Redis or Cluster instance'),
  /**
   * Put before every key, so several apps or test runs can share one Redis. No `{` or `}`: the user's
   * hash tag must be the first one in each key. Default `twofold:`.
   */
  prefix: z
    .string({ error: 'must be a string' })
    .max(200)
    .refine((prefix) => !/[{}]/.test(prefix), 'must not contain "{" or "}" (they would break the hash tag)')
    .default('twofold:'),
  /**
   * How long one operation may take before it fails with StoreUnavailableError, whatever the client's
   * own retry policy; 1-60000 ms. Default 2000.
   */
  operationTimeoutMs: z
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(1)
    .max(60_000)
    .default(2000),
});

/** What {@link redisStore} accepts. */
export type RedisStoreOptions = z.input<typeof redisStoreOptionsSchema>;

/** The options with their defaults filled in. */
export type ResolvedRedisStoreOptions = z.output<typeof redisStoreOptionsSchema>;

/** Validates the options, throwing a TypeError that names each wrong option and what is allowed. */
export function resolveRedisStoreOptions(options: unknown): ResolvedRedisStoreOptions {
  return parseOptions(redisStoreOptionsSchema, options, 'redisStore');
}
