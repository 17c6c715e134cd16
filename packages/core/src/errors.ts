/**
 * Errors of the twofold engine. Every error a flow throws is a {@link TwofoldError} with a stable
 * `code`; the HTTP plugins map codes to statuses in one table. Messages never contain a secret,
 * a code, a recovery code, a password or a token.
 */

/**
 * The codes of this package's errors. `switch (err.code)` narrows on {@link TwofoldErrorCode}, which
 * adds the codes other twofold packages declare.
 */
export type TwofoldCoreErrorCode =
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
  | 'TWOFOLD_INVALID_CREDENTIALS'
  | 'TWOFOLD_UNAUTHORIZED'
  | 'TWOFOLD_INVALID_TOKEN'
  | 'TWOFOLD_STEP_UP_REQUIRED'
  | 'TWOFOLD_NOT_FOUND'
  | 'TWOFOLD_AUTHENTICATOR_LIMIT'
  | 'TWOFOLD_INVALID_REGISTRATION'
  | 'TWOFOLD_ENROLLMENT_REQUIRED';

/**
 * The codes that other twofold packages give their {@link TwofoldError} subclasses, each declared in
 * its own package by declaration merging (key: the code, value: its error class):
 * `@twofold/core/http` its `TWOFOLD_NOT_FOUND`, `TWOFOLD_RATE_LIMITED` and
 * `TWOFOLD_UNSUPPORTED_MEDIA_TYPE`, `@twofold/store-sql` its `TWOFOLD_SCHEMA_MISMATCH`.
 *
 * @example
 * declare module '@twofold/core' {
 *   interface TwofoldErrorCodeExtensions { TWOFOLD_SCHEMA_MISMATCH: SchemaMismatchError }
 * }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in other packages.
export interface TwofoldErrorCodeExtensions {}

/**
 * Every code a {@link TwofoldError} can carry: this package's and those of the twofold packages the
 * program imports. `switch (err.code)` narrows on it.
 */
export type TwofoldErrorCode = TwofoldCoreErrorCode | keyof TwofoldErrorCodeExtensions;

/**
 * Base class of every error thrown by the engine, the stores and the HTTP layer. Each subclass
 * declares its code once, as its static `code`; the instance's `code` is read from it.
 *
 * @example
 * class LockedError extends TwofoldError {
 *   static override readonly code = 'TWOFOLD_LOCKED';
 * }
 */
export abstract class TwofoldError extends Error {
  /** The code of this class of error. */
  static readonly code: TwofoldErrorCode;
  /** The code of this error: the static `code` of its class. */
  readonly code: TwofoldErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as unknown as { readonly code: TwofoldErrorCode }).code;
  }
}

/** Input to a flow is malformed (wrong type, empty, too long); `field` names it. */
export class InvalidInputError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_INPUT';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * A second factor was wrong, malformed, already used, or a recovery code unknown. Replays answer
 * exactly like wrong codes on purpose (SECURITY.md §13); the `failed` event tells them apart.
 */
export class InvalidCodeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CODE';
  constructor(message = 'The code is not valid') {
    super(message);
  }
}

/** Too many consecutive failures: every attempt is refused until `retryAfterMs` has passed. */
export class LockedError extends TwofoldError {
  static override readonly code = 'TWOFOLD_LOCKED';
  /** Milliseconds until the lock ends. */
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number) {
    super('Too many failed attempts: the account is locked for a while');
    this.retryAfterMs = retryAfterMs;
  }
}

/** Enrollment was asked for while two-factor authentication is already active. */
export class AlreadyEnabledError extends TwofoldError {
  static override readonly code = 'TWOFOLD_ALREADY_ENABLED';
  constructor() {
    super('Two-factor authentication is already enabled');
  }
}

/** Confirm was called with no pending (unexpired) enrollment. */
export class NotPendingError extends TwofoldError {
  static override readonly code = 'TWOFOLD_NOT_PENDING';
  constructor() {
    super('There is no pending enrollment to confirm');
  }
}

/** A flow that needs active two-factor authentication found none. */
export class NotEnabledError extends TwofoldError {
  static override readonly code = 'TWOFOLD_NOT_ENABLED';
  constructor() {
    super('Two-factor authentication is not enabled');
  }
}

/**
 * Why a signed token (challenge, access, refresh) was refused, in the order the checks run:
 * - `malformed`: not a string, too long, or not three base64url parts (the signature canonical);
 * - `header`: the header is not a JSON object, or has fields beyond `alg`, `typ` and `kid`;
 * - `algorithm`: `alg` is not HS256 (`none`, RS256, ES256 ...);
 * - `key`: no `kid`, or one that names no tag of the keyring;
 * - `signature`: the signature does not match (forged, tampered, another key or kind);
 * - `type`: the `typ` header is not this kind's;
 * - `payload`: the payload is not a JSON object;
 * - `claims`: a registered claim is missing or not of its type (`iss`, `aud`, `sub`, `jti`, `iat`,
 *   `exp`, `nbf`);
 * - `issuer`, `audience`, `kind`: `iss`, `aud` or `tf` is not this app's or this kind's;
 * - `not-yet-valid`, `expired`: `nbf` is after now, or `exp` is not.
 *
 * For logs and tests only: the HTTP answer is the same for every reason.
 */
