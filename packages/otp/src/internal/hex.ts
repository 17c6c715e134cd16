import { OtpInvalidSecretError } from '../errors.js';

/** Encodes bytes as lowercase hexadecimal. */
export function encodeHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, '0');
  return out;
}

function nibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f, A-F
  return -1;
}

/**
 * Decodes hexadecimal, case-insensitive, ignoring ASCII spaces. Throws
 * {@link OtpInvalidSecretError} on any other character or an odd number of digits.
 */
export function decodeHex(input: string): Uint8Array {
  const out = new Uint8Array(input.length >>> 1);
  let length = 0;
  let high = -1;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    if (code === 0x20) continue;
    const value = nibble(code);
    if (value < 0) throw new OtpInvalidSecretError('Hex may only contain 0-9, a-f and spaces');
    if (high < 0) {
      high = value;
    } else {
      out[length++] = (high << 4) | value;
      high = -1;
    }
  }
  if (high >= 0) throw new OtpInvalidSecretError('Hex has an odd number of digits');
  return out.slice(0, length);
}
