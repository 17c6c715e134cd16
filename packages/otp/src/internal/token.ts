import { OtpMalformedTokenError, OtpWrongLengthError } from '../errors.js';

/** 10 ** n for n = 0..10. */
export const POWERS_OF_TEN: readonly number[] = Array.from({ length: 11 }, (_, n) => 10 ** n);

const SPACE = 0x20;
const HYPHEN = 0x2d;
const ZERO = 0x30;

/**
 * Reads a token as the integer it spells, without allocating: the hot path of every match.
 * Same rules as `normalizeToken`; `digits` is trusted (already validated by the caller).
 */
export function parseToken(token: unknown, digits: number): number {
  if (typeof token === 'number') {
    if (!Number.isSafeInteger(token) || token < 0) throw new OtpMalformedTokenError();
    if (token >= POWERS_OF_TEN[digits]!) throw new OtpWrongLengthError();
    return token;
  }
  if (typeof token !== 'string') throw new OtpMalformedTokenError();
  let value = 0;
  let count = 0;
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (code === SPACE || code === HYPHEN) continue;
    const digit = code - ZERO;
    if (digit < 0 || digit > 9) throw new OtpMalformedTokenError();
    if (++count <= digits) value = value * 10 + digit;
  }
  if (count !== digits) throw new OtpWrongLengthError();
  return value;
}

/** Formats an OTP value as exactly `digits` characters, zero-padded on the left. */
export function formatToken(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}
