/**
 * The plugin's own encapsulated scope under the prefix: the kit's routes, their rate limits, JSON
 * as the only body type, `Cache-Control: no-store`, and errors and 404s in the kit's shape. Nothing
 * here leaks into the host app: its hooks, parsers and handlers stay as they were.
 */
import rateLimit from '@fastify/rate-limit';
import { TwofoldError, UnauthorizedError } from '@twofold/core';
import {
  type AccessClaims,
  type HttpRoute,
  httpError,
  RATE_LIMIT_REDIS_PREFIX,
  rateLimitKey,
  type TwofoldHttp,
} from '@twofold/core/http';
import type { FastifyBodyParser, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorResponse, rateLimitStoreDown, sendError } from './errors.js';
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

  // JSON only: no text/plain or form bodies (a cross-site form cannot post here without a preflight).
  scope.removeAllContentTypeParsers();
  // application/json and application/<something>+json; an empty body is no body (POST /totp/enroll).
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  const jsonParser: FastifyBodyParser<string> = (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body, done);
  };
  scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, jsonParser);
  scope.addContentTypeParser(
    /^application\/[\w.-]+\+json\s*(;|$)/i,
    { parseAs: 'string', bodyLimit },
    jsonParser,
  );

  scope.setErrorHandler((error, request, reply) => {
    const failed =
      limiting.has(request) &&
      !(error instanceof TwofoldError) &&
      (error as { statusCode?: unknown }).statusCode === undefined;
    const cause = failed ? rateLimitStoreDown(error) : error;
    return sendError(request, reply, errorResponse(cause, bodyLimit), cause);
  });

  scope.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    return sendError(
      request,
      reply,
      httpError('TWOFOLD_NOT_FOUND', `No route ${request.method} ${path}`),
      null,
    );
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
        // A request that matched no route (answered 404) counts under a route id of its own.
        return rateLimitKey(request.ip, config(request).twofoldRouteId ?? 'no-route');
      },
      errorResponseBuilder: (_request, context) =>
        new TwofoldError('TWOFOLD_RATE_LIMITED', `Too many requests: try again in ${context.after}`),
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
    const config = { twofoldRouteId: route.id, twofoldSensitive: route.sensitive };
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
