/**
 * Signing up, framework-free: both apps pass the parsed body in and send back what comes out.
 * Errors use the kit's error shape (`{ statusCode, code, error, message }`); an invalid signup also
 * lists every invalid field at once (`field`, the first one, and `fields: [{ field, message }]`).
 *
 * `POST /signup { username, email, password }` never tells whether the email address has an
 * account (the same care as `POST /2fa/recovery/request`):
 *
 * - a free address: the signup is kept as pending and the address gets a link
 *   (`/confirm-signup.html#token=...`) that creates the account;
 * - an address that has an account: nothing is created or kept, and its owner gets a mail saying
 *   someone tried to sign up with it (log in, or recover the account).
 *
 * Both answer `202 { message }`, identical, after the same work: the password is hashed on both
 * paths, and the mail is sent after the answer, so neither its time nor a failure shows. No account
 * exists (and no one can log in) until the link is opened, so logging in with the chosen password
 * tells nothing either; and since a pending signup reserves nothing, signing up again with the same
 * username tells nothing. `POST /signup/confirm { token }` then creates the account: `201` with the
 * user; after that the user logs in with `POST /2fa/login`.
 *
 * Usernames are public handles and are still checked up front: a taken one answers
 * `409 USERNAME_TAKEN` (a person has to pick another), whatever the email address.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Log } from './log.js';
import type { SendMail } from './mailer.js';
import { hashPassword } from './password.js';
import { AccountTakenError, type User, type Users } from './users.js';

export interface JsonAnswer {
  status: number;
  body: unknown;
}

/** The page a signup link opens; the link carries `#token=...` (a fragment never reaches a server). */
export const CONFIRM_SIGNUP_PAGE = '/confirm-signup.html';

/** How long a signup link works: 24 hours. */
export const SIGNUP_LINK_TTL_MS = 24 * 60 * 60 * 1000;

/** What `POST /signup` answers to every well-formed signup with a free username. */
export const SIGNUP_ACCEPTED_MESSAGE =
  'Check your mail: we sent a message to that address to finish signing up.';

const FIELDS = ['username', 'email', 'password'] as const;
const USERNAME = /^[A-Za-z0-9._-]{3,32}$/;
// Deliberately loose: one @, something on each side, a dot in the domain, no spaces or colons.
const EMAIL = /^[^\s@:]+@[^\s@:.]+(\.[^\s@:.]+)+$/;
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;
const MAX_TOKEN = 128;

/** An error answer in the kit's shape. */
export function errorAnswer(status: 400 | 409, code: string, message: string): JsonAnswer {
  const error = status === 400 ? 'Bad Request' : 'Conflict';
  return { status, body: { statusCode: status, code, error, message } };
}

const invalid = (message: string) => errorAnswer(400, 'INVALID_INPUT', message);

/** One invalid field of a signup: its name and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * The 400 for invalid fields, all of them at once: `fields` lists each with its message; `field`
 * (the first one's name), `code` and `message` (every message, in field order) as before.
 */
function invalidFields(problems: readonly [FieldProblem, ...FieldProblem[]]): JsonAnswer {
  const answer = invalid(problems.map((problem) => problem.message).join('; '));
  return {
    status: answer.status,
    body: { ...(answer.body as object), field: problems[0].field, fields: problems },
  };
}

/**
 * Checks the body; the clean values, or a 400 naming every invalid field at once (in the order
 * username, email, password, then fields that are not allowed).
 */
export function validateSignup(
  body: unknown,
):
  | { ok: true; value: { username: string; email: string; password: string } }
  | { ok: false; answer: JsonAnswer } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, answer: invalid('The request "body" must be a JSON object') };
  }
  const record = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message });
  const text = (field: (typeof FIELDS)[number]): string | undefined => {
    const value = record[field];
    if (value === undefined) problem(field, `"${field}" is required`);
    else if (typeof value !== 'string') problem(field, `"${field}" must be a string`);
    else return value;
    return undefined;
  };
  const username = text('username')?.trim();
  if (username !== undefined && !USERNAME.test(username)) {
    problem('username', '"username" must be 3 to 32 characters: letters, digits, ".", "_" or "-"');
  }
  const email = text('email')?.trim();
  if (email !== undefined && (email.length > 254 || !EMAIL.test(email))) {
    problem('email', '"email" must be an email address like name@example.com');
  }
  const password = text('password');
  if (password !== undefined && [...password].length < MIN_PASSWORD) {
    problem('password', `"password" must be at least ${MIN_PASSWORD} characters`);
  } else if (password !== undefined && password.length > MAX_PASSWORD) {
    problem('password', `"password" must be at most ${MAX_PASSWORD} characters`);
  }
  for (const key of Object.keys(record)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      const name = key.slice(0, 64);
      problem(name, `"${name}" is not an allowed field`);
    }
  }
  const [first, ...rest] = problems;
  if (first !== undefined) return { ok: false, answer: invalidFields([first, ...rest]) };
  return { ok: true, value: { username: username!, email: email!, password: password! } };
}

