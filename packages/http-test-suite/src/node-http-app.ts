/**
 * A reference ContractApp on bare node:http: the smallest adapter of `createTwofoldHttp` that
 * honours the contract. It lets the suite run without a framework and proves the HTTP layer of
 * @twofold/core on its own. Not a product: a host wanting this should use @twofold/fastify or
 * @twofold/express.
 *
 * What an adapter has to do, in order: route by exact path (a route id, never the raw path, keys
 * the rate limit; a path parameter such as `:id` is one segment of anything but a slash, handed to
 * the route decoded), rate limit per client key and route id, read the body within `bodyLimit`,
 * insist on JSON, parse it, find the user, run the route, and answer every error in the one shape
 * with `Cache-Control: no-store`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidInputError, isTwofoldError, TwofoldError, type TwofoldErrorCode } from '@twofold/core';
import {
  type AccessClaims,
  clientKey,
  createTwofoldHttp,
  type HttpErrorResponse,
  type HttpRoute,
  httpError,
  isServerError,
  toHttpError,
} from '@twofold/core/http';
import type { ContractApp, MakeContractApp } from './app.js';

/** The headers every kit response carries. */
const KIT_HEADERS = { 'cache-control': 'no-store' };

class HttpFailure extends Error {
  constructor(readonly response: HttpErrorResponse) {
    super(response.body.message);
  }
}

const fail = (code: TwofoldErrorCode, message: string, headers: Record<string, string> = {}) =>
  new HttpFailure(httpError(code, message, headers));

/** A fixed-window counter per key: enough for a reference; the plugins use their framework's limiter. */
function fixedWindowLimiter(windowMs: number) {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return (key: string, max: number): { limited: boolean; retryAfterSeconds: number } => {
    const now = Date.now();
    let entry = windows.get(key);
    if (!entry || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + windowMs };
      windows.set(key, entry);
    }
    entry.count += 1;
    return {
      limited: entry.count > max,
      retryAfterSeconds: Math.max(1, Math.ceil((entry.resetAt - now) / 1000)),
    };
  };
}

/** Reads the whole body; more than `limit` bytes is a 413 (the rest is drained, not buffered). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > limit) {
        reject(fail('TWOFOLD_PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes`));
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
    request.on('error', reject);
  });
}

function isJsonMediaType(header: string | undefined): boolean {
  const type = header?.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** The charset parameter (lower case, unquoted), or undefined. */
function charsetOf(header: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*("?)([^";]*)\1/i.exec(header ?? '');
  return match ? match[2]!.trim().toLowerCase() : undefined;
}

/**
 * The parsed JSON body, or undefined when the request has none. Media type, charset (UTF-8) and
 * encoding (none) are checked from the headers before the body is read.
 */
