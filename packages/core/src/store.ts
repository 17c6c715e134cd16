/**
 * The Store interface: the seam a host app swaps to keep two-factor state in its own database.
 *
 * Every operation is atomic on its own; the engine never does a read-modify-write in JavaScript.
 * Time comes in as `now` (milliseconds since the epoch, from the engine's clock) wherever expiry
 * matters, so a record is expired exactly when `expiresAt <= now`. Expired records behave as absent
 * in every operation and must not accumulate (TTLs, a sweep, or lazy deletion).
 *
 * Every operation is scoped by `userId`, so a backend can keep all of one user's records together
 * (one hash tag in Redis Cluster, one partition key elsewhere).
 *
 * Identifiers: user ids, authenticator ids, counter keys and nonce keys are compared exactly (case
 * and Unicode normalisation matter; no collation may fold them) and are at most 255 characters; the
 * engine never passes anything longer. Counters and nonces are two separate namespaces: a counter
 * and a nonce may share a key. `deleteTwoFactor` removes the authenticators and recovery codes only;
 * counters (the lockout count) and nonces (spent token ids, refresh families) run out on their own.
 *
 * A backend that cannot reach its database rejects with {@link StoreUnavailableError}; the engine
 * then fails closed. `@twofold/store-test-suite` checks every contract written here, including under
 * concurrency; run it against any new adapter.
 */

/** Hash functions an authenticator can use. */
export type AuthenticatorAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** One TOTP authenticator (an app on a phone) of one user. */
export interface AuthenticatorRecord {
  /** The host's user id (1-255 characters). */
  userId: string;
  /** Distinguishes several authenticators of one user; the built-in flows use `'totp'`. */
  id: string;
  /** `pending` between enroll and confirm, `active` after. */
  status: 'pending' | 'active';
  /** The secret sealed by the keyring (an opaque ASCII string, never the plain secret). */
  sealedSecret: string;
  algorithm: AuthenticatorAlgorithm;
  digits: number;
  /** Step length in seconds. */
  period: number;
  /** Highest time step accepted so far; -1 before the first. Replay protection compares against it. */
  lastCounter: number;
  createdAt: number;
  /** When confirm activated it; null while pending. */
  confirmedAt: number | null;
  /** When a code was last accepted; null before. */
  lastUsedAt: number | null;
  /** Pending records expire at this time; null for active records. */
  expiresAt: number | null;
}

/** A new pending authenticator, as written by enroll. */
export type PendingAuthenticator = AuthenticatorRecord & {
  status: 'pending';
  confirmedAt: null;
  lastUsedAt: null;
  expiresAt: number;
};

/** What confirm writes in its single atomic step. */
export interface ConfirmAuthenticatorInput {
  /**
   * The sealed secret the confirming code was checked against: the pending record is activated only
   * while it still holds exactly this value (compare-and-set), so an enrollment that replaced it in
   * the meantime makes the confirm fail instead of activating a secret nobody checked.
   */
  sealedSecret: string;
  /** The time step of the code that confirmed it; becomes `lastCounter`. */
  counter: number;
  /** Keyed hashes of the fresh recovery codes; they replace any existing set. */
  recoveryCodeHashes: readonly string[];
  now: number;
}

/** A failure counter (lockout, per-challenge attempts). */
export interface CounterState {
  count: number;
  /** When the counter disappears; every increment moves it to `now + ttlMs`. */
  expiresAt: number;
}

/** What {@link Store.takeAttempt} resolves. */
export interface AttemptState extends CounterState {
  /**
   * True when this call counted an attempt (the counter was below the limit); false when the limit
   * was already reached, in which case nothing changed and `count`/`expiresAt` describe the counter
   * as it stands.
   */
  taken: boolean;
}

export interface Store {
  /**
   * The authenticator `authenticatorId` of `userId`, or null when there is none or it is a pending
   * one that has expired.
   */
  getAuthenticator(userId: string, authenticatorId: string, now: number): Promise<AuthenticatorRecord | null>;

  /**
   * Writes a pending authenticator, replacing a pending (expired or not) one with the same ids.
   * Resolves false and changes nothing when an active authenticator with those ids exists.
   */
  savePendingAuthenticator(record: PendingAuthenticator, now: number): Promise<boolean>;

  /**
   * Activates a pending, unexpired authenticator and replaces the user's recovery codes, all or
   * nothing: status `active`, `confirmedAt` = `lastUsedAt` = now, `lastCounter` = counter,
   * `expiresAt` = null. Resolves false and changes nothing when there is no such pending record,
   * when it has expired, or when it is already active (two concurrent confirms: exactly one wins).
   */
  confirmAuthenticator(
    userId: string,
    authenticatorId: string,
    input: ConfirmAuthenticatorInput,
  ): Promise<boolean>;

  /**
   * Accepts the time step `counter` for an active authenticator: succeeds only when
   * `counter > lastCounter`, and then sets `lastCounter` = counter and `lastUsedAt` = now.
   * Resolves false for a pending or missing authenticator. Of any number of concurrent calls with
   * the same counter, exactly one resolves true.
   */
  consumeCounter(userId: string, authenticatorId: string, counter: number, now: number): Promise<boolean>;

