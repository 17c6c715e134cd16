import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthenticatorTransportFuture } from '@simplewebauthn/server';
import { generateSecret, OTP_LIMITS, OtpError, prettySecret, Totp } from '@twofold/otp';
import { createChallengeTokens } from './challenge-token.js';
import {
  AuthenticatorLimitError,
  InvalidChallengeError,
  InvalidCodeError,
  InvalidCredentialsError,
  InvalidInputError,
  InvalidRecoveryTokenError,
  InvalidRegistrationError,
  LockedError,
  NotEnabledError,
  NotFoundError,
  NotPendingError,
  StoreUnavailableError,
  TwofoldError,
} from './errors.js';
import { EventHub, type TwoFactorEventName, type TwoFactorEvents, type TwoFactorListener } from './events.js';
import {
  checkImport,
  type ImportAuthenticatorInput,
  type ImportedAuthenticator,
  writeImport,
} from './import.js';
import { activeTotp, isActive } from './internal/authenticator-state.js';
import { encodeBase64url } from './internal/base64url.js';
import { cryptoRandom } from './internal/random.js';
import { MAX_SESSION_LIFETIME_MS, SESSIONS_REVOKED_BEFORE_KEY } from './internal/session-keys.js';
import * as steps from './internal/store-steps.js';
import { unstorableReason } from './internal/unstorable.js';
import {
  type MessageDetails,
  type MessageType,
  type NoticeMessage,
  noticeOf,
  renderMessage,
  type SecurityNotice,
} from './notices.js';
import {
  OPTIONAL_STORE_METHODS,
  type ResolvedOptions,
  resolveOptions,
  STORE_METHODS,
  type TwoFactorOptions,
} from './options.js';
import { renderQrSvg, svgDataUri } from './qr.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  submittedCodeHashCandidates,
} from './recovery-codes.js';
import type {
  AddAuthenticatorOutcome,
  AttemptState,
  AuthenticatorRecord,
  NonceWrite,
  Store,
  StoredAuthenticator,
  WebAuthnCredentialRecord,
} from './store.js';
import {
  clientChallenge,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  parseAuthenticationResponse,
  parseRegistrationResponse,
  simpleWebAuthn,
  WEBAUTHN_ALGORITHMS,
  type WebAuthnOptions,
} from './webauthn.js';

/**
 * The authenticator id of the TOTP app of users who enrolled before several authenticators
 * existed. New authenticators get random ids (`t_...` for apps, `w_...` for WebAuthn).
 */
export const TOTP_AUTHENTICATOR_ID = 'totp';

/** Store keys the engine uses (per user). */
const FAILURES_KEY = 'failures';
const RECOVERY_TOKEN_KEY = 'recovery-token';
/**
 * A delayed email recovery: JSON `{ due, cancel }` (when 2FA goes off, ms; the hash of the cancel
 * link's token). Kept well past `due` so that a user who comes back late still finds it processed.
 */
const RECOVERY_DUE_KEY = 'recovery-due';
const RECOVERY_DUE_KEEP_MS = 400 * 86_400_000;
const WEBAUTHN_REGISTRATION_KEY = 'webauthn-registration';
const WEBAUTHN_ASSERTION_KEY = 'webauthn-assertion';
const challengeSpentKey = (jti: string) => `challenge:${jti}`;
const challengeAttemptsKey = (jti: string) => `challenge-attempts:${jti}`;

/** The engine events that make a security notice (see notices.ts). */
const NOTICE_EVENTS = [
  'confirmed',
  'authenticatorAdded',
  'authenticatorRemoved',
  'disabled',
  'recoveryCodesRotated',
  'recoveryCodeUsed',
  'locked',
  'recoveryRequested',
  'deviceTrusted',
  'recoveryScheduled',
  'recoveryCancelled',
  'reset',
] as const satisfies readonly TwoFactorEventName[];

/** The names an authenticator gets when the user gives none. */
const DEFAULT_NAMES = {
  totp: 'Authenticator app',
  securityKey: 'Security key',
  passkey: 'Passkey',
} as const;

/**
 * A second factor: a code from an authenticator app, one of the recovery codes, or a WebAuthn
 * assertion (what `navigator.credentials.get()` answers, in JSON form) from a security key or passkey.
 */
export type SecondFactor = { code: unknown } | { recoveryCode: unknown } | { webauthn: unknown };

/** How a second factor was proved, in RFC 8176 terms: `otp` (a code), `hwk` or `swk` (a key). */
export type FactorAmr = 'otp' | 'hwk' | 'swk';

/** What enroll returns; shown once (send it with `Cache-Control: no-store`). */
export interface Enrollment {
  /** The id the authenticator keeps once confirmed. */
  authenticatorId: string;
  otpauthUri: string;
  /** Unpadded base32, for manual entry. */
  secret: string;
  /** The secret in groups of four. */
  prettySecret: string;
  qrSvg: string;
  /** `data:image/svg+xml;base64,...` for an `<img src>`. */
  qrDataUri: string;
  /** When the pending enrollment expires (ms since the epoch). */
  expiresAt: number;
}

/** What adding an authenticator (TOTP confirm, WebAuthn registration) gives. */
export interface AddedAuthenticator {
  authenticatorId: string;
  /** True when this was the first authenticator: two-factor authentication is now on. */
  enabled: boolean;
  /**
   * The recovery codes, shown once, when 2FA has just turned on; empty when it was on already (the
   * user's codes are unchanged).
   */
  recoveryCodes: string[];
}

