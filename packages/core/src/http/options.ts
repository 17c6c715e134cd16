/**
 * Options of the HTTP layer, shared by @twofold/fastify and @twofold/express: the engine (or its
 * options), the host callbacks, tokens, step-up, email recovery and rate limits. One zod schema,
 * the engine's extended with the HTTP layer's; validated once, at register time; a wrong option
 * throws a TypeError naming it.
 */
import { z } from 'zod';
import { engineOf, type TwoFactor } from '../engine.js';
import {
  parseOptions,
  type ResolvedOptions,
  type TwoFactorOptions,
  twoFactorOptionsSchema,
} from '../options.js';

const DAY = 86_400;
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const fn = <T>(what: string) =>
  z.custom<T>((value) => typeof value === 'function', `must be a function (${what})`);

/** What `authenticate` resolves for a correct username and password: the user id. */
export type AuthenticateResult = string | { userId: string } | null | undefined;

/** A mail the kit asks the host to send. */
export interface TwofoldMail {
  /**
   * `recovery-link` (the link that turns 2FA off), `recovery-cancel-link` (a delayed recovery: when,
   * and the link that cancels it); without the engine's `notify`, also `recovery-completed` and
   * `recovery-cancelled` (with `notify` those come through it as notices).
   */
  kind: 'recovery-link' | 'recovery-cancel-link' | 'recovery-completed' | 'recovery-cancelled';
  userId: string;
  to: string;
  /** Written from the engine's messages (`messages` option), as are the security notices. */
  subject: string;
  text: string;
  html: string;
}

export interface RecoveryOptions {
  /** Finds the account of an email address; null when there is none. */
  findUserByEmail(email: string): Promise<{ userId: string; email: string } | null>;
  /** The email address of a user, for the confirmation mail; null when unknown. */
  getUserEmail(userId: string): Promise<string | null>;
  /** Checks the account password (recovery needs the link AND the password). */
  verifyPassword(userId: string, password: string): Promise<boolean>;
  /** Sends a mail. Called after the response, so its time never shows in the answer. */
  sendMail(mail: TwofoldMail): Promise<void>;
  /**
   * The host page that completes recovery. The kit appends `#uid=...&token=...`: a fragment, so the
   * token never reaches a server log; the page posts both to `POST /recovery/confirm`.
   */
  linkUrl: string;
  /** Recovery mails per account per hour (default 3); more requests are answered the same, but send nothing. */
  maxRequestsPerHour?: number;
  /**
   * Delay before 2FA goes off, in ms (default 0: at once). With a delay, confirming the link schedules
   * the removal and mails the user a cancel link; the cancel link or any successful second factor
   * stops it. At most 30 days.
   */
  delayMs?: number;
}

/**
 * The part of an ioredis client (a `Redis` or a `Cluster`) the rate limiters use: @fastify/rate-limit
 * defines its script with `defineCommand`, @twofold/express sends rate-limit-redis's commands with
 * `call` (and, in a cluster, loads its script on every master).
 */
export interface RateLimitRedisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  readonly isCluster?: boolean;
  nodes?(role: 'master'): RateLimitRedisClient[];
}

/**
 * An ioredis client (Redis or Cluster), for the rate limits of both plugins. A refinement, not a
 * custom type: inside the `rateLimit` union its problem is reported by name.
 */
export const rateLimitRedisSchema = z
  .custom<RateLimitRedisClient>()
  .refine(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      typeof value.call === 'function' &&
      typeof value.defineCommand === 'function',
    'must be an ioredis client (Redis or Cluster)',
  );

