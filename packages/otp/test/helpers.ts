import { createHmac } from 'node:crypto';
import type { Algorithm } from '../src/index.js';

export const encoder = new TextEncoder();

/** RFC 6238 appendix B seeds, one per hash (errata 2866). */
export const RFC_SEEDS: Record<Algorithm, Uint8Array> = {
  SHA1: encoder.encode('12345678901234567890'),
  SHA256: encoder.encode('12345678901234567890123456789012'),
  SHA512: encoder.encode(`${'1234567890'.repeat(6)}1234`),
};

/** HOTP computed directly with node:crypto and BigInt: the reference the library must agree with. */
export function referenceHotp(
  algorithm: Algorithm,
  key: Uint8Array,
  counter: number,
  digits: number,
): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const value = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(value % 10 ** digits).padStart(digits, '0');
}

/**
 * A small seeded PRNG (mulberry32) so that random cases are reproducible: the seed comes from
 * OTP_TEST_SEED when set, and the test prints it.
 */
export function seededRandom(seed: number): {
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(size: number): Uint8Array;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    bytes: (size) => Uint8Array.from({ length: size }, () => Math.floor(next() * 256)),
  };
}

/** The seed for random cases: OTP_TEST_SEED, or a fixed default. */
export const TEST_SEED = Number(process.env.OTP_TEST_SEED ?? 20261101);
