import { integerOption, parseCommand } from '../args.js';
import { EXIT, storeFailure, UsageError } from '../errors.js';
import { loadHooks, operatorEngine } from '../hooks.js';
import type { Io } from '../io.js';
import { openStore, STORE_URL_FORMS } from '../store.js';

export const recoveryHelp = `Usage: twofold recovery process-due --url <store> [options]

Carries out every delayed email recovery that is due (the apps' recovery.delayMs): for each user
whose removal of two-factor authentication has come due and was not cancelled, signs out every
session and turns 2FA off, and the user gets the "recovery-completed" notice through --hooks. The
apps do this themselves at the user's next login or status request; run this from a scheduler
(cron, a Kubernetes CronJob) so that it also happens for users who do not come back. Safe to run
while the apps serve, and from several machines at once: each removal happens once, and a cancel
racing it either wins or is refused.

Options:
  --url <store>         the app's store (or set TWOFOLD_DATABASE_URL):
${STORE_URL_FORMS.replaceAll(/^/gm, '      ')}
  --prefix <prefix>     SQL: table name prefix (default twofold_); Redis: key prefix (default twofold:)
  --hooks <module>      an ES module of the app's exporting notify (and messages, issuer), as for
                        'twofold user'
  --issuer <name>       the site's name in the notices (default: the hooks' issuer, else "twofold")
  --batch-size <n>      users read per page, 1-1000 (default 100)
  -h, --help            show this help

Reads every scheduled recovery of the store (on Redis: a SCAN of the keyspace). Prints how many
were carried out and how many are scheduled for later.

Exit codes: 0 done, 1 the store or a hook failed, 2 usage error.
`;

/** `twofold recovery process-due`. */
export async function recoveryCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      url: { type: 'string' },
      prefix: { type: 'string' },
      hooks: { type: 'string' },
      issuer: { type: 'string' },
      'batch-size': { type: 'string' },
    },
    help: recoveryHelp,
    maxPositionals: 1,
    what: 'the action: process-due',
  });
  if (parsed === null) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals[0] !== 'process-due') throw new UsageError('the action must be process-due');
  const batchSize = integerOption('batch-size', values['batch-size'], 1, 1000) ?? 100;
  const hooks = values.hooks === undefined ? {} : await loadHooks(values.hooks);
  const issuer = values.issuer ?? hooks.issuer ?? 'twofold';
  const opened = await openStore(values.url ?? io.env.TWOFOLD_DATABASE_URL, values.prefix);
  try {
    const engine = await operatorEngine(io, opened.store, hooks, {
      issuer,
      maxFailures: hooks.lockout?.maxFailures ?? 10,
    });
    const { processed, pending } = await engine.twoFactor
      .processDueRecoveries({ batchSize })
      .catch(storeFailure(opened.where));
    io.stdout.write(
      `${processed} due recovery(ies) carried out: 2FA off, sessions signed out; ${pending} scheduled for later\n`,
    );
    if (processed > 0 && !hooks.notify) {
      io.stderr.write(
        'twofold recovery process-due: no notice was sent to those users (no --hooks with a notify export)\n',
      );
    }
    return (await engine.settle('twofold recovery process-due')) ? EXIT.ok : EXIT.failure;
  } finally {
    await opened.close();
  }
}
