import type { HashAlgorithm } from './internal/hmac.js';

/** The HMAC hash of an OTP: `'SHA1'` (the default everywhere), `'SHA256'` or `'SHA512'`. */
export type Algorithm = HashAlgorithm;

/** Every supported {@link Algorithm}, in the spelling used by options, JSON and URIs. */
export const ALGORITHMS: readonly Algorithm[] = Object.freeze(['SHA1', 'SHA256', 'SHA512'] as const);

/** Whether `value` is one of {@link ALGORITHMS} (exact, case-sensitive). */
export function isAlgorithm(value: unknown): value is Algorithm {
  return value === 'SHA1' || value === 'SHA256' || value === 'SHA512';
}

/** HMAC output size of `algorithm` in bytes: the default secret length (RFC 4226 R6). */
export function hashBytes(algorithm: Algorithm): number {
  return algorithm === 'SHA1' ? 20 : algorithm === 'SHA256' ? 32 : 64;
}
