/**
 * The notices and operator actions sample: `store` (a memoryStore where ada has an authenticator
 * app), `users` (ada), `sendMail` (records what it is given). After the sample: the operator's reset
 * turned ada's 2FA off and the notice mail reached her address, in the host's words.
 */
import { createTwoFactor, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { ada, ok, strictEqual } from './users.js';

export const store = memoryStore();
export const users = {
  async byId(id: string) {
    return id === ada.id ? { id: ada.id, email: ada.email } : null;
  },
};
const mails: { to: string; subject: string; text: string; html: string }[] = [];
export async function sendMail(mail: { to: string; subject: string; text: string; html: string }) {
  mails.push(mail);
}

const setup = createTwoFactor({ store, keyring: process.env.TWOFOLD_KEYS!, issuer: 'Acme' });
const { secret } = await setup.enroll(ada.id);
await setup.confirm(ada.id, new Totp({ secret }).generate().token);

export async function after() {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const status = await setup.status(ada.id);
  strictEqual(status.enabled, false, "the operator's reset turned 2FA off");
  const reset = mails.find((mail) => mail.subject === 'Acme: two-factor authentication was reset by support');
  ok(reset, 'the reset notice was mailed');
  strictEqual(reset!.to, ada.email);
  ok(
    mails.every((mail) => mail.html.startsWith('<p>')),
    'with its HTML',
  );
}
