/**
 * The request bodies of the HTTP contract, as zod schemas (validation) and as JSON Schema
 * (documentation through @fastify/swagger). Unknown fields are refused.
 *
 * String fields never carry a character a store or the host's callbacks cannot hold: NUL and lone
 * surrogates are refused everywhere, C0/C1 control characters and DEL everywhere but in passwords.
 * PostgreSQL, for one, refuses NUL in text (error 22021): without this, any client could turn a
 * request into a 503 and an error log line, a fake store outage.
 *
 * `code` and `recoveryCode` accept any JSON value on purpose: a number, an object or full-width
 * digits where a code belongs is a wrong code, refused by the engine and counted toward lockout
 * (SECURITY.md §5), not a free malformed-input 400 that would let a client probe without cost.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import { type UnstorableKind, unstorableReason } from '../internal/unstorable.js';

const MAX_TOKEN = 4096;

/** What a custom issue of these schemas is about, in its `params.twofold`. */
type IssueKind = UnstorableKind | 'one-factor';

/**
 * Which characters a string field refuses (the rule lives in `internal/unstorable.ts`, shared with
 * the engine's check of user ids):
 * - `text` (ids, usernames, emails, tokens): C0 controls (NUL included), DEL, C1 controls and lone
 *   surrogates. None belongs in an identifier, and a store or a host's user lookup may not hold them.
 * - `password`: only NUL and lone surrogates. A password is never stored or used as a key: it goes
 *   to the host's `authenticate`/`verifyPassword`, which hash it. Tabs or other control characters
 *   may well be part of someone's existing password (generated ones, pasted ones), and refusing them
 *   would lock that user out. NUL is refused because C-string code (bcrypt, drivers) truncates at it
 *   and PostgreSQL cannot hold it; a lone surrogate has no UTF-8 form (encoders turn it into U+FFFD,
 *   so two different passwords would hash alike, or a driver refuses it).
 */
type CharacterRule = 'text' | 'password';

/** The first forbidden character of `value` under `rule`, as the kind of issue it makes. */
function forbiddenCharacter(value: string, rule: CharacterRule): IssueKind | undefined {
  return unstorableReason(value, rule === 'password' ? 'password' : 'identifier') ?? undefined;
}

/**
 * The same rules as JSON Schema `pattern`s, for the documentation only (Fastify does not validate
 * with them; zod does). They mean the same with and without the `u` flag: a surrogate pair matches
 * the first alternative in `u` mode (one code point) and the second one without it (two units).
 */
const PATTERNS: Record<CharacterRule, string> = {
  text: '^(?:[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$',
  password: '^(?:[^\\u0000\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$',
};

const text = (max: number, description: string, rule: CharacterRule = 'text') =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((value, context) => {
      const kind = forbiddenCharacter(value, rule);
      if (kind !== undefined) {
        context.addIssue({ code: 'custom', message: `contains ${kind}`, params: { twofold: kind } });
      }
    })
    .meta({ description, pattern: PATTERNS[rule] });

/** The issue of a body with several (or, where one is required, none) of the second factors. */
const ONE_FACTOR_ISSUE = {
  code: 'custom',
  path: ['code'],
  message: 'exactly one of "code", "recoveryCode" and "webauthn" is required',
  params: { twofold: 'one-factor' satisfies IssueKind },
} as const;

const code = z.unknown().meta({
  type: 'string',
  description: 'The code shown by the authenticator app (digits; spaces and hyphens are ignored)',
  examples: ['123456'],
});
const recoveryCode = z.unknown().meta({
  type: 'string',
  description: 'One of the recovery codes (any case, with or without hyphens)',
  examples: ['ABCD-EFGH-JKMN'],
});

/**
 * A WebAuthn assertion: what `navigator.credentials.get()` answered, in JSON form (as
 * `@simplewebauthn/browser`'s `startAuthentication` gives it). Any JSON value is accepted here, like
 * a code: one of the wrong shape is a wrong factor, counted toward lockout.
 */
