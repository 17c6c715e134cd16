/**
 * Importing an authenticator from another 2FA system: the user's app keeps working, with its secret
 * sealed by the keyring, its replay state carried over, and the user's old recovery codes (stored
 * as hashes) still usable. Written through the same two store steps as an enrollment: a pending
 * record under an id derived from `source`, then the atomic activation that turns 2FA on with the
 * codes. An interrupted import leaves at most a pending record that the next run replaces; running
 * it again finds the active record and changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeSecret, isAlgorithm, OTP_LIMITS } from '@twofold/otp';
import { AuthenticatorLimitError, InvalidInputError, StoreUnavailableError } from './errors.js';
import { activeTotp, isActive } from './internal/authenticator-state.js';
import type { Keyring } from './keyring.js';
import { hashImportedCode, normalizeImportedCode } from './recovery-codes.js';
import type { AuthenticatorAlgorithm, Store } from './store.js';

/** What {@link TwoFactor.importAuthenticator} takes: the authenticator as the other system held it. */
export interface ImportAuthenticatorInput {
  /**
   * Names the authenticator in the system it comes from, unique for the user and the same on every
   * run (`django-otp:totp:17`): importing the same source twice changes nothing. 1-255 characters.
   */
  source: string;
  /** The shared secret: bytes, or base32 as other systems write it (any case, spaces, padding). */
  secret: Uint8Array | string;
  /** Default `SHA1`. */
  algorithm?: AuthenticatorAlgorithm;
  /** 6-10; default 6. */
  digits?: number;
  /** Step length in seconds, 1-3600; default 30. */
  period?: number;
  /** Unix time (seconds) of step 0. Only 0, the value of every standard TOTP, is supported. */
  t0?: number;
  /** The last time step the old system accepted: codes up to it are refused as replays. Default -1 (none). */
  lastCounter?: number;
  /** What the user calls it (1-64 characters); default "Authenticator app". */
  name?: string;
  /**
   * The user's unused recovery (backup, static) codes from the old system, 6-64 letters and digits
   * each (separators and case ignored), at most 100: stored as keyed hashes, each usable once. Written
   * only when the import turns 2FA on; a user who already has 2FA keeps the codes they have.
   */
  recoveryCodes?: readonly string[];
}

/** What an import did. */
export interface ImportedAuthenticator {
  authenticatorId: string;
  /**
   * `enabled`: the user's first authenticator, 2FA is now on; `added`: the user already had 2FA;
   * `unchanged`: this source was imported before (nothing written).
   */
  outcome: 'enabled' | 'added' | 'unchanged';
  /** How many recovery codes were written (0 unless `enabled`). */
  recoveryCodes: number;
}

/** A validated import, ready to write. */
export interface CheckedImport {
  authenticatorId: string;
  source: string;
  secret: Uint8Array;
  algorithm: AuthenticatorAlgorithm;
  digits: number;
  period: number;
  lastCounter: number;
  name: string | null;
  recoveryCodes: string[];
}

const MAX_SOURCE_LENGTH = 255;
const MAX_IMPORTED_CODES = 100;

/**
 * The authenticator id an import writes: `i_` and 22 base64url characters of SHA-256(source), so
 * the same source always lands on the same record of the user.
 */
export function importedAuthenticatorId(source: string): string {
  return `i_${createHash('sha256').update(source, 'utf8').digest('base64url').slice(0, 22)}`;
}

