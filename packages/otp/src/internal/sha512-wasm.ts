import { ROUND_CONSTANTS, sha512 } from './sha512.js';
import {
  Body,
  F64,
  functionType,
  type HmacExports,
  hmacModule,
  I32,
  I64,
  instantiate,
  type KeyStates,
  OP,
  type WasmHmac,
} from './wasm.js';

/**
 * HMAC-SHA-512 over 8-byte counters, in WebAssembly.
 *
 * SHA-512 is built on 64-bit additions and rotations. In JavaScript each 64-bit word has to be carried as
 * two 32-bit halves (see sha512.ts), which makes one compression several times the work of a SHA-256
 * one. WebAssembly has native 64-bit integers, so the same compression runs at about the speed of
 * SHA-256 in JavaScript. The module is small and is generated here, instruction by instruction, from the
 * FIPS 180-4 definitions: there is no binary blob to trust, and no build step.
 *
 * The generated module exports its memory and two functions:
 *
 * - `compress(out, state, block)`: one SHA-512 compression (FIPS 180-4 section 6.4.2), fully unrolled.
 *   The arguments are byte addresses in the memory, where 64-bit words are stored as native
 *   (little-endian) i64 values, not as big-endian bytes.
 * - `mac(counter)`: HMAC(K, counter) with the key states found at {@link KEY_STATES}, leaving the MAC
 *   words at {@link MAC}, and returning its RFC 4226 dynamic truncation.
 *
 * Everything else (checking arguments, key preparation) stays in JavaScript: see {@link sha512Wasm}.
 * If WebAssembly is unavailable (e.g. `node --jitless`), {@link sha512Wasm} returns undefined and the
 * HMAC falls back to the JavaScript SHA-512.
 */

// Memory layout, in bytes. Every 64-bit word is a native little-endian i64.

/**
 * The inner key state (8 words), then the outer key state (8 words): copied in when the previous call was
 * for another secret.
 */
const KEY_STATES = 0;
/** The second block of the inner hash: counter, padding, length. Only word 0 changes. */
const INNER_BLOCK = 128;
/** The second block of the outer hash: inner digest (written by the inner compression), padding, length. */
const OUTER_BLOCK = 256;
/** The MAC written by the outer compression. */
const MAC = 384;
/** The initial hash value H(0), for preparing key states. */
const INITIAL_STATE = 448;
/** A block to prepare key states in. */
const SCRATCH_BLOCK = 512;

/** Bytes in a SHA-512 block, and in its digest. */
const BLOCK_BYTES = 128;
const DIGEST_BYTES = 64;

/** A function body with SHA-512's sums of rotations. */
class Sha512Body extends Body {
  /** Pushes ROTR(a, x) ^ ROTR(b, x) ^ ROTR(c, x), or SHR(c, x) for the last term when `shiftLast`. */
  mix(x: number, a: number, b: number, c: number, shiftLast: boolean): this {
    this.get(x).i64(BigInt(a)).op(OP.i64Rotr);
    this.get(x).i64(BigInt(b)).op(OP.i64Rotr, OP.i64Xor);
    this.get(x)
      .i64(BigInt(c))
      .op(shiftLast ? OP.i64ShrU : OP.i64Rotr, OP.i64Xor);
    return this;
  }
}

