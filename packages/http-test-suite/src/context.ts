/**
 * One app per test: a fresh store (from the suite's `makeStore`), a controllable clock, users, a
 * mailbox, and the kit's options with short lockouts and generous rate limits unless a test asks
 * otherwise; security keys (WebAuthn) on `https://app.example.test` unless the suite runs without
 * them. Teardown closes the app, then the store.
 */
import { randomBytes } from 'node:crypto';
import { createKeyring, type Store } from '@twofold/core';
import type { TwofoldHttpOptions } from '@twofold/core/http';
import type { Test } from 'tap';
import type { ContractApp, ContractStore, MakeContractApp } from './app.js';
import {
  type Clock,
  codeAt,
  controllableClock,
  KitClient,
  type MailFixture,
  mailFixture,
  must,
  PERIOD_MS,
  type User,
  type UsersFixture,
  usersFixture,
  wrongCode,
} from './helpers.js';
import type { CreationOptionsJSON, RequestOptionsJSON, SoftwareAuthenticator } from './webauthn.js';

export type { CreationOptionsJSON, RequestOptionsJSON } from './webauthn.js';

export interface SuiteEnv {
  makeApp: MakeContractApp;
  makeStore: () => Promise<ContractStore>;
  /** Whether the apps get the `webauthn` option (runHttpContract's `webauthn`, default true). */
  webauthn: boolean;
}

/** The page recovery links point to. */
export const LINK_URL = 'https://app.example.test/account/recover';
export const ISSUER = 'Contract Co';
/** The relying party of the security keys (WebAuthn): the site's domain and the origin of its pages. */
export const RP_ID = 'app.example.test';
export const ORIGIN = 'https://app.example.test';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

export interface EnrollmentBody {
  authenticatorId: string;
  otpauthUri: string;
  secret: string;
  prettySecret: string;
  qrSvg: string;
  qrDataUri: string;
  expiresAt: string;
}

export interface StatusBody {
  enabled: boolean;
  pending: boolean;
  recoveryCodesRemaining: number;
  enabledAt: string | null;
  lastUsedAt: string | null;
  authenticators: { totp: number; webauthn: number };
}

/** One entry of `GET /authenticators` (and the answer of a rename). */
export interface AuthenticatorBody {
  id: string;
  type: 'totp' | 'webauthn';
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  passkey?: boolean;
}

/** The answer of `POST /totp/confirm` and `POST /webauthn/register/verify`. */
export interface AddedBody extends Partial<TokenPair> {
  authenticatorId: string;
  recoveryCodes?: string[];
}

export interface Enabled extends TokenPair {
  secret: string;
  recoveryCodes: string[];
  authenticatorId: string;
}

/** 2FA turned on with a security key. */
export interface KeyEnabled extends TokenPair {
  recoveryCodes: string[];
  authenticatorId: string;
}

export interface SetupOptions {
  lockout?: { maxFailures?: number; durationMs?: number };
  challenge?: { ttlMs?: number; maxAttempts?: number };
  /** Defaults to limits no test reaches by accident (10,000 per hour). */
  rateLimit?: { max?: number; sensitiveMax?: number; timeWindowMs?: number } | false;
  stepUp?: { maxAgeSeconds?: number };
  bodyLimit?: number;
  trustProxy?: boolean;
  /** Wraps the suite's store before the app gets it (e.g. to make it fail). */
  wrapStore?: (store: Store) => Store;
  /** Wraps the host's `findUserByEmail` (e.g. to see when the kit calls it). */
  wrapFindUserByEmail?: (find: UsersFixture['findUserByEmail']) => UsersFixture['findUserByEmail'];
  /**
   * Wraps the host's `verifyPassword` (given as `recovery.verifyPassword`, which POST /step-up also
   * uses: e.g. to count how many passwords the kit had judged).
   */
  wrapVerifyPassword?: (verify: UsersFixture['verifyPassword']) => UsersFixture['verifyPassword'];
  /** Security keys (WebAuthn) on RP_ID/ORIGIN; default: what the suite runs with (`env.webauthn`). */
  webauthn?: boolean;
  maxAuthenticators?: number;
  /** The `trustedDevices` option. */
  trustedDevices?: { maxAgeDays: number; cookie?: boolean };
  /** `recovery.delayMs`: a delayed email recovery. */
  recoveryDelayMs?: number;
  /** A mandatory-2FA policy (the `policy` option). */
  policy?: {
    require: (userId: string) => boolean | Promise<boolean>;
    graceDays?: number;
    graceLogins?: number;
  };
}