function wholeIn(field: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidInputError(field, `${field} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function checkSecret(secret: unknown): Uint8Array {
  if (!(secret instanceof Uint8Array) && typeof secret !== 'string') {
    throw new InvalidInputError('secret', 'secret must be bytes or a base32 string');
  }
  try {
    return decodeSecret(secret, { minBytes: OTP_LIMITS.minSecretBytesFloor });
  } catch {
    // The reason, never the value: it is a secret.
    throw new InvalidInputError(
      'secret',
      `secret must be base32 (or bytes) of at least ${OTP_LIMITS.minSecretBytesFloor} bytes`,
    );
  }
}

function checkCodes(codes: unknown): string[] {
  if (codes === undefined) return [];
  if (!Array.isArray(codes) || codes.length > MAX_IMPORTED_CODES) {
    throw new InvalidInputError(
      'recoveryCodes',
      `recoveryCodes must be a list of at most ${MAX_IMPORTED_CODES} codes`,
    );
  }
  const normalized = new Set<string>();
  for (const code of codes) {
    const one = normalizeImportedCode(code);
    if (one === null) {
      throw new InvalidInputError('recoveryCodes', 'each recovery code must be 6-64 letters and digits');
    }
    normalized.add(one);
  }
  return [...normalized];
}

/**
 * Checks an import's input; an {@link InvalidInputError} names the field (never echoing a secret).
 * `checkName` is the engine's check of a user-given name.
 */
export function checkImport(input: unknown, checkName: (name: unknown) => string): CheckedImport {
  if (typeof input !== 'object' || input === null) {
    throw new InvalidInputError('source', 'pass the authenticator to import: { source, secret, ... }');
  }
  const given = input as Partial<Record<keyof ImportAuthenticatorInput, unknown>>;
  const { source } = given;
  if (typeof source !== 'string' || source.length === 0 || source.length > MAX_SOURCE_LENGTH) {
    throw new InvalidInputError(
      'source',
      `source must be 1-${MAX_SOURCE_LENGTH} characters naming the authenticator`,
    );
  }
  const algorithm = given.algorithm ?? 'SHA1';
  if (!isAlgorithm(algorithm)) {
    throw new InvalidInputError('algorithm', 'algorithm must be SHA1, SHA256 or SHA512');
  }
  if (given.t0 !== undefined && given.t0 !== 0) {
    throw new InvalidInputError('t0', 't0 must be 0: TOTP with another start time is not supported');
  }
  return {
    authenticatorId: importedAuthenticatorId(source),
    source,
    secret: checkSecret(given.secret),
    algorithm,
    digits: wholeIn('digits', given.digits, OTP_LIMITS.minDigits, OTP_LIMITS.maxDigits, 6),
    period: wholeIn('period', given.period, OTP_LIMITS.minPeriod, OTP_LIMITS.maxPeriod, 30),
    lastCounter: wholeIn('lastCounter', given.lastCounter, -1, Number.MAX_SAFE_INTEGER, -1),
    name: given.name === undefined ? null : checkName(given.name),
    recoveryCodes: checkCodes(given.recoveryCodes),
  };
}

/** What writing an import needs from the engine. */
export interface ImportContext {
  store: Store;
  keyring: Keyring;
  now: number;
  maxActive: number;
  /** How long the pending record between the two steps may live. */
  pendingTtlMs: number;
  /** Check and read only: resolve what the import would do, write nothing. */
  dryRun?: boolean;
}

/** How often a write goes round when something replaced its pending record (a user's own enrollment). */
const MAX_ROUNDS = 3;
/**
 * Imports of one user take turns under a nonce held while they write (claimed set-if-absent, so
 * across processes too): the pending record of one would otherwise replace another's. A holder
 * that dies releases it by expiry.
 */
const LOCK_KEY = 'import-lock';
const LOCK_TTL_MS = 30_000;
/** How long an import waits for another import of the same user before giving up. */
const LOCK_WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function withUserLock<T>(userId: string, context: ImportContext, work: () => Promise<T>): Promise<T> {
  const { store, now } = context;
  const holder = randomBytes(12).toString('base64url');
  const started = Date.now();
  for (let wait = 2; !(await store.claimNonce(userId, LOCK_KEY, holder, now + LOCK_TTL_MS, now)); ) {
    if (Date.now() - started > LOCK_WAIT_MS) {
      throw new StoreUnavailableError('Another import of this user is under way: try again');
    }
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 100);
  }
  try {
    return await work();
  } finally {
    await store.takeNonce(userId, LOCK_KEY, holder, now);
  }
}

/**
 * Writes a checked import: pending record, then activation (with the codes when it turns 2FA on).
 * @throws {AuthenticatorLimitError} the user already has `maxActive` active authenticators.
 */
export async function writeImport(
  userId: string,
  checked: CheckedImport,
  context: ImportContext,
): Promise<ImportedAuthenticator> {
  const { store, keyring, now, maxActive } = context;
  const { authenticatorId } = checked;
  const unchanged: ImportedAuthenticator = { authenticatorId, outcome: 'unchanged', recoveryCodes: 0 };
  const before = await store.listAuthenticators(userId, now);
  // Already imported: the common case when an interrupted import is run again, answered without the lock.
  if (before.some((record) => record.id === authenticatorId && activeTotp(record))) return unchanged;
  if (context.dryRun) {
    const active = before.filter(isActive).length;
    if (active >= maxActive) throw new AuthenticatorLimitError(maxActive);
    return active === 0
      ? { authenticatorId, outcome: 'enabled', recoveryCodes: checked.recoveryCodes.length }
      : { authenticatorId, outcome: 'added', recoveryCodes: 0 };
  }
  const hashes = checked.recoveryCodes.map((code) => hashImportedCode(keyring, userId, code));
  return withUserLock(userId, context, async () => {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const sealedSecret = keyring.seal(checked.secret, userId);
      const saved = await store.savePendingAuthenticator(
        {
          type: 'totp',
          userId,
          id: authenticatorId,
          name: checked.name,
          status: 'pending',
          sealedSecret,
          algorithm: checked.algorithm,
          digits: checked.digits,
          period: checked.period,
          lastCounter: -1,
          createdAt: now,
          confirmedAt: null,
          lastUsedAt: null,
          expiresAt: now + context.pendingTtlMs,
        },
        now,
      );
      // Refused only when the same id is active: imported before (by a concurrent run, say).
      if (!saved) return unchanged;
      const outcome = await store.confirmAuthenticator(userId, authenticatorId, {
        sealedSecret,
        counter: checked.lastCounter,
        recoveryCodeHashes: hashes,
        maxActive,
        now,
      });
      if (outcome === 'full') throw new AuthenticatorLimitError(maxActive);
      if (outcome === 'enabled') return { authenticatorId, outcome, recoveryCodes: hashes.length };
      if (outcome === 'added') return { authenticatorId, outcome, recoveryCodes: 0 };
      // `missing`: an enrollment the user started meanwhile replaced the pending record; look again.
    }
    throw new StoreUnavailableError('The import kept being replaced by concurrent writes: try again');
  });
}
