import type { BlockHash } from './block-hash.js';
import { ROUND_CONSTANTS as SHA1_CONSTANTS, sha1 } from './sha1.js';
import { ROUND_CONSTANTS as SHA256_CONSTANTS, sha256 } from './sha256.js';
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
 * HMAC-SHA-1 and HMAC-SHA-256 over 8-byte counters, in WebAssembly.
 *
 * In JavaScript a compression keeps its message schedule in a typed array and its round loop has to stay
 * generic; the generated code here is fully unrolled, with the schedule and the working variables in
 * locals, and runs about twice as fast (an HMAC step is two compressions, a +-1 window six). The modules
 * are small and generated here, instruction by instruction, from the FIPS 180-4 definitions, like
 * sha512-wasm.ts: no binary blob, no build step.
 *
 * Each hash has its own module, exporting its memory and two functions:
 *
 * - `compress(out, state, block)`: one compression (FIPS 180-4 section 6.1.2 or 6.2.2), fully unrolled.
 *   The arguments are byte addresses in the memory, where each 32-bit word is stored as a native
 *   (little-endian) i32 value, not as big-endian bytes.
 * - `mac(counter)`: HMAC(K, counter) with the key states found at {@link KEY_STATES}, leaving the MAC
 *   words at {@link MAC}, and returning its RFC 4226 dynamic truncation, without a branch.
 *
 * If WebAssembly is unavailable (e.g. `node --jitless`), {@link sha1Wasm} and {@link sha256Wasm} return
 * undefined and the HMAC runs on the JavaScript compressions (sha1.ts, sha256.ts).
 */

// Memory layout, in bytes. Every word is a native little-endian i32.

/** The inner key state (up to 8 words), then at +32 the outer key state. */
const KEY_STATES = 0;
const OUTER_KEY_STATE = 32;
/** The second block of the inner hash: counter (words 0 and 1), padding, length. */
const INNER_BLOCK = 64;
/** The second block of the outer hash: inner digest (written by the inner compression), padding, length. */
const OUTER_BLOCK = 128;
/** The MAC written by the outer compression. */
const MAC = 192;
/** The initial hash value H(0), for preparing key states. */
const INITIAL_STATE = 224;
/** A block to prepare key states in. */
const SCRATCH_BLOCK = 256;

/** Bytes in a SHA-1 or SHA-256 block. */
const BLOCK_BYTES = 64;

/** Parameters of `compress(out, state, block)`. */
const OUT = 0;
const STATE = 1;
const BLOCK = 2;
/** Locals after the parameters: W(t) for t mod 16 (the schedule is computed in place), then the variables. */
const w = (t: number): number => 3 + (t % 16);
const VARS = 3 + 16;

/** Loads W(0..15) from the block and the working variables from the state. */
function loadBlockAndState(body: Body, digestWords: number): void {
  for (let t = 0; t < 16; t++)
    body
      .get(BLOCK)
      .load32(4 * t)
      .set(w(t));
  for (let i = 0; i < digestWords; i++)
    body
      .get(STATE)
      .load32(4 * i)
      .set(VARS + i);
}

/** H(i) = H(i-1) + the working variables, the rounds being a whole number of role rotations. */
function storeState(body: Body, digestWords: number): void {
  for (let i = 0; i < digestWords; i++) {
    body
      .get(OUT)
      .get(STATE)
      .load32(4 * i)
      .get(VARS + i)
      .op(OP.i32Add)
      .store32(4 * i);
  }
}