/** The HTTP layer's own options. */
const httpOptionsShape = {
  /** An engine made with createTwoFactor; otherwise pass the engine options here directly. */
  twoFactor: z
    .custom<TwoFactor>(
      (value) =>
        typeof value === 'object' && value !== null && typeof (value as TwoFactor).verify === 'function',
      'must be an engine made with createTwoFactor()',
    )
    .optional(),
  /** Where the routes live (Fastify; Express mounts the router where the host says). */
  prefix: z
    .string()
    .regex(/^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/, 'must be a path like "/2fa" (no trailing slash)')
    .default('/2fa'),
  /** Checks a username and password for POST /login; resolves the user id, or null. */
  authenticate: fn<(credentials: { username: string; password: string }) => Promise<AuthenticateResult>>(
    '{ username, password } => userId | null',
  ).optional(),
  /**
   * Checks the password of a signed-in user, for `POST /step-up` with `{ password }` (a user without
   * 2FA). Default: `recovery.verifyPassword`; with neither, that step-up is refused (400 naming
   * `password`).
   */
  verifyPassword: fn<(userId: string, password: string) => boolean | Promise<boolean>>(
    '(userId, password) => boolean',
  ).optional(),
  /** The user of a request, for hosts with their own sessions (instead of the kit's access tokens). */
  getUserId:
    fn<(request: never) => string | null | undefined | Promise<string | null | undefined>>(
      'request => userId | null',
    ).optional(),
  /** The account name shown in the authenticator app (default: the user id). */
  label: fn<(userId: string) => string | Promise<string>>('userId => label').optional(),
  tokens: z
    .strictObject({
      /** Access token lifetime in seconds (default 15 min). */
      accessTtlSeconds: int(60, DAY).default(900),
      /** Refresh token lifetime in seconds (default 30 days); each refresh starts it again. */
      refreshTtlSeconds: int(300, 90 * DAY).default(30 * DAY),
    })
    .prefault({}),
  stepUp: z
    .strictObject({
      /** How recent a second factor the step-up guard demands, in seconds (default 5 min). */
      maxAgeSeconds: int(30, DAY).default(300),
    })
    .prefault({}),
  /**
   * Trusted devices: after a second factor, `POST /login/verify` with `rememberDevice: true` answers
   * a device token (and sets it as the `twofold_device` cookie, HttpOnly, Secure, SameSite=Strict,
   * Path the prefix, unless `cookie: false`); a later `POST /login` with it skips the second factor
   * until `maxAgeDays` after it was trusted. Each use rotates it; a reused token revokes the device.
   * Off when absent.
   */
  trustedDevices: z
    .strictObject({
      maxAgeDays: int(1, 400),
      cookie: z.boolean().default(true),
    })
    .optional(),
  /**
   * Mandatory 2FA: `require(userId)` says whether the user must use it. A user who must but has not
   * set it up logs in normally during the grace period (`graceDays` from the first such login,
   * `graceLogins` such logins; with both, whichever ends first; with neither, none), then gets a
   * session that may only enroll: every other route and guard answers 403
   * TWOFOLD_ENROLLMENT_REQUIRED. Needs `authenticate` (the kit's own login).
   */
  policy: z
    .strictObject({
      require: fn<(userId: string) => boolean | Promise<boolean>>('userId => boolean'),
      graceDays: int(1, 365).optional(),
      graceLogins: int(1, 1000).optional(),
    })
    .optional(),
  recovery: z
    .strictObject({
      findUserByEmail: fn<RecoveryOptions['findUserByEmail']>('email => { userId, email } | null'),
      getUserEmail: fn<RecoveryOptions['getUserEmail']>('userId => email | null'),
      verifyPassword: fn<RecoveryOptions['verifyPassword']>('(userId, password) => boolean'),
      sendMail: fn<RecoveryOptions['sendMail']>('mail => Promise<void>'),
      linkUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
      maxRequestsPerHour: int(1, 20).default(3),
      delayMs: int(0, 30 * DAY * 1000).default(0),
    })
    .optional(),
  rateLimit: z
    .union([
      z.literal(false),
      z.strictObject({
        /** Requests per client address per route per window (default 60). */
        max: int(1, 100_000).default(60),
        /** The same for routes that check a second factor, a password or send mail (default 10). */
        sensitiveMax: int(1, 10_000).default(10),
        /** The window in ms (default 1 min). */
        timeWindowMs: int(1000, 3_600_000).default(60_000),
        /** A Redis client (ioredis) so several processes share the counts. */
        redis: rateLimitRedisSchema.optional(),
      }),
    ])
    .prefault({}),
  /** Largest accepted request body in bytes (default 16 KiB). */
  bodyLimit: int(1024, 1_048_576).default(16_384),
  /** Called with errors of work done after a response (recovery mail); never with a secret. */
  onBackgroundError: fn<(error: unknown) => void>('error => void').optional(),
};

