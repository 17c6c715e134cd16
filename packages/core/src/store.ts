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
 * engine never passes anything longer. A WebAuthn credential id is longer (up to 1,366 characters of
 * base64url) and is stored, not used as a key. Authenticator names are 1-64 characters. Counters and nonces are two separate namespaces: a counter
 * and a nonce may share a key. `deleteTwoFactor` removes the authenticators and recovery codes only;
 * counters (the lockout count) and nonces (spent token ids, refresh families) run out on their own.
 *
 * A backend that cannot reach its database rejects with {@link StoreUnavailableError}; the engine
 * then fails closed. Three operations are optional shortcuts (one call for several); the rest are
 * required. `@twofold/store-test-suite` checks every contract written here, including under
 * concurrency; run it against any new adapter.
 */

/** Hash functions an authenticator can use. */
export type AuthenticatorAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** The kinds of authenticator: an app showing codes, or a security key or passkey. */
export type AuthenticatorType = 'totp' | 'webauthn';

/** One TOTP authenticator (an app on a phone) of one user. */
export interface AuthenticatorRecord {
  type: 'totp';
  /** The host's user id (1-255 characters). */
  userId: string;
  /**
   * Distinguishes the authenticators of one user (of both types); chosen by the engine. Users who
   * enrolled before several authenticators existed have the one with id `'totp'`.
   */
  id: string;
  /** What the user calls it (1-64 characters); null for one enrolled before names existed. */
  name: string | null;
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

/**
 * One WebAuthn credential (a security key, or a passkey on a phone or laptop) of one user, as
 * registered. Nothing in it is secret: the private key never leaves the authenticator.
 */
export interface WebAuthnCredentialRecord {
  type: 'webauthn';
  userId: string;
  /** The authenticator id (1-255 characters, chosen by the engine); not the credential id. */
  id: string;
  /** What the user calls it (1-64 characters); null when the user gave no name (the engine shows a default). */
  name: string | null;
  /** The credential id the authenticator made, base64url (at most 1,366 characters: 1,023 bytes). */
  credentialId: string;
  /** The credential's public key (COSE), base64url. */
  publicKey: string;
  /** The highest signature counter accepted so far; 0 for an authenticator that keeps none. */
  counter: number;
  /** How the browser can reach it (`usb`, `nfc`, `ble`, `internal`, `hybrid`...), as it reported, in that order. */
  transports: string[];
  /** The model of the authenticator (a UUID); all zeros when it was not attested. */
  aaguid: string;
  /** Whether the credential may be synced to other devices (a passkey in a password manager). */
  backupEligible: boolean;
  /** Whether it is synced now, as of its last use. */
  backupState: boolean;
  createdAt: number;
  /** When an assertion was last accepted; null before. */
  lastUsedAt: number | null;
}

/** Any authenticator of a user. */
export type StoredAuthenticator = AuthenticatorRecord | WebAuthnCredentialRecord;

/**
 * What adding an active authenticator did (confirm, WebAuthn registration), all in one atomic step:
 * - `enabled`: it is the user's first active authenticator: 2FA is on and the recovery codes given
 *   were written (replacing any);
 * - `added`: the user had active authenticators already: their recovery codes are unchanged;
 * - `full`: the user already has `maxActive` active authenticators: nothing changed;
 * - `missing` (confirm only): no pending record holds the sealed secret expected: nothing changed;
 * - `duplicate` (WebAuthn only): the user has this authenticator id or credential id: nothing changed.
 */
export type AddAuthenticatorOutcome = 'enabled' | 'added' | 'full' | 'missing' | 'duplicate';

/** What {@link Store.addWebAuthnCredential} writes besides the credential. */
export interface AddWebAuthnCredentialInput {
  /** Keyed hashes of fresh recovery codes, written only when this turns 2FA on. */
  recoveryCodeHashes: readonly string[];
  /** The most active authenticators (of both types) a user may have. */
  maxActive: number;
  now: number;
}

/** What an accepted WebAuthn assertion changes. */
export interface WebAuthnUse {
  /** The signature counter the assertion carried. */
  counter: number;
  /** The backup state the assertion reported. */
  backupState: boolean;
  now: number;
}

/** What {@link Store.removeAuthenticator} did. */
export type RemoveAuthenticatorOutcome =
  /** The authenticator is gone; the user has other active ones. */
  | 'removed'
  /** It was the last active one: it, the recovery codes and any pending enrollment are gone (2FA off). */
  | 'disabled'
  /** The user has no active authenticator with that id: nothing changed. */
  | 'missing';

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
  /**
   * Keyed hashes of fresh recovery codes: they replace any existing set when this activation turns
   * 2FA on (the user had no active authenticator); otherwise the user's codes stay as they are.
   */
  recoveryCodeHashes: readonly string[];
  /** The most active authenticators (of both types) a user may have; at that many, nothing changes. */
  maxActive: number;
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

/** A live nonce as {@link Store.listNonces} and {@link Store.findNonces} report it. */
export interface NonceEntry {
  key: string;
  value: string;
  expiresAt: number;
}

/** What {@link Store.beginSecondFactor} is asked to do, in this order. */
export interface BeginSecondFactorInput {
  /**
   * A nonce to create first, as {@link Store.claimNonce} does (set-if-absent): the single-use id of
   * a login challenge. Null for none.
   */
  claim: { key: string; value: string; expiresAt: number } | null;
  /**
   * Counters to count one attempt on, in this order, each as {@link Store.takeAttempt} does: the
   * attempts left on the challenge, then the user's lockout.
   */
  attempts: ReadonlyArray<{ key: string; limit: number; ttlMs: number }>;
  /** A nonce to read along, as {@link Store.getNonce} does (a delayed recovery in progress). Null for none. */
  readNonce: string | null;
  now: number;
}

/** What {@link Store.beginSecondFactor} found and did. */
export interface BeginSecondFactorResult {
  /**
   * True when the claim was made, or when there was none to make. False when the claim's nonce was
   * live already: then nothing was counted and nothing read (`authenticators` and `attempts` are
   * empty, `nonce` is null).
   */
  claimed: boolean;
  /** The user's live authenticators, as {@link Store.listAuthenticators} lists them. */
  authenticators: StoredAuthenticator[];
  /**
   * One state per counter attempted, in order. It ends at the first refused one (`taken: false`),
   * whose later counters were left alone; it is empty when the user has no active authenticator
   * (nothing to judge: nothing is counted).
   */
  attempts: AttemptState[];
  /** The value of `readNonce`, or null when absent or expired (or not asked). */
  nonce: string | null;
}

/** One nonce of {@link Store.putNonces}. */
export interface NonceWrite {
  key: string;
  value: string;
  expiresAt: number;
}

/** What {@link Store.finishSecondFactor} is asked to do, in this order. */
export interface FinishSecondFactorInput {
  /** The authenticator whose time step is spent, as {@link Store.consumeCounter} spends it. */
  authenticatorId: string;
  counter: number;
  /** The counter ended when the step was spent, as {@link Store.resetCounterIfUnchanged} ends it. */
  reset: { key: string; expected: CounterState };
  /**
   * Written when the step was spent, as {@link Store.putNonces} writes them (the session the login
   * starts). Distinct keys; may be empty.
   */
  nonces: readonly NonceWrite[];
  now: number;
}

export interface Store {
  /**
   * The TOTP authenticator `authenticatorId` of `userId`, or null when there is none, when it is a
   * pending one that has expired, or when that id is a WebAuthn credential.
   */
  getAuthenticator(userId: string, authenticatorId: string, now: number): Promise<AuthenticatorRecord | null>;

