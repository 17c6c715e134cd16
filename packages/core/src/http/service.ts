/**
 * The HTTP contract of DESIGN.md as a framework-free route table. Each route validates its body,
 * calls the engine and answers `{ status, body }`; the Fastify and Express packages only adapt
 * requests and responses, so both serve exactly the same routes, bodies and errors.
 */
import type { z } from 'zod';
import {
  type AddedAuthenticator,
  type AuthenticatorInfo,
  type Enrollment,
  guardStore,
  type SecondFactor,
  type TwoFactor,
  type VerifiedFactor,
} from '../engine.js';
import { InvalidCredentialsError, InvalidInputError, NotFoundError, UnauthorizedError } from '../errors.js';
import { unstorableReason } from '../internal/unstorable.js';
import type { TwofoldHttpErrorCode } from './errors.js';
import {
  type ResolvedHttpOptions,
  resolveHttpOptions,
  type TwofoldHttpOptions,
  twofoldHttpOptionsSchema,
} from './options.js';
import { type BodySchemaName, bodyJsonSchema, parseBody, type ResponseSchemaName } from './schemas.js';
import {
  type AccessClaims,
  type AuthenticationMethod,
  createSessionTokens,
  type SessionClient,
  type SessionTokens,
  type StepUpGuardOptions,
  type TokenPair,
} from './session-tokens.js';
import { createTrustedDevices, DEVICE_COOKIE } from './trusted-devices.js';

/** What a route answers on success. Errors are thrown and mapped by `toHttpError`. */
export interface HttpResult {
  status: number;
  body?: unknown;
  /**
   * Work to start once the answer has been sent (adapters: on the response's `finish`), never before:
   * e.g. the recovery mail, so the answer takes the same time whether or not the account exists.
   * Must not throw; it reports its own failures.
   */
  afterResponse?: () => void;
  /** Headers to set on the answer (`Set-Cookie` of the trusted-device cookie). */
  headers?: Record<string, string>;
}

/** What a route gets from the adapter. */
export interface RouteInput {
  /** The signed-in user, for routes with `auth`. */
  userId: string | null;
  /** The verified access token, when the user came from the kit's own token. */
  claims: AccessClaims | null;
  body: unknown;
  /** The path parameters (`:id` in `/authenticators/:id/rename`), decoded; `{}` for other routes. */
  params?: Readonly<Record<string, string>>;
  /** Where the request came from, for the session list. */
  client?: SessionClient;
  /** The trusted-device cookie, when the request carried one. */
  deviceCookie?: string;
  /** Where the kit's routes are mounted (the prefix; Express: the router's mount path): the cookie's Path. */
  mountPath?: string;
}

/** What {@link runAfterResponse} needs of a response: Node's `ServerResponse` events. */
export interface FinishingResponse {
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

/**
 * Starts `work` (a route's `afterResponse`) once the answer is written (`finish`), or once the
 * connection is gone (`close`) without that: never while the host's hooks or the write are still
 * under way. What it throws goes to `onError`. Both plugins call it with the raw response.
 */
export function runAfterResponse(
  response: FinishingResponse,
  work: () => void,
  onError: (error: unknown) => void,
): void {
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    try {
      work();
    } catch (error) {
      onError(error);
    }
  };
  response.once('finish', start);
  response.once('close', start);
}

/** A success answer of a route, for documentation. */
export interface RouteSuccess {
  description: string;
  /** The schema of its body (`responseJsonSchemas`); none for a 204. */
  body?: ResponseSchemaName;
}

/** The groups of the routes in the documentation (OpenAPI tags), with what each is for. */
export const ROUTE_TAGS = {
  '2FA setup': 'Turn two-factor authentication on and off, and manage the recovery codes',
  '2FA authenticators':
    'Several authenticators per user: apps showing codes, security keys and passkeys (WebAuthn); list, rename, remove',
  '2FA login': 'The two-step login: password, then a code or a recovery code; and the step-up',
  '2FA sessions': "The kit's access and refresh tokens: refresh, check, log out, sign out everywhere",
  '2FA recovery': 'A lost authenticator: a mailed link and the password turn 2FA off',
} as const;
export type RouteTag = keyof typeof ROUTE_TAGS;

export interface HttpRoute {
  /** Stable id, also the rate-limit bucket (never the raw path). */
  id: string;
  method: 'GET' | 'POST';
  /** Path under the prefix; `:name` is a path parameter (one segment), handed over in `params`. */
  path: string;
  /** `user`: needs a signed-in user (getUserId or the access token); `token`: needs the kit's access token. */
  auth: 'none' | 'user' | 'token';
  /** Checks a second factor or a password, or sends mail: the stricter rate limit applies. */
  sensitive: boolean;
  /**
   * The route sets up 2FA (or reads its state): a session that may only enroll (mandatory 2FA,
   * grace over) is accepted here; on every other route that needs a user it gets a 403.
   */
  enrollment?: boolean;
  /** The body schema, or null for routes without a body. */
  body: BodySchemaName | null;
  /** For documentation: a unique name of the operation (OpenAPI `operationId`). */
  operationId: string;
  /** For documentation: the group of the route. */
  tag: RouteTag;
  /** For documentation: one short line. */
  summary: string;
  /** For documentation: what the summary leaves out, when anything. */
  description?: string;
  /** For documentation: the answers of a success, by status. */
  responses: Readonly<Record<number, RouteSuccess>>;
  /**
   * For documentation: the codes of the refusals of this route's own flow. Those of the plumbing
   * are not listed here: a body's 400/413/415, the 401 of a route that needs a user, the rate
   * limit's 429, the 500 and the store's 503 (`openApiDocument` adds them from the other fields).
   */
  errors: readonly TwofoldHttpErrorCode[];
  handle(input: RouteInput): Promise<HttpResult>;
}

