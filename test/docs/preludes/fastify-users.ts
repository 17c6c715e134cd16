/** @twofold/fastify's quick start: `users` (findByName, checkPassword) and `deleteAccount`. */
import type { FastifyInstance } from 'fastify';
import { origin } from '../runtime.js';
import { ada, deepStrictEqual, loginAndCallMe, ownHandler, userDirectory } from './users.js';

export const users = userDirectory;
export const deleteAccount = ownHandler;

/** The app listens (on a free port, see runtime.ts): ada logs in and reads /me. */
export async function after(scope: { app?: FastifyInstance }) {
  await loginAndCallMe(await origin(), (body) => deepStrictEqual(body, { userId: ada.id }));
  await scope.app?.close();
}
