import { randomFillSync } from 'node:crypto';

/** A source of random bytes: returns exactly `size` bytes. Tests pass a seeded one. */
export type RandomBytes = (size: number) => Uint8Array;

/** Bytes drawn from the CSPRNG at once: one system call serves many small requests. */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

/**
 * The default random source: node:crypto's CSPRNG, through a pool as node:crypto's own randomUUID
 * does (a call per 16-byte token id cost a sixth of a login's CPU). Each request gets its own
 * copy; the pool bytes it came from are zeroed, so no value is ever handed out twice.
 */
export const cryptoRandom: RandomBytes = (size) => {
  if (size > POOL_BYTES / 4) return randomFillSync(new Uint8Array(size));
  if (poolOffset + size > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.slice(poolOffset, poolOffset + size);
  pool.fill(0, poolOffset, poolOffset + size);
  poolOffset += size;
  return bytes;
};

/** Calls `random` and checks it kept its contract, so a broken source fails loudly, never weakly. */
export function takeRandom(random: RandomBytes, size: number): Uint8Array {
  const bytes = random(size);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== size) {
    throw new TypeError(`random source must return a Uint8Array of ${size} bytes`);
  }
  return bytes;
}

/** Checks a `random` option at setup; undefined means {@link cryptoRandom}. */
export function randomOption(name: string, random: unknown): RandomBytes {
  if (random === undefined) return cryptoRandom;
  if (typeof random !== 'function') {
    throw new TypeError(`${name}: random must be a function (size: number) => Uint8Array`);
  }
  return random as RandomBytes;
}
