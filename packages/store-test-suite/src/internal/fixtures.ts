import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AuthenticatorRecord, ConfirmAuthenticatorInput, PendingAuthenticator } from '@twofold/core';
import type { BehaviourEnv } from './behaviour.js';

// The records, values and setup steps the behaviours share. Lifetimes are odd numbers of
// milliseconds, so that a store which rounds to seconds fails.

/** How long the suite's pending enrollments live. */
export const PENDING_TTL_MS = 600_007;

/** How long the suite's nonces live. */
export const NONCE_LIFETIME_MS = 300_007;

/** The ttl of the suite's failure counters. */
export const COUNTER_TTL_MS = 900_123;

/** A stand-in for a sealed secret: an opaque ASCII string of `length` characters. */
export function sealedSecret(length = 64): string {
  let text = 'v1.k1.';
  while (text.length < length) text += randomBytes(48).toString('base64url');
  return text.slice(0, length);
}

/** `count` distinct stand-ins for keyed recovery code hashes (64 hex characters each). */
export function recoveryHashes(count: number): string[] {
  const seed = randomUUID();
  return Array.from({ length: count }, (_, index) =>
    createHash('sha256').update(`${seed}/${index}`).digest('hex'),
  );
}

/** A stand-in for a nonce value (a hashed token id): 43 base64url characters. */
export function nonceValue(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A pending authenticator for `userId` written at `now`, with timestamps that are not whole seconds
 * so that a store which rounds them fails the round-trip checks.
 */
export function pendingRecord(
  userId: string,
  now: number,
  overrides: Partial<PendingAuthenticator> = {},
): PendingAuthenticator {
  return {
    userId,
    id: 'totp',
    status: 'pending',
    sealedSecret: sealedSecret(),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    lastCounter: -1,
    createdAt: now + 123,
    confirmedAt: null,
    lastUsedAt: null,
    expiresAt: now + PENDING_TTL_MS,
    ...overrides,
  };
}

/** Throws when a setup step did not succeed, so the test fails with what went wrong. */
export function must(ok: boolean, step: string): void {
  if (!ok) throw new Error(`setup step failed: ${step} resolved false`);
}

/** Writes a pending authenticator and fails the test when the store refuses it. */
export async function enroll(
  env: BehaviourEnv,
  userId: string,
  overrides: Partial<PendingAuthenticator> = {},
): Promise<PendingAuthenticator> {
  const record = pendingRecord(userId, env.clock.now(), overrides);
  must(await env.store.savePendingAuthenticator({ ...record }, env.clock.now()), 'savePendingAuthenticator');
  return record;
}

export interface ActiveSetup {
  record: AuthenticatorRecord;
  codes: string[];
}

/**
 * Enrolls and confirms an authenticator with `codes` recovery code hashes (default 10) at time step
 * `counter` (default 1000), and reads the stored record back.
 */
export async function activate(
  env: BehaviourEnv,
  userId: string,
  options: { id?: string; counter?: number; codes?: string[]; sealedSecret?: string } = {},
): Promise<ActiveSetup> {
  const id = options.id ?? 'totp';
  const codes = options.codes ?? recoveryHashes(10);
  const pending = await enroll(env, userId, {
    id,
    ...(options.sealedSecret ? { sealedSecret: options.sealedSecret } : {}),
  });
  const input = confirmation(env, pending.sealedSecret, { counter: options.counter ?? 1000, codes });
  must(await env.store.confirmAuthenticator(userId, id, input), 'confirmAuthenticator');
  const record = await env.store.getAuthenticator(userId, id, env.clock.now());
  if (!record) throw new Error('setup step failed: getAuthenticator resolved null after confirm');
  // A snapshot, so that a store which hands out its own objects cannot change the expectation.
  return { record: { ...record }, codes };
}

/**
 * What `confirmAuthenticator` takes to confirm `sealedSecret` now: at time step `counter` (default
 * 5) with `codes` as the recovery code hashes (default three fresh ones).
 */
export function confirmation(
  env: BehaviourEnv,
  sealedSecret: string,
  options: { counter?: number; codes?: string[] } = {},
): ConfirmAuthenticatorInput & { recoveryCodeHashes: string[] } {
  return {
    sealedSecret,
    counter: options.counter ?? 5,
    recoveryCodeHashes: options.codes ?? recoveryHashes(3),
    now: env.clock.now(),
  };
}

/** Puts a fresh value as the user's nonce `key`, live for `lifetimeMs` from now; resolves the value. */
export async function issueNonce(
  env: BehaviourEnv,
  userId: string,
  key: string,
  lifetimeMs: number = NONCE_LIFETIME_MS,
): Promise<string> {
  const value = nonceValue();
  await env.store.putNonce(userId, key, value, env.clock.now() + lifetimeMs, env.clock.now());
  return value;
}

/** Counts `times` failures now on the user's counter `'failures'`, each with the suite's ttl. */
export async function countFailures(env: BehaviourEnv, userId: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await env.store.incrementCounter(userId, 'failures', COUNTER_TTL_MS, env.clock.now());
  }
}
