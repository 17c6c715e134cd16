import { createHash, timingSafeEqual } from 'node:crypto';
import { generateSecret, OtpError, prettySecret, Totp } from '@twofold/otp';
import { createChallengeTokens } from './challenge-token.js';
import {
  AlreadyEnabledError,
  InvalidChallengeError,
  InvalidCodeError,
  InvalidInputError,
  InvalidRecoveryTokenError,
  LockedError,
  NotEnabledError,
  NotPendingError,
  StoreUnavailableError,
  TwofoldError,
} from './errors.js';
import { EventHub, type TwoFactorEventName, type TwoFactorListener } from './events.js';
import { encodeBase64url } from './internal/base64url.js';
import { cryptoRandom } from './internal/random.js';
import { unstorableReason } from './internal/unstorable.js';
import { type ResolvedOptions, resolveOptions, STORE_METHODS, type TwoFactorOptions } from './options.js';
import { renderQrSvg, svgDataUri } from './qr.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  recoveryCodeHashCandidates,
} from './recovery-codes.js';
import type { AttemptState, AuthenticatorRecord, Store } from './store.js';

/** The authenticator id the built-in flows manage (the Store allows several per user). */
export const TOTP_AUTHENTICATOR_ID = 'totp';

/** Store keys the engine uses (per user). */
const FAILURES_KEY = 'failures';
const RECOVERY_TOKEN_KEY = 'recovery-token';
const challengeSpentKey = (jti: string) => `challenge:${jti}`;
const challengeAttemptsKey = (jti: string) => `challenge-attempts:${jti}`;

/** A second factor: a code from the authenticator app, or one of the recovery codes. */
export type SecondFactor = { code: unknown } | { recoveryCode: unknown };

/** What enroll returns; shown once (send it with `Cache-Control: no-store`). */
export interface Enrollment {
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

export interface TwoFactorStatus {
  enabled: boolean;
  pending: boolean;
  recoveryCodesRemaining: number;
  enabledAt: Date | null;
  lastUsedAt: Date | null;
}

export interface VerifiedFactor {
  userId: string;
  method: 'totp' | 'recovery-code';
}

export interface Challenge {
  challengeToken: string;
  /** Seconds until the challenge token expires. */
  expiresIn: number;
  expiresAt: number;
}

/** The engine: every 2FA flow, over one store and one keyring. Create it with {@link createTwoFactor}. */
export interface TwoFactor {
  /** The validated options with defaults applied. */
  readonly options: Readonly<ResolvedOptions>;
  /** Starts (or restarts) enrollment: a new secret, pending until confirmed. */
  enroll(userId: string, options?: { label?: string }): Promise<Enrollment>;
  /**
   * Activates the pending authenticator with its first valid code; returns the recovery codes, shown
   * once. `beforeActivate` runs once the code has been checked and before 2FA turns on (e.g. signing
   * out the user's other sessions): if it throws, nothing is activated.
   */
  confirm(
    userId: string,
    code: unknown,
    options?: { beforeActivate?: () => unknown | Promise<unknown> },
  ): Promise<{ recoveryCodes: string[] }>;
  /** Checks a code from the authenticator app: window, replay, lockout. */
  verify(userId: string, code: unknown): Promise<VerifiedFactor>;
  /** Spends one recovery code. */
  useRecoveryCode(userId: string, recoveryCode: unknown): Promise<VerifiedFactor & { remaining: number }>;
  /** Checks either kind of second factor. */
  verifySecondFactor(userId: string, factor: SecondFactor): Promise<VerifiedFactor>;
  /** Replaces the recovery codes; needs a fresh second factor. */
  rotateRecoveryCodes(userId: string, factor: SecondFactor): Promise<{ recoveryCodes: string[] }>;
  /**
   * Turns 2FA off, deleting the secret, the recovery codes and the replay state; needs a fresh second
   * factor. `beforeDisable` runs once the factor has been checked and before anything is deleted: if
   * it throws, 2FA stays on.
   */
  disable(
    userId: string,
    factor: SecondFactor,
    options?: { beforeDisable?: () => unknown | Promise<unknown> },
  ): Promise<void>;
  status(userId: string): Promise<TwoFactorStatus>;
  /** Issues the challenge token of a two-step login, after the host checked the password. */
  createChallenge(userId: string): Promise<Challenge>;
  /** Completes a two-step login: the challenge token plus a second factor; single use. */
  completeChallenge(challengeToken: unknown, factor: SecondFactor): Promise<VerifiedFactor>;
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
    },
  ): Promise<void>;
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

