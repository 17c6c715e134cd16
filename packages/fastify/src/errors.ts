/**
 * Every error answer of the plugin goes through here: the kit's own errors (through
 * `toHttpError`), Fastify's errors inside the plugin's scope (bad JSON, body too large, wrong
 * content type), and anything else (a 500 with a generic message, logged).
 */
import { StoreUnavailableError, TwofoldError } from '@twofold/core';
import {
  BODY_MESSAGES,
  type HttpErrorResponse,
  httpError,
  isServerError,
  toHttpError,
} from '@twofold/core/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The 404 of a request to no route of the kit: the same words as @twofold/express. */
export function notFound(method: string, url: string): TwofoldError {
  return new TwofoldError('TWOFOLD_NOT_FOUND', `Route ${method} ${url.split('?')[0]} not found`);
}

/** The error answer of anything thrown inside the plugin's scope. */
export function errorResponse(error: unknown, bodyLimit: number): HttpErrorResponse {
  if (error instanceof TwofoldError) return toHttpError(error);
  const { code, statusCode } = (error ?? {}) as { code?: unknown; statusCode?: unknown };
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return httpError('TWOFOLD_INVALID_INPUT', BODY_MESSAGES.invalidJson);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return httpError('TWOFOLD_INVALID_INPUT', BODY_MESSAGES.lengthMismatch);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return httpError('TWOFOLD_PAYLOAD_TOO_LARGE', BODY_MESSAGES.tooLarge(bodyLimit));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return httpError('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.notJson);
  }
  // Other client errors Fastify raises (a malformed request): their own status class, our shape.
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    switch (statusCode) {
      case 404:
        return httpError('TWOFOLD_NOT_FOUND', 'There is no such route');
      case 413:
        return httpError('TWOFOLD_PAYLOAD_TOO_LARGE', BODY_MESSAGES.tooLarge(bodyLimit));
      case 415:
        return httpError('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.notJson);
      case 429:
        return httpError('TWOFOLD_RATE_LIMITED', 'Too many requests: try again later');
      default:
        return httpError('TWOFOLD_INVALID_INPUT', 'The request is not valid');
    }
  }
  return toHttpError(error);
}

/**
 * Sends an error answer with `Cache-Control: no-store`. Server-side failures (5xx) are logged at
 * error level with the error's name, code, message and stack only: never the request body, and never
 * the error's other properties (a driver error can carry the command and its arguments).
 */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  response: HttpErrorResponse,
  error: unknown,
) {
  if (isServerError(response)) {
    request.log.error({ error: describeError(error), code: response.body.code }, 'twofold: request failed');
  }
  return reply
    .code(response.status)
    .headers({ ...response.headers, 'cache-control': 'no-store' })
    .send(response.body);
}

/** What the log may know about an error: its name, code, message, stack and the same of its causes. */
export function describeError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code } = error as { code?: unknown };
  const described: Record<string, unknown> = {
    type: error.name,
    message: error.message,
    stack: error.stack,
  };
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  if (error.cause !== undefined && depth < 3) described.cause = describeError(error.cause, depth + 1);
  return described;
}

/** A failure of the shared rate-limit store (Redis): the request fails closed with a 503. */
export function rateLimitStoreDown(error: unknown): StoreUnavailableError {
  return new StoreUnavailableError('The rate-limit store is unavailable', { cause: error });
}
