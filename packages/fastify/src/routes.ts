import rateLimit from '@fastify/rate-limit';
import { TwofoldError } from '@twofold/core';
import {
  bodyHeaderProblem,
  describeError,
  type HttpRoute,
  openApiOperation,
  parseJsonText,
  RATE_LIMIT_REDIS_PREFIX,
  RateLimitedError,
  RouteNotFoundError,
  rateLimitKey,
  rateLimitStoreUnavailable,
  runAfterResponse,
  type TwofoldHttp,
} from '@twofold/core/http';
import type {
  FastifyBodyParser,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
} from 'fastify';
import { errorResponse, sendError } from './errors.js';

/**
 * The route schemas are documentation (@fastify/swagger): Fastify neither validates the bodies (the
 * HTTP layer does, with zod) nor serializes the answers with them (plain JSON, as @twofold/express).
 */
const acceptEveryBody = () => () => true;
const plainJson = () => (data: unknown) => JSON.stringify(data);

/**
 * The Fastify schema of a route: its OpenAPI operation (`openApiOperation` of @twofold/core/http,
 * schemas inline) in the form @fastify/swagger reads. The security requirements name the scheme
 * `bearerAuth`: the host adds `openApiSecuritySchemes` to its `components.securitySchemes`.
 */
function routeSchema(http: TwofoldHttp<FastifyRequest>, route: HttpRoute): FastifySchema {
  const { requestBody, responses, ...operation } = openApiOperation(http, route, { style: 'inline' }) as {
    requestBody?: unknown;
    responses: Record<
      string,
      { description: string; headers?: Record<string, OpenApiHeader>; content?: unknown }
    >;
  };
  const body = http.bodyJsonSchema(route);
  const response: Record<string, unknown> = {};
  for (const [status, { description, headers, content }] of Object.entries(responses)) {
    response[status] = {
      description,
      ...(headers
        ? {
            headers: Object.fromEntries(
              Object.entries(headers).map(([name, header]) => [
                name,
                { ...header.schema, description: header.description },
              ]),
            ),
          }
        : {}),
      ...(content ? { content } : { type: 'null' }),
    };
  }
  return { ...operation, ...(requestBody && body ? { body } : {}), response };
}

interface OpenApiHeader {
  description: string;
  schema: Record<string, unknown>;
}

export async function twofoldRoutes(
  scope: FastifyInstance,
  http: TwofoldHttp<FastifyRequest>,
): Promise<void> {
  const { bodyLimit } = http.options;
  // Requests whose rate-limit count is under way: a failure then is the shared store's (fail closed, 503).
  const limiting = new WeakSet<FastifyRequest>();

  // Hooks in callback style: an async hook costs a promise and a tick per request on every route.
  scope.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store');
    done(null, payload);
  });

  // A request to no route of the kit, or to a route by another spelling (`/STATUS`, `/status/`,
  // `/st%61tus`, which Fastify's router would decode): 404, before the rate limit and the body.
  // A path parameter (`:id`) is one segment of anything but a slash; the rest must be spelled exactly.
  const spellings = new Map<string, RegExp>();
  const spelledAs = (url: string, path: string): boolean => {
    if (!url.includes(':')) return path === url;
    let pattern = spellings.get(url);
    if (!pattern) {
      const parts = url
        .split(/(:[A-Za-z]\w*)/)
        .map((part, index) => (index % 2 === 1 ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      pattern = new RegExp(`^${parts.join('')}$`);
      spellings.set(url, pattern);
    }
    return pattern.test(path);
  };
  scope.addHook('onRequest', (request, _reply, done) => {
    const { config, url } = request.routeOptions;
    if (
      config.twofoldRouteId === undefined ||
      url === undefined ||
      !spelledAs(url, request.url.split('?')[0]!)
    ) {
      done(new RouteNotFoundError(request.method, request.url));
      return;
    }
    done();
  });

  // JSON only (no text/plain or form bodies: a cross-site form cannot post here without a preflight),
  // in UTF-8, uncompressed: decided from the headers before the body is read.
  scope.addHook('preParsing', (request, _reply, payload, done) => {
    const problem = request.routeOptions.config.twofoldBody ? bodyHeaderProblem(request.headers) : null;
    if (problem) done(problem);
    else done(null, payload);
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
    const cause = failed ? rateLimitStoreUnavailable(error) : error;
    return sendError(request, reply, errorResponse(cause, bodyLimit), cause);
  });

  // Reached only if the onRequest hook above did not answer first.
  scope.setNotFoundHandler((request, reply) => {
    const error = new RouteNotFoundError(request.method, request.url);
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
      // The same answer as @twofold/express, Retry-After included.
      errorResponseBuilder: (_request, context) => new RateLimitedError(context.ttl),
      skipOnError: false,
      cache: 100_000,
      // The same keys as @twofold/express: mixed deployments share one count.
      ...(redis ? { redis, nameSpace: RATE_LIMIT_REDIS_PREFIX } : {}),
    });
    scope.addHook('preParsing', (request, _reply, payload, done) => {
      limiting.delete(request);
      done(null, payload);
    });
  }

  for (const route of http.routes) {
    const config = {
      twofoldRouteId: route.id,
      twofoldSensitive: route.sensitive,
      twofoldBody: route.body !== null,
    };
    scope.route({
      method: route.method,
      url: route.path,
      bodyLimit,
      config,
      schema: routeSchema(http, route),
      validatorCompiler: acceptEveryBody,
      serializerCompiler: plainJson,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const input = await http.routeInput(route, request);
        // The user of the kit's access token, as the guards set it for the host's routes.
        if (input.claims) request.twofoldUser = { userId: input.claims.userId, claims: input.claims };
        const result = await route.handle(input);
        if (result.afterResponse) {
          runAfterResponse(reply.raw, result.afterResponse, (error) =>
            request.log.error({ error: describeError(error) }, 'twofold: work after the response failed'),
          );
        }
        if (result.headers) reply.headers(result.headers);
        return reply.code(result.status).send(result.body);
      },
    });
  }
}
