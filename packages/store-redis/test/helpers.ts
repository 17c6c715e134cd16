import { randomBytes } from 'node:crypto';
import type { PendingAuthenticator, Store, WebAuthnCredentialRecord } from '@twofold/core';
import { missing } from '@twofold/test-support';
import type { Cluster, Redis } from 'ioredis';
import tap from 'tap';

export { freePort, hasCommand, isListening, tempDir } from '@twofold/test-support';
export {
  type LocalCluster,
  type RedisServer,
  startLocalCluster,
  startRedisServer,
  waitForReady,
} from '@twofold/test-support/redis';

export const SHARED_REDIS = { host: '127.0.0.1', port: 6379 } as const;

/** What a Redis test file does when what it needs is missing: a skip naming it, or a failure under CI. */
export function reportMissing(reason: string): void {
  missing(tap, reason);
}

/** Every key under `prefix` on one server (SCAN, never KEYS). */
export async function scanKeys(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Every key under `prefix` on every master of the cluster. */
export async function scanClusterKeys(cluster: Cluster, prefix: string): Promise<string[]> {
  const perNode = await Promise.all(cluster.nodes('master').map((node) => scanKeys(node, prefix)));
  return perNode.flat();
}

/** The commands {@link keysThatNeverExpire} reads; a Redis and a Cluster both have them. */
interface KeyReader {
  pttl(key: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  smembers(key: string): Promise<string[]>;
}

/**
 * The keys among `keys` that have no TTL although they should: only an active authenticator, the
 * index of a user with an active authenticator and that user's recovery codes may live forever.
 */
export async function keysThatNeverExpire(client: KeyReader, keys: readonly string[]): Promise<string[]> {
  const offending: string[] = [];
  for (const key of keys) {
    if ((await client.pttl(key)) !== -1) continue;
    const userBase = key.slice(0, key.indexOf('}:') + 2);
    const rest = key.slice(userBase.length);
    const activeIn = async (ids: readonly string[]) => {
      for (const id of ids) {
        if ((await client.hget(`${userBase}a:${id}`, 'status')) === 'active') return true;
      }
      return false;
    };
    let allowed = false;
    if (rest.startsWith('a:')) allowed = (await client.hget(key, 'status')) === 'active';
    else if (rest === 'ai') allowed = await activeIn(await client.smembers(key));
    else if (rest === 'rc') allowed = await activeIn(await client.smembers(`${userBase}ai`));
    if (!allowed) offending.push(key);
  }
  return offending;
}

/** The hash tag of a key: what stands between its first `{` and the next `}`. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  return key.slice(open + 1, key.indexOf('}', open));
}

/** A pending TOTP authenticator record of `userId`, expiring `lifetimeMs` after `now`. */
export function pendingRecord(
  userId: string,
  id: string,
  now: number,
  lifetimeMs = 600_000,
  name: string | null = null,
): PendingAuthenticator {
  return {
    type: 'totp',
    userId,
    id,
    name,
    status: 'pending',
    sealedSecret: `sealed-${id}`,
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    lastCounter: -1,
    createdAt: now,
    confirmedAt: null,
    lastUsedAt: null,
    expiresAt: now + lifetimeMs,
  };
}

/** A WebAuthn credential of `userId` registered at `now`, with a fresh random credential id. */
export function webAuthnRecord(
  userId: string,
  id: string,
  now: number,
  overrides: Partial<WebAuthnCredentialRecord> = {},
): WebAuthnCredentialRecord {
  return {
    type: 'webauthn',
    userId,
    id,
    name: `Key ${id}`,
    credentialId: randomBytes(32).toString('base64url'),
    publicKey: randomBytes(77).toString('base64url'),
    counter: 0,
    transports: ['usb', 'nfc'],
    aaguid: '00000000-0000-0000-0000-000000000000',
    backupEligible: false,
    backupState: false,
    createdAt: now,
    lastUsedAt: null,
    ...overrides,
  };
}

/** What confirmAuthenticator takes to activate {@link pendingRecord}'s `id` at `now`. */
export function confirmInput(id: string, now: number, recoveryCodeHashes = ['h1', 'h2'], maxActive = 10) {
  return { sealedSecret: `sealed-${id}`, counter: 1, recoveryCodeHashes, maxActive, now };
}

/**
 * Writes one key of every kind for `userId`: an active TOTP authenticator with recovery codes, a
 * WebAuthn credential, a pending TOTP authenticator, a counter and two nonces.
 */
export async function writeEveryKind(store: Store, userId: string, now: number): Promise<void> {
  await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
  const confirmed = await store.confirmAuthenticator(userId, 'totp', confirmInput('totp', now));
  if (confirmed !== 'enabled') throw new Error(`writeEveryKind: confirmAuthenticator resolved ${confirmed}`);
  const added = await store.addWebAuthnCredential(webAuthnRecord(userId, 'key', now), {
    recoveryCodeHashes: ['h3'],
    maxActive: 10,
    now,
  });
  if (added !== 'added') throw new Error(`writeEveryKind: addWebAuthnCredential resolved ${added}`);
  await store.savePendingAuthenticator(pendingRecord(userId, 'tablet', now), now);
  await store.incrementCounter(userId, 'failures', 900_000, now);
  await store.putNonce(userId, 'recovery', 'token-hash', now + 3_600_000, now);
  await store.claimNonce(userId, 'challenge:1', 'spent', now + 300_000, now);
}

/** Where the keys of `userId` start: the prefix, then the id's UTF-16 code units in base64url as hash tag. */
export function userKeyBase(prefix: string, userId: string): string {
  return `${prefix}{${Buffer.from(userId, 'utf16le').toString('base64url')}}:`;
}