export interface Ctx {
  app: ContractApp;
  kit: KitClient;
  clock: Clock;
  users: UsersFixture;
  mail: MailFixture;
  /** Errors the kit reported (onBackgroundError) from work done after a response. */
  backgroundErrors: unknown[];
  /** Resolves once the kit has reported `count` background errors in all. */
  backgroundErrorCount(count: number): Promise<void>;
  /** Moves the clock one step and returns the code of that step: a code never used before. */
  freshCode(secret: string): string;
  /** A well-formed code that is wrong now. */
  wrongCode(secret: string): string;
  /** POST /login for a user without 2FA. */
  passwordLogin(user: User): Promise<TokenPair>;
  /** POST /login for a user with 2FA: the challenge token. */
  challenge(user: User): Promise<string>;
  /** Both steps of a login with 2FA, with a fresh code. */
  mfaLogin(user: User, secret: string): Promise<TokenPair>;
  /**
   * Password login, enroll and confirm: 2FA on. The tokens are the fresh ones confirm answered (the
   * password-only session it started from has ended).
   */
  enable(user: User): Promise<Enabled>;
  /** `POST /webauthn/register/options` then `/verify` with `key`'s answer, made on ORIGIN. */
  registerKey(token: string, key: SoftwareAuthenticator, name?: string): Promise<AddedBody>;
  /** Password login and `key` registered: 2FA on, with the fresh tokens the registration answered. */
  enableWithKey(user: User, key: SoftwareAuthenticator): Promise<KeyEnabled>;
  /** `POST /login/options` for a challenge token: the WebAuthn request options bound to it. */
  loginRequest(challengeToken: string): Promise<RequestOptionsJSON>;
  /** Both steps of a login with `key`'s assertion. */
  keyLogin(user: User, key: SoftwareAuthenticator): Promise<TokenPair>;
  /** `POST /webauthn/authenticate/options`, then `key`'s answer: a `webauthn` factor outside a login. */
  keyFactor(token: string, key: SoftwareAuthenticator): Promise<unknown>;
}

