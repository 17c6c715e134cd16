/**
 * @twofold/fastify's "Several processes share the counts through Redis": `app` (a Fastify app),
 * `twofold`, `redisStore` and `authenticate`; REDIS_URL points at the local Redis.
 */
import twofoldPlugin from '@twofold/fastify';
import { redisStore as makeRedisStore } from '@twofold/store-redis';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { authenticateAda, strictEqual } from './users.js';

export const app = Fastify();
export const twofold = twofoldPlugin;
export const redisStore = makeRedisStore;
export const authenticate = authenticateAda;

/** The plugin starts with the Redis rate limit: its routes exist. */
export async function after(scope: { redis?: Redis }) {
  await (app as FastifyInstance).ready();
  strictEqual(app.hasRoute({ method: 'POST', url: '/2fa/login' }), true);
  await app.close();
  await scope.redis?.quit();
}