  /**
   * Every live authenticator of the user, of both types, pending TOTP enrollments included (expired
   * ones are not), oldest first: by `createdAt`, then by `id` (any fixed order of ids will do; the
   * engine's ids are ASCII, where every order agrees).
   */
  listAuthenticators(userId: string, now: number): Promise<StoredAuthenticator[]>;

  /**
   * Writes a pending TOTP authenticator, replacing every pending one of the user (expired or not):
   * a user has at most one enrollment under way. Resolves false and changes nothing when the user has
   * an active authenticator (of either type) with the same id.
   */
  savePendingAuthenticator(record: PendingAuthenticator, now: number): Promise<boolean>;

  /**
   * Activates a pending, unexpired TOTP authenticator, all or nothing: status `active`,
   * `confirmedAt` = `lastUsedAt` = now, `lastCounter` = counter, `expiresAt` = null; when it is the
   * user's first active authenticator, the recovery codes are replaced in the same step
   * (`enabled`), otherwise they stay (`added`). Resolves `missing` and changes nothing when there is
   * no such pending record, when it has expired, when its sealed secret is not the one expected, or
   * when it is already active (two concurrent confirms: exactly one wins); otherwise `full` when the
   * user already has `maxActive` active authenticators (`missing` is checked first). `maxActive` is
   * a whole number of at least 1. Of concurrent activations (a confirm racing
   * WebAuthn additions) for a user without 2FA, exactly one resolves `enabled`.
   */
  confirmAuthenticator(
    userId: string,
    authenticatorId: string,
    input: ConfirmAuthenticatorInput,
  ): Promise<AddAuthenticatorOutcome>;

