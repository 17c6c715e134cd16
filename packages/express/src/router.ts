/**
 * `twofold(options)`: an Express Router with every route of the HTTP contract, adapted from the
 * framework-free route table of @twofold/core/http. Only plumbing lives here: body parsing, rate
 * limits, finding the user, writing answers and errors.
 *
 * Every answer is the same, byte for byte, as @twofold/fastify gives (packages/http-test-suite/src/parity.ts):
 * a route answers only to its exact path and method (the router is strict and case-sensitive), anything
 * else is a 404 `TWOFOLD_NOT_FOUND` before the body is looked at; then the rate limit; then the body
 * rules of `@twofold/core/http`'s `json-body.ts` (415 from the headers, 413 while reading, 400 for text that is not JSON).
 */
import type { TwoFactor } from '@twofold/core';
import {
  bodyHeaderProblem,
  createTwofoldHttp,
  describeError,
  hasBody,
  parseJsonText,
  RouteNotFoundError,
  runAfterResponse,
  type StepUpGuardOptions,
  type TwofoldHttp,
  type TwofoldHttpOptions,
} from '@twofold/core/http';
import express, { type Request, type RequestHandler, type Router } from 'express';
import { errorHandler, safeLog } from './errors.js';
import { createGuards } from './guards.js';
import { expressOptionsSchema, type TwofoldExpressOptions, type TwofoldLog } from './options.js';
import { createRateLimiters } from './rate-limit.js';

/** The router, plus what the host needs for its own routes. */
export interface TwofoldRouter extends Router {
  /** The engine, for the host's own flows (e.g. its login calling `createChallenge`). */
  readonly engine: TwoFactor;
  /** The shared HTTP layer: route table, resolved options, tokens. */
  readonly http: TwofoldHttp<Request>;
  /**
   * Middleware: requires a valid kit access token (`Authorization: Bearer ...`) and sets
   * `request.twofold = { userId, claims }`; otherwise answers 401 TWOFOLD_UNAUTHORIZED.
   */
  readonly requireAuth: RequestHandler;
  /**
   * Middleware factory: requires an access token whose authentication is at most `maxAgeSeconds`
   * old (default: the `stepUp.maxAgeSeconds` option, 300): a second factor for a user with 2FA, the
   * password (login or step-up) for a user without; `{ secondFactor: true }` demands a second
   * factor from everyone. Otherwise 401 TWOFOLD_STEP_UP_REQUIRED, and the client gets a fresh
   * token from `POST /step-up`. Checks the token itself, so it can be used alone.
   * @throws TypeError for a `maxAgeSeconds` outside 30..86400, or bad options
   */
  requireStepUp(maxAgeSeconds?: number, options?: StepUpGuardOptions): RequestHandler;
}

/**
 * Builds the router; options are validated here (a wrong one throws a TypeError naming it).
 *
 * @example
 * const auth = twofold({ store: memoryStore(), keyring: process.env.TWOFOLD_KEYS, issuer: 'Acme', authenticate });
 * app.use('/2fa', auth);
 * app.get('/account', auth.requireAuth, (req, res) => res.json({ userId: req.twofold!.userId }));
 * app.post('/account/delete', auth.requireStepUp(), deleteAccount);
 */
