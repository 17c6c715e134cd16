/**
 * Errors for untrusted input that fails: a token, a secret, an otpauth:// URI or a JSON document
 * from outside. Each class has a stable `code`, both static and on the instance, so callers can
 * `switch (err.code)`. Messages never contain the token or the secret.
 *
 * Caller mistakes (bad options, a bad `time`) are plain `TypeError`s or `RangeError`s instead.
 */

/** Every code an {@link OtpError} can carry. `switch (err.code)` narrows on it. */
export type OtpErrorCode =
  | 'OTP_MALFORMED_TOKEN'
  | 'OTP_WRONG_LENGTH'
  | 'OTP_NO_MATCH'
  | 'OTP_REUSED'
  | 'OTP_INVALID_SECRET'
  | 'OTP_INVALID_JSON'
  | 'OTP_INVALID_URI'
  | 'OTP_URI_WRONG_SCHEME'
  | 'OTP_URI_UNKNOWN_TYPE'
  | 'OTP_URI_TYPE_MISMATCH'
  | 'OTP_URI_INVALID_LABEL'
  | 'OTP_URI_MISSING_ACCOUNT'
  | 'OTP_URI_INVALID_SECRET'
  | 'OTP_URI_UNKNOWN_ALGORITHM'
  | 'OTP_URI_INVALID_DIGITS'
  | 'OTP_URI_INVALID_PERIOD'
  | 'OTP_URI_INVALID_COUNTER'
  | 'OTP_URI_MALFORMED_ENCODING'
  | 'OTP_URI_DUPLICATE_PARAMETER'
  | 'OTP_URI_ISSUER_MISMATCH';

/** Options every error constructor accepts. */
export interface OtpErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

/**
 * Base class of every coded error of `@twofold/otp`. The instance `code` is taken from the
 * static `code` of the concrete subclass.
 *
 * @example
 * try {
 *   totp.match(input, { lastCounter });
 * } catch (err) {
 *   if (err instanceof OtpError) console.warn('2FA refused:', err.code);
 *   else throw err;
 * }
 */
export abstract class OtpError extends Error {
  /** The code of this class of error. */
  static readonly code: OtpErrorCode;
  /** The code of this error; equal to the static `code` of its class. */
  readonly code: OtpErrorCode;

  constructor(message: string, options?: OtpErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as unknown as { code: OtpErrorCode }).code;
  }
}

/** A token that is not a string of ASCII digits (or a non-negative safe integer). */
export class OtpMalformedTokenError extends OtpError {
  static override readonly code = 'OTP_MALFORMED_TOKEN';
  constructor(message = 'The token must contain only the digits 0-9', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A well-formed token whose number of digits differs from the configured `digits`. */
export class OtpWrongLengthError extends OtpError {
  static override readonly code = 'OTP_WRONG_LENGTH';
  constructor(message = 'The token has the wrong number of digits', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A well-formed token that matches no counter in the window. */
export class OtpNoMatchError extends OtpError {
  static override readonly code = 'OTP_NO_MATCH';
  constructor(message = 'The token does not match', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A token that matches only counters at or below `lastCounter`: it was (or an older one was) used. */
export class OtpReusedError extends OtpError {
  static override readonly code = 'OTP_REUSED';
  constructor(message = 'The token was already used', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A secret that cannot be decoded (bad base32 or hex), is empty, or is too short. */
export class OtpInvalidSecretError extends OtpError {
  static override readonly code = 'OTP_INVALID_SECRET';
  constructor(message = 'The secret is not valid', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A JSON document that is not a valid serialised Totp or Hotp. */
export class OtpInvalidJsonError extends OtpError {
  static override readonly code = 'OTP_INVALID_JSON';
  constructor(message = 'The JSON is not a valid OTP configuration', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/**
 * An otpauth:// URI that cannot be parsed. Every more specific URI error below extends this
 * class, so `err instanceof OtpInvalidUriError` catches all of them.
 */
export class OtpInvalidUriError extends OtpError {
  static override readonly code: OtpErrorCode = 'OTP_INVALID_URI';
  constructor(message = 'The URI is not a valid otpauth:// URI', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The URI scheme is not `otpauth`. */
export class OtpUriWrongSchemeError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_WRONG_SCHEME';
  constructor(message = 'The URI scheme must be otpauth', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The URI type (host) is neither `totp` nor `hotp`. */
export class OtpUriUnknownTypeError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_UNKNOWN_TYPE';
  constructor(message = 'The URI type must be totp or hotp', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A valid URI of the other type: an hotp URI given to `Totp.fromUri`, or the reverse. */
export class OtpUriTypeMismatchError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_TYPE_MISMATCH';
  constructor(message = 'The URI is of the other OTP type', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The label has more than one issuer separator (`a:b:c`). An empty prefix (`:account`) is no issuer. */
export class OtpUriInvalidLabelError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_INVALID_LABEL';
  constructor(message = 'The URI label must be "issuer:account" or "account"', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The label has no account name (missing or empty). */
export class OtpUriMissingAccountError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_MISSING_ACCOUNT';
  constructor(message = 'The URI label has no account name', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The `secret` parameter is missing, empty, not base32, or too short. */
export class OtpUriInvalidSecretError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_INVALID_SECRET';
  constructor(message = 'The URI secret is missing or not valid', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The `algorithm` parameter is not SHA1, SHA256 or SHA512. */
export class OtpUriUnknownAlgorithmError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_UNKNOWN_ALGORITHM';
  constructor(message = 'The URI algorithm must be SHA1, SHA256 or SHA512', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The `digits` parameter is not an integer from 6 to 10. */
export class OtpUriInvalidDigitsError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_INVALID_DIGITS';
  constructor(message = 'The URI digits must be an integer from 6 to 10', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** The `period` parameter is not an integer number of seconds from 1 to 3600. */
export class OtpUriInvalidPeriodError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_INVALID_PERIOD';
  constructor(message = 'The URI period must be an integer from 1 to 3600', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** An hotp URI whose `counter` parameter is missing or not a non-negative safe integer. */
export class OtpUriInvalidCounterError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_INVALID_COUNTER';
  constructor(
    message = 'The URI counter is missing or not a non-negative integer',
    options?: OtpErrorOptions,
  ) {
    super(message, options);
  }
}

/** A `%` escape in the label or the query is malformed or not UTF-8. */
export class OtpUriMalformedEncodingError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_MALFORMED_ENCODING';
  constructor(message = 'The URI has a malformed percent-encoding', options?: OtpErrorOptions) {
    super(message, options);
  }
}

/** A query parameter appears more than once. */
export class OtpUriDuplicateParameterError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_DUPLICATE_PARAMETER';
  /** The name of the repeated parameter. */
  readonly parameter: string;
  constructor(parameter: string, options?: OtpErrorOptions) {
    super('A URI parameter appears more than once', options);
    this.parameter = parameter;
  }
}

/** The label issuer prefix and the `issuer` parameter are both present and differ. */
export class OtpUriIssuerMismatchError extends OtpInvalidUriError {
  static override readonly code = 'OTP_URI_ISSUER_MISMATCH';
  constructor(message = 'The URI issuer parameter differs from the label issuer', options?: OtpErrorOptions) {
    super(message, options);
  }
}