/** SHA-1 compression, FIPS 180-4 section 6.1.2, every round unrolled. */
function sha1CompressBody(): number[] {
  /** The five variables live in five locals; instead of moving them each round, their roles rotate. */
  const role = (t: number, letter: number): number => VARS + ((((letter - t) % 5) + 5) % 5);
  const body = new Body();
  loadBlockAndState(body, 5);
  for (let t = 0; t < 80; t++) {
    if (t >= 16) {
      // W(t) = ROTL1(W(t-3) ^ W(t-8) ^ W(t-14) ^ W(t-16)); W(t-16) is the local W(t) replaces.
      body
        .get(w(t - 3))
        .get(w(t - 8))
        .op(OP.i32Xor)
        .get(w(t - 14))
        .op(OP.i32Xor);
      body.get(w(t)).op(OP.i32Xor).i32(1).op(OP.i32Rotl).set(w(t));
    }
    const [a, b, c, d, e] = [0, 1, 2, 3, 4].map((letter) => role(t, letter)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    // T = ROTL5(a) + f(t)(b, c, d) + e + K(t) + W(t): it becomes a of the next round, in e's local.
    body.get(a).i32(5).op(OP.i32Rotl);
    if (t < 20) {
      // Ch(b, c, d) = d ^ (b & (c ^ d)).
      body.get(d).get(b).get(c).get(d).op(OP.i32Xor, OP.i32And, OP.i32Xor);
    } else if (t >= 40 && t < 60) {
      // Maj(b, c, d) = (b & c) | (d & (b | c)).
      body.get(b).get(c).op(OP.i32And).get(d).get(b).get(c).op(OP.i32Or, OP.i32And, OP.i32Or);
    } else {
      // Parity(b, c, d) = b ^ c ^ d.
      body.get(b).get(c).op(OP.i32Xor).get(d).op(OP.i32Xor);
    }
    body.op(OP.i32Add).get(e).op(OP.i32Add);
    body.i32(SHA1_CONSTANTS[Math.floor(t / 20)]!).op(OP.i32Add);
    body.get(w(t)).op(OP.i32Add).set(e);
    // c of the next round is ROTL30(b), in b's local.
    body.get(b).i32(30).op(OP.i32Rotl).set(b);
  }
  storeState(body, 5);
  return body.encode([[16 + 5, I32]]);
}

/** Pushes ROTR(a, x) ^ ROTR(b, x) ^ ROTR(c, x), or SHR(c, x) for the last term when `shiftLast`. */
function mix(body: Body, x: number, a: number, b: number, c: number, shiftLast: boolean): void {
  body.get(x).i32(a).op(OP.i32Rotr);
  body.get(x).i32(b).op(OP.i32Rotr, OP.i32Xor);
  body
    .get(x)
    .i32(c)
    .op(shiftLast ? OP.i32ShrU : OP.i32Rotr, OP.i32Xor);
}

/** SHA-256 compression, FIPS 180-4 section 6.2.2, every round unrolled. */
function sha256CompressBody(): number[] {
  /** The eight variables live in eight locals; instead of moving them each round, their roles rotate. */
  const role = (t: number, letter: number): number => VARS + ((((letter - t) % 8) + 8) % 8);
  const T1 = VARS + 8;
  const body = new Body();
  loadBlockAndState(body, 8);
  for (let t = 0; t < 64; t++) {
    if (t >= 16) {
      // W(t) = sigma1(W(t-2)) + W(t-7) + sigma0(W(t-15)) + W(t-16); W(t-16) is the local W(t) replaces.
      mix(body, w(t - 2), 17, 19, 10, true);
      body.get(w(t - 7)).op(OP.i32Add);
      mix(body, w(t - 15), 7, 18, 3, true);
      body.op(OP.i32Add).get(w(t)).op(OP.i32Add).set(w(t));
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
    body.get(h);
    mix(body, e, 6, 11, 25, false);
    body.op(OP.i32Add);
    body.get(g).get(e).get(f).get(g).op(OP.i32Xor, OP.i32And, OP.i32Xor, OP.i32Add);
    body.i32(SHA256_CONSTANTS[t]!).op(OP.i32Add).get(w(t)).op(OP.i32Add).set(T1);
    // d becomes e of the next round: d + T1.
    body.get(d).get(T1).op(OP.i32Add).set(d);
    // h becomes a of the next round: T1 + T2, with T2 = Sigma0(a) + Maj(a, b, c),
    // Maj(a, b, c) = (a & b) | (c & (a | b)).
    body.get(T1);
    mix(body, a, 2, 13, 22, false);
    body.op(OP.i32Add);
    body.get(a).get(b).op(OP.i32And).get(c).get(a).get(b).op(OP.i32Or, OP.i32And, OP.i32Or, OP.i32Add);
    body.set(h);
  }
  storeState(body, 8);
  return body.encode([[16 + 8 + 1, I32]]);
}

/**
 * `mac(counter)`: the counter (a non-negative safe integer, checked by the caller) into the inner block,
 * the inner compression (its digest lands in the outer block), the outer compression, then RFC 4226
 * section 5.3 dynamic truncation of the MAC.
 */
function macBody(compressIndex: number, digestWords: number): number[] {
  const COUNTER = 0; // f64
  const OFFSET = 1; // i32
  const PAIR_LOW = 2; // i64
  const PAIR_HIGH = 3; // i64
  const body = new Body();
  // The counter as 8 bytes big-endian: its high 32 bits in word 0, its low 32 bits in word 1.
  body.get(COUNTER).op(OP.i64TruncF64U).set(PAIR_LOW);
  body.i32(INNER_BLOCK).get(PAIR_LOW).i64(32n).op(OP.i64ShrU, OP.i32WrapI64).store32(0);
  body.i32(INNER_BLOCK).get(PAIR_LOW).op(OP.i32WrapI64).store32(4);
  body.i32(OUTER_BLOCK).i32(KEY_STATES).i32(INNER_BLOCK).call(compressIndex);
  body.i32(MAC).i32(OUTER_KEY_STATE).i32(OUTER_BLOCK).call(compressIndex);

  // The offset is the low 4 bits of the last MAC byte: the low byte of the last word.
  body
    .i32(MAC)
    .load32(4 * (digestWords - 1))
    .i32(0x0f)
    .op(OP.i32And)
    .set(OFFSET);
  // The 4 bytes at the offset lie in words offset / 4 and offset / 4 + 1. The pairs of words
  // (i, i + 1) for i = 0..3, as i64 values (word i on top), are picked with `select`, not with an address
  // or a branch that depends on the MAC: bit 2 of the offset picks within (0, 1) and (2, 3), bit 3 between.
  const pair = (i: number): void => {
    body
      .i32(MAC)
      .load32(4 * i)
      .op(OP.i64ExtendI32U)
      .i64(32n)
      .op(OP.i64Shl);
    body
      .i32(MAC)
      .load32(4 * i + 4)
      .op(OP.i64ExtendI32U, OP.i64Or);
  };
  const bit = (mask: number): void => {
    body.get(OFFSET).i32(mask).op(OP.i32And);
  };
  pair(1);
  pair(0);
  bit(4);
  body.op(OP.select).set(PAIR_LOW);
  pair(3);
  pair(2);
  bit(4);
  body.op(OP.select).set(PAIR_HIGH);
  body.get(PAIR_HIGH).get(PAIR_LOW);
  bit(8);
  body.op(OP.select);
  // Shift the pair left by 8 * (offset mod 4) bits; its top 32 bits are then the 4 bytes, the top bit of
  // which is dropped.
  body.get(OFFSET).i32(3).op(OP.i32And).i32(3).op(OP.i32Shl, OP.i64ExtendI32U, OP.i64Shl);
  body.i64(32n).op(OP.i64ShrU, OP.i32WrapI64).i32(0x7fffffff).op(OP.i32And);
  return body.encode([
    [1, I32],
    [2, I64],
  ]);
}

/** Inner and outer HMAC pads (RFC 2104 section 2). */
const IPAD = 0x36;
const OPAD = 0x5c;

function create(exports: HmacExports, hash: BlockHash): WasmHmac {
  const { compress, mac } = exports;
  const { digestWords } = hash;
  const digestBytes = digestWords * 4;
  const bytes = new Uint8Array(exports.memory.buffer);
  // Only ever used to copy opaque key states in and out: its byte order does not matter.
  const words = new Int32Array(exports.memory.buffer);
  const view = new DataView(exports.memory.buffer);
  // WebAssembly memory is little-endian on every host.
  const setWord = (address: number, value: number): void => view.setInt32(address, value, true);

  // The constant words of the two last blocks (RFC 4226 counter message, RFC 2104 outer message).
  setWord(INNER_BLOCK + 8, 0x80000000 | 0);
  setWord(INNER_BLOCK + 60, (BLOCK_BYTES + 8) * 8);
  setWord(OUTER_BLOCK + digestBytes, 0x80000000 | 0);
  setWord(OUTER_BLOCK + 60, (BLOCK_BYTES + digestBytes) * 8);
  for (let i = 0; i < digestWords; i++) setWord(INITIAL_STATE + 4 * i, hash.initial[i]!);

  /** Writes K0 ^ pad as a block of native words: big-endian byte j of the block goes to j ^ 3. */
  const writePaddedKey = (key: Uint8Array, pad: number): void => {
    bytes.fill(pad, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES); // the zero bytes after the key, padded
    for (let j = 0; j < key.length; j++) bytes[SCRATCH_BLOCK + (j ^ 3)] = key[j]! ^ pad;
  };

  // The key states in the module's memory, kept there between calls: the steps of one window, and the
  // codes of one secret in a row, copy them in once. Computing new key states overwrites them.
  let loaded: KeyStates | undefined;
  const loadKeyStates = (keyStates: KeyStates): void => {
    if (keyStates === loaded) return;
    words.set(keyStates.inner, KEY_STATES / 4);
    words.set(keyStates.outer, OUTER_KEY_STATE / 4);
    loaded = keyStates;
  };

  return {
    keyStates(key) {
      loaded = undefined;
      writePaddedKey(key, IPAD);
      compress(KEY_STATES, INITIAL_STATE, SCRATCH_BLOCK);
      writePaddedKey(key, OPAD);
      compress(OUTER_KEY_STATE, INITIAL_STATE, SCRATCH_BLOCK);
      // K0 ^ opad gives the key back: do not leave it in the module's memory.
      bytes.fill(0, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES);
      return {
        inner: words.slice(KEY_STATES / 4, KEY_STATES / 4 + digestWords),
        outer: words.slice(OUTER_KEY_STATE / 4, OUTER_KEY_STATE / 4 + digestWords),
      };
    },
    truncated(keyStates, counter) {
      loadKeyStates(keyStates);
      return mac(counter);
    },
    mac(keyStates, counter, out) {
      loadKeyStates(keyStates);
      mac(counter);
      for (let i = 0; i < digestWords; i++) out[i] = view.getInt32(MAC + 4 * i, true);
      return out;
    },
  };
}

/** Builds the module of `hash` with its compression body; null when WebAssembly is unavailable. */
function build(hash: BlockHash, compressBody: () => number[]): WasmHmac | null {
  const exports = instantiate(() =>
    hmacModule(
      functionType([I32, I32, I32], []),
      functionType([F64], [I32]),
      compressBody(),
      macBody(0, hash.digestWords),
    ),
  );
  return exports === undefined ? null : create(exports, hash);
}

let sha1Instance: WasmHmac | null | undefined;
let sha256Instance: WasmHmac | null | undefined;

/**
 * The WebAssembly HMAC-SHA-1, built on first use; undefined when this runtime has no WebAssembly or
 * refuses to compile it, in which case callers use the JavaScript SHA-1. `mac` writes 5 words.
 */
export function sha1Wasm(): WasmHmac | undefined {
  if (sha1Instance === undefined) sha1Instance = build(sha1, sha1CompressBody);
  return sha1Instance ?? undefined;
}

/**
 * The WebAssembly HMAC-SHA-256, built on first use; undefined when this runtime has no WebAssembly or
 * refuses to compile it, in which case callers use the JavaScript SHA-256. `mac` writes 8 words.
 */
export function sha256Wasm(): WasmHmac | undefined {
  if (sha256Instance === undefined) sha256Instance = build(sha256, sha256CompressBody);
  return sha256Instance ?? undefined;
}