export function twofold(options: TwofoldExpressOptions): TwofoldRouter {
  // Every option, `log` included, is validated by createTwofoldHttp before `log` is ever called.
  const hostLog = (options as Partial<TwofoldExpressOptions> | null | undefined)?.log;
  const log = safeLog(hostLog);
  const withBackgroundLog =
    hostLog && options.onBackgroundError === undefined
      ? {
          ...options,
          onBackgroundError: (error: unknown) =>
            log('error', 'twofold: background work failed', { error: describeError(error) }),
        }
      : options;
  const http = createTwofoldHttp<Request>(
    withBackgroundLog as TwofoldHttpOptions<Request>,
    expressOptionsSchema,
  );
  const { bodyLimit } = http.options;
  const limiters = createRateLimiters(http.routes, http.options.rateLimit, log);
  const jsonBody = createJsonBody(bodyLimit);

  // Strict and case-sensitive: `/status/` and `/STATUS` are no route, as on Fastify.
  const router = express.Router({ strict: true, caseSensitive: true });
  router.use(noStore);
  // Per route, as in every adapter of the HTTP layer: count the request, read the body, find the
  // user, run the route. Errors of any step go to the error handler at the end.
  for (const route of http.routes) {
    const handlers: RequestHandler[] = [nameRoute(route.id)];
    const limiter = limiters.get(route.id);
    if (limiter) handlers.push(limiter);
    if (route.body !== null) handlers.push(jsonBody);
    handlers.push(async (request, response) => {
      const input = await http.routeInput(route, request);
      // The user of the kit's access token, as the guards set it for the host's routes.
      if (input.claims) request.twofold = { userId: input.claims.userId, claims: input.claims };
      const result = await route.handle(input);
      if (result.afterResponse) {
        runAfterResponse(response, result.afterResponse, (error) =>
          log('error', 'twofold: work after the response failed', { error: describeError(error) }),
        );
      }
      if (result.headers) response.set(result.headers);
      response.status(result.status);
      if (result.body === undefined) response.end();
      else response.json(result.body);
    });
    if (route.method === 'GET') router.get(route.path, ...handlers);
    else router.post(route.path, ...handlers);
  }
  // The path as the client sent it (the mount point included, no query): the same words as Fastify.
  router.use((request, _response, next) => {
    next(new RouteNotFoundError(request.method, request.originalUrl));
  });
  router.use(errorHandler({ log, bodyLimit }));

  const guards = createGuards(http, log);
  return Object.assign(router, {
    engine: http.engine,
    http,
    requireAuth: guards.requireAuth,
    requireStepUp: guards.requireStepUp,
  });
}

/** Secrets, QR codes, recovery codes and tokens must never sit in a cache (SECURITY.md §26). */
const noStore: RequestHandler = (_request, response, next) => {
  response.set('Cache-Control', 'no-store');
  next();
};

/** Remembers the route id for the error log. */
function nameRoute(id: string): RequestHandler {
  return (_request, response, next) => {
    (response.locals as { twofoldRoute?: string }).twofoldRoute = id;
    next();
  };
}

/**
 * The JSON body of a route, by the rules of `@twofold/core/http`'s `json-body.ts`: no body goes on with `body` undefined (the
 * route table turns that into `{}` for routes without fields, a 400 naming the body for the others);
 * the headers must allow JSON in UTF-8, uncompressed (415); at most `limit` bytes (413); then the text
 * is parsed, and any JSON value goes to the route.
 */
function createJsonBody(limit: number): RequestHandler {
  // Reads the raw bytes only (media type, charset and encoding are checked before) and decodes them as
  // Fastify does: body-parser's own JSON parser would refuse `null` and primitives in other words, and
  // its text decoder drops a BOM that Fastify's keeps.
  const readBytes = express.raw({ type: () => true, limit, inflate: false });
  return (request, response, next) => {
    if (!hasBody(request.headers)) {
      next();
      return;
    }
    const problem = bodyHeaderProblem(request.headers);
    if (problem) {
      next(problem);
      return;
    }
    // A body parser of the host in front of the router read it already: its value stands.
    if (request.readableEnded) {
      next();
      return;
    }
    readBytes(request, response, (error?: unknown) => {
      if (error) {
        next(error);
        return;
      }
      try {
        const bytes: unknown = request.body;
        request.body = parseJsonText(Buffer.isBuffer(bytes) ? bytes.toString('utf8') : '');
      } catch (parseError) {
        next(parseError);
        return;
      }
      next();
    });
  };
}

export type { TwofoldLog };
