/**
 * @twofold/core's error-handling sample (a handler's body): `twoFactor` with ada enrolled, `user`,
 * `body` with a wrong code, and `reply`, a stand-in for the framework's reply that records the answer.
 */
import { createTwoFactor, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { ada, deepStrictEqual, strictEqual } from './users.js';

export const twoFactor = createTwoFactor({
  store: memoryStore(),
  keyring: process.env.TWOFOLD_KEYS!,
  issuer: 'Acme',
});
const { secret } = await twoFactor.enroll(ada.id);
const totp = new Totp({ secret });
await twoFactor.confirm(ada.id, totp.generate().token);
const accepted = new Set([-30_000, 0, 30_000].map((offset) => totp.generate(Date.now() + offset).token));
let wrong = 0;
while (accepted.has(String(wrong).padStart(6, '0'))) wrong++;

export const user = { id: ada.id };
export const body = { code: String(wrong).padStart(6, '0') };
export const reply = {
  statusCode: 200,
  payload: undefined as unknown,
  code(status: number) {
    this.statusCode = status;
    return this;
  },
  send(payload: unknown) {
    this.payload = payload;
    return this;
  },
};

/** The wrong code took the TWOFOLD_INVALID_CODE branch. */
export async function after() {
  strictEqual(reply.statusCode, 400);
  deepStrictEqual(reply.payload, { message: 'Wrong code' });
}