/** Checks the body of `POST /signup/confirm`: `{ token }`. */
function validateToken(body: unknown): { ok: true; token: string } | { ok: false; answer: JsonAnswer } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, answer: invalid('The request "body" must be a JSON object') };
  }
  const record = body as Record<string, unknown>;
  const unknownField = Object.keys(record).find((key) => key !== 'token');
  if (unknownField !== undefined) {
    return { ok: false, answer: invalid(`"${unknownField.slice(0, 64)}" is not an allowed field`) };
  }
  if (record.token === undefined) return { ok: false, answer: invalid('"token" is required') };
  if (typeof record.token !== 'string') return { ok: false, answer: invalid('"token" must be a string') };
  if (record.token.length === 0 || record.token.length > MAX_TOKEN) {
    return { ok: false, answer: invalid(`"token" must be 1 to ${MAX_TOKEN} characters`) };
  }
  return { ok: true, token: record.token };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface SignupOptions {
  users: Users;
  /** Where the signup mails go (the example's outbox mailer). */
  sendMail: SendMail;
  /** PUBLIC_URL: the address in the mailed links. */
  publicUrl: string;
  /** The app's name in the mails (the issuer). */
  appName: string;
  log: Log;
  /** The password hash (default: scrypt from password.ts). Tests count its calls. */
  hashPassword?: (password: string) => Promise<string>;
  /** How long a signup link works, in ms (default 24 hours). */
  linkTtlMs?: number;
  /** The time in ms (default Date.now). */
  clock?: () => number;
}

export interface Signup {
  /** `POST /signup`: 202 (the same whether or not the address has an account), 400, 409 USERNAME_TAKEN. */
  request(body: unknown): Promise<JsonAnswer>;
  /** `POST /signup/confirm`: 201 with the new user, 400 for a bad or spent link, 409 if taken meanwhile. */
  confirm(body: unknown): Promise<JsonAnswer>;
}

/** The signup flow of the example. */
export function createSignup(options: SignupOptions): Signup {
  const { users, sendMail, publicUrl, appName, log } = options;
  const hash = options.hashPassword ?? hashPassword;
  const ttl = options.linkTtlMs ?? SIGNUP_LINK_TTL_MS;
  const clock = options.clock ?? Date.now;
  const hours = Math.max(1, Math.round(ttl / 3_600_000));

  /** Sends after the answer: its time, or its failure, never shows in the answer. */
  function sendLater(mail: Parameters<SendMail>[0]): void {
    setImmediate(() => {
      sendMail(mail).catch((error: unknown) => {
        // The kind only: never the address or the text (it may hold a link).
        log('error', `the ${mail.kind} mail could not be sent`, { error: (error as Error)?.message });
      });
    });
  }

  function confirmMail(to: string, username: string, token: string) {
    const link = `${publicUrl}${CONFIRM_SIGNUP_PAGE}#token=${token}`;
    return {
      kind: 'signup-confirm',
      to,
      subject: `Finish creating your ${appName} account`,
      text: [
        'Hello,',
        '',
        `someone, we hope you, asked to create the account "${username}" on ${appName} with this address.`,
        `To finish, open this link (it works once, for ${hours} hours):`,
        '',
        link,
        '',
        'If you did not ask for an account, ignore this mail: none is created without the link.',
        '',
      ].join('\n'),
    };
  }

  function attemptMail(owner: User) {
    return {
      kind: 'signup-attempt',
      to: owner.email,
      subject: `Someone tried to sign up on ${appName} with your address`,
      text: [
        'Hello,',
        '',
        `someone just tried to create a new account on ${appName} with this address. It already`,
        'belongs to your account, so no new account was created and nothing was changed.',
        '',
        `If it was you: log in as "${owner.username}" at ${publicUrl}/login.html.`,
        `If you lost your authenticator app, recover your account at ${publicUrl}/lost-device.html.`,
        '',
        'If it was not you, you can ignore this mail.',
        '',
      ].join('\n'),
    };
  }

  return {
    async request(body) {
      const checked = validateSignup(body);
      if (!checked.ok) return checked.answer;
      const { username, email, password } = checked.value;
      if (await users.usernameTaken(username)) {
        return errorAnswer(409, 'USERNAME_TAKEN', 'That username is already taken');
      }

      // From here on the work, the time and the answer are the same whether or not the address
      // has an account: the password is hashed either way (on a taken address the hash is thrown
      // away), and both paths send one mail, after the answer.
      const passwordHash = await hash(password);
      const now = clock();
      await users.prunePendingSignups(now);
      const token = randomBytes(32).toString('base64url');
      const owner = await users.byEmail(email);
      if (owner) {
        sendLater(attemptMail(owner));
      } else {
        await users.addPendingSignup(sha256(token), { username, email, passwordHash }, now + ttl);
        sendLater(confirmMail(email, username, token));
      }
      return { status: 202, body: { message: SIGNUP_ACCEPTED_MESSAGE } };
    },

    async confirm(body) {
      const checked = validateToken(body);
      if (!checked.ok) return checked.answer;
      const pending = await users.takePendingSignup(sha256(checked.token), clock());
      if (!pending) {
        return errorAnswer(
          400,
          'INVALID_TOKEN',
          'This link does not work: it was used already, it expired, or it is incomplete. Sign up again.',
        );
      }
      try {
        return { status: 201, body: await users.insert(pending) };
      } catch (error) {
        if (!(error instanceof AccountTakenError)) throw error;
        // Whoever holds the link reads that mailbox: telling them the address has an account is safe.
        return error.field === 'username'
          ? errorAnswer(
              409,
              'USERNAME_TAKEN',
              `The username "${pending.username}" was taken in the meantime: sign up again with another one`,
            )
          : errorAnswer(
              409,
              'EMAIL_TAKEN',
              'This address already has an account: log in, or recover it from the lost-device page',
            );
      }
    },
  };
}
