import type { BlockHash } from './block-hash.js';

/**
 * SHA-512 works on 64-bit words. To stay on fast 32-bit integer arithmetic (and off BigInt), every 64-bit
 * word is a pair of 32-bit words, high half first, exactly as the bytes appear in big-endian order.
 *
 * Rotations by n bits mix the two halves (by n - 32 with the halves swapped when n >= 32).
 * Additions of several 64-bit words: the low halves are summed as unsigned numbers, which is exact in a
 * double (a handful of terms below 2^32 each), the high halves are summed with 32-bit wrap-around, and the
 * carries out of the low sum, floor(sum / 2^32), are added to the high half once, at the end. Compared
 * with carrying after every term this keeps the dependency chains short and has no branches.
 */

/** Number of rounds, and of 64-bit words in the message schedule. */
const ROUNDS = 80;

/** 2^-32: multiplying an exact sum of low halves by it gives the carries into the high half. */
const INVERSE_TWO_POW_32 = 1 / 0x100000000;

/**
 * Round constants K(0..79) as hi/lo pairs: the first 64 bits of the fractional parts of the cube roots
 * of the first 80 primes (FIPS 180-4 section 4.2.3).
 */
// biome-ignore format: a table laid out as in FIPS 180-4
export const ROUND_CONSTANTS = Int32Array.of(
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
);

/** Message schedule W(0..79) as hi/lo pairs, shared by every call: compression never re-enters itself. */
const schedule = new Int32Array(ROUNDS * 2);

/** The carries out of a sum of unsigned low halves (non-negative, below 2^53): floor(sum / 2^32). */
function carries(lowSum: number): number {
  return (lowSum * INVERSE_TWO_POW_32) | 0;
}

