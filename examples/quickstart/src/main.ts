/**
 * A tour of the twofold engine on the embedded store, as a host app's login would drive it.
 * The "phone" is simulated with @twofold/otp: it scans the otpauth URI and shows codes.
 *
 *   pnpm demo            (from the repository root)
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTwoFactor, generateKey, isTwofoldError, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';

// Production supplies its keyring from the environment (TWOFOLD_KEYS); the demo makes a throwaway one.
const twoFactor = createTwoFactor({
  store: memoryStore(),
  keyring: process.env.TWOFOLD_KEYS ?? generateKey(),
  issuer: 'Twofold Demo',
  lockout: { maxFailures: 3, durationMs: 60_000 },
});
twoFactor.on('locked', ({ userId }) => console.log(`  [event] ${userId} locked after too many failures`));

const userId = 'user-42';
const step = (title: string) => console.log(`\n== ${title}`);

step('1. Enroll: the app shows a QR code (and the secret for manual entry)');
const enrollment = await twoFactor.enroll(userId, { label: 'ada@example.com' });
const qrFile = join(tmpdir(), 'twofold-demo-qr.svg');
writeFileSync(qrFile, enrollment.qrSvg);
console.log(`  otpauth URI: ${enrollment.otpauthUri.replace(/secret=[^&]+/, 'secret=...')}`);
console.log(`  QR code written to ${qrFile}; pending until ${new Date(enrollment.expiresAt).toISOString()}`);

// The user's authenticator app scans the URI.
const phone = Totp.fromUri(enrollment.otpauthUri);

step('2. Confirm with the first code from the phone: 2FA is on, recovery codes shown once');
const { recoveryCodes } = await twoFactor.confirm(userId, phone.generate().token);
console.log(`  ${recoveryCodes.length} recovery codes issued (shown to the user once; not printed here)`);
console.log('  status:', await twoFactor.status(userId));

step('3. Two-step login: the password step gets a challenge token, the code completes it');
const { challengeToken, expiresIn } = await twoFactor.createChallenge(userId);
console.log(`  challenge token issued, valid ${expiresIn} s`);
// The confirming code's time step is spent, so a second login within the same 30 s needs the next
// step's code: the default +-1 step window accepts it (a phone clock a little ahead does the same).
const code = phone.generate(Date.now() + phone.period * 1000).token;
console.log('  login completed:', await twoFactor.completeChallenge(challengeToken, { code }));

step('4. The same code again is refused (replay protection)');
await twoFactor.verify(userId, code).catch((error) => console.log(`  refused: ${error.code}`));

step('5. A recovery code works once');
console.log('  first use:', await twoFactor.useRecoveryCode(userId, recoveryCodes[0]!));
await twoFactor
  .useRecoveryCode(userId, recoveryCodes[0]!)
  .catch((error) => console.log(`  second use refused: ${error.code}`));

step('6. Wrong codes lock the account; then even a right code is refused');
for (let attempt = 0; attempt < 3; attempt++) {
  await twoFactor.verify(userId, '000000').catch(() => {});
}
try {
  await twoFactor.verify(userId, phone.generate().token);
} catch (error) {
  if (isTwofoldError(error, 'TWOFOLD_LOCKED')) console.log(`  refused: ${error.code}`);
  else throw error;
}
console.log('\nDone. See packages/core/README.md for every flow and option.');
