export type { RedisClientLike } from './internal/client.js';
export { decodeUserTag } from './internal/keys.js';
export { type RedisStoreOptions, redisStoreOptionsSchema } from './options.js';
export { redisStore } from './redis-store.js';
