/**
 * @twofold/express's "To share the counts between processes": `twofold`, `redisStore` and
 * `authenticate`; REDIS_URL points at the local Redis.
 */
import { twofold as makeRouter } from '@twofold/express';
import { redisStore as makeRedisStore } from '@twofold/store-redis';
import type { Redis } from 'ioredis';
import { authenticateAda, strictEqual } from './users.js';

export const twofold = makeRouter;
export const redisStore = makeRedisStore;
export const authenticate = authenticateAda;

/** The router was made (its options, the Redis client among them, were accepted). */
export async function after(scope: { auth?: unknown; redis?: Redis }) {
  strictEqual(typeof scope.auth, 'function');
  await scope.redis?.quit();
}
