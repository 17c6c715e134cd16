/**
 * Access and refresh tokens of the kit's own sessions, shared by the Fastify and Express plugins so
 * a token means the same thing in both.
 *
 * - Access token: `typ` `twofold-access+jwt`, audience `twofold:access`, short-lived, stateless. Carries
 *   `amr` (RFC 8176: `pwd`, plus `otp` and `mfa` once a second factor passed) and `auth_time` (the
 *   login, or the latest step-up: a second factor, or the password for a user without 2FA).
 * - Refresh token: `typ` `twofold-refresh+jwt`, audience `twofold:refresh`, single use. Each login
 *   starts a family (`fam`); the store keeps the family's one live token id as the nonce
 *   `refresh:<fam>`. Refreshing swaps it atomically for the next id; presenting a spent token again
 *   finds the swap failing and deletes the nonce, which revokes the whole family (the thief's copy
 *   and the user's).
 * - `revokeAll(userId)` (email recovery, 2FA turned on or off, `POST /sessions/revoke-all`) ends
 *   every session of the user started until then: each token carries its session's start (`fam_ms`),
 *   and a token whose session started at or before the revocation time is refused, whenever the token
 *   itself was issued. So a refresh racing the revocation (it read the revocation time just before
 *   the revocation was written) hands out a pair that is refused from the next request on.
 * - Signing out is immediate: an access token names its family (`fam`) and its start (`fam_ms`), and
 *   each check of one reads the family's nonce and the user's revocation time (two reads, in
 *   parallel). A logged-out family, a family ended by refresh-token reuse, or a session started before
 *   `revokeAll` is refused from the next request on, not when its tokens expire.
 *
 * Each kind signs with its own keyring subkey, so neither verifies as the other, nor as a challenge
 * token.
 */
import {
  EnrollmentRequiredError,
  InvalidTokenError,
  StepUpRequiredError,
  UnauthorizedError,
} from '../errors.js';
import { encodeBase64url } from '../internal/base64url.js';
import { cryptoRandom, takeRandom } from '../internal/random.js';
import { SESSIONS_REVOKED_BEFORE_KEY } from '../internal/session-keys.js';
import { createSignedTokens } from '../internal/signed-tokens.js';
import { putNonces } from '../internal/store-steps.js';
import type { Keyring } from '../keyring.js';
import type { NonceWrite, Store } from '../store.js';

export const ACCESS_TOKEN_TYPE = 'twofold-access+jwt';
export const ACCESS_TOKEN_AUDIENCE = 'twofold:access';
export const REFRESH_TOKEN_TYPE = 'twofold-refresh+jwt';
export const REFRESH_TOKEN_AUDIENCE = 'twofold:refresh';

/**
 * RFC 8176 method references the kit puts in `amr`: `pwd`, then for a second factor `mfa` and how
 * it was proved: `otp` (a code or recovery code), `hwk` (a security key), `swk` (a synced passkey).
 */
export type AuthenticationMethod = 'pwd' | 'otp' | 'hwk' | 'swk' | 'mfa';

