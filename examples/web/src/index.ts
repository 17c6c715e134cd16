/**
 * @twofold/example-web: what the Fastify and Express example apps share. The pages and their
 * script are in `public/` (plain HTML and one vanilla JS file, no build step); the server side is
 * exported here.
 */
import { fileURLToPath } from 'node:url';

export { ConfigError, type ExampleConfig, loadConfig, type StoreKind } from './config.js';
export { createExample, type Example, RECOVER_PAGE, type SharedTwofoldOptions } from './example.js';
export {
  ensurePrivateFile,
  makePrivateDir,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  restrictFile,
} from './files.js';
export { DEV_KEYS_FILE, loadKeyring } from './keyring.js';
export { consoleLog, type Log, type LogLevel } from './log.js';
export { type OutboxMail, outboxMailer, type SendMail } from './mailer.js';
export { docsPageHeaders, exampleOpenApiDocument } from './openapi.js';
export { hashPassword, verifyPassword } from './password.js';
export {
  CONFIRM_SIGNUP_PAGE,
  createSignup,
  errorAnswer,
  type JsonAnswer,
  SIGNUP_ACCEPTED_MESSAGE,
  SIGNUP_LINK_TTL_MS,
  type Signup,
  type SignupOptions,
  validateSignup,
} from './signup.js';
export {
  type Databases,
  openDatabases,
  restrictSqliteFiles,
  SQLITE_COMPANIONS,
  SQLITE_FILE,
} from './store.js';
export {
  AccountTakenError,
  createUsers,
  type PendingSignup,
  type User,
  type Users,
} from './users.js';

/** The folder of the pages, `app.js` and `style.css`, for the apps' static file serving. */
export const publicDir: string = fileURLToPath(new URL('../public/', import.meta.url));

/**
 * Headers for the pages: a Content-Security-Policy that allows only the app's own script and
 * style and `data:` images (the QR code), no framing, and no Referer (a recovery page's address
 * never leaves the browser).
 */
export const pageHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});

/** Prints a startup failure (a wrong setting, an unreachable store) as one line, without a stack. */
export function describeStartupError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}
