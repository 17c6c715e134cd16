import { formatToken, parseToken } from './internal/token.js';
import { checkDigits } from './internal/validate.js';

/**
 * Normalises a token the way `match` reads it, like passlib: a number must be a non-negative
 * safe integer and is zero-padded to `digits`; a string loses its ASCII spaces and hyphens and
 * must then be exactly `digits` ASCII digits. Nothing else is accepted (no `parseInt` leniency:
 * "+123456", "1e5", "26920x", full-width or Arabic-Indic digits are all refused).
 *
 * @param token - what the user typed, or a number from a JSON body
 * @param digits - the configured number of digits, 6..10
 * @throws OtpMalformedTokenError (`OTP_MALFORMED_TOKEN`) for a non-digit character, a negative,
 *   fractional or unsafe number, or any other type
 * @throws OtpWrongLengthError (`OTP_WRONG_LENGTH`) for a well-formed token of another length
 * @example
 * normalizeToken('123 456', 6); // '123456'
 * normalizeToken(42, 6); // '000042'
 */
export function normalizeToken(token: string | number, digits: number): string {
  const size = checkDigits('normalizeToken', digits);
  return formatToken(parseToken(token, size), size);
}
