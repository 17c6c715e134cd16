/**
 * Errors of the twofold engine. Every error a flow throws is a {@link TwofoldError} with a stable
 * `code`; the HTTP plugins map codes to statuses in one table. Messages never contain a secret,
 * a code, a recovery code, a password or a token.
 */

/** Every code a {@link TwofoldError} can carry. `switch (err.code)` narrows on it. */
export type TwofoldErrorCode =
  | 'TWOFOLD_INVALID_INPUT'
  | 'TWOFOLD_INVALID_CODE'
  | 'TWOFOLD_LOCKED'
  | 'TWOFOLD_ALREADY_ENABLED'
  | 'TWOFOLD_NOT_PENDING'
  | 'TWOFOLD_NOT_ENABLED'
  | 'TWOFOLD_INVALID_CHALLENGE'
  | 'TWOFOLD_INVALID_RECOVERY_TOKEN'
  | 'TWOFOLD_UNKNOWN_KEY'
  | 'TWOFOLD_SEAL_BROKEN'
  | 'TWOFOLD_STORE_UNAVAILABLE'
  | 'TWOFOLD_SCHEMA_MISMATCH'
  | 'TWOFOLD_INVALID_CREDENTIALS'
  | 'TWOFOLD_UNAUTHORIZED'
  | 'TWOFOLD_INVALID_TOKEN'
  | 'TWOFOLD_STEP_UP_REQUIRED'
  | 'TWOFOLD_RATE_LIMITED'
  | 'TWOFOLD_NOT_FOUND'
  | 'TWOFOLD_PAYLOAD_TOO_LARGE'
  | 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE'
  | 'TWOFOLD_INTERNAL';

/** Base class of every error thrown by the engine and the stores. */
export class TwofoldError extends Error {
  static readonly code: TwofoldErrorCode;
  readonly code: TwofoldErrorCode;

  constructor(code: TwofoldErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input to a flow is malformed (wrong type, empty, too long); `field` names it. */
export class InvalidInputError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_INPUT';
  readonly field: string;
  constructor(field: string, message: string) {
    super('TWOFOLD_INVALID_INPUT', message);
    this.field = field;
  }
}

/**
 * A second factor was wrong, malformed, already used, or a recovery code unknown. Replays answer
 * exactly like wrong codes on purpose (SECURITY.md 13); the `failed` event tells them apart.
 */
export class InvalidCodeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CODE';
  constructor(message = 'The code is not valid') {
    super('TWOFOLD_INVALID_CODE', message);
  }
}

/** Too many consecutive failures: every attempt is refused until `retryAfterMs` has passed. */
export class LockedError extends TwofoldError {
  static override readonly code = 'TWOFOLD_LOCKED';
  /** Milliseconds until the lock ends. */
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number) {
    super('TWOFOLD_LOCKED', 'Too many failed attempts: the account is locked for a while');
    this.retryAfterMs = retryAfterMs;
  }
}

/** Enrollment was asked for while two-factor authentication is already active. */
export class AlreadyEnabledError extends TwofoldError {
  static override readonly code = 'TWOFOLD_ALREADY_ENABLED';
  constructor() {
    super('TWOFOLD_ALREADY_ENABLED', 'Two-factor authentication is already enabled');
  }
}

/** Confirm was called with no pending (unexpired) enrollment. */
export class NotPendingError extends TwofoldError {
  static override readonly code = 'TWOFOLD_NOT_PENDING';
  constructor() {
    super('TWOFOLD_NOT_PENDING', 'There is no pending enrollment to confirm');
  }
}

/** A flow that needs active two-factor authentication found none. */
export class NotEnabledError extends TwofoldError {
  static override readonly code = 'TWOFOLD_NOT_ENABLED';
  constructor() {
    super('TWOFOLD_NOT_ENABLED', 'Two-factor authentication is not enabled');
  }
}

/** A challenge token is malformed, forged, expired, of another type, spent, or out of attempts. */
export class InvalidChallengeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CHALLENGE';
  constructor(message = 'The challenge token is not valid', options?: { cause?: unknown }) {
    super('TWOFOLD_INVALID_CHALLENGE', message, options);
  }
}

/** An email recovery link is unknown, expired, already used, or superseded by a newer one. */
export class InvalidRecoveryTokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_RECOVERY_TOKEN';
  constructor(message = 'The recovery link is invalid or has expired') {
    super('TWOFOLD_INVALID_RECOVERY_TOKEN', message);
  }
}

/** A sealed secret names a key tag the keyring does not have. */
export class UnknownKeyError extends TwofoldError {
  static override readonly code = 'TWOFOLD_UNKNOWN_KEY';
  /** The tag found in the envelope (tags are not secret). */
  readonly tag: string;
  constructor(tag: string) {
    super('TWOFOLD_UNKNOWN_KEY', `The keyring has no key tagged "${tag}"`);
    this.tag = tag;
  }
}

/** A sealed secret failed to open: tampered, truncated, or sealed for another user. */
export class SealBrokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_SEAL_BROKEN';
  constructor(options?: { cause?: unknown }) {
    super('TWOFOLD_SEAL_BROKEN', 'A sealed secret could not be opened', options);
  }
}

/**
 * The store could not be reached or failed. Flows fail closed: nothing is accepted without its
 * check. The plugins answer 503.
 */
export class StoreUnavailableError extends TwofoldError {
  static override readonly code = 'TWOFOLD_STORE_UNAVAILABLE';
  constructor(message = 'The two-factor store is unavailable', options?: { cause?: unknown }) {
    super('TWOFOLD_STORE_UNAVAILABLE', message, options);
  }
}

/** The password step failed: unknown user or wrong password (never says which). */
export class InvalidCredentialsError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CREDENTIALS';
  constructor() {
    super('TWOFOLD_INVALID_CREDENTIALS', 'The username or the password is wrong');
  }
}

/** A route that needs a signed-in user got no valid access token (or getUserId found no user). */
export class UnauthorizedError extends TwofoldError {
  static override readonly code = 'TWOFOLD_UNAUTHORIZED';
  constructor(message = 'A valid access token is required', options?: { cause?: unknown }) {
    super('TWOFOLD_UNAUTHORIZED', message, options);
  }
}

/**
 * An access or refresh token is malformed, forged, expired, of another type, spent or revoked.
 * A spent refresh token presented again also revokes its whole family.
 */
export class InvalidTokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_TOKEN';
  constructor(message = 'The token is not valid', options?: { cause?: unknown }) {
    super('TWOFOLD_INVALID_TOKEN', message, options);
  }
}

/** A sensitive route needs a second factor more recent than the access token proves. */
export class StepUpRequiredError extends TwofoldError {
  static override readonly code = 'TWOFOLD_STEP_UP_REQUIRED';
  /** How recent the second factor must be, in seconds. */
  readonly maxAgeSeconds: number;
  constructor(maxAgeSeconds: number) {
    super(
      'TWOFOLD_STEP_UP_REQUIRED',
      `This action needs a second factor from the last ${maxAgeSeconds} seconds: log in again with your code`,
    );
    this.maxAgeSeconds = maxAgeSeconds;
  }
}

/** True when `error` is a {@link TwofoldError}, optionally with the given code. */
export function isTwofoldError(error: unknown, code?: TwofoldErrorCode): error is TwofoldError {
  return error instanceof TwofoldError && (code === undefined || error.code === code);
}
