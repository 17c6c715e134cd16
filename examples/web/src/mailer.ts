/**
 * The development mailer: each mail becomes a file in the outbox folder (TWOFOLD_OUTBOX), readable
 * only by its owner. The log says where the file went and never what it says: a recovery mail
 * holds a link that turns 2FA off, which does not belong in a log.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TwofoldMail } from '@twofold/core/http';
import type { Log } from './log.js';

/** `sendMail` for the `recovery` option of the plugins. */
export function outboxMailer(dir: string, log: Log): (mail: TwofoldMail) => Promise<void> {
  return async (mail) => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const stamp = new Date().toISOString().replaceAll(':', '-');
    const file = join(dir, `${stamp}-${mail.kind}-${randomBytes(3).toString('hex')}.eml`);
    const message = [
      `To: ${mail.to}`,
      `Subject: ${mail.subject}`,
      `Date: ${new Date().toUTCString()}`,
      'Content-Type: text/plain; charset=utf-8',
      `X-Twofold-Kind: ${mail.kind}`,
      '',
      mail.text,
    ].join('\n');
    await writeFile(file, message, { mode: 0o600, flag: 'wx' });
    log('info', `mail written to ${file}`);
  };
}
