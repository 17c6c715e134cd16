/**
 * The shape shared by SHA-1, SHA-256 and SHA-512 (FIPS 180-4): a Merkle-Damgard hash that pads the
 * message, splits it into blocks and folds each block into a chaining state with a compression function.
 *
 * Everything is kept as big-endian 32-bit words in `Int32Array`s (SHA-512's 64-bit words are stored as
 * hi/lo pairs), so the HMAC hot path can reuse preallocated arrays and never converts to bytes.
 */
export interface BlockHash {
  /** Size of one message block in 32-bit words: 16 (512 bits) or 32 (1024 bits). */
  readonly blockWords: number;
  /** Size of the chaining state, which is also the digest, in 32-bit words. */
  readonly digestWords: number;
  /** Size of the message-length field that ends the padding, in 32-bit words: 2 (64 bits) or 4 (128 bits). */
  readonly lengthWords: number;
  /** The initial hash value H(0). Never written to. */
  readonly initial: Int32Array;
  /**
   * Folds one `block` into `state` and writes the next state to `out` (FIPS 180-4 section 6).
   * `out` may be `state` itself; it may also be longer than a digest (only its first words are written).
   */
  compress(out: Int32Array, state: Int32Array, block: Int32Array): void;
}

/** Number of bytes in a 32-bit word. */
const WORD_BYTES = 4;

/** Bit that marks the end of the message in the padding (FIPS 180-4 section 5.1). */
const END_OF_MESSAGE = 0x80;

/**
 * Reads `bytes` as big-endian 32-bit words into `words`, padding the last word and the rest of `words`
 * with zero bytes. `bytes` must not be longer than `words` holds.
 */
export function bytesToWords(bytes: Uint8Array, words: Int32Array): Int32Array {
  words.fill(0);
  for (let i = 0; i < bytes.length; i++) {
    const shift = 24 - (i % WORD_BYTES) * 8;
    words[i >>> 2] = words[i >>> 2]! | (bytes[i]! << shift);
  }
  return words;
}

/** Writes the first `byteLength` bytes of big-endian `words` into a new byte array. */
export function wordsToBytes(words: Int32Array, byteLength: number): Uint8Array {
  const bytes = new Uint8Array(byteLength);
  for (let i = 0; i < byteLength; i++) {
    bytes[i] = words[i >>> 2]! >>> (24 - (i % WORD_BYTES) * 8);
  }
  return bytes;
}

/**
 * Hashes a whole message (FIPS 180-4 sections 5.1 padding, 6.x computation) and returns the digest words.
 * Used once per secret for HMAC keys longer than a block (RFC 2104), never on the per-counter path.
 */
export function digest(hash: BlockHash, message: Uint8Array): Int32Array {
  const blockBytes = hash.blockWords * WORD_BYTES;
  const lengthBytes = hash.lengthWords * WORD_BYTES;
  // message || 0x80 || zero bytes || message length in bits, to a whole number of blocks.
  const paddedLength = Math.ceil((message.length + 1 + lengthBytes) / blockBytes) * blockBytes;
  const padded = new Uint8Array(paddedLength);
  padded.set(message);
  padded[message.length] = END_OF_MESSAGE;
  // Lengths here are far below 2^53 bits, so the top words of the length field stay zero.
  const bitLength = message.length * 8;
  const view = new DataView(padded.buffer);
  view.setUint32(paddedLength - 8, Math.floor(bitLength / 0x100000000));
  view.setUint32(paddedLength - 4, bitLength >>> 0);

  const state = hash.initial.slice(0, hash.digestWords);
  const block = new Int32Array(hash.blockWords);
  for (let offset = 0; offset < paddedLength; offset += blockBytes) {
    bytesToWords(padded.subarray(offset, offset + blockBytes), block);
    hash.compress(state, state, block);
  }
  return state;
}
