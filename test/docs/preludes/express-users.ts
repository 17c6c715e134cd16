/** @twofold/express's quick start: `users`, a pino-like `logger` and `deleteAccount`. */
import { origin } from '../runtime.js';
import { ada, deepStrictEqual, loginAndCallMe, ownHandler, passwordStepUp, userDirectory } from './users.js';

export const users = userDirectory;
export const deleteAccount = ownHandler;
export const logger = {
  error: (fields: unknown, message: string) => console.error(message, fields),
  warn: (fields: unknown, message: string) => console.error(message, fields),
};

/**
 * The app listens (on a free port, see runtime.ts): ada logs in and reads /me, then deletes her
 * account right after her login, and after a password step-up.
 */
export async function after() {
  await loginAndCallMe(await origin(), (body) => deepStrictEqual(body, { userId: ada.id }));
  await passwordStepUp(await origin());
}
