/**
 * The root README's mandatory-2FA sample: `app` (a Fastify app), `store`, `keyring`,
 * `authenticate`, `ada` (the user the policy covers). Afterwards ada's login is in grace: full
 * tokens, 4 logins left, a deadline 14 days on; the fifth login after it may only enroll.
 */
import { strictEqual } from 'node:assert';
import { createKeyring, memoryStore } from '@twofold/core';
import FastifyFactory, { type FastifyInstance } from 'fastify';

export const app: FastifyInstance = FastifyFactory();
export const store = memoryStore();
export const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(1) }, current: 'k1' });
export const ada = { id: 'user-ada' };
export const authenticate = async ({ username }: { username: string; password: string }) =>
  username === 'ada' ? ada.id : null;

export async function after() {
  await app.ready();
  const login = () =>
    app.inject({ method: 'POST', url: '/2fa/login', payload: { username: 'ada', password: 'x' } });
  const first = (await login()).json();
  strictEqual(first.enrollmentRequired, false);
  strictEqual(first.graceLoginsLeft, 4);
  const days = (Date.parse(first.enrollmentRequiredBy) - Date.now()) / 86_400_000;
  strictEqual(Math.round(days), 14);
  for (let i = 0; i < 4; i++) await login();
  const restricted = (await login()).json();
  strictEqual(restricted.enrollmentRequired, true);
  const me = await app.inject({
    method: 'GET',
    url: '/2fa/sessions',
    headers: { authorization: `Bearer ${restricted.accessToken}` },
  });
  strictEqual(me.statusCode, 403);
  strictEqual(me.json().code, 'TWOFOLD_ENROLLMENT_REQUIRED');
  await app.close();
}
