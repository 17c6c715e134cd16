/**
 * The development mailer: each mail becomes a file in the outbox folder (TWOFOLD_OUTBOX), mode 600
 * in a folder it creates mode 700. The log says where the file went and never what it says: a
 * recovery mail holds a link that turns 2FA off, a signup mail one that creates an account; neither
 * belongs in a log.
 */
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { makePrivateDirAsync, PRIVATE_FILE_MODE } from './files.js';
import type { Log } from './log.js';

/**
 * A mail: the kit's (`TwofoldMail`: `recovery-link`, `recovery-completed`) or the example's own
 * (`signup-confirm`, `signup-attempt`). `kind` goes into the file name.
 */
export interface OutboxMail {
  kind: string;
  /** The kit's mails name the account; not written to the file. */
  userId?: string;
  to: string;
  subject: string;
  text: string;
}

/** Sends a mail; the kit's `recovery.sendMail` and the example's signup both use it. */
export type SendMail = (mail: OutboxMail) => Promise<void>;

/** `sendMail` for the `recovery` option of the plugins, and for the example's signup mails. */
export function outboxMailer(dir: string, log: Log): SendMail {
  return async (mail) => {
    await makePrivateDirAsync(dir);
    const stamp = new Date().toISOString().replaceAll(':', '-');
    const kind = mail.kind.replace(/[^a-z0-9-]/gi, '_');
    const file = join(dir, `${stamp}-${kind}-${randomBytes(3).toString('hex')}.eml`);
    const message = [
      `To: ${mail.to}`,
      `Subject: ${mail.subject}`,
      `Date: ${new Date().toUTCString()}`,
      'Content-Type: text/plain; charset=utf-8',
      `X-Twofold-Kind: ${kind}`,
      '',
      mail.text,
    ].join('\n');
    // Written under a hidden name, then renamed: whoever reads the outbox sees a mail whole or not at all.
    const partial = join(dir, `.partial-${randomBytes(6).toString('hex')}`);
    const handle = await open(partial, 'wx', PRIVATE_FILE_MODE);
    try {
      // open()'s mode loses bits to the umask: set it exactly before anything is written.
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(message);
    } finally {
      await handle.close();
    }
    await rename(partial, file);
    log('info', `mail written to ${file}`);
  };
}
