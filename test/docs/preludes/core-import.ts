/**
 * The import sample: `twoFactor` over a memoryStore, no user enrolled. After the sample: u-ada has
 * the imported app (its current code logs in once), and an old recovery code works once.
 */
import { createTwoFactor, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { ok, strictEqual } from './users.js';

export const twoFactor = createTwoFactor({
  store: memoryStore(),
  keyring: process.env.TWOFOLD_KEYS!,
  issuer: 'Acme',
});

export async function after() {
  const status = await twoFactor.status('u-ada');
  strictEqual(status.enabled, true, 'the import turned 2FA on');
  strictEqual(status.recoveryCodesRemaining, 2, 'with the two old codes');
  const code = new Totp({ secret: 'JBSWY3DPEHPK3PXP', minSecretBytes: 10 }).generate().token;
  ok(await twoFactor.verify('u-ada', code), 'the code the app shows logs in');
  ok(await twoFactor.useRecoveryCode('u-ada', 'K7N3-Q2AB'), 'an old code works');
}
