/**
 * Password hashing with scrypt from node:crypto. The stored form carries its parameters, so they
 * can be raised later without breaking existing hashes: `scrypt$N$r$p$<salt b64>$<hash b64>`.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

/** Cost parameters: N = 2^15, r = 8, p = 1 (32 MiB, tens of ms per hash on a server core). */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const MAX_N = 2 ** 17;

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      password.normalize('NFC'),
      salt,
      HASH_BYTES,
      { N, r, p, maxmem: 256 * N * r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(password, salt, COST.N, COST.r, COST.p);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/**
 * Checks a password against a stored hash, comparing in constant time. A malformed stored hash
 * is a mismatch, never an exception.
 */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isSafeInteger) || N < 2 || N > MAX_N || r < 1 || r > 16 || p < 1 || p > 16) {
    return false;
  }
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length !== HASH_BYTES) return false;
  const actual = await scrypt(password, salt, N, r, p);
  return timingSafeEqual(actual, expected);
}
