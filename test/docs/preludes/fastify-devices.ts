/**
 * The root README's trusted-devices sample: `app` (a Fastify app), `store`, `keyring`,
 * `authenticate` (ada with her password). Afterwards: ada turns 2FA on, logs in with a code and
 * `rememberDevice: true`, and her next login with the password and that `deviceToken` needs no
 * second factor; `GET /2fa/devices` lists the one device.
 */
import { strictEqual } from 'node:assert';
import { createKeyring, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import FastifyFactory, { type FastifyInstance } from 'fastify';
import { ada, authenticateAda } from './users.js';

export const app: FastifyInstance = FastifyFactory();
export const store = memoryStore();
export const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(1) }, current: 'k1' });
export const authenticate = authenticateAda;

const post = async (url: string, payload: object, accessToken?: string) => {
  const response = await app.inject({
    method: 'POST',
    url,
    payload,
    ...(accessToken ? { headers: { authorization: `Bearer ${accessToken}` } } : {}),
  });
  strictEqual(response.statusCode < 300, true, `${url}: ${response.statusCode} ${response.body}`);
  return response.json();
};
const password = { username: ada.name, password: ada.password };

/** Turns 2FA on for ada through the routes; returns her authenticator. */
async function enrollAda(): Promise<Totp> {
  const { accessToken } = await post('/2fa/login', password);
  const { secret } = await post('/2fa/totp/enroll', {}, accessToken);
  const totp = new Totp({ secret });
  await post('/2fa/totp/confirm', { code: totp.generate(Date.now()).token }, accessToken);
  return totp;
}

export async function after() {
  await app.ready();
  const totp = await enrollAda();
  const challenged = await post('/2fa/login', password);
  strictEqual(challenged.twoFactorRequired, true);
  // The next time step's code: the one confirm spent is refused as a replay.
  const code = totp.generate(Date.now() + 30_000).token;
  const remembered = await post('/2fa/login/verify', {
    challengeToken: challenged.challengeToken,
    code,
    rememberDevice: true,
    deviceName: 'laptop',
  });
  strictEqual(typeof remembered.deviceToken, 'string');
  const again = await post('/2fa/login', { ...password, deviceToken: remembered.deviceToken });
  strictEqual(again.twoFactorRequired, false);
  strictEqual(typeof again.accessToken, 'string');
  const devices = await app.inject({
    method: 'GET',
    url: '/2fa/devices',
    headers: { authorization: `Bearer ${again.accessToken}` },
  });
  strictEqual(devices.statusCode, 200);
  strictEqual(devices.json().devices.length, 1);
  strictEqual(devices.json().devices[0].name, 'laptop');
  await app.close();
}