/** `compress(out, state, block)`: FIPS 180-4 section 6.4.2 for one block, every round unrolled. */
function compressBody(): number[] {
  const OUT = 0;
  const STATE = 1;
  const BLOCK = 2;
  /** W(t) for t mod 16: the schedule is computed in place, 16 words at a time. */
  const w = (t: number): number => 3 + (t % 16);
  /** The working variables live in 8 locals; instead of moving them each round, their roles rotate. */
  const vars = 3 + 16;
  const role = (t: number, letter: number): number => vars + ((((letter - t) % 8) + 8) % 8);
  const T1 = vars + 8;
  const body = new Sha512Body();

  for (let t = 0; t < 16; t++)
    body
      .get(BLOCK)
      .load64(8 * t)
      .set(w(t));
  for (let i = 0; i < 8; i++)
    body
      .get(STATE)
      .load64(8 * i)
      .set(vars + i);

  for (let t = 0; t < 80; t++) {
    if (t >= 16) {
      // W(t) = sigma1(W(t-2)) + W(t-7) + sigma0(W(t-15)) + W(t-16); W(t-16) is the local W(t) replaces.
      body
        .mix(w(t - 2), 19, 61, 6, true)
        .get(w(t - 7))
        .op(OP.i64Add);
      body.mix(w(t - 15), 1, 8, 7, true).op(OP.i64Add);
      body.get(w(t)).op(OP.i64Add).set(w(t));
    }
    const [a, b, c, d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7].map((letter) => role(t, letter)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    // T1 = h + Sigma1(e) + Ch(e, f, g) + K(t) + W(t), with Ch(e, f, g) = g ^ (e & (f ^ g)).
    body.get(h).mix(e, 14, 18, 41, false).op(OP.i64Add);
    body.get(g).get(e).get(f).get(g).op(OP.i64Xor, OP.i64And, OP.i64Xor, OP.i64Add);
    const k = (BigInt(ROUND_CONSTANTS[2 * t]! >>> 0) << 32n) | BigInt(ROUND_CONSTANTS[2 * t + 1]! >>> 0);
    body.i64(k).op(OP.i64Add).get(w(t)).op(OP.i64Add).set(T1);
    // d becomes e of the next round: d + T1.
    body.get(d).get(T1).op(OP.i64Add).set(d);
    // h becomes a of the next round: T1 + T2, with T2 = Sigma0(a) + Maj(a, b, c),
    // Maj(a, b, c) = (a & b) | (c & (a | b)).
    body.get(T1).mix(a, 28, 34, 39, false).op(OP.i64Add);
    body.get(a).get(b).op(OP.i64And).get(c).get(a).get(b).op(OP.i64Or, OP.i64And, OP.i64Or, OP.i64Add);
    body.set(h);
  }

  // H(i) = H(i-1) + (a, ..., h). 80 rounds are a whole number of rotations: the roles are back in place.
  for (let i = 0; i < 8; i++) {
    body
      .get(OUT)
      .get(STATE)
      .load64(8 * i)
      .get(vars + i)
      .op(OP.i64Add)
      .store64(8 * i);
  }
  return body.encode([[16 + 8 + 1, I64]]);
}

/**
 * `mac(counter)`: the counter (a non-negative safe integer, checked by the caller) into the inner block,
 * the inner compression (its digest lands in the outer block), the outer compression, then RFC 4226
 * section 5.3 dynamic truncation of the MAC.
 */
function macBody(compressIndex: number): number[] {
  const COUNTER = 0;
  const OFFSET = 1; // i32
  const HIGH = 2; // i64
  const LOW = 3; // i64
  const SHIFT = 4; // i64
  const body = new Body();
  body.i32(INNER_BLOCK).get(COUNTER).op(OP.i64TruncF64U).store64(0);
  body.i32(OUTER_BLOCK).i32(KEY_STATES).i32(INNER_BLOCK).call(compressIndex);
  body
    .i32(MAC)
    .i32(KEY_STATES + DIGEST_BYTES)
    .i32(OUTER_BLOCK)
    .call(compressIndex);

  // The offset is the low 4 bits of the last MAC byte: the low byte of word 7.
  body
    .i32(MAC + 56)
    .op(OP.i32Load, 2, 0)
    .i32(0x0f)
    .op(OP.i32And)
    .set(OFFSET);
  // The 4 bytes at the offset start in word 0 (offset < 8) or word 1; take that word and the next.
  body.i32(MAC).load64(8).i32(MAC).load64(0).get(OFFSET).i32(8).op(OP.i32And, OP.select).set(HIGH);
  body.i32(MAC).load64(16).i32(MAC).load64(8).get(OFFSET).i32(8).op(OP.i32And, OP.select).set(LOW);
  body.get(OFFSET).i32(7).op(OP.i32And).i32(3).op(OP.i32Shl, OP.i64ExtendI32U).set(SHIFT);
  // (HIGH << SHIFT) | (LOW >>> (64 - SHIFT)), written as (LOW >>> 1) >>> (63 - SHIFT) so that a shift of 0
  // leaves a stray bit only in bit 0; the top 32 bits are the 4 bytes, the top bit of which is dropped.
  body.get(HIGH).get(SHIFT).op(OP.i64Shl);
  body.get(LOW).i64(1n).op(OP.i64ShrU).i64(63n).get(SHIFT).op(OP.i64Sub, OP.i64ShrU, OP.i64Or);
  body.i64(32n).op(OP.i64ShrU, OP.i32WrapI64).i32(0x7fffffff).op(OP.i32And);
  return body.encode([
    [1, I32],
    [3, I64],
  ]);
}

/** The whole module: `compress` and `mac` (see above), one page of memory. */
function moduleBytes(): Uint8Array {
  return hmacModule(
    functionType([I32, I32, I32], []),
    functionType([F64], [I32]),
    compressBody(),
    macBody(0),
  );
}

/** HMAC-SHA-512 over counters (see {@link WasmHmac}); `mac` writes 16 words, hi/lo pairs like sha512.ts. */
export type Sha512Wasm = WasmHmac;

/** Inner and outer HMAC pads (RFC 2104 section 2). */
const IPAD = 0x36;
const OPAD = 0x5c;

function create(exports: HmacExports): Sha512Wasm {
  const { compress, mac } = exports;
  const bytes = new Uint8Array(exports.memory.buffer);
  // Only ever used to copy opaque key states in and out: its byte order does not matter.
  const words = new Int32Array(exports.memory.buffer);
  const view = new DataView(exports.memory.buffer);
  const setWord = (address: number, value: bigint): void => view.setBigUint64(address, value, true);

  // The constant words of the two last blocks (RFC 4226 counter message, RFC 2104 outer message).
  setWord(INNER_BLOCK + 8, 0x80n << 56n);
  setWord(INNER_BLOCK + 120, BigInt((BLOCK_BYTES + 8) * 8));
  setWord(OUTER_BLOCK + 64, 0x80n << 56n);
  setWord(OUTER_BLOCK + 120, BigInt((BLOCK_BYTES + DIGEST_BYTES) * 8));
  for (let i = 0; i < 8; i++) {
    // WebAssembly memory is little-endian on every host: the low half of a word comes first.
    view.setInt32(INITIAL_STATE + 8 * i, sha512.initial[2 * i + 1]!, true);
    view.setInt32(INITIAL_STATE + 8 * i + 4, sha512.initial[2 * i]!, true);
  }

  /** Writes K0 ^ pad as a block of native words: big-endian byte j of the block goes to j ^ 7. */
  const writePaddedKey = (key: Uint8Array, pad: number): void => {
    bytes.fill(pad, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES); // the zero bytes after the key, padded
    for (let j = 0; j < key.length; j++) bytes[SCRATCH_BLOCK + (j ^ 7)] = key[j]! ^ pad;
  };

  // The key states in the module's memory, kept there between calls: the steps of one window, and the
  // codes of one secret in a row, copy them in once. Computing new key states overwrites them.
  let loaded: KeyStates | undefined;
  const loadKeyStates = (keyStates: KeyStates): void => {
    if (keyStates === loaded) return;
    words.set(keyStates.inner, KEY_STATES / 4);
    words.set(keyStates.outer, KEY_STATES / 4 + 16);
    loaded = keyStates;
  };

  return {
    keyStates(key) {
      loaded = undefined;
      writePaddedKey(key, IPAD);
      compress(KEY_STATES, INITIAL_STATE, SCRATCH_BLOCK);
      writePaddedKey(key, OPAD);
      compress(KEY_STATES + DIGEST_BYTES, INITIAL_STATE, SCRATCH_BLOCK);
      // K0 ^ opad gives the key back: do not leave it in the module's memory.
      bytes.fill(0, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES);
      return {
        inner: words.slice(KEY_STATES / 4, KEY_STATES / 4 + 16),
        outer: words.slice(KEY_STATES / 4 + 16, KEY_STATES / 4 + 32),
      };
    },
    truncated(keyStates, counter) {
      loadKeyStates(keyStates);
      return mac(counter);
    },
    mac(keyStates, counter, out) {
      loadKeyStates(keyStates);
      mac(counter);
      for (let i = 0; i < 16; i += 2) {
        out[i] = view.getInt32(MAC + 4 * i + 4, true);
        out[i + 1] = view.getInt32(MAC + 4 * i, true);
      }
      return out;
    },
  };
}

let instance: Sha512Wasm | null | undefined;

/**
 * The WebAssembly HMAC-SHA-512, built on first use; undefined when this runtime has no WebAssembly or
 * refuses to compile it, in which case callers use the JavaScript SHA-512.
 *
 * The key passed to `keyStates` must already be K0 of RFC 2104 (at most one block: longer keys are hashed
 * first by the caller).
 */
export function sha512Wasm(): Sha512Wasm | undefined {
  if (instance === undefined) {
    const exports = instantiate(moduleBytes);
    instance = exports === undefined ? null : create(exports);
  }
  return instance ?? undefined;
}
