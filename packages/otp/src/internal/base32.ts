import { OtpInvalidSecretError } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Character code -> 5-bit value, -1 for characters outside the alphabet (both cases accepted). */
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  VALUES[ALPHABET.charCodeAt(i)] = i;
  VALUES[ALPHABET.toLowerCase().charCodeAt(i)] = i;
}

/** Padding needed after a final quantum of `n % 8` characters; -1 where that length is impossible. */
const PADDING_FOR_REMAINDER = [0, -1, 6, -1, 4, 3, -1, 1];

const SPACE = 0x20;
const HYPHEN = 0x2d;
const EQUALS = 0x3d;

/** Encodes bytes as RFC 4648 base32: uppercase, without padding. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes RFC 4648 base32. Case-insensitive; ASCII spaces and hyphens are ignored; padding is
 * optional but, when present, must be exactly right. Throws {@link OtpInvalidSecretError} on a
 * character outside the alphabet, an impossible length, or non-zero trailing bits.
 */
export function decodeBase32(input: string): Uint8Array {
  const out = new Uint8Array(Math.floor((input.length * 5) / 8));
  let length = 0;
  let buffer = 0;
  let bits = 0;
  let chars = 0;
  let padding = 0;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    if (code === SPACE || code === HYPHEN) continue;
    if (code === EQUALS) {
      padding++;
      continue;
    }
    if (padding > 0) throw new OtpInvalidSecretError('Base32 data continues after the padding');
    const value = code < 128 ? VALUES[code]! : -1;
    if (value < 0) throw new OtpInvalidSecretError('Base32 may only contain A-Z, 2-7, spaces and "="');
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    chars++;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (buffer >>> bits) & 0xff;
    }
  }
  const expectedPadding = PADDING_FOR_REMAINDER[chars % 8]!;
  if (expectedPadding < 0) throw new OtpInvalidSecretError('Base32 has an impossible length');
  if (padding > 0 && padding !== expectedPadding) {
    throw new OtpInvalidSecretError('Base32 padding does not fit the length');
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) {
    throw new OtpInvalidSecretError('Base32 has non-zero trailing bits');
  }
  return out.slice(0, length);
}
