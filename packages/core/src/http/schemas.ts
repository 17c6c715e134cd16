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

/** The issue of a body with both (or, where one is required, neither) of `code` and `recoveryCode`. */
const ONE_FACTOR_ISSUE = {
  code: 'custom',
  path: ['code'],
  message: 'exactly one of "code" and "recoveryCode" is required',
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

/** Exactly one of `code` and `recoveryCode`, plus `extra` fields. */
function oneFactor<T extends z.ZodRawShape>(extra: T) {
  return z
    .strictObject({ ...extra, code: code.optional(), recoveryCode: recoveryCode.optional() })
    .superRefine((value, context) => {
      const body = value as { code?: unknown; recoveryCode?: unknown };
      const given = (body.code !== undefined ? 1 : 0) + (body.recoveryCode !== undefined ? 1 : 0);
      if (given !== 1) context.addIssue({ ...ONE_FACTOR_ISSUE, path: [...ONE_FACTOR_ISSUE.path] });
    });
}

/** At most one of `code` and `recoveryCode`: a fresh factor, needed only when the account has 2FA. */
const optionalFactor = z
  .strictObject({ code: code.optional(), recoveryCode: recoveryCode.optional() })
  .superRefine((value, context) => {
    if (value.code !== undefined && value.recoveryCode !== undefined) {
      context.addIssue({ ...ONE_FACTOR_ISSUE, path: [...ONE_FACTOR_ISSUE.path] });
    }
  });

export const bodySchemas = {
  empty: z.strictObject({}),
  optionalSecondFactor: optionalFactor,
  code: z.strictObject({ code }),
  secondFactor: oneFactor({}),
  login: z.strictObject({
    username: text(255, 'The username (or whatever the host app logs in with)'),
    password: text(1024, 'The password', 'password'),
  }),
  loginVerify: oneFactor({ challengeToken: text(MAX_TOKEN, 'The challenge token from POST /login') }),
  refresh: z.strictObject({ refreshToken: text(MAX_TOKEN, 'The refresh token') }),
  token: z.strictObject({ token: text(MAX_TOKEN, 'An access token') }),
  recoveryRequest: z.strictObject({ email: text(320, 'The email address of the account') }),
  recoveryConfirm: z.strictObject({
    uid: text(255, 'The user id from the recovery link'),
    token: text(256, 'The token from the recovery link'),
    password: text(1024, 'The account password', 'password'),
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
          return new InvalidInputError(field, ONE_FACTOR_ISSUE.message);
        default:
          return new InvalidInputError(field, `"${field}" is not valid`);
      }
    default:
      return new InvalidInputError(field, `"${field}" is not valid`);
  }
}
