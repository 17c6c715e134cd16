/**
 * Per-IP rate limits with express-rate-limit: one limiter per route, keyed by the client address
 * (IPv6 by its /64) and the route's id, so neither rotating addresses inside one allocation nor
 * spelling the path differently (`/LOGIN/verify/`) gets a fresh count. Optionally counted in Redis
 * (rate-limit-redis) so several processes share the counts.
 */
import { StoreUnavailableError } from '@twofold/core';
import {
  type HttpRoute,
  httpError,
  RATE_LIMIT_REDIS_PREFIX,
  type ResolvedHttpOptions,
  rateLimitKey,
} from '@twofold/core/http';
import type { RequestHandler } from 'express';
import { type Options as RateLimitOptions, rateLimit, type Store } from 'express-rate-limit';
import { type RedisReply, RedisStore } from 'rate-limit-redis';
import { describeError, sendError } from './errors.js';
import type { TwofoldLog } from './options.js';

/** Where the counts live in Redis: `twofold:rl:<client>:<route id>`, the same keys as @twofold/fastify. */
export const REDIS_PREFIX = RATE_LIMIT_REDIS_PREFIX;

/** The part of an ioredis client (Redis or Cluster) the limiter uses. */
interface RedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>;
  isCluster?: boolean;
  nodes?(role: 'master'): RedisClientLike[];
}

/**
 * rate-limit-redis loads its script once, at startup, and keeps the promise: when Redis was down
 * then, it stays rejected and every later count fails. This store loads the script again while
 * that is the case, so the limits come back with Redis.
 */
class RecoveringRedisStore extends RedisStore {
  override async increment(key: string) {
    const loaded = await this.incrementScriptSha.then(
      () => true,
      () => false,
    );
    if (!loaded) this.incrementScriptSha = this.loadIncrementScript();
    return super.increment(key);
  }
}

function redisCommand(client: RedisClientLike): (...args: string[]) => Promise<RedisReply> {
  const send = (...args: string[]) => client.call(args[0]!, ...args.slice(1)) as Promise<RedisReply>;
  if (!client.isCluster || typeof client.nodes !== 'function') return send;
  // In a cluster, EVALSHA goes to the key's node: load the scripts on every master.
  const nodes = client.nodes.bind(client);
  return async (...args) => {
    if (args[0]?.toUpperCase() !== 'SCRIPT') return send(...args);
    const replies = await Promise.all(
      nodes('master').map((node) => node.call(args[0]!, ...args.slice(1)) as Promise<RedisReply>),
    );
    return replies[0]!;
  };
}

function checkRedisClient(value: unknown): RedisClientLike {
  if (typeof value !== 'object' || value === null || typeof (value as RedisClientLike).call !== 'function') {
    throw new TypeError(
      'Invalid twofold options: "rateLimit.redis" must be an ioredis client (Redis or Cluster)',
    );
  }
  return value as RedisClientLike;
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
  const redis = options.redis === undefined ? undefined : checkRedisClient(options.redis);
  const sendCommand = redis && redisCommand(redis);
  let warnedTrustProxy = false;

  for (const route of routes) {
    // A store per limiter: express-rate-limit refuses to share one (its `unsharedStore` check).
    const store: Store | undefined = sendCommand
      ? new RecoveringRedisStore({ sendCommand, prefix: REDIS_PREFIX })
      : undefined;
    const limiterOptions: Partial<RateLimitOptions> = {
      windowMs: options.timeWindowMs,
      limit: route.sensitive ? options.sensitiveMax : options.max,
      keyGenerator(request) {
        if (!warnedTrustProxy && request.app.get('trust proxy') === true) {
          warnedTrustProxy = true;
          log('warn', 'twofold: Express "trust proxy" is true, so any client picks its own address', {
            hint: 'set "trust proxy" to the number of proxies in front of the app, or their addresses',
          });
        }
        return rateLimitKey(request.ip, route.id);
      },
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      handler(_request, response, _next, used) {
        const retryAfter = response.getHeader('Retry-After') ?? String(Math.ceil(used.windowMs / 1000));
        sendError(
          response,
          httpError(
            'TWOFOLD_RATE_LIMITED',
            // The same words as @twofold/fastify.
            `Too many requests: try again in ${retryAfter} seconds`,
            { 'retry-after': String(retryAfter) },
          ),
        );
      },
      validate: {
        // Our keyGenerator reads request.ip, which this check flags; clientKey() keys IPv6 by its
        // /64 (what ipKeyGenerator would do), and IPv4-mapped addresses by their IPv4 form.
        keyGeneratorIpFallback: false,
      },
      logger: {
        warn: (error, message) =>
          log('warn', message ?? 'twofold: rate limiter warning', { error: describeError(error) }),
        error: (error, message) =>
          log('error', message ?? 'twofold: rate limiter error', { error: describeError(error) }),
      },
      ...(store ? { store } : {}),
    };
    const limiter = rateLimit(limiterOptions);
    limiters.set(route.id, (request, response, next) =>
      limiter(request, response, (error?: unknown) => {
        if (error === undefined) next();
        else next(new StoreUnavailableError('The rate-limit store is unavailable', { cause: error }));
      }),
    );
  }
  return limiters;
}
