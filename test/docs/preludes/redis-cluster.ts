/**
 * @twofold/store-redis's Cluster sample: `redisStore`. The sample's hosts (redis-1, redis-2) are
 * names of its reader's network: the store is made over the client, which is then disconnected.
 */
import { redisStore as makeRedisStore } from '@twofold/store-redis';
import type { Cluster } from 'ioredis';
import { ok } from './users.js';

export const redisStore = makeRedisStore;

export async function after(scope: { cluster?: Cluster; store?: object }) {
  ok(scope.store && 'consumeCounter' in scope.store);
  scope.cluster?.disconnect();
}
