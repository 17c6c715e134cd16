/**
 * The plugin's own encapsulated scope under the prefix: the kit's routes, their rate limits, JSON
 * as the only body type, `Cache-Control: no-store`, and errors and 404s in the kit's shape. Nothing
 * here leaks into the host app: its hooks, parsers and handlers stay as they were.
 *
 * Every answer is the same, byte for byte, as @twofold/express gives (test/http-contract/parity.ts):
 * a route answers only to its exact path and method, anything else under the prefix is a 404
 * `TWOFOLD_NOT_FOUND` before the body is looked at; then the rate limit; then the body rules of
 * `json-body.ts` (415 from the headers, 413 while reading, 400 for text that is not JSON).
 */
import type { ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import { TwofoldError, UnauthorizedError } from '@twofold/core';
import {
  type AccessClaims,
  bodyHeaderProblem,
  type HttpRoute,
  parseJsonText,
  RATE_LIMIT_REDIS_PREFIX,
  rateLimitKey,
  type TwofoldHttp,
} from '@twofold/core/http';
import type {
  FastifyBaseLogger,
  FastifyBodyParser,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import { describeError, errorResponse, notFound, rateLimitStoreDown, sendError } from './errors.js';
import type { TwofoldFastifyOptions } from './types.js';

/** Fastify must not validate the bodies: the HTTP layer does, with zod (the JSON Schema is for docs). */
const acceptEveryBody = () => () => true;

export async function twofoldRoutes(scope: FastifyInstance, http: TwofoldHttp): Promise<void> {
  const { bodyLimit } = http.options;
  const getUserId = http.options.getUserId as TwofoldFastifyOptions['getUserId'];
  // Requests whose rate-limit count is under way: a failure then is the shared store's (fail closed, 503).
  const limiting = new WeakSet<FastifyRequest>();

  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  // A request to no route of the kit, or to a route by another spelling (`/STATUS`, `/status/`,
  // `/st%61tus`, which Fastify's router would decode): 404, before the rate limit and the body.
  scope.addHook('onRequest', async (request) => {
    const { config, url } = request.routeOptions;
    if (config.twofoldRouteId === undefined || request.url.split('?')[0] !== url) {
      throw notFound(request.method, request.url);
    }
  });

  // JSON only (no text/plain or form bodies: a cross-site form cannot post here without a preflight),
  // in UTF-8, uncompressed: decided from the headers before the body is read.
  scope.addHook('preParsing', async (request, _reply, payload) => {
    if (request.routeOptions.config.twofoldBody) {
      const problem = bodyHeaderProblem(request.headers);
      if (problem) throw problem;
    }
    return payload;
  });
  // One parser for every media type: what reaches it is JSON, or an empty body of any type.
  scope.removeAllContentTypeParsers();
  const jsonParser: FastifyBodyParser<string> = (_request, body, done) => {
    try {
      done(null, parseJsonText(body));
    } catch (error) {
      done(error as Error, undefined);
    }
  };
  scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, jsonParser);

  scope.setErrorHandler((error, request, reply) => {
    const failed =
      limiting.has(request) &&
      !(error instanceof TwofoldError) &&
      (error as { statusCode?: unknown }).statusCode === undefined;
    const cause = failed ? rateLimitStoreDown(error) : error;
    return sendError(request, reply, errorResponse(cause, bodyLimit), cause);
  });

  // Reached only if the onRequest hook above did not answer first.
  scope.setNotFoundHandler((request, reply) => {
    const error = notFound(request.method, request.url);
    return sendError(request, reply, errorResponse(error, bodyLimit), null);
  });

  if (http.options.rateLimit) {
    const { max, sensitiveMax, timeWindowMs, redis } = http.options.rateLimit;
    const config = (request: FastifyRequest) => request.routeOptions.config;
    await scope.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      timeWindow: timeWindowMs,
      max: (request) => (config(request).twofoldSensitive ? sensitiveMax : max),
      // The client's address (IPv6 by its /64) and the route's id: never the raw URL, which a client
      // could vary (`//2fa/login`, a trailing slash, a query string) to get fresh counters.
      keyGenerator: (request) => {
        limiting.add(request);
        // Requests that match no route are answered 404 before the limiter; the fallback is a guard.
        return rateLimitKey(request.ip, config(request).twofoldRouteId ?? 'no-route');
      },
      // The same words as @twofold/express; the seconds are those of the Retry-After header.
      errorResponseBuilder: (_request, context) =>
        new TwofoldError(
          'TWOFOLD_RATE_LIMITED',
          `Too many requests: try again in ${Math.max(1, Math.ceil(context.ttl / 1000))} seconds`,
        ),
      skipOnError: false,
      cache: 100_000,
      // The same keys as @twofold/express: mixed deployments share one count.
      ...(redis ? { redis, nameSpace: RATE_LIMIT_REDIS_PREFIX } : {}),
    });
    scope.addHook('preParsing', async (request) => {
      limiting.delete(request);
    });
  }

  for (const route of http.routes) {
    const config = {
      twofoldRouteId: route.id,
      twofoldSensitive: route.sensitive,
      twofoldBody: route.body !== null,
    };
    const body = http.bodyJsonSchema(route);
    scope.route({
      method: route.method,
      url: route.path,
      bodyLimit,
      config,
      schema: { summary: route.summary, tags: ['twofold'], ...(body ? { body } : {}) },
      validatorCompiler: acceptEveryBody,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const { userId, claims } = await userOf(route, request);
        const result = await route.handle({ userId, claims, body: request.body });
        if (result.afterResponse) runAfterResponse(reply.raw, result.afterResponse, request.log);
        return reply.code(result.status).send(result.body);
      },
    });
  }

  /** The user of a request: `getUserId` for `auth: 'user'` when the host gave one, else the access token. */
  async function userOf(
    route: HttpRoute,
    request: FastifyRequest,
  ): Promise<{ userId: string | null; claims: AccessClaims | null }> {
    if (route.auth === 'none') return { userId: null, claims: null };
    if (route.auth === 'user' && getUserId) {
      const userId = await getUserId(request);
      if (typeof userId !== 'string' || userId === '') throw new UnauthorizedError('Sign in first');
      return { userId, claims: null };
    }
    const claims = await http.authorize(request.headers.authorization);
    return { userId: claims.userId, claims };
  }
}

/**
 * Starts `work` once the answer is written (`finish`), or once the connection is gone (`close`)
 * without that: never while the host's onSend hooks or the write are still under way.
 */
function runAfterResponse(response: ServerResponse, work: () => void, log: FastifyBaseLogger): void {
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    try {
      work();
    } catch (error) {
      log.error({ error: describeError(error) }, 'twofold: work after the response failed');
    }
  };
  response.once('finish', start);
  response.once('close', start);
}
