/**
 * Every error the router or a guard answers goes out here, in the one shape of DESIGN.md
 * (`{ statusCode, code, error, message }`), never as Express's HTML error page. Errors of the body
 * parser are translated into twofold codes; everything else goes through `toHttpError`.
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
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { TwofoldLog } from './options.js';

/** The answer for anything thrown while serving a request. */
export function errorResponse(error: unknown, bodyLimit: number): HttpErrorResponse {
  if (error instanceof TwofoldError) return toHttpError(error);
  // Express's router could not percent-decode a path parameter (`/authenticators/t_%E0%A4%A/rename`):
  // the client's mistake, a 400 naming the parameter, never a 500.
  if (error instanceof URIError && (error as { status?: unknown }).status === 400) {
    return httpError('TWOFOLD_INVALID_INPUT', 'The "id" in the path is not valid percent-encoding');
  }
  const parserProblem = bodyParserResponse(error, bodyLimit);
  return parserProblem ?? toHttpError(error);
}

/**
 * body-parser marks its errors with a `type`; their messages are not used, because a JSON syntax
 * error quotes the body, which may hold a code or a password.
 */
function bodyParserResponse(error: unknown, bodyLimit: number): HttpErrorResponse | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { type, status } = error as { type?: unknown; status?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number') return undefined;
  switch (type) {
    case 'entity.too.large':
      return httpError('TWOFOLD_PAYLOAD_TOO_LARGE', BODY_MESSAGES.tooLarge(bodyLimit));
    case 'request.size.invalid':
      return httpError('TWOFOLD_INVALID_INPUT', BODY_MESSAGES.lengthMismatch);
    // The router checks media type, charset and encoding itself before reading (core/http json-body.ts); these
    // stay for a body parser a host put in front of the router.
    case 'entity.parse.failed':
      return httpError('TWOFOLD_INVALID_INPUT', BODY_MESSAGES.invalidJson);
    case 'charset.unsupported':
      return httpError('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.notUtf8);
    case 'encoding.unsupported':
      return httpError('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.compressed);
    default:
      // Aborted, truncated or otherwise unreadable bodies: the client's side of the connection.
      return status >= 400 && status < 500
        ? httpError('TWOFOLD_INVALID_INPUT', BODY_MESSAGES.unreadable)
        : undefined;
  }
}

/**
 * Writes an error answer, never cached. Headers already sent: nothing sensible can follow, so the
 * socket ends.
 */
export function sendError(response: Response, answer: HttpErrorResponse): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.status(answer.status).set(answer.headers).set('Cache-Control', 'no-store').json(answer.body);
}

/** A log call that can never break a request, whatever the host's hook does. */
export function safeLog(log: TwofoldLog | undefined): TwofoldLog {
  return (level, message, fields) => {
    if (!log) return;
    try {
      log(level, message, fields);
    } catch {
      // The host's logger failing must not turn an answer into a crash.
    }
  };
}

/** The fields that place a request in a log line: its method, path (no query string) and route id. */
export function requestFields(request: Request, routeId?: string): Record<string, unknown> {
  return {
    method: request.method,
    path: `${request.baseUrl}${request.path}`,
    ...(routeId ? { route: routeId } : {}),
  };
}

/**
 * Answers an error, logging server-side failures (5xx) at `error` with the error's description;
 * 4xx are the client's business and are not logged.
 */
export function answerError(
  request: Request,
  response: Response,
  error: unknown,
  context: { log: TwofoldLog; bodyLimit: number; routeId?: string },
): void {
  const answer = errorResponse(error, context.bodyLimit);
  if (isServerError(answer)) {
    context.log('error', `twofold: ${request.method} answered ${answer.status} ${answer.body.code}`, {
      ...requestFields(request, context.routeId),
      statusCode: answer.status,
      code: answer.body.code,
      error: describeError(error),
    });
  }
  sendError(response, answer);
}

/** The router's last middleware: every error of its routes, parsers and limiters, in the one shape. */
export function errorHandler(context: { log: TwofoldLog; bodyLimit: number }): ErrorRequestHandler {
  return (error, request, response, _next) => {
    const routeId = (response.locals as { twofoldRoute?: string }).twofoldRoute;
    answerError(request, response, error, { ...context, routeId });
  };
}