/** SHA-512 compression of one 1024-bit block (FIPS 180-4 section 6.4.2, steps 1 to 4). */
function compress(out: Int32Array, state: Int32Array, block: Int32Array): void {
  const w = schedule;
  const k = ROUND_CONSTANTS;
  // Step 1: the message schedule, W(t) = sigma1(W(t-2)) + W(t-7) + sigma0(W(t-15)) + W(t-16).
  // Index i = 2t holds the high half of W(t), i + 1 the low half.
  for (let i = 0; i < 32; i++) w[i] = block[i]!;
  for (let i = 32; i < ROUNDS * 2; i += 2) {
    // sigma1(x) = ROTR19(x) ^ ROTR61(x) ^ SHR6(x), with x = W(t-2)
    let xHi = w[i - 4]!;
    let xLo = w[i - 3]!;
    const sigma1Hi = ((xHi >>> 19) | (xLo << 13)) ^ ((xLo >>> 29) | (xHi << 3)) ^ (xHi >>> 6);
    const sigma1Lo = ((xLo >>> 19) | (xHi << 13)) ^ ((xHi >>> 29) | (xLo << 3)) ^ ((xLo >>> 6) | (xHi << 26));
    // sigma0(x) = ROTR1(x) ^ ROTR8(x) ^ SHR7(x), with x = W(t-15)
    xHi = w[i - 30]!;
    xLo = w[i - 29]!;
    const sigma0Hi = ((xHi >>> 1) | (xLo << 31)) ^ ((xHi >>> 8) | (xLo << 24)) ^ (xHi >>> 7);
    const sigma0Lo = ((xLo >>> 1) | (xHi << 31)) ^ ((xLo >>> 8) | (xHi << 24)) ^ ((xLo >>> 7) | (xHi << 25));
    // W(t-7) is at i - 14, W(t-16) at i - 32.
    const lowSum = (sigma1Lo >>> 0) + (w[i - 13]! >>> 0) + (sigma0Lo >>> 0) + (w[i - 31]! >>> 0);
    w[i] = (sigma1Hi + w[i - 14]! + sigma0Hi + w[i - 32]! + carries(lowSum)) | 0;
    w[i + 1] = lowSum | 0;
  }

  // Step 2: working variables start from the previous state.
  let aHi = state[0]!;
  let aLo = state[1]!;
  let bHi = state[2]!;
  let bLo = state[3]!;
  let cHi = state[4]!;
  let cLo = state[5]!;
  let dHi = state[6]!;
  let dLo = state[7]!;
  let eHi = state[8]!;
  let eLo = state[9]!;
  let fHi = state[10]!;
  let fLo = state[11]!;
  let gHi = state[12]!;
  let gLo = state[13]!;
  let hHi = state[14]!;
  let hLo = state[15]!;

  // Step 3: T1 = h + Sigma1(e) + Ch(e, f, g) + K(t) + W(t), T2 = Sigma0(a) + Maj(a, b, c),
  // then e = d + T1 and a = T1 + T2. T1 and T2 stay unreduced (low sums, high halves without their carries)
  // until they are added into e and a.
  for (let i = 0; i < ROUNDS * 2; i += 2) {
    // Sigma1(e) = ROTR14(e) ^ ROTR18(e) ^ ROTR41(e)
    const sum1Hi = ((eHi >>> 14) | (eLo << 18)) ^ ((eHi >>> 18) | (eLo << 14)) ^ ((eLo >>> 9) | (eHi << 23));
    const sum1Lo = ((eLo >>> 14) | (eHi << 18)) ^ ((eLo >>> 18) | (eHi << 14)) ^ ((eHi >>> 9) | (eLo << 23));
    // Ch(e, f, g) = (e & f) ^ (~e & g), written as g ^ (e & (f ^ g))
    const chooseHi = gHi ^ (eHi & (fHi ^ gHi));
    const chooseLo = gLo ^ (eLo & (fLo ^ gLo));
    // h + K(t) + W(t) does not depend on e, so it is summed apart from the Sigma1 and Ch terms.
    const t1LowSum =
      (hLo >>> 0) + (k[i + 1]! >>> 0) + (w[i + 1]! >>> 0) + ((sum1Lo >>> 0) + (chooseLo >>> 0));
    const t1Hi = (hHi + k[i]! + w[i]! + (sum1Hi + chooseHi)) | 0;

    // Sigma0(a) = ROTR28(a) ^ ROTR34(a) ^ ROTR39(a)
    const sum0Hi = ((aHi >>> 28) | (aLo << 4)) ^ ((aLo >>> 2) | (aHi << 30)) ^ ((aLo >>> 7) | (aHi << 25));
    const sum0Lo = ((aLo >>> 28) | (aHi << 4)) ^ ((aHi >>> 2) | (aLo << 30)) ^ ((aHi >>> 7) | (aLo << 25));
    // Maj(a, b, c) = (a & b) ^ (a & c) ^ (b & c), written as (a & b) | (c & (a | b))
    const majorityHi = (aHi & bHi) | (cHi & (aHi | bHi));
    const majorityLo = (aLo & bLo) | (cLo & (aLo | bLo));
    const t2LowSum = (sum0Lo >>> 0) + (majorityLo >>> 0);
    const t2Hi = (sum0Hi + majorityHi) | 0;

    hHi = gHi;
    hLo = gLo;
    gHi = fHi;
    gLo = fLo;
    fHi = eHi;
    fLo = eLo;
    // e = d + T1
    const eLowSum = (dLo >>> 0) + t1LowSum;
    eHi = (dHi + t1Hi + carries(eLowSum)) | 0;
    eLo = eLowSum | 0;
    dHi = cHi;
    dLo = cLo;
    cHi = bHi;
    cLo = bLo;
    bHi = aHi;
    bLo = aLo;
    // a = T1 + T2
    const aLowSum = t1LowSum + t2LowSum;
    aHi = (t1Hi + t2Hi + carries(aLowSum)) | 0;
    aLo = aLowSum | 0;
  }

  // Step 4: the intermediate hash value H(i) = H(i-1) + (a, ..., h), each a 64-bit addition.
  add64(out, state, 0, aHi, aLo);
  add64(out, state, 2, bHi, bLo);
  add64(out, state, 4, cHi, cLo);
  add64(out, state, 6, dHi, dLo);
  add64(out, state, 8, eHi, eLo);
  add64(out, state, 10, fHi, fLo);
  add64(out, state, 12, gHi, gLo);
  add64(out, state, 14, hHi, hLo);
}

/** out[i, i + 1] = state[i, i + 1] + (hi, lo), modulo 2^64. */
function add64(out: Int32Array, state: Int32Array, i: number, hi: number, lo: number): void {
  const lowSum = (state[i + 1]! >>> 0) + (lo >>> 0);
  out[i] = (state[i]! + hi + carries(lowSum)) | 0;
  out[i + 1] = lowSum | 0;
}

/** SHA-512 (FIPS 180-4 section 6.4): 1024-bit blocks, 512-bit digest. */
export const sha512: BlockHash = {
  blockWords: 32,
  digestWords: 16,
  lengthWords: 4,
  // Initial hash value H(0) as hi/lo pairs: the first 64 bits of the fractional parts of the square roots
  // of the first 8 primes (FIPS 180-4 section 5.3.5).
  // biome-ignore format: a table laid out as in FIPS 180-4
  initial: Int32Array.of(
    0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
    0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
  ),
  compress,
};