const webauthn = z.unknown().meta({
  type: 'object',
  description:
    "A security key's or passkey's answer to the WebAuthn request options (POST /login/options, " +
    'or POST /webauthn/authenticate/options outside a login), as `PublicKeyCredential.toJSON()` gives it',
});

/** How many of the second factors a body carries. */
function factorCount(body: { code?: unknown; recoveryCode?: unknown; webauthn?: unknown }): number {
  return [body.code, body.recoveryCode, body.webauthn].filter((factor) => factor !== undefined).length;
}

/** Exactly one of `code`, `recoveryCode` and `webauthn`, plus `extra` fields. */
function oneFactor<T extends z.ZodRawShape>(extra: T) {
  return z
    .strictObject({
      ...extra,
      code: code.optional(),
      recoveryCode: recoveryCode.optional(),
      webauthn: webauthn.optional(),
    })
    .superRefine((value, context) => {
      if (factorCount(value) !== 1) {
        context.addIssue({ ...ONE_FACTOR_ISSUE, path: [...ONE_FACTOR_ISSUE.path] });
      }
    });
}

/** At most one second factor: a fresh one, needed only when the account has 2FA. */
const optionalFactor = z
  .strictObject({
    code: code.optional(),
    recoveryCode: recoveryCode.optional(),
    webauthn: webauthn.optional(),
  })
  .superRefine((value, context) => {
    if (factorCount(value) > 1) context.addIssue({ ...ONE_FACTOR_ISSUE, path: [...ONE_FACTOR_ISSUE.path] });
  });

/** A fresh factor from an authenticator (not a recovery code): exactly one of `code` and `webauthn`. */
const authenticatorFactor = z
  .strictObject({ code: code.optional(), webauthn: webauthn.optional() })
  .superRefine((value, context) => {
    if ((value.code !== undefined) === (value.webauthn !== undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['code'],
        message: 'exactly one of "code" and "webauthn" is required',
        params: { twofold: 'one-factor' satisfies IssueKind },
      });
    }
  });

/**
 * POST /step-up: exactly one of a fresh second factor (`code`, `recoveryCode`, `webauthn`) and the
 * account password (`password`, for a user without 2FA).
 */
const stepUp = z
  .strictObject({
    code: code.optional(),
    recoveryCode: recoveryCode.optional(),
    webauthn: webauthn.optional(),
    password: text(
      1024,
      'The account password: the step-up of a user without 2FA (a user with 2FA sends a second factor)',
      'password',
    ).optional(),
  })
  .superRefine((value, context) => {
    if (factorCount(value) + (value.password === undefined ? 0 : 1) !== 1) {
      context.addIssue({
        code: 'custom',
        path: ['code'],
        message: 'exactly one of "code", "recoveryCode", "webauthn" and "password" is required',
        params: { twofold: 'one-factor' satisfies IssueKind },
      });
    }
  });

const authenticatorName = text(64, 'What the user calls the authenticator (1-64 characters)');

export const bodySchemas = {
  empty: z.strictObject({}),
  optionalSecondFactor: optionalFactor,
  code: z.strictObject({ code }),
  secondFactor: oneFactor({}),
  stepUp,
  authenticatorFactor,
  enroll: z.strictObject({ name: authenticatorName.optional() }),
  confirm: z.strictObject({
    code,
    authenticatorId: text(255, 'The `authenticatorId` POST /totp/enroll answered (optional)').optional(),
  }),
  rename: z.strictObject({ name: authenticatorName }),
  webauthnRegisterOptions: z.strictObject({ name: authenticatorName.optional() }),
  webauthnRegisterVerify: z.strictObject({
    response: z.unknown().meta({
      type: 'object',
      description:
        "The authenticator's answer to the creation options, as `PublicKeyCredential.toJSON()` " +
        "(or `@simplewebauthn/browser`'s `startRegistration`) gives it",
    }),
    name: authenticatorName.optional(),
  }),
  loginOptions: z.strictObject({ challengeToken: text(MAX_TOKEN, 'The challenge token from POST /login') }),
  login: z.strictObject({
    username: text(255, 'The username (or whatever the host app logs in with)'),
    password: text(1024, 'The password', 'password'),
    deviceToken: text(
      MAX_TOKEN,
      'A trusted device token (with trustedDevices on; or the twofold_device cookie)',
    ).optional(),
  }),
  loginVerify: oneFactor({
    challengeToken: text(MAX_TOKEN, 'The challenge token from POST /login'),
    rememberDevice: z.boolean({ error: 'rememberDevice must be true or false' }).optional(),
    deviceName: text(64, 'A name for the remembered device').optional(),
  }),
  refresh: z.strictObject({ refreshToken: text(MAX_TOKEN, 'The refresh token') }),
  token: z.strictObject({ token: text(MAX_TOKEN, 'An access token') }),
  recoveryRequest: z.strictObject({ email: text(320, 'The email address of the account') }),
  recoveryConfirm: z.strictObject({
    uid: text(255, 'The user id from the recovery link'),
    token: text(256, 'The token from the recovery link'),
    password: text(1024, 'The account password', 'password'),
  }),
  recoveryCancel: z.strictObject({
    uid: text(255, 'The user id from the cancel link'),
    token: text(256, 'The token from the cancel link'),
  }),
} as const;

