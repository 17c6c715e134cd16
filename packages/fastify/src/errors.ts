/**
 * Every error answer of the plugin goes through here: the kit's own errors (through
 * `toHttpError`), Fastify's errors inside the plugin's scope (bad JSON, body too large, wrong
 * content type), and anything else (a 500 with a generic message, logged).
 */
import { TwofoldError } from '@twofold/core';
import {
  BODY_MESSAGES,
  describeError,
  type HttpErrorResponse,
  httpError,
  isServerError,
  toHttpError,
} from '@twofold/core/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

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
 * error level with `describeError` (name, code, message, stack, causes): never the request body.
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
