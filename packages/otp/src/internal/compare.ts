/**
 * Branch-free comparison of OTP values. An OTP value is below 2 ** 31 (RFC 4226 truncation), but
 * a 10-digit token can reach 9,999,999,999, beyond int32: the token is split into a low part
 * below 2 ** 31 and a high part, so that XOR never wraps and a large token can never collide.
 */

const TWO_POW_31 = 0x80000000;

/** The part of a token value below 2 ** 31. */
export function lowPart(value: number): number {
  return value % TWO_POW_31;
}

/** The part of a token value from 2 ** 31 up (0 for every value an OTP can have). */
export function highPart(value: number): number {
  return (value - (value % TWO_POW_31)) / TWO_POW_31;
}

/** 1 when `code` (an OTP value) equals the token given as (low, high) parts, else 0, without branching. */
export function sameValue(code: number, low: number, high: number): number {
  const difference = (code ^ low) | high;
  return ((difference | -difference) >>> 31) ^ 1;
}
