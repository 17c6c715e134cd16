/** @twofold/fastify's quick start: `users` (findByName, checkPassword) and `deleteAccount`. */
import type { FastifyInstance } from 'fastify';
import { origin } from '../runtime.js';
import { ada, deepStrictEqual, loginAndCallMe, ownHandler, passwordStepUp, userDirectory } from './users.js';

export const users = userDirectory;
export const deleteAccount = ownHandler;

/**
 * The app listens (on a free port, see runtime.ts): ada logs in and reads /me, then deletes her
 * account right after her login, and after a password step-up.
 */
export async function after(scope: { app?: FastifyInstance }) {
  await loginAndCallMe(await origin(), (body) => deepStrictEqual(body, { userId: ada.id }));
  await passwordStepUp(await origin());
  await scope.app?.close();
}