/** One authenticator as the user sees it (never a secret or a public key). */
export interface AuthenticatorInfo {
  id: string;
  type: 'totp' | 'webauthn';
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** WebAuthn only: whether it is a synced passkey (may be copied to the user's other devices). */
  passkey?: boolean;
}

export interface TwoFactorStatus {
  enabled: boolean;
  pending: boolean;
  /** A delayed email recovery: 2FA goes off at `dueAt` unless cancelled; null when none is scheduled. */
  recoveryPending: { dueAt: Date } | null;
  recoveryCodesRemaining: number;
  enabledAt: Date | null;
  lastUsedAt: Date | null;
  /** How many active authenticators the user has, by type. */
  authenticators: { totp: number; webauthn: number };
}

/** What {@link TwoFactor.adminStatus} tells an operator about one user. */
export interface AdminStatus extends TwoFactorStatus {
  /** The active authenticators, oldest first (names, types, dates; never a secret). */
  authenticatorList: AuthenticatorInfo[];
  /** Wrong second factors counted toward lockout now. */
  failures: number;
  /** Until when second factors are refused, or null when the user is not locked out. */
  lockedUntil: Date | null;
}

/** Who performs an operator action, and why: both go into the `audit` event. */
export interface AdminActor {
  /** The operator, as the host names them (1-255 characters): a login, `cli:<user>`... */
  actor: string;
  /** Why, when told (at most 500 characters): a ticket number, a note. */
  reason?: string;
}

export interface VerifiedFactor {
  userId: string;
  method: 'totp' | 'recovery-code' | 'webauthn';
  /** The authenticator that answered; null for a recovery code. */
  authenticatorId: string | null;
  /** RFC 8176: `otp` for a code or recovery code, `hwk` for a security key, `swk` for a synced passkey. */
  amr: FactorAmr;
}

/** Options of {@link TwoFactor.completeChallenge}. */
export interface CompleteChallengeOptions {
  /**
   * The nonces of the session the login starts (how the HTTP layer stores its refresh family),
   * asked for once the factor has been judged valid, at most once. They are written before
   * completeChallenge resolves and only when the factor is accepted; for a code from an app, in the
   * same store call that spends its time step ({@link Store.finishSecondFactor}): one round trip
   * fewer, and no session is stored for a code that a concurrent request spent first.
   */
  sessionNonces?: (verified: VerifiedFactor) => readonly NonceWrite[];
}

/** The session nonces of a login under way, and whether they have been written. */
interface SessionWrite {
  nonces: (verified: VerifiedFactor) => readonly NonceWrite[];
  written: boolean;
}

export interface Challenge {
  challengeToken: string;
  /** Seconds until the challenge token expires. */
  expiresIn: number;
  expiresAt: number;
}

/** What the second step of a login can take, for the page to offer. */
export interface LoginOptions {
  /** The kinds of second factor the user has: `totp`, `webauthn`, `recoveryCode`. */
  factors: ('totp' | 'webauthn' | 'recoveryCode')[];
  /** Options for `navigator.credentials.get()`, bound to this login; null without WebAuthn. */
  webauthn: PublicKeyCredentialRequestOptionsJSON | null;
}

/** The engine: every 2FA flow, over one store and one keyring. Create it with {@link createTwoFactor}. */
export interface TwoFactor {
  /** The validated options with defaults applied. */
  readonly options: Readonly<ResolvedOptions>;
  /**
   * Starts an enrollment of an authenticator app: a new secret, pending until confirmed. Starting
   * again replaces the one under way. `name` is what the user calls it (default "Authenticator app").
   * @throws AuthenticatorLimitError the user has `maxAuthenticators` already
   */
  enroll(userId: string, options?: { label?: string; name?: string }): Promise<Enrollment>;
  /**
   * Activates the pending app with its first valid code. When it is the user's first authenticator,
   * 2FA turns on and the recovery codes come back, shown once; `beforeActivate` runs then, once the
   * code has been checked and before 2FA turns on (e.g. signing out the user's other sessions): if
   * it throws, nothing is activated. `authenticatorId` (from enroll) is optional: a user has one
   * enrollment under way at a time.
   */
  confirm(
    userId: string,
    code: unknown,
    options?: { authenticatorId?: string; beforeActivate?: () => unknown | Promise<unknown> },
  ): Promise<AddedAuthenticator>;
  /** Checks a code from one of the user's authenticator apps: window, replay, lockout. */
  verify(userId: string, code: unknown): Promise<VerifiedFactor>;
  /** Spends one recovery code. */
  useRecoveryCode(userId: string, recoveryCode: unknown): Promise<VerifiedFactor & { remaining: number }>;
  /**
   * Checks any kind of second factor outside a login (step-up, removal, disable): a WebAuthn
   * assertion must answer the options of {@link startWebAuthnAuthentication}.
   */
  verifySecondFactor(userId: string, factor: SecondFactor): Promise<VerifiedFactor>;
  /**
   * The step-up of a user without 2FA: `check` judges the password (the host's). The attempt is
   * counted toward the per-account lockout before `check` runs, as a second factor's is, so of any
   * number of concurrent attempts at most `lockout.maxFailures` get judged per lock period; a wrong
   * password is a failure like a wrong code, and a right one ends the failure count.
   * @throws InvalidInputError (field `code`) the user has 2FA on: a second factor is needed
   * @throws LockedError too many failures
   * @throws InvalidCredentialsError `check` resolved false
   */
  verifyPasswordStepUp(userId: string, check: () => boolean | Promise<boolean>): Promise<void>;
  /** Replaces the recovery codes; needs a fresh second factor. */
  rotateRecoveryCodes(userId: string, factor: SecondFactor): Promise<{ recoveryCodes: string[] }>;
  /**
   * Turns 2FA off, deleting every authenticator, the recovery codes and the replay state; needs a
   * fresh second factor. `beforeDisable` runs once the factor has been checked (it gets the checked
   * factor) and before anything is deleted: if it throws, 2FA stays on.
   */
  disable(
    userId: string,
    factor: SecondFactor,
    options?: { beforeDisable?: (verified: VerifiedFactor) => unknown | Promise<unknown> },
  ): Promise<void>;
  status(userId: string): Promise<TwoFactorStatus>;
  /**
   * Imports an authenticator from another 2FA system (the user's app keeps working): sealed with the
   * keyring, replay state (`lastCounter`) carried over, the user's old recovery codes stored as
   * hashes when this turns 2FA on. Idempotent per user and `source`: a second run resolves
   * `unchanged`. No second factor is asked for: this is an operator's action (the `twofold import`
   * command), never a route. `dryRun`: check the input and read the store, resolve what the import
   * would do, write nothing.
   * @throws {InvalidInputError} a field is out of range (`field` names it; a secret is never echoed).
   * @throws {AuthenticatorLimitError} the user already has `maxAuthenticators` authenticators.
   */
  importAuthenticator(
    userId: string,
    input: ImportAuthenticatorInput,
    options?: { dryRun?: boolean },
  ): Promise<ImportedAuthenticator>;
  /** The user's active authenticators, oldest first. */
  listAuthenticators(userId: string): Promise<AuthenticatorInfo[]>;
  /** @throws NotFoundError the user has no active authenticator with that id */
  renameAuthenticator(userId: string, authenticatorId: string, name: unknown): Promise<AuthenticatorInfo>;
  /**
   * Removes one authenticator; needs a fresh second factor. Removing the last one turns 2FA off
   * (recovery codes included) and runs `beforeDisable` first, as {@link disable} does; when a
   * concurrent removal made it the last one meanwhile, `beforeDisable` runs right after instead.
   * @returns whether 2FA is now off
   * @throws NotFoundError the user has no active authenticator with that id
   */
  removeAuthenticator(
    userId: string,
    authenticatorId: string,
    factor: SecondFactor,
    options?: { beforeDisable?: (verified: VerifiedFactor) => unknown | Promise<unknown> },
  ): Promise<{ disabled: boolean }>;
  /**
   * Options for `navigator.credentials.create()` to register a security key or passkey; the
   * answer goes to {@link finishWebAuthnRegistration} within `webauthn.timeoutMs`.
   * `userName` is the account name the browser shows (default: from the user id).
   */
  startWebAuthnRegistration(
    userId: string,
    options?: { userName?: string; name?: string },
  ): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /**
   * Verifies the browser's answer and adds the credential, active at once. As with confirm, the
   * first authenticator turns 2FA on, returns recovery codes and runs `beforeActivate` first (with
   * the `amr` the key proves: `hwk`, or `swk` for a synced passkey).
   */
  finishWebAuthnRegistration(
    userId: string,
    response: unknown,
    options?: { name?: string; beforeActivate?: (amr: FactorAmr) => unknown | Promise<unknown> },
  ): Promise<AddedAuthenticator>;
  /** Options for `navigator.credentials.get()` outside a login (step-up, removal...); the latest only. */
  startWebAuthnAuthentication(userId: string): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /** Issues the challenge token of a two-step login, after the host checked the password. */
  createChallenge(userId: string): Promise<Challenge>;
  /** What the second step of a login can take, with WebAuthn options bound to this challenge token. */
  loginOptions(challengeToken: unknown): Promise<LoginOptions>;
  /**
   * Completes a two-step login: the challenge token plus a second factor; single use. With
   * `sessionNonces`, the session the login starts is stored along (see {@link CompleteChallengeOptions}).
   */
  completeChallenge(
    challengeToken: unknown,
    factor: SecondFactor,
    options?: CompleteChallengeOptions,
  ): Promise<VerifiedFactor>;
  /** Issues an email recovery token (the previous one stops working). */
  createRecoveryToken(userId: string): Promise<{ token: string; expiresAt: number }>;
  /**
   * Completes email recovery: checks the token, then `verifyPassword` when given, then runs
   * `beforeDisable` when given (e.g. signing out every session: if it throws, nothing has changed
   * and the token still works), spends the token and turns 2FA off.
   */
  completeRecovery(
    userId: string,
    token: unknown,
    options?: {
      verifyPassword?: () => boolean | Promise<boolean>;
      beforeDisable?: () => unknown | Promise<unknown>;
      /**
       * Delay the removal (ms; 0, the default, removes at once): the link is spent and the removal
       * scheduled; it happens once due, on the next call that reads the user's status (a login, GET
       * /status) or by {@link processDueRecoveries}, unless the cancel token or any successful second
       * factor cancels it first. `beforeDisable` is not called then: sessions end when it happens.
       */
      delayMs?: number;
    },
  ): Promise<{ dueAt: number; cancelToken: string } | null>;
  /**
   * Cancels a delayed recovery with the token of its cancel link.
   * @throws InvalidRecoveryTokenError no removal is scheduled, or the token is not its cancel token
   */
  cancelRecovery(userId: string, cancelToken: unknown): Promise<void>;
  /**
   * Carries out the user's delayed recovery when it is due: signs out every session, then turns 2FA
   * off in the same atomic step that spends the schedule (a cancel racing it: exactly one wins).
   * @returns whether 2FA was turned off now
   */
  processDueRecovery(userId: string): Promise<boolean>;
  /**
   * For operators (`twofold recovery process-due`): every due delayed recovery of the store, a page
   * of `batchSize` users at a time. What is not due yet is counted in `pending`.
   */
  processDueRecoveries(options?: { batchSize?: number }): Promise<{ processed: number; pending: number }>;
  /**
   * Operator action: everything about the user's 2FA an operator may see (never a secret), and the
   * lockout state. Emits an `audit` event.
   */
  adminStatus(userId: string, by: AdminActor): Promise<AdminStatus>;
  /**
   * Operator action: ends a lockout (the failure count starts again from zero). Emits an `audit`
   * event; `wasLocked` tells whether the user was locked out.
   */
  unlock(userId: string, by: AdminActor): Promise<{ wasLocked: boolean }>;
  /**
   * Operator action, for a user who lost every authenticator and recovery code: turns 2FA off
   * (authenticators, recovery codes, a pending enrollment, a recovery link, the lockout) after
   * signing out every session of the user, and sends the user a `two-factor-reset` notice. Emits
   * `disabled` (`via: 'admin'`) and `reset` when 2FA was on, and an `audit` event always.
   */
  resetTwoFactor(userId: string, by: AdminActor): Promise<{ wasEnabled: boolean }>;
  /**
   * Writes the message of `type` (a notice, or the recovery link mail) from the `messages` option
   * or the default English one: what the HTTP layer mails through `recovery.sendMail`.
   */
  message<T extends MessageType>(type: T, details: MessageDetails[T]): NoticeMessage;
  /** Until when second factors are refused (lockout), or null when the user is not locked out. */
  lockedUntil(userId: string): Promise<Date | null>;
  /**
   * Reports a device the HTTP layer trusted (trusted devices): emits `deviceTrusted`, and so the
   * `trusted-device-added` notice.
   */
  reportTrustedDevice(userId: string, deviceId: string, name: string | null): void;
  /** Adds an event listener; returns a function that removes it. */
  on<E extends TwoFactorEventName>(event: E, listener: TwoFactorListener<E>): () => void;
  off<E extends TwoFactorEventName>(event: E, listener: TwoFactorListener<E>): void;
}

/**
 * Creates the engine. Options are validated here: a wrong option throws a TypeError naming it.
 *
 * @example
 * const twoFactor = createTwoFactor({
 *   store: memoryStore(),
 *   keyring: process.env.TWOFOLD_KEYS, // "tag:base64url-key", from generateKey()
 *   issuer: 'Acme',
 * });
 * const enrollment = await twoFactor.enroll('user-1', { label: 'ada@example.com' });
 */
export function createTwoFactor(options: TwoFactorOptions): TwoFactor {
  return engineOf(resolveOptions(options));
}

/** The public view of an authenticator. */
function describe(record: StoredAuthenticator): AuthenticatorInfo {
  if (record.type === 'totp') {
    return {
      id: record.id,
      type: 'totp',
      name: record.name ?? DEFAULT_NAMES.totp,
      createdAt: new Date(record.confirmedAt ?? record.createdAt),
      lastUsedAt: record.lastUsedAt === null ? null : new Date(record.lastUsedAt),
    };
  }
  return {
    id: record.id,
    type: 'webauthn',
    name: record.name ?? (record.backupEligible ? DEFAULT_NAMES.passkey : DEFAULT_NAMES.securityKey),
    createdAt: new Date(record.createdAt),
    lastUsedAt: record.lastUsedAt === null ? null : new Date(record.lastUsedAt),
    passkey: record.backupEligible,
  };
}

/** The longest name of an authenticator. */
const MAX_NAME_LENGTH = 64;

/** A name the user gave: 1-64 characters once trimmed, no control characters. */
function checkName(name: unknown): string {
  const trimmed = typeof name === 'string' ? name.trim() : name;
  if (
    typeof trimmed !== 'string' ||
    trimmed.length === 0 ||
    trimmed.length > MAX_NAME_LENGTH ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point.
    /[\u0000-\u001f\u007f]/.test(trimmed) ||
    unstorableReason(trimmed) !== null
  ) {
    throw new InvalidInputError('name', `name must be 1-${MAX_NAME_LENGTH} characters of text`);
  }
  return trimmed;
}

/**
 * The engine over options already validated by `twoFactorOptionsSchema` (or a schema extending it,
 * as the HTTP layer's does): they are not checked a second time. Not part of the public API.
 * @internal
 */
export function engineOf(resolved: ResolvedOptions): TwoFactor {
  const { keyring, clock, totp: totpOptions, lockout, maxAuthenticators } = resolved;
  const webauthnOptions = resolved.webauthn;
  const store = guardStore(resolved.store);
  const events = new EventHub(resolved.onListenerError);
  const reportError = (error: unknown, what: string) => events.report(error, what);
  const notify = resolved.notify;
  if (notify) {
    const send = <E extends TwoFactorEventName>(event: E, payload: TwoFactorEvents[E]) => {
      const notice = noticeOf(event, payload);
      if (!notice) return;
      const at = clock();
      const written = renderMessage(
        resolved.messages,
        notice.type,
        { issuer: resolved.issuer, at, details: notice.details as never },
        (error) => reportError(error, 'messages'),
      );
      const full = {
        type: notice.type,
        userId: payload.userId,
        at,
        details: Object.freeze(notice.details),
        ...written,
      };
      // Its own report name: a failing hook is told apart from a failing event listener.
      return Promise.resolve()
        .then(() => notify(Object.freeze(full) as SecurityNotice))
        .catch((error: unknown) => reportError(error, 'notify'));
    };
    for (const event of NOTICE_EVENTS) events.on(event, (payload) => send(event, payload));
  }
  const challenges = createChallengeTokens({
    keyring,
    issuer: resolved.issuer,
    ttlMs: resolved.challenge.ttlMs,
  });

  function totpFor(
    record: Pick<AuthenticatorRecord, 'algorithm' | 'digits' | 'period'>,
    secret: Uint8Array,
  ): Totp {
    // The secret's length was checked when it was stored; imported ones may be as short as 80 bits.
    return new Totp({
      secret,
      algorithm: record.algorithm,
      digits: record.digits,
      period: record.period,
      minSecretBytes: OTP_LIMITS.minSecretBytesFloor,
    });
  }

  function requireWebAuthn(): WebAuthnOptions {
    if (!webauthnOptions) {
      throw new InvalidInputError('webauthn', 'Security keys are not enabled on this server');
    }
    return webauthnOptions;
  }

  /** What judging a second factor starts from (see {@link begin}). */
  interface Begun {
    /** The user's live authenticators; at least one is active. */
    records: StoredAuthenticator[];
    /** This attempt, counted toward lockout. */
    attempt: AttemptState;
    /** A delayed recovery in progress, if any (a second factor cancels it). */
    due: PendingRecovery | null;
    /** The store the judging goes on with: the engine's, or the one of its `atomically`. */
    store: Store;
  }

  /**
   * Starts judging a second factor, in one store call where the store allows: claims the login
   * challenge (`challenge`, when in a login: one attempt in flight per challenge token, and a success
   * spends it for good), counts the attempt on the challenge and then toward the user's lockout
   * before anything is judged (atomically with each limit: of any number of concurrent attempts, at
   * most `maxFailures` per lock period get past this), and reads the user's authenticators and any
   * delayed recovery. A refusal after the claim gives the claim back. Every call goes to `s`.
   */
  async function begin(
    userId: string,
    now: number,
    challenge: { jti: string; expiresAt: number } | null,
    s: Store = store,
  ): Promise<Begun> {
    const attempts = [{ key: FAILURES_KEY, limit: lockout.maxFailures, ttlMs: lockout.durationMs }];
    if (challenge) {
      attempts.unshift({
        key: challengeAttemptsKey(challenge.jti),
        limit: resolved.challenge.maxAttempts,
        ttlMs: Math.max(challenge.expiresAt - now, 1),
      });
    }
    const claim = challenge
      ? { key: challengeSpentKey(challenge.jti), value: 'spent', expiresAt: challenge.expiresAt }
      : null;
    const begun = await steps.beginSecondFactor(s, userId, {
      claim,
      attempts,
      readNonce: RECOVERY_DUE_KEY,
      now,
    });
    if (!begun.claimed) throw new InvalidChallengeError('The challenge token was already used');
    try {
      if (!begun.authenticators.some(isActive)) throw new NotEnabledError();
      if (challenge && !begun.attempts[0]!.taken) {
        throw new InvalidChallengeError('The challenge token has no attempts left');
      }
      const attempt = begun.attempts.at(-1)!;
      if (!attempt.taken) throw new LockedError(attempt.expiresAt - now);
      return { records: begun.authenticators, attempt, due: parseDue(begun.nonce), store: s };
    } catch (error) {
      if (claim) await s.deleteNonce(userId, claim.key);
      throw error;
    }
  }

  /** A judged attempt failed: it was already counted; reports it and throws InvalidCodeError. */
  function fail(
    userId: string,
    attempt: AttemptState,
    method: VerifiedFactor['method'],
    reason: 'invalid' | 'malformed' | 'replayed',
  ): never {
    events.emit('failed', { userId, method, reason, failures: attempt.count });
    if (attempt.count === lockout.maxFailures) events.emit('locked', { userId, until: attempt.expiresAt });
    throw new InvalidCodeError(
      method === 'webauthn' ? 'The security key answer is not valid' : 'The code is not valid',
    );
  }

  /**
   * Counts one attempt toward lockout before it is judged, in one atomic store step, for the steps
   * outside {@link begin} (confirm, a password step-up).
   */
  async function takeAttempt(userId: string, now: number): Promise<AttemptState> {
    const attempt = await store.takeAttempt(
      userId,
      FAILURES_KEY,
      lockout.maxFailures,
      lockout.durationMs,
      now,
    );
    if (!attempt.taken) throw new LockedError(attempt.expiresAt - now);
    return attempt;
  }

  /**
   * A judged attempt succeeded: the failure count ends, unless other attempts were counted since
   * this one (a burst in flight); those stay counted, so a success never frees more guesses.
   * `known` is what {@link begin} read (the delayed recovery) and whether the count was ended
   * already, in the store call that accepted a code. Every call goes to `s`.
   */
  async function succeed(
    userId: string,
    attempt: AttemptState,
    known?: { due: PendingRecovery | null; counted: boolean },
    s: Store = store,
  ): Promise<void> {
    // A second factor proves the user still has one: a delayed recovery in progress is cancelled.
    await Promise.all([
      known?.counted ? undefined : s.resetCounterIfUnchanged(userId, FAILURES_KEY, attempt),
      !known
        ? cancelPendingRecovery(userId, 'second-factor', undefined, s)
        : known.due
          ? cancelPendingRecovery(userId, 'second-factor', known.due, s)
          : undefined,
    ]);
  }

  /** Reads the user's delayed recovery: its stored value, when it is due, its cancel hash; or null. */
  async function readDue(userId: string, now: number, s: Store = store): Promise<PendingRecovery | null> {
    return parseDue(await s.getNonce(userId, RECOVERY_DUE_KEY, now));
  }

  /** Cancels a delayed recovery in progress, if any, by compare-and-delete of what was read. */
  async function cancelPendingRecovery(
    userId: string,
    by: 'link' | 'second-factor',
    read?: PendingRecovery,
    s: Store = store,
  ): Promise<boolean> {
    const now = clock();
    const pending = read ?? (await readDue(userId, now, s));
    if (!pending || pending.due <= now) return false;
    if (!(await s.takeNonce(userId, RECOVERY_DUE_KEY, pending.value, now))) return false;
    events.emit('recoveryCancelled', { userId, by });
    return true;
  }

  /**
   * Spends the recovery link and schedules the removal, for a confirm of a delayed recovery. Of
   * concurrent confirms exactly one schedules (set-if-absent); the link is spent after, and a
   * failure to spend it takes the schedule back.
   */
  async function scheduleRecovery(
    userId: string,
    presentedLink: string,
    due: number,
    now: number,
  ): Promise<{ dueAt: number; cancelToken: string }> {
    const cancelToken = encodeBase64url(cryptoRandom(32));
    const value = JSON.stringify({ due, cancel: hashRecoveryToken(cancelToken) });
    if (!(await store.claimNonce(userId, RECOVERY_DUE_KEY, value, due + RECOVERY_DUE_KEEP_MS, now))) {
      throw new InvalidRecoveryTokenError('A removal of two-factor authentication is scheduled already');
    }
    if (!(await store.takeNonce(userId, RECOVERY_TOKEN_KEY, presentedLink, now))) {
      await store.takeNonce(userId, RECOVERY_DUE_KEY, value, now);
      throw new InvalidRecoveryTokenError();
    }
    events.emit('recoveryScheduled', { userId, dueAt: due });
    return { dueAt: due, cancelToken };
  }

  async function processDue(
    userId: string,
    pending: { value: string; due: number } | null,
  ): Promise<boolean> {
    const now = clock();
    if (!pending || pending.due > now) return false;
    // Sessions end first, as for every way 2FA goes off. A session started in this very ms is the
    // request doing this (a login): it is not among them.
    await store.putNonce(
      userId,
      SESSIONS_REVOKED_BEFORE_KEY,
      String(now - 1),
      now + MAX_SESSION_LIFETIME_MS,
      now,
    );
    if (!(await store.takeNonceAndDeleteTwoFactor(userId, RECOVERY_DUE_KEY, pending.value, now)))
      return false;
    await store.resetCounter(userId, FAILURES_KEY);
    events.emit('disabled', { userId, via: 'email-recovery' });
    return true;
  }

  /** The user's live authenticators, or NotEnabledError when none is active. */
  async function enabledAuthenticators(userId: string, now: number): Promise<StoredAuthenticator[]> {
    const records = await store.listAuthenticators(userId, now);
    if (!records.some(isActive)) throw new NotEnabledError();
    return records;
  }

  /** Matches a TOTP code against one record without consuming it: the step, or why not. */
  function matchCode(
    record: AuthenticatorRecord,
    secret: Uint8Array,
    code: string,
    now: number,
  ): number | 'invalid' | 'malformed' | 'replayed' {
    try {
      return totpFor(record, secret).match(code, {
        time: now,
        window: totpOptions.window,
        lastCounter: record.lastCounter,
      }).counter;
    } catch (error) {
      if (!(error instanceof OtpError)) throw error;
      return error.code === 'OTP_REUSED'
        ? 'replayed'
        : error.code === 'OTP_NO_MATCH'
          ? 'invalid'
          : 'malformed';
    }
  }

  /** The strongest reason among the refusals of several authenticators: replayed, then invalid. */
  function worstReason(
    reasons: ('invalid' | 'malformed' | 'replayed')[],
  ): 'invalid' | 'malformed' | 'replayed' {
    if (reasons.includes('replayed')) return 'replayed';
    if (reasons.includes('invalid') || reasons.length === 0) return 'invalid';
    return 'malformed';
  }

  /** Checks a code from an app; `begun` is the login's start (see {@link begin}), when in one. */
  async function verifyTotp(
    userId: string,
    code: unknown,
    begun?: Begun,
    session?: SessionWrite,
  ): Promise<VerifiedFactor> {
    const now = clock();
    if (!begun) checkUserId(userId);
    const { records, attempt, due, store: s } = begun ?? (await begin(userId, now, null));
    if (typeof code !== 'string') return fail(userId, attempt, 'totp', 'malformed');
    // Every app of the user is tried: a code is each one's to match (constant time within each).
    const reasons: ('invalid' | 'malformed' | 'replayed')[] = [];
    for (const record of records.filter(activeTotp)) {
      const opened = keyring.open(record.sealedSecret, userId);
      const counter = matchCode(record, opened.plaintext, code, now);
      if (typeof counter !== 'number') {
        reasons.push(counter);
        continue;
      }
      const verified: VerifiedFactor = { userId, method: 'totp', authenticatorId: record.id, amr: 'otp' };
      // The step is spent and the failure count ends in one store call, with the login's session
      // when nothing else is left to store after it (a pending recovery to cancel, a reseal): a
      // session is never stored for a login that then fails.
      const reset = { key: FAILURES_KEY, expected: attempt };
      const along = session && due === null && !opened.needsReseal ? session : undefined;
      const spent = along
        ? await steps.finishSecondFactor(s, userId, {
            authenticatorId: record.id,
            counter,
            reset,
            nonces: along.nonces(verified),
            now,
          })
        : await steps.consumeCounterAndReset(s, userId, record.id, counter, now, reset);
      if (!spent) return fail(userId, attempt, 'totp', 'replayed');
      if (along) along.written = true;
      await succeed(userId, attempt, { due, counted: true }, s);
      if (opened.needsReseal) {
        const resealed = keyring.seal(opened.plaintext, userId);
        if (await s.replaceSealedSecret(userId, record.id, record.sealedSecret, resealed)) {
          events.emit('resealed', { userId, tag: keyring.currentTag });
        }
      }
      events.emit('verified', { userId, method: 'totp' });
      return verified;
    }
    return fail(userId, attempt, 'totp', worstReason(reasons));
  }

  /** Checks a recovery code; `begun` as for {@link verifyTotp}. */
  async function verifyRecoveryCode(
    userId: string,
    recoveryCode: unknown,
    begun?: Begun,
  ): Promise<VerifiedFactor & { remaining: number }> {
    const now = clock();
    if (!begun) checkUserId(userId);
    const { attempt, due, store: s } = begun ?? (await begin(userId, now, null));
    // twofold's own codes, then codes imported from another system (their own hash), under every key.
    const candidates = submittedCodeHashCandidates(keyring, userId, recoveryCode);
    if (candidates === null) return fail(userId, attempt, 'recovery-code', 'malformed');
    let spent = false;
    for (const hash of candidates) {
      if (await s.consumeRecoveryCode(userId, hash)) {
        spent = true;
        break;
      }
    }
    if (!spent) return fail(userId, attempt, 'recovery-code', 'invalid');
    await succeed(userId, attempt, { due, counted: false }, s);
    const remaining = await s.countRecoveryCodes(userId);
    events.emit('verified', { userId, method: 'recovery-code' });
    events.emit('recoveryCodeUsed', { userId, remaining });
    return { userId, method: 'recovery-code', authenticatorId: null, amr: 'otp', remaining };
  }

  /**
   * Checks a WebAuthn assertion. In a login, `loginChallenge` is the challenge bound to the
   * challenge token (which is claimed for the attempt, so it is used once); outside one, the
   * assertion must answer the user's latest options, which it spends in one atomic step.
   */
  async function verifyAssertion(
    userId: string,
    response: unknown,
    loginChallenge: string | null,
    begun?: Begun,
  ): Promise<VerifiedFactor> {
    const config = requireWebAuthn();
    const now = clock();
    if (!begun) checkUserId(userId);
    const { records, attempt, due, store: s } = begun ?? (await begin(userId, now, null));
    const assertion = parseAuthenticationResponse(response);
    const challenge = assertion ? clientChallenge(assertion.response.clientDataJSON) : null;
    if (!assertion || challenge === null) return fail(userId, attempt, 'webauthn', 'malformed');
    const credential = records.find(
      (record): record is WebAuthnCredentialRecord =>
        record.type === 'webauthn' && record.credentialId === assertion.id,
    );
    if (!credential) return fail(userId, attempt, 'webauthn', 'invalid');
    if (loginChallenge !== null) {
      if (!equalStrings(challenge, loginChallenge)) return fail(userId, attempt, 'webauthn', 'invalid');
    } else if (!(await s.takeNonce(userId, WEBAUTHN_ASSERTION_KEY, challenge, now))) {
      return fail(userId, attempt, 'webauthn', 'replayed');
    }
    const { verifyAuthenticationResponse } = await simpleWebAuthn();
    let newCounter: number;
    let backedUp: boolean;
    try {
      const result = await verifyAuthenticationResponse({
        response: assertion,
        expectedChallenge: challenge,
        expectedOrigin: config.origins,
        expectedRPID: config.rpId,
        requireUserVerification: config.userVerification === 'required',
        credential: {
          id: credential.credentialId,
          publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')),
          counter: credential.counter,
          transports: credential.transports as AuthenticatorTransportFuture[],
        },
      });
      if (!result.verified) return fail(userId, attempt, 'webauthn', 'invalid');
      newCounter = result.authenticationInfo.newCounter;
      backedUp = result.authenticationInfo.credentialBackedUp;
    } catch (error) {
      if (error instanceof TwofoldError) throw error;
      return fail(userId, attempt, 'webauthn', 'invalid');
    }
    // The counter moves forward in one atomic step: of two answers with the same counter (a cloned
    // key, or one answer sent twice), one at most is accepted.
    if (
      !(await s.useWebAuthnCredential(userId, credential.id, {
        counter: newCounter,
        backupState: backedUp,
        now,
      }))
    ) {
      return fail(userId, attempt, 'webauthn', 'replayed');
    }
    await succeed(userId, attempt, { due, counted: false }, s);
    events.emit('verified', { userId, method: 'webauthn' });
    return {
      userId,
      method: 'webauthn',
      authenticatorId: credential.id,
      amr: credential.backupEligible ? 'swk' : 'hwk',
    };
  }

  function verifyFactor(
    userId: string,
    factor: SecondFactor,
    loginChallenge: string | null,
    begun?: Begun,
    session?: SessionWrite,
  ): Promise<VerifiedFactor> {
    const kind = secondFactorKind(factor);
    if (kind === 'code') return verifyTotp(userId, (factor as { code: unknown }).code, begun, session);
    if (kind === 'webauthn') {
      return verifyAssertion(userId, (factor as { webauthn: unknown }).webauthn, loginChallenge, begun);
    }
    return verifyRecoveryCode(userId, (factor as { recoveryCode: unknown }).recoveryCode, begun).then(
      ({ remaining: _remaining, ...verified }) => verified,
    );
  }

  /**
   * A check outside a login (`judge`, given what {@link begin} started) in one transaction where the
   * store has `atomically` (see completeChallenge), and otherwise as `judge` starts it itself.
   */
  async function inOneStep<T>(userId: string, judge: (begun?: Begun) => Promise<T>): Promise<T> {
    if (!store.atomically) return judge();
    checkUserId(userId);
    return store.atomically(async (s) => judge(await begin(userId, clock(), null, s)));
  }

  const verifySecondFactor = (userId: string, factor: SecondFactor) =>
    secondFactorKind(factor) === 'webauthn'
      ? verifyFactor(userId, factor, null)
      : inOneStep(userId, (begun) => verifyFactor(userId, factor, null, begun));

  function freshRecoveryCodes(userId: string): { codes: string[]; hashes: string[] } {
    const codes = generateRecoveryCodes(resolved.recoveryCodes.count);
    const hashes = codes.map((code) => hashRecoveryCode(keyring, userId, normalizeRecoveryCode(code)!));
    return { codes, hashes };
  }

  /** The WebAuthn challenge of a login: a MAC of the challenge token's id, so nothing is stored. */
  function loginChallengeFor(jti: string): Uint8Array<ArrayBuffer> {
    return new Uint8Array(
      createHmac('sha256', keyring.deriveKey('webauthn-login-challenge')).update(jti).digest(),
    );
  }

  /**
   * The user handle of WebAuthn registrations: a MAC of the user id, the same for every key of the
   * user and saying nothing about them (the spec asks for no personal data in it).
   */
  function userHandle(userId: string): Uint8Array<ArrayBuffer> {
    return new Uint8Array(
      createHmac('sha256', keyring.deriveKey('webauthn-user-handle')).update(userId).digest(),
    );
  }

  /**
   * What adding an authenticator came to: the recovery codes when it turned 2FA on, an error when
   * the store refused it.
   */
  function added(
    userId: string,
    authenticatorId: string,
    type: 'totp' | 'webauthn',
    outcome: AddAuthenticatorOutcome,
    codes: string[],
  ): AddedAuthenticator {
    if (outcome === 'full') throw new AuthenticatorLimitError(maxAuthenticators);
    if (outcome === 'missing') throw new NotPendingError();
    if (outcome === 'duplicate')
      throw new InvalidRegistrationError('This security key is registered already');
    events.emit('authenticatorAdded', { userId, authenticatorId, type, enabled: outcome === 'enabled' });
    if (outcome === 'added') return { authenticatorId, enabled: false, recoveryCodes: [] };
    events.emit('confirmed', { userId });
    return { authenticatorId, enabled: true, recoveryCodes: codes };
  }

  const twoFactor: TwoFactor = {
    options: resolved,

    async enroll(userId, enrollOptions = {}) {
      const now = clock();
      checkUserId(userId);
      const label = enrollOptions.label ?? defaultLabel(userId);
      if (
        typeof label !== 'string' ||
        label.length === 0 ||
        label.length > MAX_LABEL_LENGTH ||
        label.includes(':')
      ) {
        throw new InvalidInputError('label', 'label must be 1-128 characters without a colon');
      }
      const name = enrollOptions.name === undefined ? null : checkName(enrollOptions.name);
      const existing = await store.listAuthenticators(userId, now);
      if (existing.filter(isActive).length >= maxAuthenticators) {
        throw new AuthenticatorLimitError(maxAuthenticators);
      }

      const secret = generateSecret({ algorithm: totpOptions.algorithm });
      const expiresAt = now + resolved.enrollmentTtlMs;
      const authenticatorId = newAuthenticatorId('t');
      const saved = await store.savePendingAuthenticator(
        {
          type: 'totp',
          userId,
          id: authenticatorId,
          name,
          status: 'pending',
          sealedSecret: keyring.seal(secret, userId),
          algorithm: totpOptions.algorithm,
          digits: totpOptions.digits,
          period: totpOptions.period,
          lastCounter: -1,
          createdAt: now,
          confirmedAt: null,
          lastUsedAt: null,
          expiresAt,
        },
        now,
      );
      // Only a random id colliding with an active one's could be refused.
      if (!saved) throw new StoreUnavailableError('The enrollment could not be saved: try again');

      const totp = totpFor(totpOptions, secret);
      const otpauthUri = totp.toUri({ issuer: resolved.issuer, account: label });
      const qrSvg = renderQrSvg(otpauthUri);
      events.emit('enrolled', { userId, expiresAt });
      return {
        authenticatorId,
        otpauthUri,
        secret: totp.base32,
        prettySecret: prettySecret(secret),
        qrSvg,
        qrDataUri: svgDataUri(qrSvg),
        expiresAt,
      };
    },

    async confirm(userId, code, confirmOptions = {}) {
      const now = clock();
      checkUserId(userId);
      const wanted = confirmOptions.authenticatorId;
      if (
        wanted !== undefined &&
        (typeof wanted !== 'string' || wanted.length === 0 || wanted.length > 255)
      ) {
        throw new InvalidInputError('authenticatorId', 'authenticatorId must be the id enroll returned');
      }
      const records = await store.listAuthenticators(userId, now);
      const record = records.find(
        (candidate): candidate is AuthenticatorRecord =>
          candidate.type === 'totp' &&
          candidate.status === 'pending' &&
          (wanted === undefined || candidate.id === wanted),
      );
      if (!record) throw new NotPendingError();
      const attempt = await takeAttempt(userId, now);
      if (typeof code !== 'string') return fail(userId, attempt, 'totp', 'malformed');
      const { plaintext } = keyring.open(record.sealedSecret, userId);
      const counter = matchCode(record, plaintext, code, now);
      if (typeof counter !== 'number') return fail(userId, attempt, 'totp', counter);
      const { codes, hashes } = freshRecoveryCodes(userId);
      const turnsOn = !records.some(isActive);
      if (turnsOn && confirmOptions.beforeActivate) await confirmOptions.beforeActivate();
      // Compare-and-set on the secret the code was checked against: an enrollment that replaced
      // it meanwhile makes this fail rather than activate a secret no code was checked against.
      const outcome = await store.confirmAuthenticator(userId, record.id, {
        sealedSecret: record.sealedSecret,
        counter,
        recoveryCodeHashes: hashes,
        maxActive: maxAuthenticators,
        now,
      });
      // The code was right, whatever the store decided: the failure count ends.
      await succeed(userId, attempt);
      return added(userId, record.id, 'totp', outcome, codes);
    },

    verify: (userId, code) => inOneStep(userId, (begun) => verifyTotp(userId, code, begun)),
    useRecoveryCode: (userId, recoveryCode) =>
      inOneStep(userId, (begun) => verifyRecoveryCode(userId, recoveryCode, begun)),
    verifySecondFactor,

    async verifyPasswordStepUp(userId, check) {
      const now = clock();
      checkUserId(userId);
      if ((await store.listAuthenticators(userId, now)).some(isActive)) {
        throw new InvalidInputError(
          'code',
          'This account has two-factor authentication: step up with a second factor ("code", "webauthn" or "recoveryCode"), not the password',
        );
      }
      const attempt = await takeAttempt(userId, now);
      if (!(await check())) {
        events.emit('failed', { userId, method: 'password', reason: 'invalid', failures: attempt.count });
        if (attempt.count === lockout.maxFailures) {
          events.emit('locked', { userId, until: attempt.expiresAt });
        }
        throw new InvalidCredentialsError();
      }
      await succeed(userId, attempt);
    },

    async rotateRecoveryCodes(userId, factor) {
      await verifySecondFactor(userId, factor);
      const { codes, hashes } = freshRecoveryCodes(userId);
      if (!(await store.replaceRecoveryCodes(userId, hashes, clock()))) throw new NotEnabledError();
      events.emit('recoveryCodesRotated', { userId });
      return { recoveryCodes: codes };
    },

    async disable(userId, factor, disableOptions = {}) {
      const verified = await verifySecondFactor(userId, factor);
      if (disableOptions.beforeDisable) await disableOptions.beforeDisable(verified);
      await store.deleteTwoFactor(userId);
      events.emit('disabled', { userId, via: disabledVia(verified.method) });
    },

    async importAuthenticator(userId, input, importOptions = {}) {
      const now = clock();
      checkUserId(userId);
      const checked = checkImport(input, checkName);
      const result = await writeImport(userId, checked, {
        store,
        keyring,
        now,
        maxActive: maxAuthenticators,
        pendingTtlMs: resolved.enrollmentTtlMs,
        dryRun: importOptions.dryRun === true,
      });
      if (result.outcome !== 'unchanged' && importOptions.dryRun !== true) {
        events.emit('imported', {
          userId,
          authenticatorId: result.authenticatorId,
          source: checked.source,
          enabled: result.outcome === 'enabled',
        });
      }
      return result;
    },

    async status(userId) {
      const now = clock();
      checkUserId(userId);
      let [records, pending] = await Promise.all([
        store.listAuthenticators(userId, now),
        readDue(userId, now),
      ]);
      if (pending && pending.due <= now) {
        // Due: carried out now, by whoever asked first (a login, GET /status).
        await processDue(userId, pending);
        [records, pending] = await Promise.all([store.listAuthenticators(userId, now), readDue(userId, now)]);
      }
      const active = records.filter(isActive);
      const enabled = active.length > 0;
      const since = active.map((record) =>
        record.type === 'totp' ? (record.confirmedAt ?? record.createdAt) : record.createdAt,
      );
      const used = active.flatMap((record) => (record.lastUsedAt === null ? [] : [record.lastUsedAt]));
      return {
        enabled,
        pending: records.some((record) => record.type === 'totp' && record.status === 'pending'),
        recoveryPending: pending && enabled ? { dueAt: new Date(pending.due) } : null,
        recoveryCodesRemaining: enabled ? await store.countRecoveryCodes(userId) : 0,
        enabledAt: enabled ? new Date(Math.min(...since)) : null,
        lastUsedAt: used.length > 0 ? new Date(Math.max(...used)) : null,
        authenticators: {
          totp: active.filter((record) => record.type === 'totp').length,
          webauthn: active.filter((record) => record.type === 'webauthn').length,
        },
      };
    },

    async listAuthenticators(userId) {
      const now = clock();
      checkUserId(userId);
      // Oldest first by the date shown (an app's is its confirmation), then by id.
      return (await store.listAuthenticators(userId, now))
        .filter(isActive)
        .map(describe)
        .sort(
          (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        );
    },

    async renameAuthenticator(userId, authenticatorId, name) {
      const now = clock();
      checkUserId(userId);
      checkAuthenticatorId(authenticatorId);
      const checked = checkName(name);
      if (!(await store.renameAuthenticator(userId, authenticatorId, checked, now)))
        throw new NotFoundError();
      const record = (await store.listAuthenticators(userId, now)).find(
        (candidate) => candidate.id === authenticatorId && isActive(candidate),
      );
      // Removed right after the rename: as if the rename came second.
      if (!record) throw new NotFoundError();
      return describe(record);
    },

    async removeAuthenticator(userId, authenticatorId, factor, removeOptions = {}) {
      checkUserId(userId);
      checkAuthenticatorId(authenticatorId);
      secondFactorKind(factor);
      const before = (await store.listAuthenticators(userId, clock())).filter(isActive);
      if (!before.some((record) => record.id === authenticatorId)) throw new NotFoundError();
      const verified = await verifySecondFactor(userId, factor);
      // Removing the last one is turning 2FA off: sessions end first, as for disable.
      const last = before.length === 1;
      if (last && removeOptions.beforeDisable) await removeOptions.beforeDisable(verified);
      const outcome = await store.removeAuthenticator(userId, authenticatorId, clock());
      if (outcome === 'missing') throw new NotFoundError();
      events.emit('authenticatorRemoved', { userId, authenticatorId, last: outcome === 'disabled' });
      if (outcome === 'disabled') events.emit('disabled', { userId, via: disabledVia(verified.method) });
      if (outcome === 'disabled' && !last && removeOptions.beforeDisable) {
        // Another removal made this one the last meanwhile: 2FA is off already, so the sessions end
        // now, after it (what it throws reaches the caller; the removal stands).
        await removeOptions.beforeDisable(verified);
      }
      return { disabled: outcome === 'disabled' };
    },

    async startWebAuthnRegistration(userId, registrationOptions = {}) {
      const config = requireWebAuthn();
      const now = clock();
      checkUserId(userId);
      const name = registrationOptions.name === undefined ? null : checkName(registrationOptions.name);
      const userName = registrationOptions.userName ?? defaultLabel(userId);
      if (typeof userName !== 'string' || userName.length === 0 || userName.length > MAX_LABEL_LENGTH) {
        throw new InvalidInputError('userName', 'userName must be 1-128 characters');
      }
      const records = await store.listAuthenticators(userId, now);
      if (records.filter(isActive).length >= maxAuthenticators) {
        throw new AuthenticatorLimitError(maxAuthenticators);
      }
      const { generateRegistrationOptions } = await simpleWebAuthn();
      const options = await generateRegistrationOptions({
        rpName: config.rpName ?? resolved.issuer,
        rpID: config.rpId,
        userName,
        userID: userHandle(userId),
        userDisplayName: userName,
        timeout: config.timeoutMs,
        attestationType: config.attestation,
        excludeCredentials: records.flatMap((record) =>
          record.type === 'webauthn'
            ? [{ id: record.credentialId, transports: record.transports as AuthenticatorTransportFuture[] }]
            : [],
        ),
        authenticatorSelection: { residentKey: 'preferred', userVerification: config.userVerification },
        supportedAlgorithmIDs: [...WEBAUTHN_ALGORITHMS],
      });
      // One registration under way per user: new options replace the previous ones.
      const state = JSON.stringify({ challenge: options.challenge, name });
      await store.putNonce(userId, WEBAUTHN_REGISTRATION_KEY, state, now + config.timeoutMs, now);
      return options;
    },

    async finishWebAuthnRegistration(userId, response, registrationOptions = {}) {
      const config = requireWebAuthn();
      const now = clock();
      checkUserId(userId);
      const givenName =
        registrationOptions.name === undefined ? undefined : checkName(registrationOptions.name);
      const registration = parseRegistrationResponse(response);
      const challenge = registration ? clientChallenge(registration.response.clientDataJSON) : null;
      if (!registration || challenge === null) {
        throw new InvalidInputError(
          'response',
          'response must be what navigator.credentials.create() answered, in JSON form',
        );
      }
      const state = await store.getNonce(userId, WEBAUTHN_REGISTRATION_KEY, now);
      const pending =
        state === null ? null : (JSON.parse(state) as { challenge: string; name: string | null });
      // The options are spent by the first answer to them, valid or not.
      if (
        pending === null ||
        !equalStrings(pending.challenge, challenge) ||
        !(await store.takeNonce(userId, WEBAUTHN_REGISTRATION_KEY, state!, now))
      ) {
        throw new InvalidRegistrationError(
          'No registration is under way for this answer (it expired or was used): ask for new options',
        );
      }
      const { verifyRegistrationResponse } = await simpleWebAuthn();
      let info: NonNullable<Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo']>;
      try {
        const result = await verifyRegistrationResponse({
          response: registration,
          expectedChallenge: challenge,
          expectedOrigin: config.origins,
          expectedRPID: config.rpId,
          requireUserVerification: config.userVerification === 'required',
          supportedAlgorithmIDs: [...WEBAUTHN_ALGORITHMS],
        });
        if (!result.verified || !result.registrationInfo) throw new InvalidRegistrationError();
        info = result.registrationInfo;
      } catch (error) {
        if (error instanceof InvalidRegistrationError) throw error;
        throw new InvalidRegistrationError(
          'The security key answer does not verify (origin, rpId, signature or format): ask for new options',
        );
      }
      const record: WebAuthnCredentialRecord = {
        type: 'webauthn',
        userId,
        id: newAuthenticatorId('w'),
        name: givenName ?? pending.name,
        credentialId: info.credential.id,
        publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter,
        transports: (registration.response.transports ?? []).slice(0, 8),
        aaguid: info.aaguid,
        backupEligible: info.credentialDeviceType === 'multiDevice',
        backupState: info.credentialBackedUp,
        createdAt: now,
        lastUsedAt: null,
      };
      const { codes, hashes } = freshRecoveryCodes(userId);
      const turnsOn = !(await store.listAuthenticators(userId, now)).some(isActive);
      if (turnsOn && registrationOptions.beforeActivate) {
        // The key proves what a login with it would: `swk` for a synced passkey, `hwk` otherwise.
        await registrationOptions.beforeActivate(record.backupEligible ? 'swk' : 'hwk');
      }
      const outcome = await store.addWebAuthnCredential(record, {
        recoveryCodeHashes: hashes,
        maxActive: maxAuthenticators,
        now,
      });
      return added(userId, record.id, 'webauthn', outcome, codes);
    },

    async startWebAuthnAuthentication(userId) {
      const config = requireWebAuthn();
      const now = clock();
      checkUserId(userId);
      const records = await enabledAuthenticators(userId, now);
      const { generateAuthenticationOptions } = await simpleWebAuthn();
      const options = await generateAuthenticationOptions({
        rpID: config.rpId,
        timeout: config.timeoutMs,
        userVerification: config.userVerification,
        allowCredentials: allowedCredentials(records),
      });
      await store.putNonce(userId, WEBAUTHN_ASSERTION_KEY, options.challenge, now + config.timeoutMs, now);
      return options;
    },

    async createChallenge(userId) {
      const now = clock();
      checkUserId(userId);
      const { token, expiresAt } = await challenges.sign(userId, now);
      return { challengeToken: token, expiresIn: Math.ceil((expiresAt - now) / 1000), expiresAt };
    },

    async loginOptions(challengeToken) {
      const now = clock();
      const { userId, jti, expiresAt } = await challenges.verify(challengeToken, now);
      const records = (await store.listAuthenticators(userId, now)).filter(isActive);
      const factors: LoginOptions['factors'] = [];
      if (records.some((record) => record.type === 'totp')) factors.push('totp');
      const keys = allowedCredentials(records);
      if (webauthnOptions && keys.length > 0) factors.push('webauthn');
      if (records.length > 0) factors.push('recoveryCode');
      if (!webauthnOptions || keys.length === 0) return { factors, webauthn: null };
      const { generateAuthenticationOptions } = await simpleWebAuthn();
      const webauthn = await generateAuthenticationOptions({
        rpID: webauthnOptions.rpId,
        challenge: loginChallengeFor(jti),
        timeout: Math.max(Math.min(webauthnOptions.timeoutMs, expiresAt - now), 1),
        userVerification: webauthnOptions.userVerification,
        allowCredentials: keys,
      });
      return { factors, webauthn };
    },

    async completeChallenge(challengeToken, factor, completeOptions = {}) {
      const kind = secondFactorKind(factor);
      const now = clock();
      const claims = await challenges.verify(challengeToken, now);
      const { userId, jti } = claims;
      const { sessionNonces } = completeOptions;
      const session = sessionNonces ? { nonces: sessionNonces, written: false } : undefined;
      const judge = async (s: Store): Promise<VerifiedFactor> => {
        // The token is claimed and the attempt counted before the factor is judged (see begin).
        const begun = await begin(userId, now, claims, s);
        let verified: VerifiedFactor;
        try {
          const loginChallenge = kind === 'webauthn' ? encodeBase64url(loginChallengeFor(jti)) : null;
          verified = await verifyFactor(userId, factor, loginChallenge, begun, session);
        } catch (error) {
          if (!(error instanceof StoreUnavailableError)) {
            await s.deleteNonce(userId, challengeSpentKey(jti));
          }
          throw error;
        }
        // A factor that had no store call to carry the session (a security key, a recovery code, a
        // code whose login had more to store): the session's own call, after it was accepted.
        if (session && !session.written) await steps.putNonces(s, userId, session.nonces(verified), clock());
        return verified;
      };
      // On a store that runs one call at a time (SQLite), the whole step in one transaction: one
      // commit instead of two or three. Not for a security key, whose check may load its library.
      return store.atomically && kind !== 'webauthn' ? store.atomically(judge) : judge(store);
    },

    async createRecoveryToken(userId) {
      const now = clock();
      checkUserId(userId);
      const token = encodeBase64url(cryptoRandom(32));
      const expiresAt = now + resolved.recoveryTokenTtlMs;
      await store.putNonce(userId, RECOVERY_TOKEN_KEY, hashRecoveryToken(token), expiresAt, now);
      events.emit('recoveryRequested', { userId, expiresAt });
      return { token, expiresAt };
    },

    async completeRecovery(userId, token, recoveryOptions = {}) {
      const now = clock();
      checkUserId(userId);
      if (typeof token !== 'string' || token.length === 0 || token.length > 256) {
        throw new InvalidRecoveryTokenError();
      }
      const expected = await store.getNonce(userId, RECOVERY_TOKEN_KEY, now);
      const presented = hashRecoveryToken(token);
      if (expected === null || !equalStrings(expected, presented)) throw new InvalidRecoveryTokenError();
      if (recoveryOptions.verifyPassword && !(await recoveryOptions.verifyPassword())) {
        throw new InvalidRecoveryTokenError('The recovery link or the password is not valid');
      }
      const delayMs = recoveryOptions.delayMs ?? 0;
      if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
        throw new TypeError('completeRecovery: delayMs must be a whole number of ms, 0 or more');
      }
      if (delayMs > 0) return scheduleRecovery(userId, presented, now + delayMs, now);
      if (recoveryOptions.beforeDisable) await recoveryOptions.beforeDisable();
      // The link is spent in the same atomic step that turns 2FA off: never one without the other.
      if (!(await store.takeNonceAndDeleteTwoFactor(userId, RECOVERY_TOKEN_KEY, presented, now))) {
        throw new InvalidRecoveryTokenError();
      }
      await store.resetCounter(userId, FAILURES_KEY);
      events.emit('disabled', { userId, via: 'email-recovery' });
      return null;
    },

    async cancelRecovery(userId, cancelToken) {
      const now = clock();
      checkUserId(userId);
      if (typeof cancelToken !== 'string' || cancelToken.length === 0 || cancelToken.length > 256) {
        throw new InvalidRecoveryTokenError('The cancel link is not valid');
      }
      const pending = await readDue(userId, now);
      if (!pending || !equalStrings(pending.cancel, hashRecoveryToken(cancelToken))) {
        throw new InvalidRecoveryTokenError(
          'The cancel link is not valid (or the removal was carried out or cancelled)',
        );
      }
      // Compare-and-delete of the schedule that was read: racing its processing, exactly one wins.
      if (pending.due <= now || !(await store.takeNonce(userId, RECOVERY_DUE_KEY, pending.value, now))) {
        throw new InvalidRecoveryTokenError('Too late: two-factor authentication was already turned off');
      }
      events.emit('recoveryCancelled', { userId, by: 'link' });
    },

    async processDueRecovery(userId) {
      checkUserId(userId);
      return processDue(userId, await readDue(userId, clock()));
    },

    async processDueRecoveries(sweepOptions = {}) {
      const batchSize = sweepOptions.batchSize ?? 100;
      if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
        throw new TypeError('processDueRecoveries: batchSize must be a whole number from 1 to 1000');
      }
      let processed = 0;
      let pending = 0;
      let after: string | undefined;
      for (;;) {
        const now = clock();
        const page = await store.findNonces(RECOVERY_DUE_KEY, now, {
          limit: batchSize,
          ...(after === undefined ? {} : { after }),
        });
        for (const entry of page) {
          const due = await readDue(entry.userId, now);
          if (due && due.due > now) pending++;
          else if (await processDue(entry.userId, due)) processed++;
        }
        if (page.length < batchSize) return { processed, pending };
        after = page[page.length - 1]!.userId;
      }
    },

    async adminStatus(userId, by) {
      const now = clock();
      checkUserId(userId);
      const actor = checkActor(by);
      const [status, authenticatorList, failures] = await Promise.all([
        twoFactor.status(userId),
        twoFactor.listAuthenticators(userId),
        store.getCounter(userId, FAILURES_KEY, now),
      ]);
      const locked = failures !== null && failures.count >= lockout.maxFailures;
      events.emit('audit', { action: 'status', userId, ...actor, at: now, changed: false });
      return {
        ...status,
        authenticatorList,
        failures: failures?.count ?? 0,
        lockedUntil: locked ? new Date(failures.expiresAt) : null,
      };
    },

    async unlock(userId, by) {
      const now = clock();
      checkUserId(userId);
      const actor = checkActor(by);
      const failures = await store.getCounter(userId, FAILURES_KEY, now);
      await store.resetCounter(userId, FAILURES_KEY);
      const wasLocked = failures !== null && failures.count >= lockout.maxFailures;
      events.emit('audit', { action: 'unlock', userId, ...actor, at: now, changed: wasLocked });
      return { wasLocked };
    },

    async resetTwoFactor(userId, by) {
      const now = clock();
      checkUserId(userId);
      const actor = checkActor(by);
      // Sessions end first, as for every other way 2FA goes off: a failure after this leaves 2FA on.
      await store.putNonce(
        userId,
        SESSIONS_REVOKED_BEFORE_KEY,
        String(now),
        now + MAX_SESSION_LIFETIME_MS,
        now,
      );
      const wasEnabled = (await store.listAuthenticators(userId, now)).some(isActive);
      await store.deleteTwoFactor(userId);
      await store.deleteNonce(userId, RECOVERY_TOKEN_KEY);
      await store.resetCounter(userId, FAILURES_KEY);
      if (wasEnabled) {
        events.emit('disabled', { userId, via: 'admin' });
        events.emit('reset', { userId, ...actor });
      }
      events.emit('audit', { action: 'reset', userId, ...actor, at: now, changed: wasEnabled });
      return { wasEnabled };
    },

    message: (type, details) =>
      renderMessage(resolved.messages, type, { issuer: resolved.issuer, at: clock(), details }, (error) =>
        reportError(error, 'messages'),
      ),

    async lockedUntil(userId) {
      const now = clock();
      checkUserId(userId);
      const failures = await store.getCounter(userId, FAILURES_KEY, now);
      return failures !== null && failures.count >= lockout.maxFailures ? new Date(failures.expiresAt) : null;
    },

    reportTrustedDevice: (userId, deviceId, name) => events.emit('deviceTrusted', { userId, deviceId, name }),

    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
  return twoFactor;
}

/** The credentials a browser may offer for an assertion, with the transports each reported. */
function allowedCredentials(
  records: readonly StoredAuthenticator[],
): { id: string; transports: AuthenticatorTransportFuture[] }[] {
  return records.flatMap((record) =>
    record.type === 'webauthn'
      ? [{ id: record.credentialId, transports: record.transports as AuthenticatorTransportFuture[] }]
      : [],
  );
}

function disabledVia(method: VerifiedFactor['method']): 'code' | 'recovery-code' | 'webauthn' {
  return method === 'totp' ? 'code' : method;
}

/** A new authenticator id: the kind's letter and 16 random base64url characters. */
function newAuthenticatorId(kind: 't' | 'w'): string {
  return `${kind}_${encodeBase64url(cryptoRandom(12))}`;
}

function checkAuthenticatorId(authenticatorId: unknown): asserts authenticatorId is string {
  if (typeof authenticatorId !== 'string' || authenticatorId.length === 0 || authenticatorId.length > 255) {
    throw new InvalidInputError(
      'authenticatorId',
      'authenticatorId must be the id of one of your authenticators',
    );
  }
}

function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 255) {
    throw new InvalidInputError('userId', 'userId must be a string of 1-255 characters');
  }
  const unfit = unstorableReason(userId);
  if (unfit !== null)
    throw new InvalidInputError('userId', `userId must not contain ${unfit.replace('-', ' ')}`);
}