export type BodySchemaName = keyof typeof bodySchemas;

/** The JSON Schema of a body schema, for documentation. */
export function bodyJsonSchema(name: BodySchemaName): Record<string, unknown> {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(bodySchemas[name], {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return schema;
}

/**
 * Validates a body; the first problem becomes an InvalidInputError naming the field, e.g.
 * `"username" must be a string`.
 */
export function parseBody<N extends BodySchemaName>(
  name: N,
  body: unknown,
): z.output<(typeof bodySchemas)[N]> {
  const input = body === undefined || body === null ? (name === 'empty' ? {} : body) : body;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInputError('body', 'The request body must be a JSON object');
  }
  const result = bodySchemas[name].safeParse(input, { reportInput: true });
  if (result.success) return result.data as z.output<(typeof bodySchemas)[N]>;
  const issue = result.error.issues[0]!;
  throw describeIssue(issue);
}

function describeIssue(issue: z.core.$ZodIssue): InvalidInputError {
  if (issue.code === 'unrecognized_keys') {
    const field = issue.keys[0] ?? 'body';
    return new InvalidInputError(field, `"${field}" is not an allowed field`);
  }
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? new InvalidInputError(field, `"${field}" is required`)
        : new InvalidInputError(field, `"${field}" must be a ${issue.expected}`);
    case 'too_small':
      return new InvalidInputError(field, `"${field}" must not be empty`);
    case 'too_big':
      return new InvalidInputError(field, `"${field}" must be at most ${issue.maximum} characters`);
    case 'custom':
      switch (issue.params?.twofold as IssueKind | undefined) {
        case 'control-characters':
          return new InvalidInputError(field, `"${field}" must not contain control characters`);
        case 'nul':
          return new InvalidInputError(field, `"${field}" must not contain NUL characters`);
        case 'lone-surrogates':
          return new InvalidInputError(field, `"${field}" must not contain lone surrogates`);
        case 'one-factor':
          return new InvalidInputError(field, issue.message);
        default:
          return new InvalidInputError(field, `"${field}" is not valid`);
      }
    default:
      return new InvalidInputError(field, `"${field}" is not valid`);
  }
}

