import { type BlockHash, bytesToWords, digest, wordsToBytes } from './block-hash.js';
import { sha1Wasm, sha256Wasm } from './hmac32-wasm.js';
import { sha1 } from './sha1.js';
import { sha256 } from './sha256.js';
import { sha512 } from './sha512.js';
import { sha512Wasm } from './sha512-wasm.js';
import type { KeyStates, WasmHmac } from './wasm.js';

/** Hash functions an OTP can be built on (RFC 6238 section 1.2). */
export type HashAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/**
 * Computes the RFC 4226 dynamic truncation of HMAC(key, counter) as a 31-bit integer.
 * Returned by {@link createTruncatedHmac}: the key state is prepared once per secret,
 * the function is called once per counter.
 */
export type TruncatedHmac = (counter: number) => number;

/**
 * Computes HMAC(key, counter) into a word array that the function owns and reuses: the result is only
 * valid until the next call. Returned by {@link createCounterMac}.
 */
export type CounterMac = (counter: number) => Int32Array;

const HASHES: Readonly<Record<HashAlgorithm, BlockHash>> = { SHA1: sha1, SHA256: sha256, SHA512: sha512 };

/** The WebAssembly HMAC of each hash, built on first use; undefined where WebAssembly is unavailable. */
const WASM_HMACS: Readonly<Record<HashAlgorithm, () => WasmHmac | undefined>> = {
  SHA1: sha1Wasm,
  SHA256: sha256Wasm,
  SHA512: sha512Wasm,
};

/** Inner and outer HMAC pads, repeated over a 32-bit word (RFC 2104 section 2). */
const IPAD_WORD = 0x36363636;
const OPAD_WORD = 0x5c5c5c5c;

/** Bytes in the HMAC message: the counter as a 64-bit big-endian integer (RFC 4226 section 5.1). */
const COUNTER_BYTES = 8;

/** The 0x80 byte that starts the hash padding, at the start of a big-endian word (FIPS 180-4 5.1). */
const PADDING_START_WORD = 0x80000000;

const TWO_POW_32 = 0x100000000;

/** Options of {@link createCounterMac} and {@link createTruncatedHmac}. */
export interface HmacOptions {
  /**
   * Whether the HMAC may run in WebAssembly (see hmac32-wasm.ts for SHA-1 and SHA-256, sha512-wasm.ts for
   * SHA-512). Default true; false forces the JavaScript compressions, which are otherwise used only where
   * WebAssembly is unavailable. Tests set it to prove both paths.
   */
  wasm?: boolean;
}

/** HMAC under one key, either path, ready for counters. */
type PreparedKey =
  | { wasm: WasmHmac; keyStates: KeyStates; digestWords: number }
  | { wasm: undefined; counterMac: (counter: number) => Int32Array };

/**
 * Checks the arguments, derives K0 (RFC 2104 steps 1 to 3: the key, hashed first if longer than a block)
 * and the key states, on the WebAssembly SHA-512 when allowed and available, else in JavaScript.
 */
