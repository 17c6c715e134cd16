import { z } from 'zod';
import { type Keyring, parseKeyring } from './keyring.js';
import { noticeMessagesSchema, type SecurityNotice } from './notices.js';
import type { Store } from './store.js';
import { webAuthnOptionsSchema } from './webauthn.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Every required Store method, once each: a new one missing here fails the type check below. */
const STORE_METHOD_SET = {
  getAuthenticator: true,
  listAuthenticators: true,
  savePendingAuthenticator: true,
  confirmAuthenticator: true,
  addWebAuthnCredential: true,
  useWebAuthnCredential: true,
  renameAuthenticator: true,
  removeAuthenticator: true,
  consumeCounter: true,
  replaceSealedSecret: true,
  deleteTwoFactor: true,
  replaceRecoveryCodes: true,
  consumeRecoveryCode: true,
  countRecoveryCodes: true,
  incrementCounter: true,
  takeAttempt: true,
  resetCounterIfUnchanged: true,
  getCounter: true,
  resetCounter: true,
  putNonce: true,
  getNonce: true,
  claimNonce: true,
  takeNonce: true,
  swapNonce: true,
  deleteNonce: true,
  listNonces: true,
  findNonces: true,
  takeNonceAndDeleteTwoFactor: true,
} as const satisfies Record<Exclude<keyof Store, 'close' | 'atomically' | OptionalStoreMethod>, true>;

/** The Store methods that combine several others in one call: used when the store has them. */
export const OPTIONAL_STORE_METHODS = [
  'beginSecondFactor',
  'finishSecondFactor',
  'consumeCounterAndReset',
  'putNonces',
] as const;
type OptionalStoreMethod = (typeof OPTIONAL_STORE_METHODS)[number];

export const STORE_METHODS = Object.keys(STORE_METHOD_SET) as (keyof typeof STORE_METHOD_SET)[];

function isStore(value: unknown): value is Store {
  return (
    typeof value === 'object' &&
    value !== null &&
    STORE_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
  );
}

function isKeyring(value: unknown): value is Keyring {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Keyring).seal === 'function' &&
    typeof (value as Keyring).open === 'function' &&
    typeof (value as Keyring).deriveKey === 'function'
  );
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * The options of {@link createTwoFactor}, validated once at creation. Every limit is a hard bound:
 * an out-of-range security setting is an error, never silently replaced by a default.
 */