/**
 * The options of the plugins: the engine's options (`twoFactorOptionsSchema`) extended with the HTTP
 * layer's. An engine made already can stand in for the engine's options, as `twoFactor`. An adapter
 * with options of its own extends this schema (@twofold/express: `log`).
 */
export const twofoldHttpOptionsSchema = twoFactorOptionsSchema.extend(httpOptionsShape);

/** The engine's options, by name: with `twoFactor`, none of them may be given. */
const ENGINE_KEYS = twoFactorOptionsSchema.keyof().options;
const ENGINE_MASK = Object.fromEntries(ENGINE_KEYS.map((key) => [key, true])) as Record<
  (typeof ENGINE_KEYS)[number],
  true
>;

type HttpOwnInput = z.input<z.ZodObject<typeof httpOptionsShape>>;

/**
 * Options of the plugins: either `twoFactor` (an engine) or the engine options themselves, plus the
 * HTTP options. `Request` is the framework's request type (for `getUserId`).
 */
export type TwofoldHttpOptions<Request = unknown> = Omit<HttpOwnInput, 'getUserId' | 'twoFactor'> & {
  getUserId?: (request: Request) => string | null | undefined | Promise<string | null | undefined>;
} & ({ twoFactor: TwoFactor } | ({ twoFactor?: undefined } & TwoFactorOptions));

export type ResolvedHttpOptions = Omit<z.output<z.ZodObject<typeof httpOptionsShape>>, 'twoFactor'> & {
  twoFactor: TwoFactor;
};

/**
 * Validates the plugin options against `schema` (default: {@link twofoldHttpOptionsSchema}) and makes
 * the engine unless `twoFactor` is one; throws a TypeError naming each wrong option. The result holds
 * the HTTP options, an adapter's own options, and the engine as `twoFactor`.
 */
export function resolveHttpOptions(
  options: unknown,
  schema: z.ZodObject = twofoldHttpOptionsSchema,
): ResolvedHttpOptions {
  const given = typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {};
  let resolved: Record<string, unknown>;
  if (given.twoFactor !== undefined) {
    const engineOptions = ENGINE_KEYS.filter((key) => given[key] !== undefined);
    if (engineOptions.length > 0) {
      throw new TypeError(
        `Invalid twofold options: pass either "twoFactor" or the engine options (${engineOptions.join(', ')}), not both`,
      );
    }
    resolved = parseOptions(schema.omit(ENGINE_MASK), options, 'twofold');
  } else {
    const parsed: Record<string, unknown> = parseOptions(schema, options, 'twofold');
    resolved = Object.fromEntries(Object.entries(parsed).filter(([key]) => !(key in ENGINE_MASK)));
    // `schema` extends the engine's schema, so its engine keys are already the engine's resolved
    // options: the engine takes them as they are instead of checking them again.
    resolved.twoFactor = engineOf(
      Object.fromEntries(ENGINE_KEYS.map((key) => [key, parsed[key]])) as ResolvedOptions,
    );
  }
  if (!resolved.authenticate && !resolved.getUserId) {
    throw new TypeError(
      'Invalid twofold options: "authenticate" (the kit logs users in and issues tokens) or "getUserId" (your own sessions) is required',
    );
  }
  if (resolved.policy && !resolved.authenticate) {
    throw new TypeError(
      'Invalid twofold options: "policy" (mandatory 2FA) acts at the kit\'s own login: it needs "authenticate"',
    );
  }
  return resolved as ResolvedHttpOptions;
}
