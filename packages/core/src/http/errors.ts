/**
 * The HTTP face of twofold errors: the HTTP layer's own errors, one table from error code to
 * status, the one error body shape of DESIGN.md (Fastify's own): `{ statusCode, code, error,
 * message }`, and what a log line may say about an error.
 */
import {
  LockedError,
  NotFoundError,
  StoreUnavailableError,
  type TwofoldCoreErrorCode,
  TwofoldError,
  type TwofoldErrorCode,
} from '../errors.js';

/**
 * A request to no route of the kit, or to one by another spelling (`/STATUS`, `/status/`): 404, with
 * the code of every "no such thing" (`TWOFOLD_NOT_FOUND`, from {@link NotFoundError}).
 */
export class RouteNotFoundError extends NotFoundError {
  /** @param url the path as the client sent it (the prefix included); a query string is dropped. */
  constructor(method: string, url: string) {
    super(`Route ${method} ${url.split('?')[0]} not found`);
  }
}

/** A body that is not JSON in UTF-8, or is compressed: 415, decided from the headers. */
export class UnsupportedMediaTypeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE';
}

/** A body over `bodyLimit`: 413 (a framework's body reader usually finds it; its adapter answers this code). */
export class PayloadTooLargeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_PAYLOAD_TOO_LARGE';
}

/** Too many requests from one client address to one route: 429 with `Retry-After`. */
export class RateLimitedError extends TwofoldError {
  static override readonly code = 'TWOFOLD_RATE_LIMITED';
  /** Whole seconds until the window ends (at least 1): the `Retry-After` value. */
  readonly retryAfterSeconds: number;
  constructor(retryAfterMs: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(`Too many requests: try again in ${seconds} seconds`);
    this.retryAfterSeconds = seconds;
  }
}

/** A failure of the shared rate-limit store (Redis): the request fails closed, 503. */
export function rateLimitStoreUnavailable(cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError('The rate-limit store is unavailable', { cause });
}

/** The HTTP layer's own errors by code: the adapters raise them, no engine flow does. */
interface HttpLayerErrors {
  [UnsupportedMediaTypeError.code]: UnsupportedMediaTypeError;
  [PayloadTooLargeError.code]: PayloadTooLargeError;
  [RateLimitedError.code]: RateLimitedError;
}

declare module '../errors.js' {
  interface TwofoldErrorCodeExtensions extends HttpLayerErrors {}
}

/**
 * Every code the status table knows: the engine's, the HTTP layer's errors', and `TWOFOLD_INTERNAL`,
 * the answer to anything unexpected (no error carries it).
 */
export type TwofoldHttpErrorCode = TwofoldCoreErrorCode | keyof HttpLayerErrors | 'TWOFOLD_INTERNAL';

/** Every error body the plugins send. */
export interface HttpErrorBody {
  statusCode: number;
  /** A code of the table, or the code of another twofold package's error (answered 500). */
  code: TwofoldHttpErrorCode | TwofoldErrorCode;
  error: string;
  message: string;
}

export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: HttpErrorBody;
}

/**
 * The status of each code. Stable: hosts and clients switch on the code. A TwofoldError of another
 * package (a store's `TWOFOLD_SCHEMA_MISMATCH`) is not in it and answers 500.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<TwofoldHttpErrorCode, number>> = {
  TWOFOLD_INVALID_INPUT: 400,
  TWOFOLD_INVALID_CODE: 400,
  TWOFOLD_INVALID_RECOVERY_TOKEN: 400,
  TWOFOLD_INVALID_REGISTRATION: 400,
  TWOFOLD_INVALID_CREDENTIALS: 401,
  TWOFOLD_UNAUTHORIZED: 401,
  TWOFOLD_INVALID_TOKEN: 401,
  TWOFOLD_INVALID_CHALLENGE: 401,
  TWOFOLD_STEP_UP_REQUIRED: 401,
  TWOFOLD_ENROLLMENT_REQUIRED: 403,
  TWOFOLD_NOT_FOUND: 404,
  TWOFOLD_ALREADY_ENABLED: 409,
  TWOFOLD_NOT_PENDING: 409,
  TWOFOLD_NOT_ENABLED: 409,
  TWOFOLD_AUTHENTICATOR_LIMIT: 409,
  TWOFOLD_PAYLOAD_TOO_LARGE: 413,
  TWOFOLD_UNSUPPORTED_MEDIA_TYPE: 415,
  TWOFOLD_LOCKED: 429,
  TWOFOLD_RATE_LIMITED: 429,
  TWOFOLD_INTERNAL: 500,
  TWOFOLD_UNKNOWN_KEY: 500,
  TWOFOLD_SEAL_BROKEN: 500,
  TWOFOLD_STORE_UNAVAILABLE: 503,
};

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The message of every 500: the details of a server-side failure go to the log, not the client. */
const INTERNAL_MESSAGE = 'Something went wrong on the server';

/** An error response for `code` with `message`, in the one shape; a code not in the table is a 500. */
export function httpError(
  code: TwofoldHttpErrorCode | TwofoldErrorCode,
  message: string,
  headers: Record<string, string> = {},
): HttpErrorResponse {
  const status = HTTP_STATUS_BY_CODE[code as TwofoldHttpErrorCode] ?? 500;
  return {
    status,
    headers,
    body: {
      statusCode: status,
      code,
      error: STATUS_TEXT[status] ?? 'Error',
      message: status === 500 ? INTERNAL_MESSAGE : message,
    },
  };
}

/**
 * The response for anything a route threw. TwofoldErrors map through the table (a lock or a rate
 * limit adds `Retry-After`); anything else is a 500 with a generic message, to be logged by the caller.
 */
export function toHttpError(error: unknown): HttpErrorResponse {
  if (error instanceof LockedError) {
    return httpError(error.code, error.message, {
      'retry-after': String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))),
    });
  }
  if (error instanceof RateLimitedError) {
    return httpError(error.code, error.message, { 'retry-after': String(error.retryAfterSeconds) });
  }
  if (error instanceof TwofoldError) return httpError(error.code, error.message);
  return httpError('TWOFOLD_INTERNAL', '');
}

/** True when the response is a server-side failure worth logging at error level. */
export function isServerError(response: HttpErrorResponse): boolean {
  return response.status >= 500;
}

/**
 * What a log line may say about an error: its name, code, message and stack, and the same of its
 * causes (three deep). Never its other properties (a driver error can carry the command and its
 * arguments), and never a request value.
 *
 * @example log.error({ error: describeError(error) }, 'twofold: request failed')
 */
export function describeError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const described: Record<string, unknown> = { name: error.name, message: error.message };
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  if (error.stack) described.stack = error.stack;
  if (error.cause !== undefined && depth < 3) described.cause = describeError(error.cause, depth + 1);
  return described;
}
