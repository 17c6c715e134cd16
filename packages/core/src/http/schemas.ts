/**
 * The request bodies of the HTTP contract, as zod schemas (validation) and as JSON Schema
 * (documentation through @fastify/swagger). Unknown fields are refused.
 *
 * `code` and `recoveryCode` accept any JSON value on purpose: a number, an object or full-width
 * digits where a code belongs is a wrong code, refused by the engine and counted toward lockout
 * (SECURITY.md 5), not a free malformed-input 400 that would let a client probe without cost.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';

const MAX_TOKEN = 4096;

const text = (max: number, description: string) => z.string().min(1).max(max).meta({ description });

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
      if (given !== 1) {
        context.addIssue({
          code: 'custom',
          path: ['code'],
          message: 'exactly one of "code" and "recoveryCode" is required',
        });
      }
    });
}

export const bodySchemas = {
  empty: z.strictObject({}),
  code: z.strictObject({ code }),
  secondFactor: oneFactor({}),
  login: z.strictObject({
    username: text(255, 'The username (or whatever the host app logs in with)'),
    password: text(1024, 'The password'),
  }),
  loginVerify: oneFactor({ challengeToken: text(MAX_TOKEN, 'The challenge token from POST /login') }),
  refresh: z.strictObject({ refreshToken: text(MAX_TOKEN, 'The refresh token') }),
  token: z.strictObject({ token: text(MAX_TOKEN, 'An access token') }),
  recoveryRequest: z.strictObject({ email: text(320, 'The email address of the account') }),
  recoveryConfirm: z.strictObject({
    uid: text(255, 'The user id from the recovery link'),
    token: text(256, 'The token from the recovery link'),
    password: text(1024, 'The account password'),
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
    default:
      return new InvalidInputError(
        field,
        issue.message.startsWith('exactly') ? issue.message : `"${field}" is not valid`,
      );
  }
}