/**
 * The engine over options already validated by `twoFactorOptionsSchema` (or a schema extending it,
 * as the HTTP layer's does): they are not checked a second time. Not part of the public API.
 * @internal
 */
export function engineOf(resolved: ResolvedOptions): TwoFactor {
  const { keyring, clock, totp: totpOptions, lockout } = resolved;
  const store = guardStore(resolved.store);
  const events = new EventHub(resolved.onListenerError);
  const challenges = createChallengeTokens({
    keyring,
    issuer: resolved.issuer,
    ttlMs: resolved.challenge.ttlMs,
  });

  function totpFor(
    record: Pick<AuthenticatorRecord, 'algorithm' | 'digits' | 'period'>,
    secret: Uint8Array,
  ): Totp {
    return new Totp({ secret, algorithm: record.algorithm, digits: record.digits, period: record.period });
  }

  /**
   * Counts one second-factor attempt toward lockout before it is judged, in one atomic store step:
   * of any number of concurrent attempts, at most `maxFailures` per lock period get this far; the
   * rest are refused as locked without being judged.
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

  /** A judged attempt failed: it was already counted; reports it and throws InvalidCodeError. */
  function fail(
    userId: string,
    attempt: AttemptState,
    method: 'totp' | 'recovery-code',
    reason: 'invalid' | 'malformed' | 'replayed',
  ): never {
    events.emit('failed', { userId, method, reason, failures: attempt.count });
    if (attempt.count === lockout.maxFailures) events.emit('locked', { userId, until: attempt.expiresAt });
    throw new InvalidCodeError();
  }

  /**
   * A judged attempt succeeded: the failure count ends, unless other attempts were counted since
   * this one (a burst in flight); those stay counted, so a success never frees more guesses.
   */
  async function succeed(userId: string, attempt: AttemptState): Promise<void> {
    await store.resetCounterIfUnchanged(userId, FAILURES_KEY, attempt);
  }

  async function activeAuthenticator(userId: string, now: number): Promise<AuthenticatorRecord> {
    const record = await store.getAuthenticator(userId, TOTP_AUTHENTICATOR_ID, now);
    if (record?.status !== 'active') throw new NotEnabledError();
    return record;
  }

  /** Matches a TOTP code against a record without consuming it; resolves the step or fails. */
  function matchCode(
    userId: string,
    attempt: AttemptState,
    record: AuthenticatorRecord,
    secret: Uint8Array,
    code: unknown,
    now: number,
  ): number {
    if (typeof code !== 'string') return fail(userId, attempt, 'totp', 'malformed');
    try {
      return totpFor(record, secret).match(code, {
        time: now,
        window: totpOptions.window,
        lastCounter: record.lastCounter,
      }).counter;
    } catch (error) {
      if (!(error instanceof OtpError)) throw error;
      const reason =
        error.code === 'OTP_REUSED' ? 'replayed' : error.code === 'OTP_NO_MATCH' ? 'invalid' : 'malformed';
      return fail(userId, attempt, 'totp', reason);
    }
  }

  async function verifyTotp(userId: string, code: unknown): Promise<VerifiedFactor> {
    const now = clock();
    checkUserId(userId);
    const record = await activeAuthenticator(userId, now);
    const attempt = await takeAttempt(userId, now);
    const opened = keyring.open(record.sealedSecret, userId);
    const counter = matchCode(userId, attempt, record, opened.plaintext, code, now);
    if (!(await store.consumeCounter(userId, TOTP_AUTHENTICATOR_ID, counter, now))) {
      return fail(userId, attempt, 'totp', 'replayed');
    }
    await succeed(userId, attempt);
    if (opened.needsReseal) {
      const resealed = keyring.seal(opened.plaintext, userId);
      if (await store.replaceSealedSecret(userId, TOTP_AUTHENTICATOR_ID, record.sealedSecret, resealed)) {
        events.emit('resealed', { userId, tag: keyring.currentTag });
      }
    }
    events.emit('verified', { userId, method: 'totp' });
    return { userId, method: 'totp' };
  }

  async function verifyRecoveryCode(
    userId: string,
    recoveryCode: unknown,
  ): Promise<VerifiedFactor & { remaining: number }> {
    const now = clock();
    checkUserId(userId);
    await activeAuthenticator(userId, now);
    const attempt = await takeAttempt(userId, now);
    const normalized = normalizeRecoveryCode(recoveryCode);
    if (normalized === null) return fail(userId, attempt, 'recovery-code', 'malformed');
    let spent = false;
    for (const hash of recoveryCodeHashCandidates(keyring, userId, normalized)) {
      if (await store.consumeRecoveryCode(userId, hash)) {
        spent = true;
        break;
      }
    }
    if (!spent) return fail(userId, attempt, 'recovery-code', 'invalid');
    await succeed(userId, attempt);
    const remaining = await store.countRecoveryCodes(userId);
    events.emit('verified', { userId, method: 'recovery-code' });
    events.emit('recoveryCodeUsed', { userId, remaining });
    return { userId, method: 'recovery-code', remaining };
  }

  async function verifySecondFactor(userId: string, factor: SecondFactor): Promise<VerifiedFactor> {
    const kind = secondFactorKind(factor);
    if (kind === 'code') return verifyTotp(userId, (factor as { code: unknown }).code);
    const { remaining: _remaining, ...verified } = await verifyRecoveryCode(
      userId,
      (factor as { recoveryCode: unknown }).recoveryCode,
    );
    return verified;
  }

  function freshRecoveryCodes(userId: string): { codes: string[]; hashes: string[] } {
    const codes = generateRecoveryCodes(resolved.recoveryCodes.count);
    const hashes = codes.map((code) => hashRecoveryCode(keyring, userId, normalizeRecoveryCode(code)!));
    return { codes, hashes };
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
      const existing = await store.getAuthenticator(userId, TOTP_AUTHENTICATOR_ID, now);
      if (existing?.status === 'active') throw new AlreadyEnabledError();

      const secret = generateSecret({ algorithm: totpOptions.algorithm });
      const expiresAt = now + resolved.enrollmentTtlMs;
      const saved = await store.savePendingAuthenticator(
        {
          userId,
          id: TOTP_AUTHENTICATOR_ID,
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
      if (!saved) throw new AlreadyEnabledError();

      const totp = totpFor(totpOptions, secret);
      const otpauthUri = totp.toUri({ issuer: resolved.issuer, account: label });
      const qrSvg = renderQrSvg(otpauthUri);
      events.emit('enrolled', { userId, expiresAt });
      return {
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
      const record = await store.getAuthenticator(userId, TOTP_AUTHENTICATOR_ID, now);
      if (record?.status !== 'pending') throw new NotPendingError();
      const attempt = await takeAttempt(userId, now);
      const { plaintext } = keyring.open(record.sealedSecret, userId);
      const counter = matchCode(userId, attempt, record, plaintext, code, now);
      const { codes, hashes } = freshRecoveryCodes(userId);
      if (confirmOptions.beforeActivate) await confirmOptions.beforeActivate();
      // Compare-and-set on the secret the code was checked against: an enrollment that replaced
      // it meanwhile makes this fail rather than activate a secret no code was checked against.
      const confirmed = await store.confirmAuthenticator(userId, TOTP_AUTHENTICATOR_ID, {
        sealedSecret: record.sealedSecret,
        counter,
        recoveryCodeHashes: hashes,
        now,
      });
      if (!confirmed) throw new NotPendingError();
      await succeed(userId, attempt);
      events.emit('confirmed', { userId });
      return { recoveryCodes: codes };
    },

    verify: verifyTotp,
    useRecoveryCode: verifyRecoveryCode,
    verifySecondFactor,

    async rotateRecoveryCodes(userId, factor) {
      await verifySecondFactor(userId, factor);
      const { codes, hashes } = freshRecoveryCodes(userId);
      if (!(await store.replaceRecoveryCodes(userId, hashes, clock()))) throw new NotEnabledError();
      events.emit('recoveryCodesRotated', { userId });
      return { recoveryCodes: codes };
    },

    async disable(userId, factor, disableOptions = {}) {
      const verified = await verifySecondFactor(userId, factor);
      if (disableOptions.beforeDisable) await disableOptions.beforeDisable();
      await store.deleteTwoFactor(userId);
      events.emit('disabled', { userId, via: verified.method === 'totp' ? 'code' : 'recovery-code' });
    },

    async status(userId) {
      const now = clock();
      checkUserId(userId);
      const record = await store.getAuthenticator(userId, TOTP_AUTHENTICATOR_ID, now);
      const enabled = record?.status === 'active';
      return {
        enabled,
        pending: record?.status === 'pending',
        recoveryCodesRemaining: enabled ? await store.countRecoveryCodes(userId) : 0,
        enabledAt: enabled && record.confirmedAt !== null ? new Date(record.confirmedAt) : null,
        lastUsedAt: enabled && record.lastUsedAt !== null ? new Date(record.lastUsedAt) : null,
      };
    },

    async createChallenge(userId) {
      const now = clock();
      checkUserId(userId);
      const { token, expiresAt } = await challenges.sign(userId, now);
      return { challengeToken: token, expiresIn: Math.ceil((expiresAt - now) / 1000), expiresAt };
    },

    async completeChallenge(challengeToken, factor) {
      secondFactorKind(factor);
      const now = clock();
      const claims = await challenges.verify(challengeToken, now);
      const { userId, jti } = claims;
      // Claim the token before checking the factor: one attempt in flight per challenge, and a
      // success spends it for good.
      if (!(await store.claimNonce(userId, challengeSpentKey(jti), 'spent', claims.expiresAt, now))) {
        throw new InvalidChallengeError('The challenge token was already used');
      }
      // The attempt is counted before it is judged, atomically with the limit.
      const attempts = await store.takeAttempt(
        userId,
        challengeAttemptsKey(jti),
        resolved.challenge.maxAttempts,
        Math.max(claims.expiresAt - now, 1),
        now,
      );
      if (!attempts.taken) {
        await store.deleteNonce(userId, challengeSpentKey(jti));
        throw new InvalidChallengeError('The challenge token has no attempts left');
      }
      try {
        return await verifySecondFactor(userId, factor);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) {
          await store.deleteNonce(userId, challengeSpentKey(jti));
        }
        throw error;
      }
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
      if (recoveryOptions.beforeDisable) await recoveryOptions.beforeDisable();
      // The link is spent in the same atomic step that turns 2FA off: never one without the other.
      if (!(await store.takeNonceAndDeleteTwoFactor(userId, RECOVERY_TOKEN_KEY, presented, now))) {
        throw new InvalidRecoveryTokenError();
      }
      await store.resetCounter(userId, FAILURES_KEY);
      events.emit('disabled', { userId, via: 'email-recovery' });
    },

    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
  return twoFactor;
}

function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 255) {
    throw new InvalidInputError('userId', 'userId must be a string of 1-255 characters');
  }
  const unfit = unstorableReason(userId);
  if (unfit !== null)
    throw new InvalidInputError('userId', `userId must not contain ${unfit.replace('-', ' ')}`);
}

/** Which kind of second factor a body carries; exactly one of `code` and `recoveryCode`. */
function secondFactorKind(factor: unknown): 'code' | 'recoveryCode' {
  if (typeof factor === 'object' && factor !== null) {
    const hasCode = 'code' in factor && (factor as { code: unknown }).code !== undefined;
    const hasRecovery =
      'recoveryCode' in factor && (factor as { recoveryCode: unknown }).recoveryCode !== undefined;
    if (hasCode !== hasRecovery) return hasCode ? 'code' : 'recoveryCode';
  }
  throw new InvalidInputError('code', 'exactly one of code and recoveryCode is required');
}

function hashRecoveryToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function equalStrings(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Wraps a store so that anything it throws that is not a TwofoldError becomes a
 * StoreUnavailableError: a host-written store that throws a driver error still fails closed.
 */
export function guardStore(store: Store): Store {
  const guarded: Record<string, unknown> = {};
  for (const method of STORE_METHODS) {
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