  /**
   * Adds an active WebAuthn credential, with the same rules as {@link confirmAuthenticator}: the
   * first active authenticator of the user turns 2FA on and writes the recovery codes (`enabled`),
   * a later one leaves them (`added`), at `maxActive` nothing changes (`full`), and an authenticator
   * id the user already has (an active one, or an unexpired pending one) or a credential id the user
   * already has is refused (`duplicate`, checked before `full`). Credential ids are unique per user,
   * not across users: a second factor is always looked up within the user who passed the password.
   */
  addWebAuthnCredential(
    record: WebAuthnCredentialRecord,
    input: AddWebAuthnCredentialInput,
  ): Promise<AddAuthenticatorOutcome>;

  /**
   * Accepts an assertion's signature counter for a WebAuthn credential, in one atomic step: succeeds
   * when `counter` is above the stored one, or when both are 0 (an authenticator that keeps no
   * counter), and then sets `counter`, `backupState` and `lastUsedAt` = now. A counter that did not
   * increase (a cloned authenticator, a replay) resolves false and changes nothing, as does a
   * missing credential. Of concurrent calls with the same non-zero counter, exactly one resolves true.
   */
  useWebAuthnCredential(userId: string, authenticatorId: string, use: WebAuthnUse): Promise<boolean>;

  /**
   * Renames an active authenticator (of either type). Resolves false and changes nothing when the
   * user has no active authenticator with that id.
   */
  renameAuthenticator(userId: string, authenticatorId: string, name: string, now: number): Promise<boolean>;
  // `now` in renameAuthenticator and removeAuthenticator is the caller's clock, as for every write
  // (active records never expire; a store may use it to sweep).

  /**
   * Deletes an active authenticator (of either type). When it was the user's last active one, the
   * same step deletes the recovery codes and any pending enrollment (`disabled`: 2FA is off; counters
   * and nonces stay, as with {@link deleteTwoFactor}), so
   * two concurrent removals of a user's last two authenticators never leave recovery codes without
   * an authenticator, nor an authenticator removed without the other noticing.
   */
  removeAuthenticator(
    userId: string,
    authenticatorId: string,
    now: number,
  ): Promise<RemoveAuthenticatorOutcome>;

  /**
   * Accepts the time step `counter` for an active TOTP authenticator: succeeds only when
   * `counter > lastCounter`, and then sets `lastCounter` = counter and `lastUsedAt` = now.
   * Resolves false for a pending or missing authenticator, or a WebAuthn one. Of any number of concurrent calls with
   * the same counter, exactly one resolves true.
   */
  consumeCounter(userId: string, authenticatorId: string, counter: number, now: number): Promise<boolean>;

  /**
   * Replaces the sealed secret of a TOTP authenticator only when it still equals `expected`
   * (compare-and-set; a WebAuthn id resolves false), so a re-seal
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
   * Deletes every authenticator (pending or active, of both types) and every recovery code of the
   * user. Resolves whether an active authenticator existed.
   */
  deleteTwoFactor(userId: string): Promise<boolean>;

  /**
   * Replaces the user's whole set of recovery code hashes in one atomic step (no moment where the
   * old and new sets mix or none exists), but only while the user has an active authenticator (of
   * either type).
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
   * The user's unexpired nonces whose key starts with `prefix` (a non-empty string), sorted by key
   * in code-unit (binary) order; used to list a user's sessions or trusted devices (`refresh:...`).
   * The prefix is matched literally: `%`, `_`, `*`, `?`, `[` and `\` in it are plain characters, and
   * case matters (`ab` never matches a key `AB...`). Other users' nonces are never listed; an expired
   * nonce (`expiresAt <= now`, as for {@link getNonce}) is not either.
   */
  listNonces(userId: string, prefix: string, now: number): Promise<NonceEntry[]>;