/** What a verified access token says. */
export interface AccessClaims {
  userId: string;
  /** How the user authenticated (RFC 8176). `mfa` means a second factor passed (`otp`, `hwk` or `swk` says which). */
  amr: AuthenticationMethod[];
  /** When the user last authenticated (the password step, or the second factor after it), ms. */
  authTime: number;
  /** When the access token expires, ms. */
  expiresAt: number;
  /** The session (refresh family) the token belongs to. */
  family: string;
  /** When the access token was issued, ms. */
  issuedAt: number;
  /** When its session (the family) started, ms: the login, or the token's own issue for 0.2 tokens. */
  sessionStartedAt: number;
  /**
   * The session may only set up 2FA (a mandatory-2FA policy, grace period over): the routes that
   * enroll accept it, every other route and guard answers 403 TWOFOLD_ENROLLMENT_REQUIRED.
   */
  enrollmentOnly: boolean;
  /**
   * The login skipped the second factor through a trusted device: the step-up guards ask for a
   * fresh second factor, whatever the age of `auth_time`.
   */
  trustedDevice: boolean;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** Where a request came from, as the session list shows it. */
export interface SessionClient {
  /** The `User-Agent` header (cut to 256 characters), or null. */
  userAgent: string | null;
  /** The client address as the framework reports it (`request.ip`: behind a proxy, per its trust setting), or null. */
  ip: string | null;
}

/** One of a user's sessions (a refresh family), as `GET /sessions` lists it. */
export interface SessionInfo {
  /** The session's id: its refresh family. */
  id: string;
  /** When it started (the login), ISO 8601; null for a session started before version 0.3 (until its next refresh). */
  createdAt: string | null;
  /** When its tokens were last issued (the login or the latest refresh), ISO 8601. */
  lastUsedAt: string;
  userAgent: string | null;
  ip: string | null;
  /** Whether it is the session of the access token that asked. */
  current: boolean;
}

export interface SessionTokens {
  /**
   * Starts a session (a new refresh family) after a login. `notBefore` (ms): the tokens are dated
   * after it, so that a session started right after {@link revokeAll} is not caught by it.
   */
  issue(
    userId: string,
    amr: AuthenticationMethod[],
    authTime: number,
    options?: IssueOptions,
  ): Promise<TokenPair>;
  /**
   * {@link issue} without the store write: the pair, and the nonces that make its session live once
   * written (by the caller, e.g. along with the login's last store call; see
   * `TwoFactor.completeChallenge`). The pair must not be handed out before they are written.
   */
  prepare(
    userId: string,
    amr: AuthenticationMethod[],
    authTime: number,
    options?: IssueOptions,
  ): { pair: TokenPair; nonces: NonceWrite[] };
  /** Checks an access token, including that its session has not been ended. @throws InvalidTokenError */
  verifyAccess(token: unknown): Promise<AccessClaims>;
  /**
   * Checks an `Authorization: Bearer` header value. A session that may only enroll is refused
   * unless `options.enrollment` says the caller is an enrollment route.
   * @throws UnauthorizedError
   * @throws EnrollmentRequiredError
   */
  authorize(header: unknown, options?: { enrollment?: boolean }): Promise<AccessClaims>;
  /** Spends a refresh token for a new pair; a spent one revokes its family. @throws InvalidTokenError */
  refresh(refreshToken: unknown, client?: SessionClient): Promise<TokenPair>;
  /**
   * The user's live sessions, the most recently used first; `current` marks `currentFamily`.
   * Sessions ended by logout, refresh-token reuse or `revokeAll` are not listed.
   */
  list(userId: string, currentFamily?: string): Promise<SessionInfo[]>;
  /**
   * Ends one session of the user (its refresh and access tokens are refused from the next request).
   * @returns false when the user has no live session with that id
   */
  revokeSession(userId: string, family: string): Promise<boolean>;
  /** Ends the session of a refresh token (logout). Unknown or spent tokens are ignored. */
  revoke(refreshToken: unknown): Promise<void>;
  /**
   * Refuses every access and refresh token of the user issued until now; resolves that time (ms),
   * to pass as `notBefore` to {@link issue} for the session that goes on.
   */
  revokeAll(userId: string): Promise<number>;
  /**
   * A new access token of the same session with `auth_time` now, after a step-up. With a second
   * factor (`otp`, the default, `hwk` or `swk`): that method and `mfa` are added to `amr`. With
   * `pwd` (the password of a user without 2FA): `amr` is `['pwd']` alone, never `mfa`.
   */
  stepUp(claims: AccessClaims, factor?: 'otp' | 'hwk' | 'swk' | 'pwd'): Promise<{ accessToken: string }>;
  /** @throws StepUpRequiredError unless a second factor passed within `maxAgeSeconds`. */
  requireRecentSecondFactor(claims: AccessClaims, maxAgeSeconds: number): void;
  /**
   * The step-up guard: the user authenticated within `maxAgeSeconds` (`auth_time`). A token with
   * `mfa` proved a second factor then; one without it belongs to a user without 2FA (turning 2FA on
   * ends every session), whose password login or password step-up is enough, unless
   * `secondFactor` demands `mfa` anyway (as {@link requireRecentSecondFactor}).
   * @throws StepUpRequiredError
   */
  requireRecentAuthentication(
    claims: AccessClaims,
    maxAgeSeconds: number,
    options?: StepUpGuardOptions,
  ): void;
}

/** How a session starts (all optional). */
export interface IssueOptions {
  /** The tokens are dated after it, so that a session started right after {@link SessionTokens.revokeAll} is not caught by it. */
  notBefore?: number;
  /** Where the login came from, for the session list. */
  client?: SessionClient;
  /** The session may only set up 2FA (mandatory 2FA, grace over). */
  enrollmentOnly?: boolean;
  /** The login skipped the second factor through a trusted device: step-up guards want a fresh one. */
  trustedDevice?: boolean;
}

/** Options of the step-up guards (`http.requireStepUp`, `twofoldStepUp`, `requireStepUp`). */
export interface StepUpGuardOptions {
  /**
   * Demand a second factor (`mfa` in `amr`) even from a user without 2FA, whose password step-up
   * then never passes (default false: a recent password is enough for a user without 2FA).
   */
  secondFactor?: boolean;
}

/**
 * Checks the options a host gave a step-up guard, when it sets the guard up: `undefined`, or an
 * object with at most `secondFactor` (a boolean). `guard` names the guard in the TypeError.
 * @throws TypeError
 */
export function checkStepUpGuardOptions(options: unknown, guard: string): StepUpGuardOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${guard}: the options must be an object like { secondFactor: true }`);
  }
  const unknown = Object.keys(options).find((key) => key !== 'secondFactor');
  if (unknown !== undefined) {
    throw new TypeError(`${guard}: unknown option "${unknown}" (the one option is "secondFactor")`);
  }
  const { secondFactor } = options as { secondFactor?: unknown };
  if (secondFactor === undefined) return {};
  if (typeof secondFactor !== 'boolean') throw new TypeError(`${guard}: "secondFactor" must be a boolean`);
  return { secondFactor };
}

export interface SessionTokenOptions {
  keyring: Keyring;
  issuer: string;
  /** A guarded store: failures surface as StoreUnavailableError. */
  store: Store;
  clock: () => number;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

const AMR_VALUES: ReadonlySet<string> = new Set<AuthenticationMethod>(['pwd', 'otp', 'hwk', 'swk', 'mfa']);
const FAMILY_PREFIX = 'refresh:';
const familyKey = (family: string) => `${FAMILY_PREFIX}${family}`;
/** The nonce describing a session for the list: start, last use, user agent, address (JSON). */
const SESSION_PREFIX = 'session:';
const sessionKey = (family: string) => `${SESSION_PREFIX}${family}`;
const MAX_USER_AGENT = 256;

interface SessionMeta {
  /** started, last used (ms) */
  c: number;
  u: number;
  a: string | null;
  ip: string | null;
}

function sessionMeta(start: number, now: number, client: SessionClient | undefined): string {
  const meta: SessionMeta = {
    c: start,
    u: now,
    a: client?.userAgent ? client.userAgent.slice(0, MAX_USER_AGENT) : null,
    ip: client?.ip ?? null,
  };
  return JSON.stringify(meta);
}

function readMeta(value: string | undefined): SessionMeta | null {
  if (value === undefined) return null;
  try {
    const meta = JSON.parse(value) as Partial<SessionMeta>;
    if (typeof meta.c !== 'number' || typeof meta.u !== 'number') return null;
    return {
      c: meta.c,
      u: meta.u,
      a: typeof meta.a === 'string' ? meta.a : null,
      ip: typeof meta.ip === 'string' ? meta.ip : null,
    };
  } catch {
    return null;
  }
}

export function createSessionTokens(options: SessionTokenOptions): SessionTokens {
  const { keyring, issuer, store, clock, accessTtlSeconds, refreshTtlSeconds } = options;
  /** How long a family's nonce lives after each issue (see signPair). */
  const lifetimeMs = Math.max(accessTtlSeconds, refreshTtlSeconds) * 1000;
  const access = createSignedTokens(
    keyring,
    issuer,
    {
      purpose: 'access-token',
      type: ACCESS_TOKEN_TYPE,
      audience: ACCESS_TOKEN_AUDIENCE,
      kind: 'access',
      noun: 'access token',
      invalid: (message, errorOptions) => new InvalidTokenError(message, errorOptions),
    },
    cryptoRandom,
  );
  const refreshJwt = createSignedTokens(
    keyring,
    issuer,
    {
      purpose: 'refresh-token',
      type: REFRESH_TOKEN_TYPE,
      audience: REFRESH_TOKEN_AUDIENCE,
      kind: 'refresh',
      noun: 'refresh token',
      invalid: (message, errorOptions) => new InvalidTokenError(message, errorOptions),
    },
    cryptoRandom,
  );

  /** The marks of a session: `enr` (may only enroll), `tdv` (logged in through a trusted device). */
  interface Marks {
    enrollmentOnly: boolean;
    trustedDevice: boolean;
  }
  function sessionClaims(amr: AuthenticationMethod[], authTime: number, marks?: Marks) {
    return {
      amr,
      auth_time: Math.floor(authTime / 1000),
      ...(marks?.enrollmentOnly ? { enr: true } : {}),
      ...(marks?.trustedDevice ? { tdv: true } : {}),
    };
  }

  function signPair(
    userId: string,
    amr: AuthenticationMethod[],
    authTime: number,
    family: string,
    sessionStart: number,
    now: number,
    marks: Marks,
  ): { pair: TokenPair; jti: string; expiresAt: number } {
    // `fam_ms` (the session's start, ms) is what a revocation (revokeAll) is compared with; `iat_ms`
    // dates the token itself; `enr` marks a session that may only enroll.
    const claims = {
      ...sessionClaims(amr, authTime, marks),
      fam: family,
      fam_ms: sessionStart,
      iat_ms: now,
    };
    const signed = access.sign(userId, claims, now, accessTtlSeconds);
    const refresh = refreshJwt.sign(userId, claims, now, refreshTtlSeconds);
    return {
      pair: { accessToken: signed.token, refreshToken: refresh.token },
      jti: refresh.jti,
      // The family's nonce outlives both tokens: access tokens are checked against it too.
      expiresAt: Math.max(refresh.expiresAt, signed.expiresAt),
    };
  }

  function readRefresh(token: unknown, now: number) {
    const payload = refreshJwt.verify(token, now);
    const family = payload.fam;
    if (typeof family !== 'string' || family === '') throw invalidClaims('refresh token');
    return {
      payload,
      family,
      sessionStart: sessionStartMs(payload),
      amr: readAmr(payload.amr),
      authTime: readAuthTime(payload.auth_time),
      marks: { enrollmentOnly: payload.enr === true, trustedDevice: payload.tdv === true },
    };
  }

  function requireRecentAuthentication(
    claims: AccessClaims,
    maxAgeSeconds: number,
    guardOptions: StepUpGuardOptions = {},
  ): void {
    const recent = clock() - claims.authTime <= maxAgeSeconds * 1000;
    const mfa = claims.amr.includes('mfa');
    // A trusted-device login proved the password only, on an account that has 2FA: a fresh factor.
    const secondFactor = guardOptions.secondFactor === true || claims.trustedDevice;
    if ((secondFactor && !mfa) || !recent) throw stepUpRequired(maxAgeSeconds, mfa || secondFactor);
  }

  function prepare(
    userId: string,
    amr: AuthenticationMethod[],
    authTime: number,
    issueOptions: IssueOptions = {},
  ): { pair: TokenPair; nonces: NonceWrite[]; now: number } {
    const { notBefore, client } = issueOptions;
    const now = notBefore === undefined ? clock() : Math.max(clock(), notBefore + 1);
    const family = encodeBase64url(takeRandom(cryptoRandom, 16));
    const marks = {
      enrollmentOnly: issueOptions.enrollmentOnly === true,
      trustedDevice: issueOptions.trustedDevice === true,
    };
    const { pair, jti, expiresAt } = signPair(userId, amr, authTime, family, now, now, marks);
    // The description first: written one by one, a session is live only once its family nonce is there.
    const nonces = [
      { key: sessionKey(family), value: sessionMeta(now, now, client), expiresAt },
      { key: familyKey(family), value: jti, expiresAt },
    ];
    return { pair, nonces, now };
  }

  return {
    async issue(userId, amr, authTime, issueOptions) {
      const { pair, nonces, now } = prepare(userId, amr, authTime, issueOptions);
      // Both in one step where the store can.
      await putNonces(store, userId, nonces, now);
      return pair;
    },

    prepare(userId, amr, authTime, issueOptions) {
      const { pair, nonces } = prepare(userId, amr, authTime, issueOptions);
      return { pair, nonces };
    },

    async verifyAccess(token) {
      const now = clock();
      const payload = access.verify(token, now);
      const family = payload.fam;
      if (typeof family !== 'string' || family === '') throw invalidClaims('access token');
      const claims: AccessClaims = {
        userId: payload.sub,
        amr: readAmr(payload.amr),
        authTime: readAuthTime(payload.auth_time),
        expiresAt: payload.exp * 1000,
        family,
        issuedAt: issuedAtMs(payload),
        sessionStartedAt: sessionStartMs(payload),
        enrollmentOnly: payload.enr === true,
        trustedDevice: payload.tdv === true,
      };
      const [live, revokedBefore] = await Promise.all([
        store.getNonce(claims.userId, familyKey(family), now),
        store.getNonce(claims.userId, SESSIONS_REVOKED_BEFORE_KEY, now),
      ]);
      if (live === null) throw new InvalidTokenError('The session of this access token has ended');
      if (revokedBefore !== null && claims.sessionStartedAt <= Number(revokedBefore)) {
        throw new InvalidTokenError('The access token was revoked');
      }
      return claims;
    },

    async authorize(header, authorizeOptions = {}) {
      if (typeof header !== 'string' || !/^Bearer [^\s]+$/i.test(header)) {
        throw new UnauthorizedError('An Authorization: Bearer access token is required');
      }
      let claims: AccessClaims;
      try {
        claims = await this.verifyAccess(header.slice(7));
      } catch (error) {
        if (error instanceof InvalidTokenError) {
          throw new UnauthorizedError(error.message, { cause: error.cause });
        }
        throw error;
      }
      if (claims.enrollmentOnly && authorizeOptions.enrollment !== true) throw new EnrollmentRequiredError();
      return claims;
    },

    async refresh(refreshToken, client) {
      const now = clock();
      const { payload, family, sessionStart, amr, authTime, marks } = readRefresh(refreshToken, now);
      const userId = payload.sub;
      const revokedBefore = await store.getNonce(userId, SESSIONS_REVOKED_BEFORE_KEY, now);
      if (revokedBefore !== null && sessionStart <= Number(revokedBefore)) {
        await store.deleteNonce(userId, familyKey(family));
        throw new InvalidTokenError('The refresh token was revoked');
      }
      const next = signPair(userId, amr, authTime, family, sessionStart, now, marks);
      if (!(await store.swapNonce(userId, familyKey(family), payload.jti, next.jti, next.expiresAt, now))) {
        // Spent (a replay, perhaps by a thief) or its family already revoked: end the family.
        await store.deleteNonce(userId, familyKey(family));
        throw new InvalidTokenError('The refresh token was already used or revoked: its session has ended');
      }
      // Last use for the list. A session revoked meanwhile may get its description back: the list
      // shows only sessions whose family is live, and the description expires with it.
      await store.putNonce(
        userId,
        sessionKey(family),
        sessionMeta(sessionStart, now, client),
        next.expiresAt,
        now,
      );
      return next.pair;
    },

    async revoke(refreshToken) {
      const now = clock();
      let read: ReturnType<typeof readRefresh>;
      try {
        read = readRefresh(refreshToken, now);
      } catch (error) {
        if (error instanceof InvalidTokenError) return;
        throw error;
      }
      await store.takeNonce(read.payload.sub, familyKey(read.family), read.payload.jti, now);
    },

    async list(userId, currentFamily) {
      const now = clock();
      const [families, descriptions, revokedBefore] = await Promise.all([
        store.listNonces(userId, FAMILY_PREFIX, now),
        store.listNonces(userId, SESSION_PREFIX, now),
        store.getNonce(userId, SESSIONS_REVOKED_BEFORE_KEY, now),
      ]);
      const described = new Map(
        descriptions.map((entry) => [entry.key.slice(SESSION_PREFIX.length), entry.value]),
      );
      const sessions: SessionInfo[] = [];
      for (const entry of families) {
        const id = entry.key.slice(FAMILY_PREFIX.length);
        const meta =
          readMeta(described.get(id)) ??
          // A session from before descriptions existed: its last issue is known from the family's
          // expiry, its start is not (it gets a description at its next refresh).
          ({ c: null, u: entry.expiresAt - lifetimeMs, a: null, ip: null } as const);
        // Ended by revokeAll: started before it (or, start unknown, last issued before it).
        if (revokedBefore !== null && (meta.c ?? meta.u) <= Number(revokedBefore)) continue;
        sessions.push({
          id,
          createdAt: meta.c === null ? null : new Date(meta.c).toISOString(),
          lastUsedAt: new Date(meta.u).toISOString(),
          userAgent: meta.a,
          ip: meta.ip,
          current: id === currentFamily,
        });
      }
      return sessions.sort((a, b) =>
        a.lastUsedAt < b.lastUsedAt ? 1 : a.lastUsedAt > b.lastUsedAt ? -1 : a.id < b.id ? -1 : 1,
      );
    },

    async revokeSession(userId, family) {
      const now = clock();
      const live = await store.getNonce(userId, familyKey(family), now);
      if (live === null) return false;
      await store.deleteNonce(userId, familyKey(family));
      await store.deleteNonce(userId, sessionKey(family));
      return true;
    },

    async revokeAll(userId) {
      const now = clock();
      // Kept as long as any token issued before it could still be presented.
      const keepUntil = now + Math.max(refreshTtlSeconds, accessTtlSeconds) * 1000;
      await store.putNonce(userId, SESSIONS_REVOKED_BEFORE_KEY, String(now), keepUntil, now);
      return now;
    },

    async stepUp(claims, factor = 'otp') {
      const now = clock();
      // A password proves no second factor, whatever the session's earlier `amr` said (a session
      // that turned 2FA off still carries `mfa`).
      const amr: AuthenticationMethod[] =
        factor === 'pwd' ? ['pwd'] : [...new Set<AuthenticationMethod>([...claims.amr, factor, 'mfa'])];
      const { token } = access.sign(
        claims.userId,
        {
          // A fresh factor: no longer a trusted-device session (a password step-up keeps the mark).
          ...sessionClaims(amr, now, {
            enrollmentOnly: claims.enrollmentOnly,
            trustedDevice: claims.trustedDevice && factor === 'pwd',
          }),
          fam: claims.family,
          fam_ms: claims.sessionStartedAt,
          iat_ms: now,
        },
        now,
        accessTtlSeconds,
      );
      return { accessToken: token };
    },

    requireRecentSecondFactor: (claims, maxAgeSeconds) =>
      requireRecentAuthentication(claims, maxAgeSeconds, { secondFactor: true }),

    requireRecentAuthentication,
  };
}

/**
 * The refusal of the step-up guard. Its message tells what to prove again: a second factor, or for
 * a session without one (a user without 2FA) the password.
 */
function stepUpRequired(maxAgeSeconds: number, secondFactor: boolean): StepUpRequiredError {
  const error = new StepUpRequiredError(maxAgeSeconds);
  if (!secondFactor) {
    error.message =
      `This action needs an authentication from the last ${maxAgeSeconds} seconds: ` +
      'step up again with your password (POST /step-up)';
  }
  return error;
}

/**
 * When a refresh token was issued, in ms: its `iat_ms`, or for a token without one (or with a value
 * that disagrees with `iat`) the last ms of its `iat` second, so that a revocation within that
 * second still ends it (fail closed).
 */
function issuedAtMs(payload: { iat: number; iat_ms?: unknown }): number {
  const { iat, iat_ms: ms } = payload;
  if (typeof ms === 'number' && Number.isSafeInteger(ms) && Math.floor(ms / 1000) === iat) return ms;
  return iat * 1000 + 999;
}

/**
 * When the session of a token started, in ms: its `fam_ms` when that is a whole ms no later than the
 * token itself; otherwise (a token of 0.2, issued before `fam_ms` existed, or a value that makes no
 * sense) the token's own issue time, which a revocation after it still catches.
 */
function sessionStartMs(payload: { iat: number; iat_ms?: unknown; fam_ms?: unknown }): number {
  const issued = issuedAtMs(payload);
  const start = payload.fam_ms;
  if (typeof start === 'number' && Number.isSafeInteger(start) && start >= 0 && start <= issued) return start;
  return issued;
}

function readAmr(value: unknown): AuthenticationMethod[] {
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string' && AMR_VALUES.has(entry))) {
    throw invalidClaims('token');
  }
  return value as AuthenticationMethod[];
}

function readAuthTime(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidClaims('token');
  }
  return value * 1000;
}

/** A correctly signed token whose session claims (`fam`, `amr`, `auth_time`) are missing or wrong. */
function invalidClaims(noun: string): InvalidTokenError {
  return new InvalidTokenError(`The ${noun} is not valid`, { reason: 'claims' });
}
