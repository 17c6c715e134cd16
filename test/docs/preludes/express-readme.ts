/**
 * The root README's Express sample: `store` (memoryStore), `authenticate`, `verifyPassword` and
 * `remove`.
 */
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@twofold/core';
import type { Express } from 'express';
import {
  ada,
  authenticateAda,
  deepStrictEqual,
  loginAndCallMe,
  ownHandler,
  passwordStepUp,
} from './users.js';

export const store = memoryStore();
export const authenticate = authenticateAda;
export const verifyPassword = async (userId: string, password: string) =>
  userId === ada.id && password === ada.password;
export const remove = ownHandler;

/**
 * The sample builds the app without listening: it listens here, and ada logs in and reads /me.
 * Ada has no 2FA: her fresh login passes the step-up guard of /account/delete, and so does the
 * token of a password step-up.
 */
export async function after(scope: { app?: Express }) {
  const server = scope.app!.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  await loginAndCallMe(base, (body) => deepStrictEqual((body as { userId: string }).userId, ada.id));
  await passwordStepUp(base);
  server.close();
}
