/** Unpadded base64url (RFC 4648 section 5) without the leniency of Buffer's decoder. */

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes as unpadded base64url. */
export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes unpadded base64url, or returns null when `text` is not its canonical form: other
 * characters, padding, an impossible length, or non-zero unused trailing bits. Buffer alone would
 * skip bad characters and ignore trailing bits, so two different strings could decode alike.
 */
export function decodeBase64url(text: string): Uint8Array | null {
  if (!BASE64URL_PATTERN.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) return null;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