const token = (description: string) => ({ type: 'string', description });
const recoveryCodesField = {
  type: 'array',
  items: { type: 'string', examples: ['ABCD-EFGH-JKMN'] },
  description: 'The recovery codes, shown once: each works once in place of a code',
};
const accessTokenField = token(
  'The access token (a JWT): send it as `Authorization: Bearer <accessToken>` to the routes that need a user',
);
const refreshTokenField = token('The refresh token: spend it at POST /token/refresh for a new pair');
const tokenPairShape = {
  type: 'object',
  required: ['accessToken', 'refreshToken'],
  additionalProperties: false,
  properties: { accessToken: accessTokenField, refreshToken: refreshTokenField },
} as const;
const timestamp = (description: string) => ({ type: ['string', 'null'], format: 'date-time', description });
const deviceTokenField = {
  type: 'string',
  description:
    'With trustedDevices on: the token of this remembered device (also set as the twofold_device cookie); send it with the next POST /login to skip the second factor',
} as const;
const authenticatorShape = {
  type: 'object',
  required: ['id', 'type', 'name', 'createdAt', 'lastUsedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'Its id in the authenticator routes' },
    type: {
      type: 'string',
      enum: ['totp', 'webauthn'],
      description: 'An app showing codes, or a security key or passkey',
    },
    name: { type: 'string', description: 'What the user calls it' },
    createdAt: { type: 'string', format: 'date-time', description: 'When it was added' },
    lastUsedAt: timestamp('When it was last used (null if never)'),
    passkey: { type: 'boolean', description: 'WebAuthn only: a synced passkey rather than a security key' },
  },
} as const;
const webauthnRequestOptionsShape = {
  type: 'object',
  description:
    'WebAuthn `PublicKeyCredentialRequestOptionsJSON`: pass it to `PublicKeyCredential.parseRequestOptionsFromJSON` ' +
    "(or `@simplewebauthn/browser`'s `startAuthentication`) and send the answer as `webauthn`",
  required: ['challenge'],
  additionalProperties: true,
  properties: {
    challenge: { type: 'string', description: 'base64url' },
    rpId: { type: 'string' },
    timeout: { type: 'integer', description: 'ms' },
    userVerification: { type: 'string', enum: ['required', 'preferred', 'discouraged'] },
    allowCredentials: {
      type: 'array',
      description: "The user's keys: `{ id, type: 'public-key', transports }`",
      items: { type: 'object' },
    },
  },
} as const;

/**
 * The bodies of the successful answers, as JSON Schema (OpenAPI 3.1), for documentation only: the
 * routes answer plain JSON and are not checked against them (the contract suite checks the bodies).
 * The error body is {@link ERROR_BODY_JSON_SCHEMA}.
 */
/** The fields a login and the status answer carry under a mandatory-2FA policy (`policy` option). */
const mandatoryFields = {
  enrollmentRequired: {
    type: 'boolean',
    description:
      'Under a mandatory-2FA policy: true when the session may only set up 2FA (every other route answers 403 TWOFOLD_ENROLLMENT_REQUIRED)',
  },
  enrollmentRequiredBy: timestamp(
    'Under a mandatory-2FA policy, for a user without 2FA: when the days of grace end (null without days of grace)',
  ),
  graceLoginsLeft: {
    type: ['integer', 'null'],
    minimum: 0,
    description:
      'Under a mandatory-2FA policy, for a user without 2FA: logins left before sessions may only enroll (null without a grace in logins)',
  },
} as const;