export const twoFactorOptionsSchema = z.strictObject({
  /** Where two-factor state lives: memoryStore(), redisStore(...), sqlStore(...) or your own. */
  store: z.custom<Store>(isStore, 'must be a Store (e.g. memoryStore()) implementing every Store method'),
  /**
   * Keys that seal secrets at rest: a Keyring, or its environment-variable form
   * ("tag:base64url-key,..." with the current key first; make one with generateKey()).
   */
  keyring: z
    .custom<Keyring | string>(
      (value) => typeof value === 'string' || isKeyring(value),
      'must be a Keyring or a keyring string ("tag:key,...")',
    )
    .transform((value, context): Keyring => {
      if (typeof value !== 'string') return value;
      try {
        return parseKeyring(value);
      } catch (error) {
        // parseKeyring's messages name the problem without key material.
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Shown in authenticator apps next to the account; no colon (Key URI format). */
  issuer: z
    .string({ error: 'must be a string, the name shown in authenticator apps' })
    .min(1)
    .max(64)
    .refine((issuer) => !issuer.includes(':'), 'must not contain a colon'),
  totp: z
    .strictObject({
      /** HMAC hash; most authenticator apps only honour SHA1. */
      algorithm: z.enum(['SHA1', 'SHA256', 'SHA512']).default('SHA1'),
      /** Code length; 6 or 8 in practice. */
      digits: int(6, 8).default(6),
      /** Step length in seconds. */
      period: int(15, 120).default(30),
      /** Accepted steps before and after the current one (0 = strict). */
      window: int(0, 3).default(1),
    })
    .prefault({}),
  /** How many authenticators (apps, security keys, passkeys) one user may have. */
  maxAuthenticators: int(1, 50).default(10),
  /**
   * Security keys and passkeys (WebAuthn) as a second factor; off when absent. `rpId` is the
   * domain of the site and `origins` every origin its pages run on; both are checked here.
   * @example webauthn: { rpId: 'example.com', origins: ['https://example.com'] }
   */
  webauthn: webAuthnOptionsSchema,
  /** How long an unconfirmed enrollment stays pending, in ms (default 15 min). */
  enrollmentTtlMs: int(MINUTE, 24 * HOUR).default(15 * MINUTE),
  recoveryCodes: z
    .strictObject({
      /** How many recovery codes confirm and rotate issue. */
      count: int(4, 32).default(10),
    })
    .prefault({}),
  lockout: z
    .strictObject({
      /** Consecutive second-factor failures that lock the account (NIST 800-63B: at most 100). */
      maxFailures: int(3, 100).default(10),
      /** How long the lock lasts, counted from the last failure, in ms (default 15 min). */
      durationMs: int(1000, 24 * HOUR).default(15 * MINUTE),
    })
    .prefault({}),
  challenge: z
    .strictObject({
      /** Lifetime of the challenge token of a two-step login, in ms (default 120 s, at most 5 min). */
      ttlMs: int(10_000, 5 * MINUTE).default(2 * MINUTE),
      /** Wrong codes one challenge token allows before it is refused. */
      maxAttempts: int(1, 20).default(5),
    })
    .prefault({}),
  /** Lifetime of an email recovery link, in ms (default 1 h). */
  recoveryTokenTtlMs: int(5 * MINUTE, 24 * HOUR).default(HOUR),
  /** Milliseconds since the epoch (default `Date.now`); injectable for tests. */
  clock: z
    .custom<() => number>((value) => typeof value === 'function', 'must be a function')
    .default(() => Date.now),
  /**
   * Security notices for the user (2FA on or off, an authenticator added or removed, recovery codes
   * rotated or used, a lockout, email recovery requested or completed, an operator's reset), each
   * with its subject, text and HTML written: mail them, push them, list them in the account page.
   * Called after the flow, never delaying or breaking it; failures go to `onListenerError` as
   * event "notify". A notice never holds a secret, code or token.
   */
  notify: z
    .custom<(notice: SecurityNotice) => unknown>(
      (value) => typeof value === 'function',
      'must be a function (notice => void | Promise<void>)',
    )
    .optional(),
  /**
   * Overrides of the default English messages, by type (`locked`, `recovery-link`...): a function
   * of `{ issuer, at, details }` answering `{ subject, text, html }`, e.g. to translate them.
   */
  messages: noticeMessagesSchema,
  /** Called when an event listener throws or rejects; the flow is never affected. */
  onListenerError: z
    .custom<(error: unknown, event: string) => void>(
      (value) => typeof value === 'function',
      'must be a function',
    )
    .optional(),
});

/** Options accepted by {@link createTwoFactor} (defaults filled in when omitted). */
export type TwoFactorOptions = z.input<typeof twoFactorOptionsSchema>;

/** Options after validation, with every default applied and the keyring parsed. */
export type ResolvedOptions = z.output<typeof twoFactorOptionsSchema>;

/**
 * Validates options, throwing a TypeError that names each wrong option and what is allowed.
 * @example resolveOptions({ store: memoryStore(), keyring: process.env.TWOFOLD_KEYS, issuer: 'Acme' })
 */
export function resolveOptions(options: unknown): ResolvedOptions {
  return parseOptions(twoFactorOptionsSchema, options, 'twofold');
}

/**
 * Validates options against a zod schema, or throws one TypeError naming every wrong option and
 * what is allowed: `Invalid <caller> options: "totp.window" Too big: ...; unknown option "x"`.
 * The engine, the HTTP layer and the store adapters all report option errors through it.
 */
export function parseOptions<Schema extends z.ZodType>(
  schema: Schema,
  options: unknown,
  caller: string,
): z.output<Schema> {
  const parsed = schema.safeParse(options);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown option ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
    }
    const path = issue.path.length > 0 ? issue.path.join('.') : '(options)';
    return `"${path}" ${issue.message}`;
  });
  throw new TypeError(`Invalid ${caller} options: ${problems.join('; ')}`);
}
