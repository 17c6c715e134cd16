/**
 * What every import format reader yields: one entry per source row, either an authenticator to
 * import or the reason the row is skipped. Readers never touch the store; `twofold import` takes
 * these entries, groups nothing and writes each row with `TwoFactor.importAuthenticator`.
 */

/** An authenticator read from another system, ready for `importAuthenticator`. */
export interface ImportRow {
  /** Where the row came from, for the report: `line 3`, `otp_totp_totpdevice id=7`. Never a secret. */
  ref: string;
  /** The twofold user id it belongs to (1-255 characters). */
  userId: string;
  /**
   * Names the authenticator in the source system, unique within the user and stable between runs
   * (`django-otp:totp:7`, `uri:<sha256 of the secret>`): importing the same row twice changes nothing.
   */
  source: string;
  /** The shared secret, decoded. */
  secret: Uint8Array;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  /** 6-10. */
  digits: number;
  /** Step length in seconds. */
  period: number;
  /** Unix time (seconds) of step 0; 0 for every standard TOTP. */
  t0?: number;
  /** The last time step the old system accepted (replay protection carries over); absent: none. */
  lastCounter?: number;
  /** What the user called it, or the issuer/label the source had; at most 64 characters. */
  name?: string;
  /**
   * The user's unused recovery/backup/static codes in plain text, as the source holds them (django-otp
   * StaticToken, django-totp backup codes). Only hashes are stored.
   */
  recoveryCodes?: readonly string[];
}

/** A source row that cannot be imported, with a reason fit for the report (never a secret). */
export interface SkippedRow {
  ref: string;
  userId?: string;
  reason: string;
}

export type ImportEntry = { row: ImportRow } | { skip: SkippedRow };

/** A format reader: the entries of one source, in a stable order (resuming relies on it). */
export type ImportReader = AsyncIterable<ImportEntry>;
