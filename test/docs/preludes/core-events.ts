/**
 * @twofold/core's events sample: `twoFactor` (ada enrolled, lockout after 3 failures) and
 * `notifySecurityTeam`, which records its calls. After the sample, three wrong codes lock ada.
 */
import { createTwoFactor, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { ada, ok, strictEqual } from './users.js';

export const twoFactor = createTwoFactor({
  store: memoryStore(),
  keyring: process.env.TWOFOLD_KEYS!,
  issuer: 'Acme',
  lockout: { maxFailures: 3 },
});
const { secret } = await twoFactor.enroll(ada.id);
const totp = new Totp({ secret });
await twoFactor.confirm(ada.id, totp.generate().token);

const calls: unknown[][] = [];
export function notifySecurityTeam(...args: unknown[]) {
  calls.push(args);
}

export async function after(scope: { unsubscribe?: unknown }) {
  strictEqual(typeof scope.unsubscribe, 'function');
  const accepted = new Set([-30_000, 0, 30_000].map((offset) => totp.generate(Date.now() + offset).token));
  const wrong = ['111111', '222222', '333333', '444444'].filter((code) => !accepted.has(code));
  for (const code of wrong.slice(0, 3)) await twoFactor.verify(ada.id, code).catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  strictEqual(calls.length, 1, 'the listener ran once, for the lock');
  strictEqual(calls[0]![0], ada.id);
  ok(calls[0]![1] !== undefined, 'with the end of the lock');
}
