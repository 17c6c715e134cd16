import type { BlockHash } from './block-hash.js';

/** Number of rounds, and of words in the message schedule. */
const ROUNDS = 64;

/**
 * Round constants K(0..63): the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4 section 4.2.2).
 */
// biome-ignore format: a table laid out as in FIPS 180-4
export const ROUND_CONSTANTS = Int32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);

/** Message schedule W(0..63), shared by every call: compression never re-enters itself. */
const schedule = new Int32Array(ROUNDS);

/** SHA-256 compression of one 512-bit block (FIPS 180-4 section 6.2.2, steps 1 to 4). */
function compress(out: Int32Array, state: Int32Array, block: Int32Array): void {
  const w = schedule;
  // Step 1: the message schedule, W(t) = sigma1(W(t-2)) + W(t-7) + sigma0(W(t-15)) + W(t-16).
  for (let t = 0; t < 16; t++) w[t] = block[t]!;
  for (let t = 16; t < ROUNDS; t++) {
    const x = w[t - 2]!;
    const y = w[t - 15]!;
    const sigma1 = ((x >>> 17) | (x << 15)) ^ ((x >>> 19) | (x << 13)) ^ (x >>> 10);
    const sigma0 = ((y >>> 7) | (y << 25)) ^ ((y >>> 18) | (y << 14)) ^ (y >>> 3);
    w[t] = (sigma1 + w[t - 7]! + sigma0 + w[t - 16]!) | 0;
  }

  // Step 2: working variables start from the previous state.
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;

  // Step 3: T1 = h + Sigma1(e) + Ch(e, f, g) + K(t) + W(t), T2 = Sigma0(a) + Maj(a, b, c).
  for (let t = 0; t < ROUNDS; t++) {
    const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choose = (e & f) ^ (~e & g);
    const t1 = (h + sum1 + choose + ROUND_CONSTANTS[t]! + w[t]!) | 0;
    const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (sum0 + majority) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }

  // Step 4: the intermediate hash value H(i) = H(i-1) + (a, ..., h).
  out[0] = (state[0]! + a) | 0;
  out[1] = (state[1]! + b) | 0;
  out[2] = (state[2]! + c) | 0;
  out[3] = (state[3]! + d) | 0;
  out[4] = (state[4]! + e) | 0;
  out[5] = (state[5]! + f) | 0;
  out[6] = (state[6]! + g) | 0;
  out[7] = (state[7]! + h) | 0;
}

/** SHA-256 (FIPS 180-4 section 6.2): 512-bit blocks, 256-bit digest. */
export const sha256: BlockHash = {
  blockWords: 16,
  digestWords: 8,
  lengthWords: 2,
  // Initial hash value H(0): the first 32 bits of the fractional parts of the square roots of the first
  // 8 primes (FIPS 180-4 section 5.3.3).
  // biome-ignore format: a table laid out as in FIPS 180-4
  initial: Int32Array.of(
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ),
  compress,
};