  /**
   * Across all users: the unexpired nonces named exactly `key` (matched as in {@link getNonce}), for
   * operator sweeps such as finding every scheduled removal. Sorted by user id in binary order, at
   * most `page.limit` (a whole number from 1 to 1,000) of them, and only user ids strictly greater
   * than `page.after` when it is given: to page, pass the last user id of the previous page, until a
   * page comes back shorter than `limit`. May scan every nonce of the store; not for request paths.
   * Binary order is that of UTF-16 code units or of UTF-8 bytes (code points): the two differ only
   * between characters above U+FFFF and those from U+E000 to U+FFFF, so either will do, as long as
   * `after` follows the same order as the sort.
   */
  findNonces(
    key: string,
    now: number,
    page: { after?: string; limit: number },
  ): Promise<Array<NonceEntry & { userId: string }>>;

  /**
   * Email recovery in one atomic step: takes the nonce `key` when it is unexpired and equals `value`
   * (as {@link takeNonce}) and, in the same step, deletes every authenticator and recovery code of
   * the user (as {@link deleteTwoFactor}). Resolves false and changes nothing when the nonce is not
   * there; of concurrent calls, exactly one resolves true. A failure leaves both as they were.
   */
  takeNonceAndDeleteTwoFactor(userId: string, key: string, value: string, now: number): Promise<boolean>;

  /**
   * The start of judging a second factor, in one call: claims `input.claim` (as claimNonce); when
   * that succeeds, counts one attempt on each of `input.attempts` in order (as takeAttempt), only if
   * the user has an active authenticator, stopping at the first refused; and reads the user's
   * authenticators and the nonce `input.readNonce`. Each write keeps the guarantee of the operation
   * it stands for under concurrency (of concurrent claims exactly one succeeds; of concurrent
   * attempts on a counter at `c < limit`, exactly `limit - c` are taken), and no counter is touched
   * unless the claim succeeded and every earlier counter was taken. Nothing is undone: after a
   * refused attempt the claim stays (the engine deletes it). The reads may see the state just before
   * the writes (they concern other records).
   *
   * Optional, like {@link finishSecondFactor}, {@link consumeCounterAndReset} and {@link putNonces}:
   * they exist so that a sign-in's second step costs two round trips instead of eight. A store without them works: the engine then makes the
   * same calls one by one.
   */
  beginSecondFactor?(userId: string, input: BeginSecondFactorInput): Promise<BeginSecondFactorResult>;

  /**
   * {@link consumeCounter}, and when it succeeds, {@link resetCounterIfUnchanged} of the counter
   * `reset.key` against `reset.expected`, in one call (atomic, or the consume first: the reset never
   * happens for a step that was not consumed). Resolves whether the step was consumed. Optional.
   */
  consumeCounterAndReset?(
    userId: string,
    authenticatorId: string,
    counter: number,
    now: number,
    reset: { key: string; expected: CounterState },
  ): Promise<boolean>;

  /**
   * {@link putNonce} for each of `nonces`, in one atomic step: either all are written or none. The
   * keys are distinct (a store may refuse a list that repeats one); an empty list writes nothing.
   * Optional.
   */
  putNonces?(userId: string, nonces: readonly NonceWrite[], now: number): Promise<void>;

  /**
   * The end of a sign-in's second step, in one call: {@link consumeCounter} of `input.counter` on
   * `input.authenticatorId`; only when that spent the step, {@link resetCounterIfUnchanged} of
   * `input.reset` and {@link putNonces} of `input.nonces`. Resolves whether the step was spent. The
   * writes are atomic, or the consume comes first: a step that was not spent (replayed, or spent by a
   * concurrent call) leaves the counter and the nonces untouched, so of concurrent calls for one
   * step exactly one writes its nonces. Optional: without it the engine calls
   * {@link consumeCounterAndReset} (or the two calls it stands for), then {@link putNonces}.
   */
  finishSecondFactor?(userId: string, input: FinishSecondFactorInput): Promise<boolean>;

  /**
   * Runs `work` once with `store`, a store of the same records whose calls all belong to one
   * transaction: committed together when `work` settles, whether it resolves or rejects (a refused
   * code must stay counted), and rolled back instead when one of those calls rejected. Resolves or
   * rejects as `work` did; a failed commit rejects with its own error. Until then, calls on this
   * store itself wait: `work` must make its calls on `store`, never on this one.
   *
   * Optional, and only for a store that runs one call at a time anyway (an embedded database such
   * as SQLite): a sign-in's second step then costs one commit instead of two or three. It saves
   * no round trip, so a store with concurrent clients (Redis, PostgreSQL) leaves it out and gets the
   * same calls one by one.
   */
  atomically?<T>(work: (store: Store) => Promise<T>): Promise<T>;

  /** Releases what the store opened itself (never a client the host passed in). Optional. */
  close?(): Promise<void>;
}
