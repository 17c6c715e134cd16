import { randomBytes } from 'node:crypto';
import { type Algorithm, hashBytes } from './algorithm.js';
import { OtpInvalidSecretError } from './errors.js';
import { decodeBase32, encodeBase32 } from './internal/base32.js';
import { decodeHex, encodeHex } from './internal/hex.js';
import { checkAlgorithm, checkInteger, checkMinSecretBytes } from './internal/validate.js';
import { OTP_LIMITS } from './limits.js';

/** Text encodings a secret can be read from or written to. */
export type SecretEncoding = 'base32' | 'hex';

/** Options of {@link generateSecret}. */
export interface GenerateSecretOptions {
  /** Hash the secret is for; sets the default size. Default `'SHA1'`. */
  algorithm?: Algorithm;
  /** Size in bytes, 16 to 1024. Default: the hash output size (SHA1 20, SHA256 32, SHA512 64). */
  bytes?: number;
  /** Source of random bytes. Default `crypto.randomBytes`; replace only in tests. */
  random?: (size: number) => Uint8Array;
}

/**
 * Creates a new secret from a CSPRNG, as long as the HMAC output by default (RFC 4226 R6).
 *
 * @param options.algorithm - hash the secret is for, default `'SHA1'` (20 bytes)
 * @param options.bytes - size in bytes, 16..1024; RangeError below 16
 * @example
 * const secret = generateSecret({ algorithm: 'SHA256' }); // 32 random bytes
 * const totp = new Totp({ secret, algorithm: 'SHA256' });
 */
export function generateSecret(options: GenerateSecretOptions = {}): Uint8Array {
  const where = 'generateSecret';
  const algorithm = checkAlgorithm(where, options.algorithm ?? 'SHA1');
  const size = checkInteger(
    where,
    'bytes',
    options.bytes ?? hashBytes(algorithm),
    OTP_LIMITS.minSecretBytes,
    OTP_LIMITS.maxGeneratedSecretBytes,
  );
  const random = options.random ?? randomBytes;
  if (typeof random !== 'function') throw new TypeError(`${where}: random must be a function`);
  const bytes = random(size);
  if (!(bytes instanceof Uint8Array) || bytes.length !== size) {
    throw new TypeError(`${where}: random must return a Uint8Array of the requested size`);
  }
  return new Uint8Array(bytes);
}

/** Options of {@link decodeSecret}. */
export interface DecodeSecretOptions {
  /** Encoding of a string input. Default `'base32'`. */
  encoding?: SecretEncoding;
  /** Shortest secret accepted, in bytes: 10 to 64. Default 16. */
  minBytes?: number;
}

/**
 * Reads an untrusted secret (a base32 or hex string, or bytes) into a fresh Uint8Array.
 * Base32 is case-insensitive, with optional (but then correct) padding; spaces and hyphens are
 * ignored. Hex is case-insensitive; spaces are ignored.
 *
 * @param input - the secret text, or bytes (copied)
 * @param options.encoding - `'base32'` (default) or `'hex'`
 * @param options.minBytes - shortest accepted secret, default 16, never below 10
 * @throws OtpInvalidSecretError (`OTP_INVALID_SECRET`) when the input cannot be decoded, is
 *   empty, or is shorter than `minBytes`
 * @example
 * decodeSecret('gezd gnbv gy3t qojq gezd gnbv gy3t qojq'); // the 20 bytes of '12345678901234567890'
 * decodeSecret('3132333435363738393031323334353637383930', { encoding: 'hex' }); // the same
 */
export function decodeSecret(input: string | Uint8Array, options: DecodeSecretOptions = {}): Uint8Array {
  const where = 'decodeSecret';
  const encoding = options.encoding ?? 'base32';
  if (encoding !== 'base32' && encoding !== 'hex') {
    throw new TypeError(`${where}: encoding must be 'base32' or 'hex'`);
  }
  const minBytes = checkMinSecretBytes(where, options.minBytes ?? OTP_LIMITS.minSecretBytes);
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input.slice();
  else if (typeof input === 'string') bytes = encoding === 'hex' ? decodeHex(input) : decodeBase32(input);
  else throw new OtpInvalidSecretError('The secret must be a string or bytes');
  if (bytes.length === 0) throw new OtpInvalidSecretError('The secret is empty');
  if (bytes.length < minBytes) throw new OtpInvalidSecretError('The secret is too short');
  return bytes;
}

/**
 * Writes secret bytes as text: unpadded uppercase base32 (default) or lowercase hex.
 *
 * @example
 * encodeSecret(new TextEncoder().encode('12345678901234567890')); // 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
 * encodeSecret(new TextEncoder().encode('12345678901234567890'), { encoding: 'hex' }); // '3132...3930'
 */
export function encodeSecret(secret: Uint8Array, options: { encoding?: SecretEncoding } = {}): string {
  if (!(secret instanceof Uint8Array)) throw new TypeError('encodeSecret: secret must be a Uint8Array');
  const encoding = options.encoding ?? 'base32';
  if (encoding === 'base32') return encodeBase32(secret);
  if (encoding === 'hex') return encodeHex(secret);
  throw new TypeError(`encodeSecret: encoding must be 'base32' or 'hex'`);
}

/**
 * Formats a secret for people who type it in: uppercase base32 without padding, in groups of
 * four separated by spaces. A string is read as base32 first (any case, spacing or padding).
 *
 * @throws OtpInvalidSecretError when a string input is not base32
 * @example
 * prettySecret('jbswy3dpehpk3pxp'); // 'JBSW Y3DP EHPK 3PXP'
 */
export function prettySecret(secret: Uint8Array | string): string {
  let base32: string;
  if (secret instanceof Uint8Array) base32 = encodeBase32(secret);
  else if (typeof secret === 'string') base32 = encodeBase32(decodeBase32(secret));
  else throw new TypeError('prettySecret: secret must be a Uint8Array or a base32 string');
  return base32.replace(/.{4}(?=.)/g, '$& ');
}