async function jsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  const { headers } = request;
  const length = headers['content-length'];
  if (headers['transfer-encoding'] === undefined && (length === undefined || length === '0'))
    return undefined;
  if (!isJsonMediaType(headers['content-type'])) {
    throw fail(
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      'The request body must be JSON (Content-Type: application/json)',
    );
  }
  const charset = charsetOf(headers['content-type']);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw fail('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON in UTF-8');
  }
  const encoding = (headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw fail(
      'TWOFOLD_UNSUPPORTED_MEDIA_TYPE',
      'The request body must not be compressed (Content-Encoding is not supported)',
    );
  }
  const raw = await readBody(request, limit);
  if (raw.length === 0) return undefined;
  try {
    // A leading BOM is ignored (RFC 8259 8.1 allows it).
    return JSON.parse(raw.toString('utf8').replace(/^\ufeff/, ''));
  } catch {
    throw new InvalidInputError('body', 'The request body is not valid JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>) {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
}

/** A route's path as a pattern: `:name` is one segment (no slash), the rest is spelled exactly. */
function pathPattern(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split(/(:[A-Za-z]\w*)/)
    .map((part, index) => {
      if (index % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(part.slice(1));
      return '([^/]+)';
    })
    .join('');
  return { pattern: new RegExp(`^${source}$`), names };
}

/**
 * The route of `method path` and its decoded path parameters, or undefined. A parameter that does
 * not decode (a stray `%`) matches no route: a 404, as any path the kit does not serve.
 */
function findRoute(
  table: readonly { route: HttpRoute; pattern: RegExp; names: string[]; method: string }[],
  method: string,
  path: string,
): { route: HttpRoute; params: Record<string, string> } | undefined {
  for (const entry of table) {
    if (entry.method !== method) continue;
    const match = entry.pattern.exec(path);
    if (!match) continue;
    const params: Record<string, string> = {};
    try {
      entry.names.forEach((name, index) => {
        params[name] = decodeURIComponent(match[index + 1]!);
      });
    } catch {
      return undefined;
    }
    return { route: entry.route, params };
  }
  return undefined;
}

export const makeNodeHttpApp: MakeContractApp = async ({ twofold, trustProxy = false }) => {
  const http = createTwofoldHttp(twofold);
  const { prefix, rateLimit, bodyLimit } = http.options;
  const limit = rateLimit === false ? null : fixedWindowLimiter(rateLimit.timeWindowMs);
  const routes = http.routes.map((route) => ({
    route,
    method: route.method,
    ...pathPattern(`${prefix}${route.path}`),
  }));
  const logs: string[] = [];
  const log = (entry: Record<string, unknown>) => logs.push(JSON.stringify({ time: Date.now(), ...entry }));

  const clientAddress = (request: IncomingMessage): string | undefined => {
    const forwarded = request.headers['x-forwarded-for'];
    if (trustProxy && typeof forwarded === 'string' && forwarded.trim() !== '') {
      return forwarded.split(',')[0]!.trim();
    }
    return request.socket.remoteAddress;
  };

  async function kitRoute(
    route: HttpRoute,
    params: Record<string, string>,
    request: IncomingMessage,
    response: ServerResponse,
  ) {
    if (limit && rateLimit !== false) {
      const max = route.sensitive ? rateLimit.sensitiveMax : rateLimit.max;
      const verdict = limit(`${route.id} ${clientKey(clientAddress(request))}`, max);
      if (verdict.limited) {
        throw fail('TWOFOLD_RATE_LIMITED', 'Too many requests: slow down', {
          'retry-after': String(verdict.retryAfterSeconds),
        });
      }
    }
    const body = route.body === null ? undefined : await jsonBody(request, bodyLimit);
    // The HTTP layer finds the user (getUserId, or the access token: a session that may only
    // enroll only on enrollment routes), the client (User-Agent, address) and the device cookie.
    const input = await http.routeInput(
      route,
      Object.assign(request, { body, params, ip: clientAddress(request) }),
    );
    const result = await route.handle(input);
    // Work the route leaves for later (the recovery mail) starts once the answer is written.
    if (result.afterResponse) response.once('finish', result.afterResponse);
    send(response, result.status, result.body, { ...KIT_HEADERS, ...result.headers });
  }

  /** The host routes of the contract: the path's guard, then `200 { userId }`. */
  const HOST_ROUTES: Record<string, (claims: AccessClaims) => void> = {
    '/host/protected': () => {},
    '/host/sensitive': (claims) => http.requireStepUp(claims),
    '/host/sensitive-second-factor': (claims) =>
      http.requireStepUp(claims, undefined, { secondFactor: true }),
  };

  async function hostRoute(path: string, request: IncomingMessage, response: ServerResponse) {
    const claims = await http.authorize(request.headers.authorization);
    HOST_ROUTES[path]!(claims);
    send(response, 200, { userId: claims.userId }, {});
  }

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    const found = findRoute(routes, request.method ?? '', path);
    const route = found?.route;
    const work =
      found !== undefined
        ? kitRoute(found.route, found.params, request, response)
        : request.method === 'GET' && Object.hasOwn(HOST_ROUTES, path)
          ? hostRoute(path, request, response)
          : Promise.reject(fail('TWOFOLD_NOT_FOUND', `Route ${request.method} ${path} not found`));
    work
      .catch((error: unknown) => {
        const answer = error instanceof HttpFailure ? error.response : toHttpError(error);
        if (isServerError(answer)) {
          log({
            level: 'error',
            route: route?.id,
            code: isTwofoldError(error) ? error.code : 'TWOFOLD_INTERNAL',
            cause: error instanceof TwofoldError ? undefined : (error as Error)?.name,
          });
        }
        // Drain whatever body is left so the client is not cut off mid-request.
        request.resume();
        send(response, answer.status, answer.body, { ...KIT_HEADERS, ...answer.headers });
      })
      .finally(() => {
        log({ level: 'info', method: request.method, route: route?.id ?? path, status: response.statusCode });
      });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const app: ContractApp = {
    origin,
    baseUrl: `${origin}${prefix}`,
    logs,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
  return app;
};
