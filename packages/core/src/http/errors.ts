/**
 * The HTTP face of twofold errors: one table from error code to status, and the one error body
 * shape of DESIGN.md (Fastify's own): `{ statusCode, code, error, message }`.
 */
import { LockedError, TwofoldError, type TwofoldErrorCode } from '../errors.js';

/** Every error body the plugins send. */
export interface HttpErrorBody {
  statusCode: number;
  code: TwofoldErrorCode;
  error: string;
  message: string;
}

export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: HttpErrorBody;
}

/** The status of each code. Stable: hosts and clients switch on the code. */
export const HTTP_STATUS_BY_CODE: Readonly<Record<TwofoldErrorCode, number>> = {
  TWOFOLD_INVALID_INPUT: 400,
  TWOFOLD_INVALID_CODE: 400,
  TWOFOLD_INVALID_RECOVERY_TOKEN: 400,
  TWOFOLD_INVALID_CREDENTIALS: 401,
  TWOFOLD_UNAUTHORIZED: 401,
  TWOFOLD_INVALID_TOKEN: 401,
  TWOFOLD_INVALID_CHALLENGE: 401,
  TWOFOLD_STEP_UP_REQUIRED: 401,
  TWOFOLD_NOT_FOUND: 404,
  TWOFOLD_ALREADY_ENABLED: 409,
  TWOFOLD_NOT_PENDING: 409,
  TWOFOLD_NOT_ENABLED: 409,
  TWOFOLD_PAYLOAD_TOO_LARGE: 413,
  TWOFOLD_UNSUPPORTED_MEDIA_TYPE: 415,
  TWOFOLD_LOCKED: 429,
  TWOFOLD_RATE_LIMITED: 429,
  TWOFOLD_INTERNAL: 500,
  TWOFOLD_UNKNOWN_KEY: 500,
  TWOFOLD_SEAL_BROKEN: 500,
  TWOFOLD_SCHEMA_MISMATCH: 500,
  TWOFOLD_STORE_UNAVAILABLE: 503,
};

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Messages of server-side failures stay generic: their details go to the log, not the client. */
const GENERIC_MESSAGES: Partial<Record<TwofoldErrorCode, string>> = {
  TWOFOLD_INTERNAL: 'Something went wrong on the server',
  TWOFOLD_UNKNOWN_KEY: 'Something went wrong on the server',
  TWOFOLD_SEAL_BROKEN: 'Something went wrong on the server',
  TWOFOLD_SCHEMA_MISMATCH: 'Something went wrong on the server',
};

/** An error response for `code` with `message`, in the one shape. */
export function httpError(
  code: TwofoldErrorCode,
  message: string,
  headers: Record<string, string> = {},
): HttpErrorResponse {
  const status = HTTP_STATUS_BY_CODE[code];
  return {
    status,
    headers,
    body: {
      statusCode: status,
      code,
      error: STATUS_TEXT[status] ?? 'Error',
      message: GENERIC_MESSAGES[code] ?? message,
    },
  };
}

/**
 * The response for anything a route threw. TwofoldErrors map through the table (a lock adds
 * `Retry-After`); anything else is a 500 with a generic message, to be logged by the caller.
 */
export function toHttpError(error: unknown): HttpErrorResponse {
  if (error instanceof LockedError) {
    return httpError(error.code, error.message, {
      'retry-after': String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))),
    });
  }
  if (error instanceof TwofoldError && error.code in HTTP_STATUS_BY_CODE) {
    return httpError(error.code, error.message);
  }
  return httpError('TWOFOLD_INTERNAL', '');
}

/** True when the response is a server-side failure worth logging at error level. */
export function isServerError(response: HttpErrorResponse): boolean {
  return response.status >= 500;
}
