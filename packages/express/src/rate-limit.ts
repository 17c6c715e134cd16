/**
 * Per-IP rate limits with express-rate-limit: one limiter per route, keyed by the client address
 * (IPv6 by its /64) and the route's id, so neither rotating addresses inside one allocation nor
 * spelling the path differently (`/LOGIN/verify/`) gets a fresh count. Optionally counted in Redis
 * (rate-limit-redis) so several processes share the counts.
 */
import { createHash } from 'node:crypto';
import {
  describeError,
  type HttpRoute,
  RATE_LIMIT_REDIS_PREFIX,
  RateLimitedError,
  type RateLimitRedisClient,
  type ResolvedHttpOptions,
  rateLimitKey,
  rateLimitStoreUnavailable,
  toHttpError,
} from '@twofold/core/http';
import type { RequestHandler } from 'express';
import { ipKeyGenerator, type Options as RateLimitOptions, rateLimit } from 'express-rate-limit';
import { type RedisReply, RedisStore, type SendCommandFn } from 'rate-limit-redis';
import { sendError } from './errors.js';
import type { TwofoldLog } from './options.js';

/** Where the counts live in Redis: `twofold:rl:<client>:<route id>`, the same keys as @twofold/fastify. */
export const REDIS_PREFIX = RATE_LIMIT_REDIS_PREFIX;

/** IPv6 clients are counted by their /64 (express-rate-limit's `ipv6Subnet`). */
const IPV6_SUBNET = 64;

/**
 * rate-limit-redis's `sendCommand` for an ioredis client (Redis or Cluster).
 *
 * rate-limit-redis loads its scripts once, when a limiter starts; a load that failed (Redis down
 * then) would fail every later count. So `SCRIPT LOAD` answers the script's SHA1, which is what Redis
 * answers, also when Redis cannot be reached: the first count after Redis is back finds no script
 * (NOSCRIPT), and rate-limit-redis then loads it again and retries, as it does after a SCRIPT FLUSH.
 * In a cluster EVALSHA goes to the key's node, so scripts are loaded on every master.
 */
function redisCommand(client: RateLimitRedisClient): SendCommandFn {
  const masters = () => (client.isCluster && client.nodes ? client.nodes('master') : [client]);
  return async (command, ...args) => {
    const script = args[1];
    if (command.toUpperCase() === 'SCRIPT' && args[0]?.toUpperCase() === 'LOAD' && script !== undefined) {
      await Promise.all(masters().map((node) => node.call('SCRIPT', 'LOAD', script))).catch(() => undefined);
      return createHash('sha1').update(script).digest('hex');
    }
    return client.call(command, ...args) as Promise<RedisReply>;
  };
}

/**
 * One limiter per route; an empty map when `rateLimit` is false. Store failures answer 503 (fail
 * closed: no unlimited attempts while the counts are unreachable).
 */
export function createRateLimiters(
  routes: readonly HttpRoute[],
  options: ResolvedHttpOptions['rateLimit'],
  log: TwofoldLog,
): Map<string, RequestHandler> {
  const limiters = new Map<string, RequestHandler>();
  if (options === false) return limiters;
  const sendCommand = options.redis && redisCommand(options.redis);
  let warnedTrustProxy = false;

  for (const route of routes) {
    const limiterOptions: Partial<RateLimitOptions> = {
      windowMs: options.timeWindowMs,
      limit: route.sensitive ? options.sensitiveMax : options.max,
      // express-rate-limit's helper keys the address (IPv6 by its /64); rateLimitKey writes it as
      // @twofold/fastify does, so both plugins count a client in the same key.
      keyGenerator(request) {
        if (!warnedTrustProxy && request.app.get('trust proxy') === true) {
          warnedTrustProxy = true;
          log('warn', 'twofold: Express "trust proxy" is true, so any client picks its own address', {
            hint: 'set "trust proxy" to the number of proxies in front of the app, or their addresses',
          });
        }
        return rateLimitKey(ipKeyGenerator(request.ip ?? '', IPV6_SUBNET), route.id);
      },
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      handler(_request, response, _next, used) {
        const retryAfterSeconds = Number(response.getHeader('Retry-After') ?? used.windowMs / 1000);
        sendError(response, toHttpError(new RateLimitedError(retryAfterSeconds * 1000)));
      },
      logger: {
        warn: (error, message) =>
          log('warn', message ?? 'twofold: rate limiter warning', { error: describeError(error) }),
        error: (error, message) =>
          log('error', message ?? 'twofold: rate limiter error', { error: describeError(error) }),
      },
      // A store per limiter: express-rate-limit refuses to share one (its `unsharedStore` check).
      ...(sendCommand ? { store: new RedisStore({ sendCommand, prefix: REDIS_PREFIX }) } : {}),
    };
    const limiter = rateLimit(limiterOptions);
    limiters.set(route.id, (request, response, next) =>
      limiter(request, response, (error?: unknown) => {
        if (error === undefined) next();
        else next(rateLimitStoreUnavailable(error));
      }),
    );
  }
  return limiters;
}