/** The actor and reason of an operator action, checked: they go into audit logs as given. */
function checkActor(by: unknown): { actor: string; reason: string | null } {
  const { actor, reason } = (typeof by === 'object' && by !== null ? by : {}) as AdminActor;
  if (
    typeof actor !== 'string' ||
    actor.trim().length === 0 ||
    actor.length > 255 ||
    unstorableReason(actor) !== null
  ) {
    throw new InvalidInputError('actor', 'actor must name who acts: 1-255 characters of text');
  }
  if (reason === undefined) return { actor, reason: null };
  if (typeof reason !== 'string' || reason.length > 500 || unstorableReason(reason) !== null) {
    throw new InvalidInputError('reason', 'reason must be at most 500 characters of text');
  }
  return { actor, reason };
}

/** Which kind of second factor a body carries; exactly one of `code`, `recoveryCode` and `webauthn`. */
function secondFactorKind(factor: unknown): 'code' | 'recoveryCode' | 'webauthn' {
  if (typeof factor === 'object' && factor !== null) {
    const given = (['code', 'recoveryCode', 'webauthn'] as const).filter(
      (kind) => kind in factor && (factor as Record<string, unknown>)[kind] !== undefined,
    );
    if (given.length === 1) return given[0]!;
  }
  throw new InvalidInputError('code', 'exactly one of code, recoveryCode and webauthn is required');
}

