/**
 * The root README's delayed-recovery sample: `app` (a Fastify app), `store`, `keyring`,
 * `authenticate`, and the recovery hooks `findUserByEmail`, `getUserEmail`, `verifyPassword`,
 * `sendMail` (which records the mails in `mails`). Afterwards: ada, with 2FA on, requests a link;
 * confirming it answers 202 with a `dueAt` a day on, mails a `recovery-cancel-link`, and the cancel
 * link's uid and token cancel it (204): 2FA stays on.
 */
import { ok, strictEqual } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeyring, memoryStore } from '@twofold/core';
import type { TwofoldMail } from '@twofold/core/http';
import { Totp } from '@twofold/otp';
import FastifyFactory, { type FastifyInstance } from 'fastify';
import { ada, authenticateAda } from './users.js';

export const app: FastifyInstance = FastifyFactory();
export const store = memoryStore();
export const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(1) }, current: 'k1' });
export const authenticate = authenticateAda;

export const mails: TwofoldMail[] = [];
export const findUserByEmail = async (email: string) =>
  email === ada.email ? { userId: ada.id, email: ada.email } : null;
export const getUserEmail = async (userId: string) => (userId === ada.id ? ada.email : null);
export const verifyPassword = async (userId: string, password: string) =>
  userId === ada.id && password === ada.password;
export const sendMail = async (mail: TwofoldMail) => {
  mails.push(mail);
};

const post = (url: string, payload: object, accessToken?: string) =>
  app.inject({
    method: 'POST',
    url,
    payload,
    ...(accessToken ? { headers: { authorization: `Bearer ${accessToken}` } } : {}),
  });

/** The mail of `kind`, once sent (the kit sends it after the answer). */
async function mailOf(kind: TwofoldMail['kind']): Promise<TwofoldMail> {
  for (let i = 0; i < 200; i++) {
    const mail = mails.find((m) => m.kind === kind);
    if (mail) return mail;
    await sleep(10);
  }
  throw new Error(`no ${kind} mail`);
}

/** The fragment parameters of the link in a mail. */
function linkParams(mail: TwofoldMail): URLSearchParams {
  const link = mail.text.match(/https:\/\/\S+#\S+/)?.[0];
  ok(link, `a link in ${mail.text}`);
  return new URLSearchParams(link.slice(link.indexOf('#') + 1));
}

export async function after() {
  await app.ready();
  const { accessToken } = (await post('/2fa/login', { username: ada.name, password: ada.password })).json();
  const { secret } = (await post('/2fa/totp/enroll', {}, accessToken)).json();
  const code = new Totp({ secret }).generate(Date.now()).token;
  strictEqual((await post('/2fa/totp/confirm', { code }, accessToken)).statusCode, 200);

  strictEqual((await post('/2fa/recovery/request', { email: ada.email })).statusCode, 202);
  const link = linkParams(await mailOf('recovery-link'));
  const confirmed = await post('/2fa/recovery/confirm', {
    uid: link.get('uid'),
    token: link.get('token'),
    password: ada.password,
  });
  strictEqual(confirmed.statusCode, 202);
  const hours = (Date.parse(confirmed.json().dueAt) - Date.now()) / 3600_000;
  strictEqual(Math.round(hours), 24);

  const cancelMail = await mailOf('recovery-cancel-link');
  strictEqual(cancelMail.to, ada.email);
  const cancel = linkParams(cancelMail);
  const cancelled = await post('/2fa/recovery/cancel', {
    uid: cancel.get('uid'),
    token: cancel.get('cancel'),
  });
  strictEqual(cancelled.statusCode, 204);
  await app.close();
}
