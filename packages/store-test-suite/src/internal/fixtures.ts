import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type {
  AddAuthenticatorOutcome,
  AddWebAuthnCredentialInput,
  AuthenticatorRecord,
  ConfirmAuthenticatorInput,
  CounterState,
  PendingAuthenticator,
  WebAuthnCredentialRecord,
} from '@twofold/core';
import type { Test } from 'tap';
import type { BehaviourEnv } from './behaviour.js';
import { readAuthenticator, readList } from './reads.js';

// The records, values and setup steps the behaviours share. Lifetimes are odd numbers of
// milliseconds, so that a store which rounds to seconds fails.

/** How long the suite's pending enrollments live. */
export const PENDING_TTL_MS = 600_007;

/** How long the suite's nonces live. */
export const NONCE_LIFETIME_MS = 300_007;

/** The ttl of the suite's failure counters. */
export const COUNTER_TTL_MS = 900_123;

/**
 * The `maxActive` the suite passes when a behaviour is not about the limit: more active
 * authenticators than any such behaviour gives one user.
 */
export const MAX_ACTIVE = 10;

/** The aaguid of a credential whose authenticator was not attested. */
export const ZERO_AAGUID = '00000000-0000-0000-0000-000000000000';

/** The longest credential id a WebAuthn credential can have: 1,023 bytes in base64url. */
export const MAX_CREDENTIAL_ID_LENGTH = 1_366;

/**
 * Authenticator names a store must keep exactly: accents, an apostrophe, emoji and CJK; 64 two-byte
 * characters (the longest name, 128 bytes of UTF-8); 32 emoji (64 UTF-16 code units).
 */
export const NAMES: readonly string[] = ["Zoë's iPhone 📱 東京", '\u00e9'.repeat(64), '😀'.repeat(32)];

/** A stand-in for a sealed secret: an opaque ASCII string of `length` characters. */
export function sealedSecret(length = 64): string {
  let text = 'v1.k1.';
  while (text.length < length) text += randomBytes(48).toString('base64url');
  return text.slice(0, length);
}

