/**
 * `POST /signup { username, email, password }`, framework-free: both apps pass the parsed body in
 * and send back what comes out. Errors use the kit's error shape
 * (`{ statusCode, code, error, message }`) and name the field.
 */
import { AccountTakenError, type Users } from './users.js';

export interface JsonAnswer {
  status: number;
  body: unknown;
}

const FIELDS = ['username', 'email', 'password'] as const;
const USERNAME = /^[A-Za-z0-9._-]{3,32}$/;
// Deliberately loose: one @, something on each side, a dot in the domain, no spaces or colons.
const EMAIL = /^[^\s@:]+@[^\s@:.]+(\.[^\s@:.]+)+$/;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

/** An error answer in the kit's shape. */
export function errorAnswer(status: 400 | 409, code: string, message: string): JsonAnswer {
  const error = status === 400 ? 'Bad Request' : 'Conflict';
  return { status, body: { statusCode: status, code, error, message } };
}

const invalid = (message: string) => errorAnswer(400, 'INVALID_INPUT', message);

/** Checks the body; the first problem, naming its field, or the clean values. */
export function validateSignup(
  body: unknown,
):
  | { ok: true; value: { username: string; email: string; password: string } }
  | { ok: false; answer: JsonAnswer } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, answer: invalid('The request "body" must be a JSON object') };
  }
  const record = body as Record<string, unknown>;
  const unknownField = Object.keys(record).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknownField !== undefined) {
    return { ok: false, answer: invalid(`"${unknownField.slice(0, 64)}" is not an allowed field`) };
  }
  for (const field of FIELDS) {
    if (record[field] === undefined) return { ok: false, answer: invalid(`"${field}" is required`) };
    if (typeof record[field] !== 'string')
      return { ok: false, answer: invalid(`"${field}" must be a string`) };
  }
  const username = (record.username as string).trim();
  const email = (record.email as string).trim();
  const password = record.password as string;
  if (!USERNAME.test(username)) {
    return {
      ok: false,
      answer: invalid('"username" must be 3 to 32 characters: letters, digits, ".", "_" or "-"'),
    };
  }
  if (email.length > 254 || !EMAIL.test(email)) {
    return { ok: false, answer: invalid('"email" must be an email address like name@example.com') };
  }
  if ([...password].length < MIN_PASSWORD) {
    return { ok: false, answer: invalid(`"password" must be at least ${MIN_PASSWORD} characters`) };
  }
  if (password.length > MAX_PASSWORD) {
    return { ok: false, answer: invalid(`"password" must be at most ${MAX_PASSWORD} characters`) };
  }
  return { ok: true, value: { username, email, password } };
}

/** Creates the account: 201 with the user, 400 naming a wrong field, 409 for a taken username or email. */
export async function signup(users: Users, body: unknown): Promise<JsonAnswer> {
  const checked = validateSignup(body);
  if (!checked.ok) return checked.answer;
  try {
    const user = await users.create(checked.value);
    return { status: 201, body: user };
  } catch (error) {
    if (error instanceof AccountTakenError) {
      return errorAnswer(409, error.field === 'username' ? 'USERNAME_TAKEN' : 'EMAIL_TAKEN', error.message);
    }
    throw error;
  }
}