/** What the HTTP layer reads of a framework's request: the `Authorization` header and the parsed body. */
export interface RouteRequest {
  readonly headers: {
    readonly authorization?: string | undefined;
    readonly 'user-agent'?: string | undefined;
    /** For the trusted-device cookie. */
    readonly cookie?: string | undefined;
  };
  /** The client address as the framework decides it (Fastify and Express: `request.ip`). */
  readonly ip?: string | undefined;
  /** Express: where the router is mounted (the cookie's Path when there is no `prefix` option). */
  readonly baseUrl?: string | undefined;
  readonly body?: unknown;
  /** The path parameters as the framework decoded them. */
  readonly params?: unknown;
}

export interface TwofoldHttp<Request = unknown> {
  readonly options: ResolvedHttpOptions;
  readonly engine: TwoFactor;
  readonly tokens: SessionTokens;
  /** The routes to register, in a stable order. */
  readonly routes: readonly HttpRoute[];
  /** The JSON Schema of a route's body, for @fastify/swagger. */
  bodyJsonSchema(route: HttpRoute): Record<string, unknown> | undefined;
  /**
   * The input of `route` for a request: the body, and the user. For `auth: 'user'` with the host's
   * `getUserId`, the user it finds (`claims` null); otherwise, for `auth: 'user' | 'token'`, the user
   * of the kit's access token in the `Authorization` header (`claims` its verified claims).
   * @throws UnauthorizedError when a route that needs a user finds none
   */
  routeInput(route: HttpRoute, request: Request & RouteRequest): Promise<RouteInput>;
  /** Checks an `Authorization` header value. @throws UnauthorizedError */
  authorize(header: unknown): Promise<AccessClaims>;
  /**
   * The step-up check for host routes: an authentication (`auth_time`) within `maxAgeSeconds`
   * (default: the `stepUp.maxAgeSeconds` option). A token with `mfa` proved a second factor then; a
   * token without it belongs to a user without 2FA, whose password is enough unless
   * `{ secondFactor: true }` demands `mfa` anyway.
   * @throws StepUpRequiredError
   */
  requireStepUp(claims: AccessClaims, maxAgeSeconds?: number, options?: StepUpGuardOptions): void;
}

const RECOVERY_REQUESTS_KEY = 'recovery-requests';