export const responseJsonSchemas = {
  enrollment: {
    type: 'object',
    required: ['authenticatorId', 'otpauthUri', 'secret', 'prettySecret', 'qrSvg', 'qrDataUri', 'expiresAt'],
    additionalProperties: false,
    properties: {
      authenticatorId: { type: 'string', description: 'The id of the authenticator once confirmed' },
      otpauthUri: { type: 'string', description: 'The `otpauth://totp/...` URI the QR code holds' },
      secret: { type: 'string', description: 'The secret in unpadded base32, for manual entry' },
      prettySecret: { type: 'string', description: 'The same secret in groups of four' },
      qrSvg: { type: 'string', description: 'The QR code as an SVG document' },
      qrDataUri: { type: 'string', description: 'The QR code as a `data:image/svg+xml;base64,...` URI' },
      expiresAt: { type: 'string', format: 'date-time', description: 'When the pending enrollment expires' },
    },
  },
  confirmation: {
    type: 'object',
    required: ['authenticatorId'],
    additionalProperties: false,
    description:
      'The new authenticator. When it is the first one (2FA has just turned on), also the recovery ' +
      "codes and, with the kit's access token, a fresh pair for this session (every other session has ended)",
    properties: {
      authenticatorId: { type: 'string', description: 'The id of the new authenticator' },
      recoveryCodes: recoveryCodesField,
      accessToken: accessTokenField,
      refreshToken: refreshTokenField,
    },
  },
  authenticator: authenticatorShape,
  authenticatorList: {
    type: 'object',
    required: ['authenticators'],
    additionalProperties: false,
    properties: {
      authenticators: { type: 'array', items: authenticatorShape, description: 'Oldest first' },
    },
  },
  sessionList: {
    type: 'object',
    required: ['sessions'],
    additionalProperties: false,
    properties: {
      sessions: {
        type: 'array',
        description: 'The live sessions (logins) of the user, the most recently used first',
        items: {
          type: 'object',
          required: ['id', 'createdAt', 'lastUsedAt', 'userAgent', 'ip', 'current'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', description: 'The session id, for POST /sessions/{id}/revoke' },
            createdAt: {
              type: ['string', 'null'],
              format: 'date-time',
              description: 'The login; null for a session older than this version, until its next refresh',
            },
            lastUsedAt: {
              type: 'string',
              format: 'date-time',
              description: 'When its tokens were last issued (the login or the latest refresh)',
            },
            userAgent: { type: ['string', 'null'], description: 'The User-Agent of that login or refresh' },
            ip: { type: ['string', 'null'], description: 'The client address of that login or refresh' },
            current: { type: 'boolean', description: 'Whether it is the session of this access token' },
          },
        },
      },
    },
  },
  webauthnCreationOptions: {
    type: 'object',
    description:
      'WebAuthn `PublicKeyCredentialCreationOptionsJSON`: pass it to `PublicKeyCredential.parseCreationOptionsFromJSON` ' +
      "(or `@simplewebauthn/browser`'s `startRegistration`), then send the answer to POST /webauthn/register/verify",
    required: ['challenge', 'rp', 'user', 'pubKeyCredParams'],
    additionalProperties: true,
    properties: {
      challenge: { type: 'string', description: 'base64url' },
      rp: { type: 'object', description: '`{ id, name }`: the site' },
      user: {
        type: 'object',
        description:
          '`{ id, name, displayName }`: `id` is a MAC of the user id, base64url (no personal data)',
      },
      pubKeyCredParams: {
        type: 'array',
        description: 'The accepted algorithms: EdDSA (-8), ES256 (-7), RS256 (-257)',
        items: { type: 'object' },
      },
      timeout: { type: 'integer', description: 'ms' },
      excludeCredentials: {
        type: 'array',
        description: 'Keys the user has already',
        items: { type: 'object' },
      },
      authenticatorSelection: { type: 'object' },
      attestation: { type: 'string' },
    },
  },
  webauthnRequestOptions: webauthnRequestOptionsShape,
  loginOptions: {
    type: 'object',
    required: ['factors', 'webauthn'],
    additionalProperties: false,
    properties: {
      factors: {
        type: 'array',
        items: { type: 'string', enum: ['totp', 'webauthn', 'recoveryCode'] },
        description: 'The kinds of second factor the user has',
      },
      webauthn: {
        oneOf: [webauthnRequestOptionsShape, { type: 'null' }],
        description: 'Request options bound to this login, when the user has a security key or passkey',
      },
    },
  },
  recoveryCodes: {
    type: 'object',
    required: ['recoveryCodes'],
    additionalProperties: false,
    properties: { recoveryCodes: recoveryCodesField },
  },
  twoFactorStatus: {
    type: 'object',
    required: [
      'enabled',
      'pending',
      'recoveryPending',
      'recoveryCodesRemaining',
      'enabledAt',
      'lastUsedAt',
      'authenticators',
    ],
    additionalProperties: false,
    properties: {
      authenticators: {
        type: 'object',
        required: ['totp', 'webauthn'],
        additionalProperties: false,
        description: 'How many active authenticators the user has, by type',
        properties: {
          totp: { type: 'integer', minimum: 0, description: 'Authenticator apps' },
          webauthn: { type: 'integer', minimum: 0, description: 'Security keys and passkeys' },
        },
      },
      enabled: { type: 'boolean', description: 'Whether 2FA is on' },
      pending: { type: 'boolean', description: 'Whether an enrollment waits for its confirmation' },
      recoveryCodesRemaining: { type: 'integer', minimum: 0, description: 'Unused recovery codes' },
      enabledAt: timestamp('When 2FA was turned on (null while it is off)'),
      lastUsedAt: timestamp('When an authenticator was last used (null if never)'),
      recoveryPending: {
        type: ['object', 'null'],
        required: ['dueAt'],
        additionalProperties: false,
        description:
          'A delayed email recovery (`recovery.delayMs`): 2FA goes off at `dueAt` unless cancelled (the cancel link, or any second factor); null when none',
        properties: { dueAt: { type: 'string', format: 'date-time' } },
      },
      ...mandatoryFields,
    },
  },
  loginResult: {
    description: 'Without 2FA on the account, the tokens; with it, a challenge token for POST /login/verify',
    oneOf: [
      {
        title: 'Tokens',
        type: 'object',
        required: ['twoFactorRequired', 'accessToken', 'refreshToken'],
        additionalProperties: false,
        properties: {
          twoFactorRequired: { const: false },
          accessToken: accessTokenField,
          refreshToken: refreshTokenField,
          deviceToken: deviceTokenField,
          ...mandatoryFields,
        },
      },
      {
        title: 'Challenge',
        type: 'object',
        required: ['twoFactorRequired', 'challengeToken', 'expiresIn'],
        additionalProperties: false,
        properties: {
          twoFactorRequired: { const: true },
          challengeToken: token('Send it with a code (or a recovery code) to POST /login/verify'),
          expiresIn: { type: 'integer', description: 'Seconds until the challenge token expires' },
        },
      },
    ],
  },
  tokenPair: tokenPairShape,
  verifiedTokens: {
    ...tokenPairShape,
    properties: { ...tokenPairShape.properties, deviceToken: deviceTokenField },
  },
  deviceList: {
    type: 'object',
    required: ['devices'],
    additionalProperties: false,
    properties: {
      devices: {
        type: 'array',
        description: 'The trusted devices of the user, the most recently used first',
        items: {
          type: 'object',
          required: ['id', 'name', 'createdAt', 'lastUsedAt', 'expiresAt', 'userAgent', 'ip'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', description: 'The device id, for POST /devices/{id}/revoke' },
            name: { type: 'string', description: 'The name given, or one made from its User-Agent' },
            createdAt: { type: 'string', format: 'date-time', description: 'When it was trusted' },
            lastUsedAt: {
              type: 'string',
              format: 'date-time',
              description: 'When it last skipped a second factor',
            },
            expiresAt: { type: 'string', format: 'date-time', description: 'When its trust ends' },
            userAgent: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
          },
        },
      },
    },
  },
  accessToken: {
    type: 'object',
    required: ['accessToken'],
    additionalProperties: false,
    properties: { accessToken: accessTokenField },
  },
  empty: { type: 'object', additionalProperties: false, description: 'An empty object' },
  recoveryScheduled: {
    type: 'object',
    required: ['dueAt'],
    additionalProperties: false,
    description: 'The removal is scheduled: the user was mailed a link that cancels it',
    properties: { dueAt: { type: 'string', format: 'date-time', description: 'When 2FA goes off' } },
  },
} as const satisfies Record<string, Record<string, unknown>>;

export type ResponseSchemaName = keyof typeof responseJsonSchemas;

/** The one error body of every route (`HttpErrorBody`), as JSON Schema. */
export const ERROR_BODY_JSON_SCHEMA = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer', description: 'The HTTP status again', examples: [400] },
    code: {
      type: 'string',
      description: 'What went wrong, stable: clients switch on it (`TWOFOLD_INVALID_CODE`, ...)',
      examples: ['TWOFOLD_INVALID_CODE'],
    },
    error: { type: 'string', description: 'The reason phrase of the status', examples: ['Bad Request'] },
    message: {
      type: 'string',
      description: 'For people; a 500 never tells details',
      examples: ['The code is not valid'],
    },
  },
} as const;
