/** The root README's Express sample: `store` (memoryStore), `authenticate` and `remove`. */
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@twofold/core';
import type { Express } from 'express';
import { ada, authenticateAda, deepStrictEqual, loginAndCallMe, ownHandler } from './users.js';

export const store = memoryStore();
export const authenticate = authenticateAda;
export const remove = ownHandler;

/** The sample builds the app without listening: it listens here, and ada logs in and reads /me. */
export async function after(scope: { app?: Express }) {
  const server = scope.app!.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await loginAndCallMe(`http://127.0.0.1:${port}`, (body) =>
    deepStrictEqual((body as { userId: string }).userId, ada.id),
  );
  server.close();
}