function prepareKey(algorithm: HashAlgorithm, key: Uint8Array, options: HmacOptions): PreparedKey {
  const hash = Object.hasOwn(HASHES, algorithm) ? HASHES[algorithm] : undefined;
  if (hash === undefined) {
    throw new TypeError('algorithm must be one of SHA1, SHA256, SHA512');
  }
  if (!(key instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array');
  const blockBytes = hash.blockWords * 4;
  const keyBytes = key.length > blockBytes ? wordsToBytes(digest(hash, key), hash.digestWords * 4) : key;
  const wasm = options.wasm !== false ? WASM_HMACS[algorithm]() : undefined;
  if (wasm !== undefined) return { wasm, keyStates: wasm.keyStates(keyBytes), digestWords: hash.digestWords };
  return { wasm: undefined, counterMac: jsCounterMac(hash, keyBytes) };
}

function checkCounter(counter: number): void {
  if (!(Number.isSafeInteger(counter) && counter >= 0)) {
    throw new RangeError('counter must be a non-negative safe integer');
  }
}

/**
 * Prepares HMAC-<algorithm> under `key` for repeated computation over 8-byte counters: a non-negative
 * safe integer (0 to 2^53 - 1), hashed as 8 bytes big-endian (RFC 4226 section 5.1).
 *
 * @throws TypeError when the algorithm is unknown or the key is not a Uint8Array; the returned function
 *   throws RangeError for a counter that is not a non-negative safe integer.
 */
export function createCounterMac(
  algorithm: HashAlgorithm,
  key: Uint8Array,
  options: HmacOptions = {},
): CounterMac {
  const prepared = prepareKey(algorithm, key, options);
  if (prepared.wasm !== undefined) {
    const { wasm, keyStates, digestWords } = prepared;
    const mac = new Int32Array(digestWords);
    return (counter) => {
      checkCounter(counter);
      return wasm.mac(keyStates, counter, mac);
    };
  }
  const { counterMac } = prepared;
  return (counter) => {
    checkCounter(counter);
    return counterMac(counter);
  };
}

/**
 * HMAC(K0, counter) in JavaScript, K0 being at most one block.
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)) (RFC 2104). The hash states after absorbing the
 * one-block prefixes `K0 ^ ipad` and `K0 ^ opad` depend only on the key, so they are computed here once;
 * each call then runs exactly two compressions: the inner one over the counter and its padding, the outer
 * one over the inner digest and its padding. Nothing is allocated per call. The counter is not checked.
 */
function jsCounterMac(hash: BlockHash, keyBytes: Uint8Array): (counter: number) => Int32Array {
  const { blockWords, digestWords, compress } = hash;
  const blockBytes = blockWords * 4;
  const digestBytes = digestWords * 4;

  // RFC 2104 step 1 to 3 (the hashing of a long key was done by the caller): K0 padded with zeros to a block.
  const paddedKey = bytesToWords(keyBytes, new Int32Array(blockWords));

  // The chaining states after the first block of the inner and of the outer hash.
  const innerKeyState = absorbPaddedKey(hash, paddedKey, IPAD_WORD);
  const outerKeyState = absorbPaddedKey(hash, paddedKey, OPAD_WORD);

  // Second (and last) block of the inner hash: counter (words 0 and 1), padding, length of ipad block + 8.
  const innerBlock = new Int32Array(blockWords);
  innerBlock[2] = PADDING_START_WORD;
  innerBlock[blockWords - 1] = (blockBytes + COUNTER_BYTES) * 8;

  // Second (and last) block of the outer hash: inner digest, padding, length of opad block + digest.
  const outerBlock = new Int32Array(blockWords);
  outerBlock[digestWords] = PADDING_START_WORD;
  outerBlock[blockWords - 1] = (blockBytes + digestBytes) * 8;

  const mac = new Int32Array(digestWords);

  return (counter) => {
    innerBlock[0] = counter / TWO_POW_32; // high 32 bits (stored truncated, at most 21 bits for a safe integer)
    innerBlock[1] = counter | 0; // low 32 bits
    // The inner digest lands directly in the first words of the outer block.
    compress(outerBlock, innerKeyState, innerBlock);
    compress(mac, outerKeyState, outerBlock);
    return mac;
  };
}

/** The hash state after compressing the single block `K0 ^ pad` from the initial value. */
function absorbPaddedKey(hash: BlockHash, paddedKey: Int32Array, padWord: number): Int32Array {
  const block = paddedKey.map((word) => word ^ padWord);
  const state = new Int32Array(hash.digestWords);
  hash.compress(state, hash.initial, block);
  return state;
}

/**
 * Prepares HMAC-<algorithm> under `key` and returns a function computing the RFC 4226 dynamic truncation
 * for a counter: a non-negative safe integer (0 to 2^53 - 1), hashed as 8 bytes big-endian.
 *
 * The key-dependent HMAC work is done once here; each counter costs two hash compressions and no
 * allocation. The compressions run in WebAssembly where available (see hmac32-wasm.ts and sha512-wasm.ts),
 * which does the truncation too; in JavaScript otherwise.
 *
 * @throws TypeError when the algorithm is unknown or the key is not a Uint8Array; the returned function
 *   throws RangeError for a counter that is not a non-negative safe integer.
 */
export function createTruncatedHmac(
  algorithm: HashAlgorithm,
  key: Uint8Array,
  options: HmacOptions = {},
): TruncatedHmac {
  const prepared = prepareKey(algorithm, key, options);
  if (prepared.wasm !== undefined) {
    const { wasm, keyStates } = prepared;
    return (counter) => {
      checkCounter(counter);
      return wasm.truncated(keyStates, counter);
    };
  }
  const { counterMac } = prepared;
  return (counter) => {
    checkCounter(counter);
    return dynamicTruncation(counterMac(counter));
  };
}

/**
 * RFC 4226 section 5.3: the low 4 bits of the last MAC byte give an offset; the 4 bytes at that offset,
 * big-endian, with the top bit cleared, are the result. `mac` holds big-endian words, and the offset is at
 * most 15, so the 4 bytes always lie within the first 5 words.
 */
function dynamicTruncation(mac: Int32Array): number {
  const offset = mac[mac.length - 1]! & 0x0f;
  const word = offset >>> 2;
  const shift = (offset & 3) * 8;
  const bytes = shift === 0 ? mac[word]! : (mac[word]! << shift) | (mac[word + 1]! >>> (32 - shift));
  return bytes & 0x7fffffff;
}
