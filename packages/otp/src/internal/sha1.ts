import type { BlockHash } from './block-hash.js';

/** Round constants K(t), one per group of 20 rounds (FIPS 180-4 section 4.2.1). */
const K_00_19 = 0x5a827999;
const K_20_39 = 0x6ed9eba1;
const K_40_59 = 0x8f1bbcdc | 0;
const K_60_79 = 0xca62c1d6 | 0;

/** K(t) for t = 0..19, 20..39, 40..59, 60..79. */
export const ROUND_CONSTANTS: readonly number[] = [K_00_19, K_20_39, K_40_59, K_60_79];

/** Number of rounds, and of words in the message schedule. */
const ROUNDS = 80;

/** Message schedule W(0..79), shared by every call: compression never re-enters itself. */
const schedule = new Int32Array(ROUNDS);

/** SHA-1 compression of one 512-bit block (FIPS 180-4 section 6.1.2, steps 1 to 4). */
function compress(out: Int32Array, state: Int32Array, block: Int32Array): void {
  const w = schedule;
  // Step 1: the message schedule, W(t) = ROTL1(W(t-3) ^ W(t-8) ^ W(t-14) ^ W(t-16)).
  for (let t = 0; t < 16; t++) w[t] = block[t]!;
  for (let t = 16; t < ROUNDS; t++) {
    const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
    w[t] = (x << 1) | (x >>> 31);
  }

  // Step 2: working variables start from the previous state.
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;

  // Step 3: T = ROTL5(a) + f(t)(b, c, d) + e + K(t) + W(t); the function f changes every 20 rounds.
  let t = 0;
  for (; t < 20; t++) {
    const choose = (b & c) | (~b & d);
    const temp = (((a << 5) | (a >>> 27)) + choose + e + K_00_19 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 40; t++) {
    const parity = b ^ c ^ d;
    const temp = (((a << 5) | (a >>> 27)) + parity + e + K_20_39 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 60; t++) {
    const majority = (b & c) | (b & d) | (c & d);
    const temp = (((a << 5) | (a >>> 27)) + majority + e + K_40_59 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < ROUNDS; t++) {
    const parity = b ^ c ^ d;
    const temp = (((a << 5) | (a >>> 27)) + parity + e + K_60_79 + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }

  // Step 4: the intermediate hash value H(i) = H(i-1) + (a, b, c, d, e).
  out[0] = (state[0]! + a) | 0;
  out[1] = (state[1]! + b) | 0;
  out[2] = (state[2]! + c) | 0;
  out[3] = (state[3]! + d) | 0;
  out[4] = (state[4]! + e) | 0;
}

/** SHA-1 (FIPS 180-4 section 6.1): 512-bit blocks, 160-bit digest. */
export const sha1: BlockHash = {
  blockWords: 16,
  digestWords: 5,
  lengthWords: 2,
  // Initial hash value H(0) (FIPS 180-4 section 5.3.1).
  initial: Int32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0),
  compress,
};