/** A delayed recovery in progress: the stored nonce's value, when it is due, its cancel hash. */
interface PendingRecovery {
  value: string;
  due: number;
  cancel: string;
}

/** Reads the stored value of a delayed recovery; null for none (or one not ours to read). */
function parseDue(value: string | null): PendingRecovery | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value) as { due?: unknown; cancel?: unknown };
    if (typeof parsed.due === 'number' && typeof parsed.cancel === 'string') {
      return { value, due: parsed.due, cancel: parsed.cancel };
    }
  } catch {
    // Not ours to read: treated as none (it expires on its own).
  }
  return null;
}

function hashRecoveryToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function equalStrings(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** What `work` of a guarded `atomically` rejected with, told apart from the store's own failures. */
class WorkRejected {
  constructor(readonly error: unknown) {}
}

/**
 * Wraps a store so that anything it throws that is not a TwofoldError becomes a
 * StoreUnavailableError: a host-written store that throws a driver error still fails closed.
 */
export function guardStore(store: Store): Store {
  const guarded: Record<string, unknown> = {};
  for (const method of [...STORE_METHODS, ...OPTIONAL_STORE_METHODS]) {
    if (typeof store[method] !== 'function') continue;
    const operation = store[method] as (...args: unknown[]) => Promise<unknown>;
    guarded[method] = async (...args: unknown[]) => {
      try {
        return await operation.apply(store, args);
      } catch (error) {
        if (error instanceof TwofoldError) throw error;
        throw new StoreUnavailableError(undefined, { cause: error });
      }
    };
  }
  if (typeof store.atomically === 'function') {
    // The store inside is guarded too, once per store object the host's store hands out.
    const views = new WeakMap<Store, Store>();
    const guardedView = (view: Store) => {
      let wrapped = views.get(view);
      if (!wrapped) {
        wrapped = guardStore(view);
        views.set(view, wrapped);
      }
      return wrapped;
    };
    guarded.atomically = async <T>(work: (view: Store) => Promise<T>): Promise<T> => {
      // work's own rejection passes unchanged (it is the engine's); the store's become unavailable.
      try {
        return await store.atomically!((view) =>
          work(guardedView(view)).catch((error: unknown) => {
            throw new WorkRejected(error);
          }),
        );
      } catch (error) {
        if (error instanceof WorkRejected) throw error.error;
        if (error instanceof TwofoldError) throw error;
        throw new StoreUnavailableError(undefined, { cause: error });
      }
    };
  }
  return guarded as unknown as Store;
}

/** The longest account name an enrollment takes (what authenticator apps show comfortably). */
const MAX_LABEL_LENGTH = 128;

/**
 * The account name when the host gives none: the user id, made fit for a label. A colon separates
 * issuer from account in an otpauth label, so each becomes "-", and an id past MAX_LABEL_LENGTH is
 * cut at a character boundary. An explicit label is never altered: it is checked and refused.
 */
function defaultLabel(userId: string): string {
  let label = '';
  for (const character of userId.replaceAll(':', '-')) {
    if (label.length + character.length > MAX_LABEL_LENGTH) break;
    label += character;
  }
  return label;
}
