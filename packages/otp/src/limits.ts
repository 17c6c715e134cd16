/**
 * The bounds every option of this package is checked against. Exported so that callers can
 * validate their own configuration (a zod schema, a CLI flag) with the same numbers.
 */
export const OTP_LIMITS = Object.freeze({
  /** Fewest digits in a code (RFC 4226 requires at least 6). */
  minDigits: 6,
  /** Most digits in a code; the 31-bit truncated value has at most 10. */
  maxDigits: 10,
  /** Shortest TOTP time step, in seconds. */
  minPeriod: 1,
  /** Longest TOTP time step, in seconds (one hour). */
  maxPeriod: 3600,
  /** Default TOTP window, in steps, on each side of the current one. */
  defaultWindow: 1,
  /** Largest TOTP window, in steps, on each side of the current one. */
  maxWindow: 10,
  /** Default HOTP look-ahead for `Hotp#match`. */
  defaultLookAhead: 2,
  /** Largest HOTP look-ahead for `Hotp#match`. */
  maxLookAhead: 10,
  /** Default look-ahead for `Hotp#resync`. */
  defaultResyncLookAhead: 100,
  /** Largest look-ahead for `Hotp#resync`. */
  maxResyncLookAhead: 1000,
  /** Shortest secret accepted by default, in bytes (128 bits, RFC 4226 R6). */
  minSecretBytes: 16,
  /** `minSecretBytes` can be lowered to this for legacy secrets (80 bits), never below. */
  minSecretBytesFloor: 10,
  /** Largest value `minSecretBytes` can be raised to. */
  maxMinSecretBytes: 64,
  /** Largest secret `generateSecret` produces, in bytes. */
  maxGeneratedSecretBytes: 1024,
  /** Longest otpauth:// URI `parseUri` reads, in characters. */
  maxUriLength: 8192,
});