/** The user has no authenticator with that id (or it is someone else's): 404. */
export class NotFoundError extends TwofoldError {
  static override readonly code = 'TWOFOLD_NOT_FOUND';
  constructor(message = 'No authenticator of this user has that id') {
    super(message);
  }
}

/**
 * The session may only set up two-factor authentication: the user must (a mandatory-2FA policy) and
 * the grace period is over. 403; pages send the user to the enrollment page.
 */
export class EnrollmentRequiredError extends TwofoldError {
  static override readonly code = 'TWOFOLD_ENROLLMENT_REQUIRED';
  constructor(message = 'Set up two-factor authentication first: this account must use it') {
    super(message);
  }
}

/** The user has as many authenticators as `maxAuthenticators` allows: remove one first. */
export class AuthenticatorLimitError extends TwofoldError {
  static override readonly code = 'TWOFOLD_AUTHENTICATOR_LIMIT';
  constructor(limit: number) {
    super(`An account can have at most ${limit} authenticators: remove one first`);
  }
}

/**
 * A security key's registration was refused: its answer does not verify (wrong origin or rpId, a
 * challenge that was not issued, has expired or was used), or the key is registered already.
 */
export class InvalidRegistrationError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_REGISTRATION';
  constructor(message = 'The security key could not be registered: ask for new options and try again') {
    super(message);
  }
}

export type TokenRefusalReason =
  | 'malformed'
  | 'header'
  | 'algorithm'
  | 'key'
  | 'signature'
  | 'type'
  | 'payload'
  | 'claims'
  | 'issuer'
  | 'audience'
  | 'kind'
  | 'not-yet-valid'
  | 'expired';

/**
 * A challenge token is malformed, forged, expired, of another type, spent, or out of attempts.
 * `reason` says why when the token itself was refused (undefined when spent or out of attempts).
 */
export class InvalidChallengeError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CHALLENGE';
  readonly reason: TokenRefusalReason | undefined;
  constructor(
    message = 'The challenge token is not valid',
    options?: { cause?: unknown; reason?: TokenRefusalReason },
  ) {
    super(message, options);
    this.reason = options?.reason;
  }
}

/** An email recovery link is unknown, expired, already used, or superseded by a newer one. */
export class InvalidRecoveryTokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_RECOVERY_TOKEN';
  constructor(message = 'The recovery link is invalid or has expired') {
    super(message);
  }
}

/** A sealed secret names a key tag the keyring does not have. */
export class UnknownKeyError extends TwofoldError {
  static override readonly code = 'TWOFOLD_UNKNOWN_KEY';
  /** The tag found in the envelope (tags are not secret). */
  readonly tag: string;
  constructor(tag: string) {
    super(`The keyring has no key tagged "${tag}"`);
    this.tag = tag;
  }
}

/** A sealed secret failed to open: tampered, truncated, or sealed for another user. */
export class SealBrokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_SEAL_BROKEN';
  constructor(options?: { cause?: unknown }) {
    super('A sealed secret could not be opened', options);
  }
}

/**
 * The store could not be reached or failed. Flows fail closed: nothing is accepted without its
 * check. The plugins answer 503.
 */
export class StoreUnavailableError extends TwofoldError {
  static override readonly code = 'TWOFOLD_STORE_UNAVAILABLE';
  constructor(message = 'The two-factor store is unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The password step failed: unknown user or wrong password (never says which). */
export class InvalidCredentialsError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_CREDENTIALS';
  constructor() {
    super('The username or the password is wrong');
  }
}

/** A route that needs a signed-in user got no valid access token (or getUserId found no user). */
export class UnauthorizedError extends TwofoldError {
  static override readonly code = 'TWOFOLD_UNAUTHORIZED';
  constructor(message = 'A valid access token is required', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * An access or refresh token is malformed, forged, expired, of another type, spent or revoked.
 * A spent refresh token presented again also revokes its whole family.
 */
export class InvalidTokenError extends TwofoldError {
  static override readonly code = 'TWOFOLD_INVALID_TOKEN';
  /** Why the token itself was refused; undefined when it was spent or revoked. */
  readonly reason: TokenRefusalReason | undefined;
  constructor(
    message = 'The token is not valid',
    options?: { cause?: unknown; reason?: TokenRefusalReason },
  ) {
    super(message, options);
    this.reason = options?.reason;
  }
}

/** A sensitive route needs a second factor more recent than the access token proves. */
export class StepUpRequiredError extends TwofoldError {
  static override readonly code = 'TWOFOLD_STEP_UP_REQUIRED';
  /** How recent the second factor must be, in seconds. */
  readonly maxAgeSeconds: number;
  constructor(maxAgeSeconds: number) {
    super(
      `This action needs a second factor from the last ${maxAgeSeconds} seconds: log in again with your code`,
    );
    this.maxAgeSeconds = maxAgeSeconds;
  }
}

/** True when `error` is a {@link TwofoldError}, optionally with the given code. */
export function isTwofoldError(error: unknown, code?: TwofoldErrorCode): error is TwofoldError {
  return error instanceof TwofoldError && (code === undefined || error.code === code);
}
