/**
 * The root README's WebAuthn sample: `app` (a Fastify app), `store`, `keyring`, `authenticate`.
 * Afterwards the WebAuthn routes answer, and registration options carry the configured rpId.
 */

import { strictEqual } from 'node:assert';
import { createKeyring, memoryStore } from '@twofold/core';
import FastifyFactory, { type FastifyInstance } from 'fastify';

export const app: FastifyInstance = FastifyFactory();
export const store = memoryStore();
export const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(1) }, current: 'k1' });
export const authenticate = async ({ username }: { username: string; password: string }) =>
  username === 'ada' ? 'user-ada' : null;

export async function after() {
  await app.ready();
  const login = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username: 'ada', password: 'x' },
  });
  const { accessToken } = login.json();
  const options = await app.inject({
    method: 'POST',
    url: '/2fa/webauthn/register/options',
    headers: { authorization: `Bearer ${accessToken}` },
    payload: { name: 'YubiKey' },
  });
  strictEqual(options.statusCode, 200);
  strictEqual(options.json().rp.id, 'acme.example');
  await app.close();
}
