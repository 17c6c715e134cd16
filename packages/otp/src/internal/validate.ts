import { type Algorithm, isAlgorithm } from '../algorithm.js';
import { OTP_LIMITS } from '../limits.js';
import { decodeBase32 } from './base32.js';

/**
 * Checks a caller-supplied integer option: TypeError when it is not a number, RangeError when it
 * is not an integer within [min, max]. The message names the option, never its value.
 */
export function checkInteger(where: string, name: string, value: unknown, min: number, max: number): number {
  const allowed = `${where}: ${name} must be an integer from ${min} to ${max}`;
  if (typeof value !== 'number') throw new TypeError(allowed);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(allowed);
  return value;
}

/** Checks a caller-supplied counter: a non-negative safe integer. */
export function checkCounter(where: string, name: string, value: unknown): number {
  const allowed = `${where}: ${name} must be a non-negative safe integer`;
  if (typeof value !== 'number') throw new TypeError(allowed);
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(allowed);
  return value;
}

/** Checks a caller-supplied algorithm name. */
export function checkAlgorithm(where: string, value: unknown): Algorithm {
  if (!isAlgorithm(value)) throw new TypeError(`${where}: algorithm must be 'SHA1', 'SHA256' or 'SHA512'`);
  return value;
}

/** Checks `digits` (6..10). */
export function checkDigits(where: string, value: unknown): number {
  return checkInteger(where, 'digits', value, OTP_LIMITS.minDigits, OTP_LIMITS.maxDigits);
}

/** Checks `period` in seconds (1..3600). */
export function checkPeriod(where: string, value: unknown): number {
  return checkInteger(where, 'period', value, OTP_LIMITS.minPeriod, OTP_LIMITS.maxPeriod);
}

/** Checks `minSecretBytes` (10..64), the shortest secret a constructor or parser accepts. */
export function checkMinSecretBytes(where: string, value: unknown): number {
  return checkInteger(
    where,
    'minSecretBytes',
    value,
    OTP_LIMITS.minSecretBytesFloor,
    OTP_LIMITS.maxMinSecretBytes,
  );
}

/**
 * Turns a caller-supplied secret (bytes or base32) into a private copy of at least `minBytes`
 * bytes. Bad input here is a caller mistake: TypeError / RangeError (the decoder's coded error is
 * kept as `cause`). Untrusted secrets go through `decodeSecret` first.
 */
export function checkSecret(where: string, value: unknown, minBytes: number): Uint8Array {
  let bytes: Uint8Array;
  if (value instanceof Uint8Array) {
    bytes = value.slice();
  } else if (typeof value === 'string') {
    try {
      bytes = decodeBase32(value);
    } catch (cause) {
      throw new TypeError(`${where}: secret must be a Uint8Array or a base32 string`, { cause });
    }
  } else {
    throw new TypeError(`${where}: secret must be a Uint8Array or a base32 string`);
  }
  if (bytes.length < minBytes) {
    throw new RangeError(`${where}: secret must be at least ${minBytes} bytes (see minSecretBytes)`);
  }
  return bytes;
}

/** Largest time a Date can hold, in ms: keeps every step boundary a safe integer. */
export const MAX_TIME_MS = 8.64e15;

/**
 * Reads a caller-supplied time (ms since the epoch, or a Date) within the range of a Date;
 * `undefined` means `Date.now()`.
 */
export function checkTime(where: string, value: unknown): number {
  if (value === undefined) return Date.now();
  const ms = value instanceof Date ? value.getTime() : value;
  const allowed = `${where}: time must be milliseconds since the epoch (or a Date) within the range of a Date`;
  if (typeof ms !== 'number') throw new TypeError(allowed);
  if (!(ms >= -MAX_TIME_MS && ms <= MAX_TIME_MS)) throw new RangeError(allowed);
  return ms;
}

/** Reads `t0` in whole seconds since the epoch, from 0 up to the end of the Date range. */
export function checkT0(where: string, value: unknown): number {
  return checkInteger(where, 't0', value, 0, MAX_TIME_MS / 1000);
}