  /**
   * Replaces the sealed secret only when it still equals `expected` (compare-and-set), so a re-seal
   * racing with another re-seal or with disable never resurrects or clobbers anything.
   * Resolves whether it replaced it.
   */
  replaceSealedSecret(
    userId: string,
    authenticatorId: string,
    expected: string,
    next: string,
  ): Promise<boolean>;

  /**
   * Deletes every authenticator (pending or active) and every recovery code of the user.
   * Resolves whether an active authenticator existed.
   */
  deleteTwoFactor(userId: string): Promise<boolean>;

  /**
   * Replaces the user's whole set of recovery code hashes in one atomic step (no moment where the
   * old and new sets mix or none exists), but only while the user has an active authenticator.
   * Resolves false and changes nothing otherwise.
   */
  replaceRecoveryCodes(userId: string, hashes: readonly string[], now: number): Promise<boolean>;

  /**
   * Removes the recovery code hash if the user has it. Of concurrent calls with the same hash,
   * exactly one resolves true.
   */
  consumeRecoveryCode(userId: string, hash: string): Promise<boolean>;

  /** How many unused recovery codes the user has. */
  countRecoveryCodes(userId: string): Promise<number>;

  /**
   * Adds one to the counter `key` of the user (creating it at 1 when absent or expired), sets its
   * expiry to `now + ttlMs`, and resolves the new state. Concurrent increments never lose a count.
   */
  incrementCounter(userId: string, key: string, ttlMs: number, now: number): Promise<CounterState>;

  /**
   * Counts one attempt unless the limit is reached, in one atomic step: when the counter `key` is
   * live with `count >= limit`, resolves `{ taken: false, count, expiresAt }` and changes nothing;
   * otherwise adds one (starting at 1 when absent or expired), sets the expiry to `now + ttlMs` and
   * resolves `{ taken: true, count, expiresAt }`. Of any number of concurrent calls on a counter at
   * `c < limit`, exactly `limit - c` resolve taken. This is what makes a lockout hold under
   * concurrency: an attempt is counted before it is judged, never checked and counted separately.
   */
  takeAttempt(userId: string, key: string, limit: number, ttlMs: number, now: number): Promise<AttemptState>;

  /**
   * Deletes the counter `key` only while it still holds exactly `expected` (the same count and
   * expiry), and resolves whether it did. A success ends the failure count this way without erasing
   * attempts that other requests counted after it.
   */
  resetCounterIfUnchanged(userId: string, key: string, expected: CounterState): Promise<boolean>;

  /** The counter `key` of the user, or null when absent or expired. */
  getCounter(userId: string, key: string, now: number): Promise<CounterState | null>;

  /** Deletes the counter `key` of the user. */
  resetCounter(userId: string, key: string): Promise<void>;

  /**
   * Stores `value` under the nonce `key` of the user until `expiresAt`, replacing any previous value
   * (a new recovery token revokes the previous one). `now` is the caller's clock, as for every
   * other write: stores use it to set TTLs and to sweep expired records.
   */
  putNonce(userId: string, key: string, value: string, expiresAt: number, now: number): Promise<void>;

  /** The value of the nonce `key`, or null when absent or expired. */
  getNonce(userId: string, key: string, now: number): Promise<string | null>;

  /**
   * Creates the nonce `key` with `value` only when it is absent or expired (set-if-absent); used to
   * spend single-use token ids. Of concurrent calls, exactly one resolves true.
   */
  claimNonce(userId: string, key: string, value: string, expiresAt: number, now: number): Promise<boolean>;

  /**
   * Deletes the nonce `key` only when it is unexpired and its value equals `value`
   * (take-if-equal); a different value leaves it in place. Of concurrent calls, exactly one
   * resolves true.
   */
  takeNonce(userId: string, key: string, value: string, now: number): Promise<boolean>;

  /**
   * Replaces the nonce `key` with `next` (new expiry `expiresAt`) only when it is unexpired and
   * equals `expected` (compare-and-set); used to rotate refresh tokens. Of concurrent calls with the
   * same `expected`, exactly one resolves true.
   */
  swapNonce(
    userId: string,
    key: string,
    expected: string,
    next: string,
    expiresAt: number,
    now: number,
  ): Promise<boolean>;

  /** Deletes the nonce `key` of the user, whatever its value. */
  deleteNonce(userId: string, key: string): Promise<void>;

  /**
   * Email recovery in one atomic step: takes the nonce `key` when it is unexpired and equals `value`
   * (as {@link takeNonce}) and, in the same step, deletes every authenticator and recovery code of
   * the user (as {@link deleteTwoFactor}). Resolves false and changes nothing when the nonce is not
   * there; of concurrent calls, exactly one resolves true. A failure leaves both as they were.
   */
  takeNonceAndDeleteTwoFactor(userId: string, key: string, value: string, now: number): Promise<boolean>;

  /** Releases what the store opened itself (never a client the host passed in). Optional. */
  close?(): Promise<void>;
}