/** `length` random base64url characters: a stand-in for a credential id or a public key. */
export function base64url(length: number): string {
  let text = '';
  while (text.length < length) text += randomBytes(96).toString('base64url');
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
    type: 'totp',
    userId,
    id: 'totp',
    name: 'Phone',
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

/**
 * A WebAuthn credential of `userId` registered at `now`, as the engine writes it: a fresh
 * authenticator id and credential id (32 bytes), an EC2 public key, counter 0, timestamps that are
 * not whole seconds.
 */
export function webAuthnRecord(
  userId: string,
  now: number,
  overrides: Partial<WebAuthnCredentialRecord> = {},
): WebAuthnCredentialRecord {
  return {
    type: 'webauthn',
    userId,
    id: `key-${randomBytes(6).toString('hex')}`,
    name: 'Security key',
    credentialId: base64url(43),
    publicKey: base64url(103),
    counter: 0,
    transports: ['usb', 'nfc'],
    aaguid: 'ee882879-721c-4913-9775-3dfcce97072a',
    backupEligible: false,
    backupState: false,
    createdAt: now + 456,
    lastUsedAt: null,
    ...overrides,
  };
}

/** A copy of `record` that shares nothing with it (the transports array included). */
export function copyCredential(record: WebAuthnCredentialRecord): WebAuthnCredentialRecord {
  return { ...record, transports: [...record.transports] };
}

/** Throws when a setup step did not succeed, so the test fails with what went wrong. */
export function must(ok: boolean, step: string): void {
  if (!ok) throw new Error(`setup step failed: ${step} resolved false`);
}

/** Throws unless a setup step that adds an active authenticator added it (`enabled` or `added`). */
export function mustAdd(outcome: AddAuthenticatorOutcome, step: string): void {
  if (outcome !== 'enabled' && outcome !== 'added') {
    throw new Error(`setup step failed: ${step} resolved ${JSON.stringify(outcome)}`);
  }
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
  /** The recovery code hashes confirm was given: the user's codes when `outcome` is `enabled`. */
  codes: string[];
  outcome: AddAuthenticatorOutcome;
}

/**
 * Enrolls and confirms an authenticator (id default `'totp'`, the suite's name unless `name` is
 * given) with `codes` recovery code hashes (default 10) at time step `counter` (default 1000), and
 * reads the stored record back. The codes are stored only when it is
 * the user's first active authenticator (`outcome` is `enabled`).
 */
export async function activate(
  env: BehaviourEnv,
  userId: string,
  options: {
    id?: string;
    counter?: number;
    codes?: string[];
    sealedSecret?: string;
    name?: string | null;
  } = {},
): Promise<ActiveSetup> {
  const id = options.id ?? 'totp';
  const codes = options.codes ?? recoveryHashes(10);
  const pending = await enroll(env, userId, {
    id,
    ...(options.sealedSecret ? { sealedSecret: options.sealedSecret } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
  });
  const input = confirmation(env, pending.sealedSecret, { counter: options.counter ?? 1000, codes });
  const outcome = await env.store.confirmAuthenticator(userId, id, input);
  mustAdd(outcome, 'confirmAuthenticator');
  const record = await env.store.getAuthenticator(userId, id, env.clock.now());
  if (!record) throw new Error('setup step failed: getAuthenticator resolved null after confirm');
  // A snapshot, so that a store which hands out its own objects cannot change the expectation.
  return { record: { ...record }, codes, outcome };
}

export interface CredentialSetup {
  record: WebAuthnCredentialRecord;
  /** The recovery code hashes it was added with: the user's codes when `outcome` is `enabled`. */
  codes: string[];
  outcome: AddAuthenticatorOutcome;
}

/**
 * Adds a WebAuthn credential (the suite's defaults with `overrides`) with `codes` recovery code
 * hashes (default 10), and fails the test unless the store added it. The codes are stored only when
 * it is the user's first active authenticator (`outcome` is `enabled`).
 */
export async function register(
  env: BehaviourEnv,
  userId: string,
  overrides: Partial<WebAuthnCredentialRecord> = {},
  options: { codes?: string[]; maxActive?: number } = {},
): Promise<CredentialSetup> {
  const record = webAuthnRecord(userId, env.clock.now(), overrides);
  const codes = options.codes ?? recoveryHashes(10);
  const outcome = await env.store.addWebAuthnCredential(
    copyCredential(record),
    registration(env, { codes, maxActive: options.maxActive }),
  );
  mustAdd(outcome, 'addWebAuthnCredential');
  return { record, codes, outcome };
}

/**
 * What `confirmAuthenticator` takes to confirm `sealedSecret` now: at time step `counter` (default
 * 5) with `codes` as the recovery code hashes (default three fresh ones) and `maxActive` (default
 * {@link MAX_ACTIVE}).
 */
export function confirmation(
  env: BehaviourEnv,
  sealedSecret: string,
  options: { counter?: number; codes?: string[]; maxActive?: number } = {},
): ConfirmAuthenticatorInput & { recoveryCodeHashes: string[] } {
  return {
    sealedSecret,
    counter: options.counter ?? 5,
    recoveryCodeHashes: options.codes ?? recoveryHashes(3),
    maxActive: options.maxActive ?? MAX_ACTIVE,
    now: env.clock.now(),
  };
}

/**
 * What `addWebAuthnCredential` takes besides the record, now: `codes` as the recovery code hashes
 * (default three fresh ones) and `maxActive` (default {@link MAX_ACTIVE}).
 */
export function registration(
  env: BehaviourEnv,
  options: { codes?: string[]; maxActive?: number } = {},
): AddWebAuthnCredentialInput & { recoveryCodeHashes: string[] } {
  return {
    recoveryCodeHashes: options.codes ?? recoveryHashes(3),
    maxActive: options.maxActive ?? MAX_ACTIVE,
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

/** The counter part of a state takeAttempt resolved (what getCounter reads while it stands). */
export function counterOf({ count, expiresAt }: CounterState): CounterState {
  return { count, expiresAt };
}

/** One step that consumeCounter refuses: the user, the authenticator id, the step, and why. */
export type RefusedStep = readonly [userId: string, authenticatorId: string, counter: number, label: string];

/**
 * The steps consumeCounter refuses, and the operations that stand for it (consumeCounterAndReset,
 * finishSecondFactor) must refuse too: an equal or lower step, a missing authenticator, a WebAuthn
 * credential, a pending authenticator, a user without authenticators. `unchanged` then checks that
 * none of the records involved changed and that nothing was created.
 */
export async function refusedSteps(
  env: BehaviourEnv,
): Promise<{ cases: readonly RefusedStep[]; unchanged(t: Test): Promise<void> }> {
  const userId = env.userId();
  const { record } = await activate(env, userId, { counter: 100 });
  const { record: credential } = await register(env, userId);
  const pendingUser = env.userId();
  const pending = await enroll(env, pendingUser);
  const stranger = env.userId();
  env.clock.advance(1_000);
  const cases: readonly RefusedStep[] = [
    [userId, 'totp', 100, 'the same step'],
    [userId, 'totp', 99, 'a lower step'],
    [userId, 'tablet', 101, 'a missing authenticator'],
    [userId, credential.id, 101, 'a WebAuthn credential'],
    [pendingUser, 'totp', 5, 'a pending authenticator'],
    [stranger, 'totp', 5, 'a user without authenticators'],
  ];
  return {
    cases,
    async unchanged(t) {
      t.strictSame(await readAuthenticator(env, userId), record, 'the active authenticator unchanged');
      t.strictSame(
        (await readList(env, userId)).find((other) => other.id === credential.id),
        credential,
        'the WebAuthn credential unchanged',
      );
      t.strictSame(await readAuthenticator(env, pendingUser), pending, 'the pending authenticator unchanged');
      t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'nothing created');
    },
  };
}