export async function setup(t: Test, env: SuiteEnv, options: SetupOptions = {}): Promise<Ctx> {
  const contractStore = await env.makeStore();
  const clock = controllableClock();
  const users = usersFixture();
  const mail = mailFixture();
  const backgroundErrors: unknown[] = [];
  const backgroundWaiters: (() => boolean)[] = [];
  const store = options.wrapStore ? options.wrapStore(contractStore.store) : contractStore.store;
  const twofold = {
    store,
    keyring: createKeyring({ keys: { c1: randomBytes(32) }, current: 'c1' }),
    issuer: ISSUER,
    clock: clock.now,
    lockout: { maxFailures: 10, durationMs: 60_000, ...options.lockout },
    challenge: { ...options.challenge },
    authenticate: users.authenticate,
    recovery: {
      findUserByEmail: options.wrapFindUserByEmail
        ? options.wrapFindUserByEmail(users.findUserByEmail)
        : users.findUserByEmail,
      getUserEmail: users.getUserEmail,
      verifyPassword: options.wrapVerifyPassword
        ? options.wrapVerifyPassword(users.verifyPassword)
        : users.verifyPassword,
      sendMail: mail.sendMail,
      linkUrl: LINK_URL,
      ...(options.recoveryDelayMs === undefined ? {} : { delayMs: options.recoveryDelayMs }),
    },
    stepUp: { maxAgeSeconds: 60, ...options.stepUp },
    rateLimit:
      options.rateLimit === false
        ? (false as const)
        : { max: 10_000, sensitiveMax: 10_000, timeWindowMs: 3_600_000, ...options.rateLimit },
    bodyLimit: options.bodyLimit ?? 16_384,
    ...((options.webauthn ?? env.webauthn) ? { webauthn: { rpId: RP_ID, origins: [ORIGIN] } } : {}),
    ...(options.maxAuthenticators === undefined ? {} : { maxAuthenticators: options.maxAuthenticators }),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.trustedDevices ? { trustedDevices: options.trustedDevices } : {}),
    onBackgroundError: (error: unknown) => {
      backgroundErrors.push(error);
      for (const settled of backgroundWaiters.splice(0)) {
        if (!settled()) backgroundWaiters.push(settled);
      }
    },
  } satisfies TwofoldHttpOptions;

  let app: ContractApp;
  try {
    app = await env.makeApp({ twofold, trustProxy: options.trustProxy ?? false });
  } catch (error) {
    await contractStore.close();
    throw error;
  }
  t.teardown(async () => {
    try {
      await app.close();
    } finally {
      await contractStore.close();
    }
  });

  const kit = new KitClient(app);
  const freshCode = (secret: string) => {
    clock.advance(PERIOD_MS);
    return codeAt(secret, clock.now());
  };

  const ctx: Ctx = {
    app,
    kit,
    clock,
    users,
    mail,
    backgroundErrors,
    backgroundErrorCount: (count) =>
      new Promise((resolve) => {
        const settled = () => {
          if (backgroundErrors.length >= count) resolve();
          return backgroundErrors.length >= count;
        };
        if (!settled()) backgroundWaiters.push(settled);
      }),
    freshCode,
    wrongCode: (secret) => wrongCode(secret, clock.now()),

    async passwordLogin(user) {
      const body = must(
        await kit.post('/login', { username: user.username, password: user.password }),
        200,
        'POST /login',
      );
      if (body.twoFactorRequired !== false) throw new Error('POST /login: expected no second step');
      return { accessToken: String(body.accessToken), refreshToken: String(body.refreshToken) };
    },

    async challenge(user) {
      const body = must(
        await kit.post('/login', { username: user.username, password: user.password }),
        200,
        'POST /login',
      );
      if (body.twoFactorRequired !== true) throw new Error('POST /login: expected a challenge');
      return String(body.challengeToken);
    },

    async mfaLogin(user, secret) {
      const challengeToken = await ctx.challenge(user);
      return must(
        await kit.post<TokenPair>('/login/verify', { challengeToken, code: freshCode(secret) }),
        200,
        'POST /login/verify',
      );
    },

    async enable(user) {
      const tokens = await ctx.passwordLogin(user);
      const enrollment = must(
        await kit.post<EnrollmentBody>('/totp/enroll', undefined, { token: tokens.accessToken }),
        201,
        'POST /totp/enroll',
      );
      const { recoveryCodes, accessToken, refreshToken, authenticatorId } = must(
        await kit.post<{ recoveryCodes: string[]; authenticatorId: string } & TokenPair>(
          '/totp/confirm',
          { code: codeAt(enrollment.secret, clock.now()) },
          { token: tokens.accessToken },
        ),
        200,
        'POST /totp/confirm',
      );
      // The clock stands still in this suite: a session started in the millisecond of confirm's
      // revocation would count as issued before it (revocation is exact to the millisecond).
      clock.advance(1);
      return { accessToken, refreshToken, secret: enrollment.secret, recoveryCodes, authenticatorId };
    },

    async registerKey(token, key, name) {
      const creation = must(
        await kit.post<CreationOptionsJSON>(
          '/webauthn/register/options',
          name === undefined ? {} : { name },
          { token },
        ),
        200,
        'POST /webauthn/register/options',
      );
      return must(
        await kit.post<AddedBody>(
          '/webauthn/register/verify',
          { response: key.register(creation, { origin: ORIGIN }) },
          { token },
        ),
        201,
        'POST /webauthn/register/verify',
      );
    },

    async enableWithKey(user, key) {
      const tokens = await ctx.passwordLogin(user);
      const added = await ctx.registerKey(tokens.accessToken, key);
      if (!added.accessToken || !added.refreshToken || !added.recoveryCodes) {
        throw new Error('POST /webauthn/register/verify: the first key gave no tokens or recovery codes');
      }
      clock.advance(1); // as in enable(): after the millisecond of the revocation
      return {
        accessToken: added.accessToken,
        refreshToken: added.refreshToken,
        recoveryCodes: added.recoveryCodes,
        authenticatorId: added.authenticatorId,
      };
    },

    async loginRequest(challengeToken) {
      const body = must(
        await kit.post<{ webauthn: RequestOptionsJSON | null }>('/login/options', { challengeToken }),
        200,
        'POST /login/options',
      );
      if (!body.webauthn) throw new Error('POST /login/options: no WebAuthn options for this login');
      return body.webauthn;
    },

    async keyLogin(user, key) {
      const challengeToken = await ctx.challenge(user);
      const request = await ctx.loginRequest(challengeToken);
      return must(
        await kit.post<TokenPair>('/login/verify', {
          challengeToken,
          webauthn: key.assert(request, { origin: ORIGIN }),
        }),
        200,
        'POST /login/verify with a security key',
      );
    },

    async keyFactor(token, key) {
      const request = must(
        await kit.post<RequestOptionsJSON>('/webauthn/authenticate/options', undefined, { token }),
        200,
        'POST /webauthn/authenticate/options',
      );
      return key.assert(request, { origin: ORIGIN });
    },
  };
  return ctx;
}