/** The string-valued path parameters of a framework's `request.params`. */
function stringParams(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** When the first login under a mandatory-2FA policy was (ms), for its days of grace. */
const GRACE_SINCE_KEY = 'enrollment-grace-since';
/** The logins of a user under a mandatory-2FA policy without 2FA, for its grace in logins. */
const GRACE_LOGINS_KEY = 'enrollment-grace-logins';
/** How long the grace records are kept without a login: a user away longer gets a new grace period. */
const GRACE_KEEP_MS = 400 * DAY_MS;

/**
 * The client of a request for the session list: the User-Agent (text only: a header with control
 * characters or lone surrogates is dropped rather than stored) and the framework's `ip`.
 */
/** The value of cookie `name` in a `Cookie` header, or undefined. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

function clientOf(request: RouteRequest): SessionClient {
  const agent = request.headers['user-agent'];
  const ip = request.ip;
  return {
    userAgent: typeof agent === 'string' && agent !== '' && unstorableReason(agent) === null ? agent : null,
    ip: typeof ip === 'string' && ip !== '' && unstorableReason(ip) === null ? ip : null,
  };
}

/**
 * Builds the HTTP layer from the plugin options, validated here against `optionsSchema` (an adapter
 * with options of its own passes its extension of `twofoldHttpOptionsSchema`).
 * @example const http = createTwofoldHttp({ store: memoryStore(), keyring, issuer: 'Acme', authenticate });
 */
export function createTwofoldHttp<Request = unknown>(
  input: TwofoldHttpOptions<Request>,
  optionsSchema: z.ZodObject = twofoldHttpOptionsSchema,
): TwofoldHttp<Request> {
  const options = resolveHttpOptions(input, optionsSchema);
  const getUserId = options.getUserId as TwofoldHttpOptions<Request>['getUserId'];
  const engine = options.twoFactor;
  const { keyring, issuer, clock } = engine.options;
  const store = guardStore(engine.options.store);
  const tokens = createSessionTokens({
    keyring,
    issuer,
    store,
    clock,
    accessTtlSeconds: options.tokens.accessTtlSeconds,
    refreshTtlSeconds: options.tokens.refreshTtlSeconds,
  });
  const background = (error: unknown) =>
    options.onBackgroundError
      ? options.onBackgroundError(error)
      : process.emitWarning(
          `twofold: background work failed: ${(error as Error)?.message ?? 'unknown error'}`,
        );

  // Without a `label` option the engine makes one from the user id.
  const label = async (userId: string) => (options.label ? await options.label(userId) : undefined);
  const secondFactor = (body: {
    code?: unknown;
    recoveryCode?: unknown;
    webauthn?: unknown;
  }): SecondFactor =>
    body.code !== undefined
      ? { code: body.code }
      : body.webauthn !== undefined
        ? { webauthn: body.webauthn }
        : { recoveryCode: body.recoveryCode };
  const userOf = (input: RouteInput): string => {
    if (input.userId === null) throw new UnauthorizedError();
    return input.userId;
  };
  /** The authenticator id in the path. */
  const idParam = (input: RouteInput, what = 'an authenticator id'): string => {
    const id = input.params?.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > 255) {
      throw new InvalidInputError('id', `The path must name ${what}`);
    }
    return id;
  };
  /**
   * Adding an authenticator to an account that has 2FA needs a second factor within the step-up
   * age, when the request came with the kit's access token: a stolen session must not add a key of
   * its own. (With the host's `getUserId`, the host's own step-up rules apply.)
   */
  const requireFactorToAdd = async (userId: string, claims: AccessClaims | null) => {
    if (!claims) return;
    if ((await engine.status(userId)).enabled) {
      tokens.requireRecentSecondFactor(claims, options.stepUp.maxAgeSeconds);
    }
  };
  /** The JSON answer of a new authenticator, with fresh tokens when 2FA has just turned on. */
  const addedBody = (result: AddedAuthenticator, pair: TokenPair | undefined) => ({
    authenticatorId: result.authenticatorId,
    ...(result.enabled ? { recoveryCodes: result.recoveryCodes } : {}),
    ...pair,
  });
  const authenticatorBody = (info: AuthenticatorInfo) => ({
    ...info,
    createdAt: info.createdAt.toISOString(),
    lastUsedAt: info.lastUsedAt?.toISOString() ?? null,
  });
  /** The `amr` of a session after a second factor. */
  const amrAfter = (verified: VerifiedFactor): AuthenticationMethod[] => ['pwd', verified.amr, 'mfa'];
  /**
   * Ends every session of the user (access and refresh tokens issued until now); when the request
   * came with the kit's access token, starts a fresh session for it, dated after the revocation, with
   * a second factor in `amr` (the caller has just proved one: `factor` says how).
   */
  const restartSessions = async (
    userId: string,
    claims: AccessClaims | null,
    factor: VerifiedFactor['amr'] = 'otp',
    client?: SessionClient,
  ) => {
    const revokedAt = await tokens.revokeAll(userId);
    if (!claims || claims.userId !== userId) return undefined;
    const amr = [...new Set<AuthenticationMethod>([...claims.amr, factor, 'mfa'])];
    return tokens.issue(userId, amr, clock(), { notBefore: revokedAt, client });
  };

  const { policy } = options;
  const devices = options.trustedDevices
    ? createTrustedDevices({
        keyring,
        issuer,
        store,
        clock,
        maxAgeDays: options.trustedDevices.maxAgeDays,
      })
    : null;
  /** The `Set-Cookie` header of the device cookie: `token`, or clearing it (null). */
  const deviceCookieHeader = (token: string | null, path = '/'): Record<string, string> | undefined => {
    if (!options.trustedDevices?.cookie) return undefined;
    const maxAge = token === null ? 0 : options.trustedDevices.maxAgeDays * 86_400;
    return {
      'set-cookie': `${DEVICE_COOKIE}=${token ?? ''}; Path=${path}; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`,
    };
  };
  /**
   * Where a user who must use 2FA stands (null when no policy applies to them): until when they may
   * go on without it, how many password logins they have left, and whether their sessions may only
   * enroll now. `login` counts a login and starts the days of grace at the first one; otherwise
   * nothing is written (GET /status).
   */
  const mandatory = async (
    userId: string,
    login: boolean,
  ): Promise<{ restricted: boolean; by: number | null; loginsLeft: number | null } | null> => {
    if (!policy || !(await policy.require(userId))) return null;
    const now = clock();
    let by: number | null = null;
    if (policy.graceDays !== undefined) {
      // The first login under the policy starts the days (set if absent: concurrent logins agree).
      if (login) await store.claimNonce(userId, GRACE_SINCE_KEY, String(now), now + GRACE_KEEP_MS, now);
      const since = await store.getNonce(userId, GRACE_SINCE_KEY, now);
      by = (since === null ? now : Number(since)) + policy.graceDays * DAY_MS;
    }
    let loginsLeft: number | null = null;
    let loginsOver = false;
    if (policy.graceLogins !== undefined) {
      // Counted atomically: of N concurrent logins exactly graceLogins get through in all.
      const used = login
        ? (await store.incrementCounter(userId, GRACE_LOGINS_KEY, GRACE_KEEP_MS, now)).count
        : ((await store.getCounter(userId, GRACE_LOGINS_KEY, now))?.count ?? 0);
      loginsOver = used > policy.graceLogins;
      loginsLeft = Math.max(0, policy.graceLogins - used);
    }
    const noGrace = policy.graceDays === undefined && policy.graceLogins === undefined;
    return { restricted: noGrace || loginsOver || (by !== null && now >= by), by, loginsLeft };
  };
  /** The fields of a login or status answer about the policy. */
  const mandatoryFields = (state: { restricted: boolean; by: number | null; loginsLeft: number | null }) => ({
    enrollmentRequiredBy: state.by === null ? null : new Date(state.by).toISOString(),
    graceLoginsLeft: state.loginsLeft,
  });

  const routes: HttpRoute[] = [
    {
      id: 'totp.enroll',
      enrollment: true,
      method: 'POST',
      path: '/totp/enroll',
      auth: 'user',
      sensitive: false,
      body: 'enroll',
      operationId: 'enrollTotp',
      tag: '2FA setup',
      summary: 'Start adding an authenticator app: a new secret and its QR code',
      description:
        'The enrollment is pending until POST /totp/confirm; starting again replaces the secret. With 2FA ' +
        "on already, this adds another app, and with the kit's access token it needs a recent second factor " +
        '(POST /step-up).',
      responses: { 201: { description: 'The pending enrollment', body: 'enrollment' } },
      errors: ['TWOFOLD_AUTHENTICATOR_LIMIT', 'TWOFOLD_STEP_UP_REQUIRED'],
      async handle(request) {
        const body = parseBody('enroll', request.body ?? {});
        const userId = userOf(request);
        await requireFactorToAdd(userId, request.claims);
        const chosen = await label(userId);
        const enrollment: Enrollment = await engine.enroll(userId, {
          ...(chosen === undefined ? {} : { label: chosen }),
          ...(body.name === undefined ? {} : { name: body.name }),
        });
        return {
          status: 201,
          body: { ...enrollment, expiresAt: new Date(enrollment.expiresAt).toISOString() },
        };
      },
    },
    {
      id: 'totp.confirm',
      enrollment: true,
      method: 'POST',
      path: '/totp/confirm',
      auth: 'user',
      sensitive: true,
      body: 'confirm',
      operationId: 'confirmTotp',
      tag: '2FA setup',
      summary: 'Confirm the pending enrollment with a code: the app is added (2FA is on)',
      description:
        'When this is the first authenticator, 2FA turns on: the recovery codes are shown once and every ' +
        "other session of the user ends; with the kit's access token, this one goes on with the fresh " +
        'tokens in the answer.',
      responses: {
        200: {
          description: 'The new authenticator (recovery codes and fresh tokens when 2FA turned on)',
          body: 'confirmation',
        },
      },
      errors: [
        'TWOFOLD_NOT_PENDING',
        'TWOFOLD_INVALID_CODE',
        'TWOFOLD_LOCKED',
        'TWOFOLD_AUTHENTICATOR_LIMIT',
      ],
      async handle(request) {
        const body = parseBody('confirm', request.body);
        const userId = userOf(request);
        // 2FA turning on ends every session of the user, password-only ones included; the one
        // making the request goes on with fresh tokens (before activation: if that fails, nothing changed).
        let pair: TokenPair | undefined;
        const result = await engine.confirm(userId, body.code, {
          ...(body.authenticatorId === undefined ? {} : { authenticatorId: body.authenticatorId }),
          beforeActivate: async () => {
            pair = await restartSessions(userId, request.claims, 'otp', request.client);
          },
        });
        return { status: 200, body: addedBody(result, pair) };
      },
    },
    {
      id: 'totp.disable',
      method: 'POST',
      path: '/totp/disable',
      auth: 'user',
      sensitive: true,
      body: 'secondFactor',
      operationId: 'disableTotp',
      tag: '2FA setup',
      summary: 'Turn 2FA off; needs a current code, a security key or a recovery code',
      description:
        'Every authenticator and recovery code is deleted. Every other session ends; with the ' +
        "kit's access token, 200 and fresh tokens for this one (204 with a host session).",
      responses: {
        200: { description: "2FA is off; fresh tokens (with the kit's access token)", body: 'tokenPair' },
        204: { description: '2FA is off (with a host session)' },
      },
      errors: ['TWOFOLD_NOT_ENABLED', 'TWOFOLD_INVALID_CODE', 'TWOFOLD_LOCKED'],
      async handle(request) {
        const body = parseBody('secondFactor', request.body);
        const userId = userOf(request);
        let pair: TokenPair | undefined;
        await engine.disable(userId, secondFactor(body), {
          beforeDisable: async (verified) => {
            pair = await restartSessions(userId, request.claims, verified.amr, request.client);
          },
        });
        // With the kit's own tokens the current session goes on with fresh ones; a host session has none.
        return pair ? { status: 200, body: pair } : { status: 204 };
      },
    },
    {
      id: 'recoveryCodes.rotate',
      method: 'POST',
      path: '/recovery-codes/rotate',
      auth: 'user',
      sensitive: true,
      body: 'authenticatorFactor',
      operationId: 'rotateRecoveryCodes',
      tag: '2FA setup',
      summary: 'Replace the recovery codes; needs a current code or a security key',
      responses: { 200: { description: 'The new recovery codes, shown once', body: 'recoveryCodes' } },
      errors: ['TWOFOLD_NOT_ENABLED', 'TWOFOLD_INVALID_CODE', 'TWOFOLD_LOCKED'],
      async handle(request) {
        const body = parseBody('authenticatorFactor', request.body);
        return { status: 200, body: await engine.rotateRecoveryCodes(userOf(request), secondFactor(body)) };
      },
    },
    {
      id: 'status',
      enrollment: true,
      method: 'GET',
      path: '/status',
      auth: 'user',
      sensitive: false,
      body: null,
      operationId: 'getTwoFactorStatus',
      tag: '2FA setup',
      summary: 'Whether 2FA is on, pending, its authenticators by type, and how many recovery codes remain',
      responses: { 200: { description: 'The 2FA state of the user', body: 'twoFactorStatus' } },
      errors: [],
      async handle(request) {
        const userId = userOf(request);
        const status = await engine.status(userId);
        const state = policy && !status.enabled ? await mandatory(userId, false) : null;
        return {
          status: 200,
          body: {
            ...status,
            ...(policy
              ? {
                  enrollmentRequired: state?.restricted ?? false,
                  ...(state ? mandatoryFields(state) : { enrollmentRequiredBy: null, graceLoginsLeft: null }),
                }
              : {}),
          },
        };
      },
    },
    {
      id: 'authenticators.list',
      enrollment: true,
      method: 'GET',
      path: '/authenticators',
      auth: 'user',
      sensitive: false,
      body: null,
      operationId: 'listAuthenticators',
      tag: '2FA authenticators',
      summary: "The user's authenticators, oldest first",
      responses: { 200: { description: 'The authenticators (never a secret)', body: 'authenticatorList' } },
      errors: [],
      async handle(request) {
        const list = await engine.listAuthenticators(userOf(request));
        return { status: 200, body: { authenticators: list.map(authenticatorBody) } };
      },
    },
    {
      id: 'authenticators.rename',
      method: 'POST',
      path: '/authenticators/:id/rename',
      auth: 'user',
      sensitive: false,
      body: 'rename',
      operationId: 'renameAuthenticator',
      tag: '2FA authenticators',
      summary: 'Rename an authenticator',
      responses: { 200: { description: 'The authenticator, renamed', body: 'authenticator' } },
      errors: ['TWOFOLD_NOT_FOUND'],
      async handle(request) {
        const body = parseBody('rename', request.body);
        const userId = userOf(request);
        const info = await engine.renameAuthenticator(userId, idParam(request), body.name);
        return { status: 200, body: authenticatorBody(info) };
      },
    },
    {
      id: 'authenticators.remove',
      method: 'POST',
      path: '/authenticators/:id/remove',
      auth: 'user',
      sensitive: true,
      body: 'secondFactor',
      operationId: 'removeAuthenticator',
      tag: '2FA authenticators',
      summary: 'Remove an authenticator; needs a fresh second factor',
      description:
        'Removing the last one turns 2FA off (the recovery codes go too), like POST /totp/disable: every ' +
        "other session ends, and with the kit's access token the answer is 200 with fresh tokens.",
      responses: {
        200: {
          description: "It was the last one: 2FA is off; fresh tokens (with the kit's access token)",
          body: 'tokenPair',
        },
        204: { description: 'The authenticator is removed' },
      },
      errors: ['TWOFOLD_NOT_FOUND', 'TWOFOLD_NOT_ENABLED', 'TWOFOLD_INVALID_CODE', 'TWOFOLD_LOCKED'],
      async handle(request) {
        const body = parseBody('secondFactor', request.body);
        const userId = userOf(request);
        let pair: TokenPair | undefined;
        await engine.removeAuthenticator(userId, idParam(request), secondFactor(body), {
          beforeDisable: async (verified) => {
            pair = await restartSessions(userId, request.claims, verified.amr, request.client);
          },
        });
        return pair ? { status: 200, body: pair } : { status: 204 };
      },
    },
  ];

  if (engine.options.webauthn) {
    routes.push(
      {
        id: 'webauthn.register.options',
        enrollment: true,
        method: 'POST',
        path: '/webauthn/register/options',
        auth: 'user',
        sensitive: false,
        body: 'webauthnRegisterOptions',
        operationId: 'webauthnRegistrationOptions',
        tag: '2FA authenticators',
        summary: 'Start adding a security key or passkey: WebAuthn creation options',
        description:
          'Valid for `webauthn.timeoutMs`; asking again replaces them. With 2FA on already and the ' +
          "kit's access token, needs a recent second factor (POST /step-up).",
        responses: {
          200: { description: 'Options for navigator.credentials.create()', body: 'webauthnCreationOptions' },
        },
        errors: ['TWOFOLD_AUTHENTICATOR_LIMIT', 'TWOFOLD_STEP_UP_REQUIRED'],
        async handle(request) {
          const body = parseBody('webauthnRegisterOptions', request.body ?? {});
          const userId = userOf(request);
          await requireFactorToAdd(userId, request.claims);
          const userName = await label(userId);
          const creation = await engine.startWebAuthnRegistration(userId, {
            ...(userName === undefined ? {} : { userName }),
            ...(body.name === undefined ? {} : { name: body.name }),
          });
          return { status: 200, body: creation };
        },
      },
      {
        id: 'webauthn.register.verify',
        enrollment: true,
        method: 'POST',
        path: '/webauthn/register/verify',
        auth: 'user',
        sensitive: true,
        body: 'webauthnRegisterVerify',
        operationId: 'webauthnRegistrationVerify',
        tag: '2FA authenticators',
        summary: "Finish adding a security key or passkey with the browser's answer",
        description:
          'When it is the first authenticator, 2FA turns on as with POST /totp/confirm: recovery codes ' +
          "once, every other session ends, fresh tokens with the kit's access token.",
        responses: {
          201: {
            description: 'The new authenticator (recovery codes and fresh tokens when 2FA turned on)',
            body: 'confirmation',
          },
        },
        errors: ['TWOFOLD_INVALID_REGISTRATION', 'TWOFOLD_AUTHENTICATOR_LIMIT', 'TWOFOLD_STEP_UP_REQUIRED'],
        async handle(request) {
          const body = parseBody('webauthnRegisterVerify', request.body);
          const userId = userOf(request);
          await requireFactorToAdd(userId, request.claims);
          let pair: TokenPair | undefined;
          const result = await engine.finishWebAuthnRegistration(userId, body.response, {
            ...(body.name === undefined ? {} : { name: body.name }),
            beforeActivate: async (amr) => {
              pair = await restartSessions(userId, request.claims, amr, request.client);
            },
          });
          return { status: 201, body: addedBody(result, pair) };
        },
      },
      {
        id: 'webauthn.authenticate.options',
        method: 'POST',
        path: '/webauthn/authenticate/options',
        auth: 'user',
        sensitive: false,
        body: 'empty',
        operationId: 'webauthnAuthenticationOptions',
        tag: '2FA authenticators',
        summary: 'WebAuthn request options for a second factor outside a login',
        description:
          'For POST /step-up, /totp/disable, /authenticators/:id/remove, /recovery-codes/rotate and ' +
          '/sessions/revoke-all: the answer goes in `webauthn`. Only the latest options are valid, once.',
        responses: {
          200: { description: 'Options for navigator.credentials.get()', body: 'webauthnRequestOptions' },
        },
        errors: ['TWOFOLD_NOT_ENABLED'],
        async handle(request) {
          parseBody('empty', request.body);
          return { status: 200, body: await engine.startWebAuthnAuthentication(userOf(request)) };
        },
      },
    );
  }

  const { authenticate } = options;
  /** The password check of a step-up without 2FA: the `verifyPassword` option, else recovery's. */
  const verifyPassword = options.verifyPassword ?? options.recovery?.verifyPassword;
  if (authenticate) {
    routes.push(
      {
        id: 'login',
        method: 'POST',
        path: '/login',
        auth: 'none',
        sensitive: true,
        body: 'login',
        operationId: 'login',
        tag: '2FA login',
        summary: 'Password step: tokens, or a challenge token when the account has 2FA',
        responses: { 200: { description: 'Tokens, or a challenge token', body: 'loginResult' } },
        errors: ['TWOFOLD_INVALID_CREDENTIALS'],
        async handle(request) {
          const body = parseBody('login', request.body);
          const found = await authenticate({ username: body.username, password: body.password });
          const userId = typeof found === 'string' ? found : found?.userId;
          if (typeof userId !== 'string' || userId === '') {
            throw new InvalidCredentialsError();
          }
          const status = await engine.status(userId);
          if (status.enabled) {
            const presented = body.deviceToken ?? request.deviceCookie;
            if (devices && presented !== undefined) {
              // A locked account gets no shortcut: the second step answers it.
              const locked = (await engine.lockedUntil(userId)) !== null;
              const next = locked ? null : await devices.use(userId, presented, request.client);
              if (next) {
                const pair = await tokens.issue(userId, ['pwd'], clock(), {
                  client: request.client,
                  trustedDevice: true,
                });
                const headers = deviceCookieHeader(next, request.mountPath);
                return {
                  status: 200,
                  body: { twoFactorRequired: false, ...pair, deviceToken: next },
                  ...(headers ? { headers } : {}),
                };
              }
            }
            const challenge = await engine.createChallenge(userId);
            // A refused device cookie is cleared: it will not be tried again.
            const headers =
              devices && request.deviceCookie !== undefined
                ? deviceCookieHeader(null, request.mountPath)
                : undefined;
            return {
              status: 200,
              body: {
                twoFactorRequired: true,
                challengeToken: challenge.challengeToken,
                expiresIn: challenge.expiresIn,
              },
              ...(headers ? { headers } : {}),
            };
          }
          const state = await mandatory(userId, true);
          const pair = await tokens.issue(userId, ['pwd'], clock(), {
            client: request.client,
            enrollmentOnly: state?.restricted === true,
          });
          if (!state) return { status: 200, body: { twoFactorRequired: false, ...pair } };
          return {
            status: 200,
            body: {
              twoFactorRequired: false,
              ...pair,
              enrollmentRequired: state.restricted,
              ...mandatoryFields(state),
            },
          };
        },
      },
      {
        id: 'login.options',
        method: 'POST',
        path: '/login/options',
        auth: 'none',
        sensitive: false,
        body: 'loginOptions',
        operationId: 'loginOptions',
        tag: '2FA login',
        summary: 'What the second step can take, and WebAuthn request options bound to this login',
        responses: {
          200: { description: 'The kinds of factor, and the WebAuthn options or null', body: 'loginOptions' },
        },
        errors: ['TWOFOLD_INVALID_CHALLENGE'],
        async handle(request) {
          const body = parseBody('loginOptions', request.body);
          return { status: 200, body: await engine.loginOptions(body.challengeToken) };
        },
      },
      {
        id: 'login.verify',
        method: 'POST',
        path: '/login/verify',
        auth: 'none',
        sensitive: true,
        body: 'loginVerify',
        operationId: 'verifyLogin',
        tag: '2FA login',
        summary:
          'Second step: the challenge token and a code, a security key answer or a recovery code give the tokens',
        description:
          'With trustedDevices on, `rememberDevice: true` (and an optional `deviceName`) also answers a device token ' +
          'that lets the next POST /login skip this step.',
        responses: { 200: { description: 'The tokens', body: 'verifiedTokens' } },
        errors: [
          'TWOFOLD_INVALID_CHALLENGE',
          'TWOFOLD_INVALID_CODE',
          'TWOFOLD_NOT_ENABLED',
          'TWOFOLD_LOCKED',
        ],
        async handle(request) {
          const body = parseBody('loginVerify', request.body);
          // The session is stored along with the login's last store call (see completeChallenge).
          let pair: TokenPair | undefined;
          const verified = await engine.completeChallenge(body.challengeToken, secondFactor(body), {
            sessionNonces: (factor) => {
              const prepared = tokens.prepare(factor.userId, amrAfter(factor), clock(), {
                client: request.client,
              });
              pair = prepared.pair;
              return prepared.nonces;
            },
          });
          if (!pair) throw new Error('completeChallenge resolved without asking for the session');
          if (!devices || body.rememberDevice !== true) return { status: 200, body: pair };
          const device = await devices.trust(verified.userId, request.client, body.deviceName);
          engine.reportTrustedDevice(verified.userId, device.id, body.deviceName?.trim() || null);
          const headers = deviceCookieHeader(device.token, request.mountPath);
          return {
            status: 200,
            body: { ...pair, deviceToken: device.token },
            ...(headers ? { headers } : {}),
          };
        },
      },
      {
        id: 'token.refresh',
        method: 'POST',
        path: '/token/refresh',
        auth: 'none',
        sensitive: true,
        body: 'refresh',
        operationId: 'refreshTokens',
        tag: '2FA sessions',
        summary: 'Spend a refresh token for a new pair',
        description: 'A refresh token works once: presenting a spent one ends its whole session.',
        responses: { 200: { description: 'A new pair', body: 'tokenPair' } },
        errors: ['TWOFOLD_INVALID_TOKEN'],
        async handle(request) {
          const body = parseBody('refresh', request.body);
          return { status: 200, body: await tokens.refresh(body.refreshToken, request.client) };
        },
      },
      {
        id: 'token.revoke',
        method: 'POST',
        path: '/token/revoke',
        auth: 'none',
        sensitive: false,
        body: 'refresh',
        operationId: 'revokeToken',
        tag: '2FA sessions',
        summary: 'Log out: end the session of a refresh token',
        description: 'An unknown, expired or spent refresh token is ignored: the answer is the same.',
        responses: { 204: { description: 'The session has ended' } },
        errors: [],
        async handle(request) {
          const body = parseBody('refresh', request.body);
          await tokens.revoke(body.refreshToken);
          return { status: 204 };
        },
      },
      {
        id: 'token.verify',
        method: 'POST',
        path: '/token/verify',
        auth: 'none',
        sensitive: false,
        body: 'token',
        operationId: 'verifyToken',
        tag: '2FA sessions',
        summary: 'Check an access token',
        responses: { 200: { description: 'The token is valid and its session goes on', body: 'empty' } },
        errors: ['TWOFOLD_INVALID_TOKEN'],
        async handle(request) {
          const body = parseBody('token', request.body);
          await tokens.verifyAccess(body.token);
          return { status: 200, body: {} };
        },
      },
      {
        id: 'stepUp',
        method: 'POST',
        path: '/step-up',
        auth: 'token',
        sensitive: true,
        body: 'stepUp',
        operationId: 'stepUp',
        tag: '2FA login',
        summary:
          'Authenticate again: a new access token, with a fresh auth_time, that passes the step-up guard',
        description:
          'A user with 2FA sends one fresh second factor (`amr` gains it and `mfa`); a user without 2FA ' +
          'sends the account password (`amr` is `["pwd"]`). A wrong password counts toward the ' +
          'per-account lockout as a wrong code does.',
        responses: { 200: { description: 'The new access token', body: 'accessToken' } },
        errors: [
          'TWOFOLD_NOT_ENABLED',
          'TWOFOLD_INVALID_CODE',
          'TWOFOLD_INVALID_CREDENTIALS',
          'TWOFOLD_LOCKED',
        ],
        async handle(request) {
          const body = parseBody('stepUp', request.body);
          if (!request.claims) throw new UnauthorizedError();
          const { userId } = request.claims;
          if (body.password === undefined) {
            const verified = await engine.verifySecondFactor(userId, secondFactor(body));
            return { status: 200, body: await tokens.stepUp(request.claims, verified.amr) };
          }
          if (!verifyPassword) {
            throw new InvalidInputError(
              'password',
              'This server takes no password for a step-up (no verifyPassword option): send a second factor',
            );
          }
          const { password } = body;
          await engine.verifyPasswordStepUp(userId, () => verifyPassword(userId, password));
          return { status: 200, body: await tokens.stepUp(request.claims, 'pwd') };
        },
      },
      {
        id: 'sessions.list',
        method: 'GET',
        path: '/sessions',
        auth: 'token',
        sensitive: false,
        body: null,
        operationId: 'listSessions',
        tag: '2FA sessions',
        summary: "The user's sessions: when each started and was last used, from which browser and address",
        description:
          'A session is a login and its refreshes; `current` marks the one asking. Sessions ended by ' +
          'logout, refresh-token reuse or sign-out everywhere are not listed.',
        responses: { 200: { description: 'The sessions', body: 'sessionList' } },
        errors: [],
        async handle(request) {
          if (!request.claims) throw new UnauthorizedError();
          const sessions = await tokens.list(request.claims.userId, request.claims.family);
          return { status: 200, body: { sessions } };
        },
      },
      {
        id: 'sessions.revoke',
        method: 'POST',
        path: '/sessions/:id/revoke',
        auth: 'token',
        sensitive: false,
        body: null,
        operationId: 'revokeSession',
        tag: '2FA sessions',
        summary: 'Sign out one session (this one too, when named)',
        description:
          'Its access and refresh tokens are refused from the next request on. No second factor needed: ' +
          'ending a session gives nobody access.',
        responses: { 204: { description: 'The session has ended' } },
        errors: ['TWOFOLD_NOT_FOUND'],
        async handle(request) {
          if (!request.claims) throw new UnauthorizedError();
          const id = idParam(request, 'a session id');
          if (!(await tokens.revokeSession(request.claims.userId, id))) {
            throw new NotFoundError('No session of this user has that id');
          }
          return { status: 204 };
        },
      },
      ...(devices
        ? ([
            {
              id: 'devices.list',
              method: 'GET',
              path: '/devices',
              auth: 'token',
              sensitive: false,
              body: null,
              operationId: 'listTrustedDevices',
              tag: '2FA sessions',
              summary: "The user's trusted devices: those that may sign in without the second factor",
              responses: { 200: { description: 'The trusted devices', body: 'deviceList' } },
              errors: [],
              async handle(request) {
                if (!request.claims) throw new UnauthorizedError();
                return { status: 200, body: { devices: await devices.list(request.claims.userId) } };
              },
            },
            {
              id: 'devices.revoke',
              method: 'POST',
              path: '/devices/:id/revoke',
              auth: 'token',
              sensitive: false,
              body: null,
              operationId: 'revokeTrustedDevice',
              tag: '2FA sessions',
              summary: 'Forget a trusted device: its next login needs the second factor again',
              responses: { 204: { description: 'The device is no longer trusted' } },
              errors: ['TWOFOLD_NOT_FOUND'],
              async handle(request) {
                if (!request.claims) throw new UnauthorizedError();
                if (!(await devices.revoke(request.claims.userId, idParam(request, 'a device id')))) {
                  throw new NotFoundError('No trusted device of this user has that id');
                }
                return { status: 204 };
              },
            },
          ] satisfies HttpRoute[])
        : []),
      {
        id: 'sessions.revokeAll',
        method: 'POST',
        path: '/sessions/revoke-all',
        auth: 'token',
        sensitive: true,
        body: 'optionalSecondFactor',
        operationId: 'revokeAllSessions',
        tag: '2FA sessions',
        summary: 'Sign out everywhere',
        description:
          'Every access and refresh token of the user issued until now is refused from the next ' +
          'request on. Needs a fresh code or recovery code when 2FA is on.',
        responses: { 204: { description: 'Every session has ended' } },
        errors: ['TWOFOLD_INVALID_CODE', 'TWOFOLD_LOCKED'],
        async handle(request) {
          // Without 2FA there is nothing to send: no body is the same as `{}`.
          const body = parseBody('optionalSecondFactor', request.body ?? {});
          if (!request.claims) throw new UnauthorizedError();
          const { userId } = request.claims;
          const given =
            body.code !== undefined || body.recoveryCode !== undefined || body.webauthn !== undefined;
          if (given || (await engine.status(userId)).enabled) {
            if (!given) {
              throw new InvalidInputError(
                'code',
                'a fresh "code", "webauthn" or "recoveryCode" is required while 2FA is on',
              );
            }
            await engine.verifySecondFactor(userId, secondFactor(body));
          }
          await tokens.revokeAll(userId);
          return { status: 204 };
        },
      },
    );
  }

  const { recovery } = options;
  if (recovery) {
    async function sendRecoveryLink(email: string): Promise<void> {
      const user = await recovery!.findUserByEmail(email);
      if (!user) return;
      const status = await engine.status(user.userId);
      if (!status.enabled) return;
      const now = clock();
      const requests = await store.incrementCounter(user.userId, RECOVERY_REQUESTS_KEY, HOUR_MS, now);
      if (requests.count > recovery!.maxRequestsPerHour) return;
      const { token, expiresAt } = await engine.createRecoveryToken(user.userId);
      const link = `${recovery!.linkUrl}#uid=${encodeURIComponent(user.userId)}&token=${token}`;
      await recovery!.sendMail({
        kind: 'recovery-link',
        userId: user.userId,
        to: user.email,
        ...engine.message('recovery-link', { link, expiresAt }),
      });
    }

    /**
     * Requests for one address run one after another in this process, so the mails go out in the
     * order their tokens were stored: the newest link in the inbox is the one that works.
     */
    const pendingLinks = new Map<string, Promise<void>>();
    function queueRecoveryLink(email: string): void {
      const key = email.toLowerCase();
      const previous = pendingLinks.get(key) ?? Promise.resolve();
      const next = previous
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => sendRecoveryLink(email).catch(background));
      pendingLinks.set(key, next);
      void next.then(() => {
        if (pendingLinks.get(key) === next) pendingLinks.delete(key);
      });
    }

    /**
     * The mails that 2FA was turned off by email recovery, or that a delayed one was cancelled, when
     * the engine emits it (at once, or when a delayed one comes due). With the engine's `notify`
     * hook, that hook gets them as notices instead (one mechanism, one mail).
     */
    if (!engine.options.notify) {
      const mailUser = async (
        userId: string,
        kind: 'recovery-completed' | 'recovery-cancelled',
        by?: 'link' | 'second-factor',
      ) => {
        const to = await recovery!.getUserEmail(userId);
        if (!to) return;
        const written =
          kind === 'recovery-completed'
            ? engine.message('recovery-completed', {})
            : engine.message('recovery-cancelled', { by: by ?? 'link' });
        await recovery!.sendMail({ kind, userId, to, ...written });
      };
      engine.on('disabled', ({ userId, via }) => {
        if (via === 'email-recovery') return mailUser(userId, 'recovery-completed').catch(background);
      });
      engine.on('recoveryCancelled', ({ userId, by }) =>
        mailUser(userId, 'recovery-cancelled', by).catch(background),
      );
    }

    /** A delayed recovery's mail: when 2FA goes off, and the link that cancels it. */
    async function sendCancelLink(userId: string, cancelToken: string, dueAt: number): Promise<void> {
      const to = await recovery!.getUserEmail(userId);
      if (!to) return;
      const link = `${recovery!.linkUrl}#uid=${encodeURIComponent(userId)}&cancel=${cancelToken}`;
      await recovery!.sendMail({
        kind: 'recovery-cancel-link',
        userId,
        to,
        ...engine.message('recovery-cancel-link', { link, dueAt }),
      });
    }

    routes.push(
      {
        id: 'recovery.request',
        method: 'POST',
        path: '/recovery/request',
        auth: 'none',
        sensitive: true,
        body: 'recoveryRequest',
        operationId: 'requestRecovery',
        tag: '2FA recovery',
        summary: 'Lost device: mail a recovery link',
        description:
          'Answers the same, at the same time, whether or not the address has an account with 2FA; ' +
          'the mail goes out after the answer.',
        responses: { 202: { description: 'Accepted: check your mail', body: 'empty' } },
        errors: [],
        async handle(request) {
          const body = parseBody('recoveryRequest', request.body);
          // Everything that depends on the account starts once the answer is sent: same status, body
          // and time. The queue keeps the requests of one address in order.
          return { status: 202, body: {}, afterResponse: () => queueRecoveryLink(body.email) };
        },
      },
      {
        id: 'recovery.confirm',
        method: 'POST',
        path: '/recovery/confirm',
        auth: 'none',
        sensitive: true,
        body: 'recoveryConfirm',
        operationId: 'confirmRecovery',
        tag: '2FA recovery',
        summary: 'Complete recovery with the link and the password: 2FA off, now or after recovery.delayMs',
        description:
          'At once (no delay): every session of the user ends and 2FA is off (204). With `recovery.delayMs`: ' +
          'the removal is scheduled (202) and the user is mailed a link that cancels it; it happens when due, ' +
          'at the next login or status of the user (or `twofold recovery process-due`), unless the cancel link ' +
          'or a successful second factor stopped it. The user is mailed when 2FA goes off.',
        responses: {
          202: { description: 'The removal is scheduled', body: 'recoveryScheduled' },
          204: { description: '2FA is off and every session has ended' },
        },
        errors: ['TWOFOLD_INVALID_RECOVERY_TOKEN'],
        async handle(request) {
          const body = parseBody('recoveryConfirm', request.body);
          const scheduled = await engine.completeRecovery(body.uid, body.token, {
            verifyPassword: () => recovery!.verifyPassword(body.uid, body.password),
            // Sessions end before 2FA goes off: if that fails (503), nothing changed and the link still works.
            beforeDisable: () => tokens.revokeAll(body.uid),
            delayMs: recovery!.delayMs,
          });
          if (!scheduled) return { status: 204 };
          const { dueAt, cancelToken } = scheduled;
          return {
            status: 202,
            body: { dueAt: new Date(dueAt).toISOString() },
            afterResponse: () => {
              sendCancelLink(body.uid, cancelToken, dueAt).catch(background);
            },
          };
        },
      },
      {
        id: 'recovery.cancel',
        method: 'POST',
        path: '/recovery/cancel',
        auth: 'none',
        sensitive: true,
        body: 'recoveryCancel',
        operationId: 'cancelRecovery',
        tag: '2FA recovery',
        summary: 'Cancel a delayed recovery with the mailed cancel link: 2FA stays on',
        responses: { 204: { description: 'Cancelled: 2FA stays on' } },
        errors: ['TWOFOLD_INVALID_RECOVERY_TOKEN'],
        async handle(request) {
          const body = parseBody('recoveryCancel', request.body);
          await engine.cancelRecovery(body.uid, body.token);
          return { status: 204 };
        },
      },
    );
  }

  return {
    options,
    engine,
    tokens,
    routes,
    bodyJsonSchema: (route) =>
      route.body && route.body !== 'empty' ? bodyJsonSchema(route.body) : undefined,
    async routeInput(route, request) {
      const { body } = request;
      const params = stringParams(request.params);
      const client = clientOf(request);
      if (route.auth === 'none') {
        const deviceCookie =
          route.id === 'login' ? cookieValue(request.headers.cookie, DEVICE_COOKIE) : undefined;
        const mountPath = (options as { prefix?: string }).prefix ?? (request.baseUrl || '/');
        return {
          userId: null,
          claims: null,
          body,
          params,
          client,
          mountPath,
          ...(deviceCookie ? { deviceCookie } : {}),
        };
      }
      if (route.auth === 'user' && getUserId) {
        const userId = await getUserId(request);
        if (typeof userId !== 'string' || userId === '') throw new UnauthorizedError('Sign in first');
        return { userId, claims: null, body, params, client };
      }
      const claims = await tokens.authorize(request.headers.authorization, {
        enrollment: route.enrollment === true,
      });
      return { userId: claims.userId, claims, body, params, client };
    },
    authorize: (header) => tokens.authorize(header),
    requireStepUp: (claims, maxAgeSeconds = options.stepUp.maxAgeSeconds, guardOptions) =>
      tokens.requireRecentAuthentication(claims, maxAgeSeconds, guardOptions),
  };
}
