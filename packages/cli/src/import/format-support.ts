/**
 * What the format readers share: walking the lines of a text export, the checks every imported
 * authenticator must pass (user id, secret length, algorithm, digits, period), the stable
 * `source` of a row, and turning a parse error into a skip reason that never holds a secret.
 */

import { createHash } from 'node:crypto';
import { isAlgorithm, OTP_LIMITS, OtpError } from '@twofold/otp';
import type { ImportEntry, ImportRow } from './types.js';

/** The shortest secret imported, in bytes (80 bits, the legacy floor of `@twofold/otp`). */
export const MIN_IMPORT_SECRET_BYTES = OTP_LIMITS.minSecretBytesFloor;

/** The longest `ImportRow.name`. */
const MAX_NAME_LENGTH = 64;
/** The longest twofold user id. */
const MAX_USER_ID_LENGTH = 255;

/** One line of a text export that holds a record: not blank, not a `#` comment. */
export interface SourceLine {
  /** 1-based line number in the input. */
  number: number;
  /** The line without surrounding whitespace. */
  text: string;
}

/** Throws a TypeError unless `text` is a string: the only reason a whole input is unreadable. */
export function assertText(where: string, text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new TypeError(`${where}: the input must be text (a string)`);
}

/** The record lines of `text`, in order: blank lines and lines starting with `#` are left out. */
export function* recordLines(text: string): Generator<SourceLine> {
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    yield { number: index + 1, text: line };
  }
}

/** A skipped entry. */
export function skip(ref: string, reason: string, userId?: string): ImportEntry {
  return { skip: userId === undefined ? { ref, reason } : { ref, userId, reason } };
}

/** `<prefix>:<hex SHA-256 of the secret>`: names an authenticator stably without revealing it. */
export function secretSource(prefix: string, secret: Uint8Array): string {
  return `${prefix}:${createHash('sha256').update(secret).digest('hex')}`;
}

/** `name` cut to the 64 characters `ImportRow.name` allows; undefined when empty. */
export function clipName(name: string | undefined): string | undefined {
  if (name === undefined || name === '') return undefined;
  return Array.from(name).slice(0, MAX_NAME_LENGTH).join('');
}

/** Why `userId` cannot be a twofold user id, or undefined when it can. */
export function userIdProblem(userId: string): string | undefined {
  if (userId === '') return 'no user id';
  if (userId.length > MAX_USER_ID_LENGTH)
    return `the user id is longer than ${MAX_USER_ID_LENGTH} characters`;
  return undefined;
}

/** The OTP parameters every reader checks the same way. */
export type OtpParameters = Pick<ImportRow, 'secret' | 'algorithm' | 'digits' | 'period'>;

/**
 * Checks the parameters read from a record: the parameters with `algorithm` narrowed when they
 * can be imported, else the reason (a string) they cannot.
 */
export function checkParameters(parameters: {
  secret: Uint8Array;
  algorithm: string;
  digits: number;
  period: number;
}): OtpParameters | string {
  const { secret, algorithm, digits, period } = parameters;
  if (secret.length < MIN_IMPORT_SECRET_BYTES) {
    return `the secret is ${secret.length} bytes, shorter than the ${MIN_IMPORT_SECRET_BYTES} bytes accepted`;
  }
  if (!isAlgorithm(algorithm)) return `algorithm ${algorithm} is not supported (SHA1, SHA256, SHA512)`;
  if (!Number.isInteger(digits) || digits < OTP_LIMITS.minDigits || digits > OTP_LIMITS.maxDigits) {
    return `${digits} digits is not supported (${OTP_LIMITS.minDigits}-${OTP_LIMITS.maxDigits})`;
  }
  if (!Number.isInteger(period) || period < OTP_LIMITS.minPeriod || period > OTP_LIMITS.maxPeriod) {
    return `a period of ${period} seconds is not supported (${OTP_LIMITS.minPeriod}-${OTP_LIMITS.maxPeriod})`;
  }
  return { secret, algorithm, digits, period };
}

/**
 * A skip reason for an error thrown while reading one record: the message of an `OtpError`
 * (fixed texts of `@twofold/otp`, never the secret), lowercased like the readers' own reasons;
 * else `fallback`, since other errors (JSON syntax errors, say) may quote the input.
 */
export function errorReason(error: unknown, fallback: string): string {
  if (!(error instanceof OtpError)) return fallback;
  const message = error.message.replace(/\.$/, '');
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/** Whether `value` is a non-negative safe integer. */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
