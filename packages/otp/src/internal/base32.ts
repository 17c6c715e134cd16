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
 * Decodes RFC 4648 base32 leniently where every peer is lenient, strictly where any of them would
 * read something different. Case-insensitive; ASCII spaces and hyphens are ignored; padding is
 * optional but, when present, must be exactly right. Throws {@link OtpInvalidSecretError} on a
 * character outside the alphabet, data after padding, wrong padding, or an impossible length.
 *
 * What the authenticator tools we check against do (test/python-peers.test.ts runs them):
 * - Non-zero unused trailing bits (`MZ` for `MY`, pyotp's `S46SQCPPTCNPROMHWYBDCTBZXV`, and 3 in 4
 *   of `pyotp.random_base32(length=34)`) are ACCEPTED and discarded. Python's `base64.b32decode`
 *   (after padding), pyotp, passlib and oathtool all read them, giving the same bytes as the
 *   canonical spelling; refusing them only locked out secrets that other software hands out.
 *   Discarding them loses nothing: they are not part of any key byte.
 *   The writers (`encodeBase32`, so `encodeSecret`, `buildUri`, `toJSON`) still emit zero bits.
 * - An impossible length (1, 3 or 6 symbols mod 8: 5, 15 or 30 bits, which cannot end on a byte)
 *   is REFUSED: b32decode, pyotp, passlib and oathtool all refuse it too. It means a symbol was
 *   lost or added, so any bytes we made up would be a different key.
 * - Characters outside A-Z / 2-7 are REFUSED, as by b32decode, pyotp and oathtool (passlib alone
 *   reads `0` as `O` and `8` as `B`; guessing at typos would silently give a different key).
 * - Padding stays "none, or exactly right": pyotp and oathtool each pad short input in their own
 *   way and disagree on partial padding (`MY=`, `MY====`), and plain b32decode refuses it.
 * - Spaces and hyphens are ignored, as before (oathtool ignores spaces; b32decode refuses both):
 *   they only group the symbols for people and cannot change which bytes are meant.
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
  // The `bits` left in `buffer` (0 to 4) are unused padding bits: discarded, whatever they are.
  return out.slice(0, length);
}
