import type { Keyring } from '@twofold/core';
import { integerOption, parseCommand } from '../args.js';
import { describeTarget, openDatabase, parseDatabaseUrl, prefixOption, URL_FORMS } from '../database.js';
import { EXIT, storeFailure } from '../errors.js';
import type { Io, StopSignal } from '../io.js';
import { keyringOption } from '../keyring.js';
import { progressReporter } from '../progress.js';
import type { ResealResult } from '../reseal.js';

export const rotateKeysHelp = `Usage: twofold rotate-keys --url <database> [--keys <keyring>] [options]

Re-seals every TOTP secret stored in a SQL store under the keyring's current key (its first
entry), so that older keys stop being needed for secrets: every authenticator app of every user,
pending enrollments included. Security keys and passkeys (WebAuthn) hold no secret and are left
alone. Run it after deploying the app with the new key first in TWOFOLD_KEYS and the old keys
after it.

  - safe while the app serves: each secret is replaced by compare-and-set, so what the app does
    meanwhile (a re-seal on login, a removed app, a disable) is never undone: a newer secret is
    never overwritten, a removed one never brought back;
  - resumable: secrets already under the current key are skipped, so an interrupted run
    (Ctrl-C finishes the current batch and stops) is completed by running it again;
  - never prints a secret or a key.

SQL stores only (@twofold/store-sql). Redis is not supported: there, secrets are re-sealed on
each user's next successful login.

Options:
  --url <database>      the store's database (or set TWOFOLD_DATABASE_URL):
${URL_FORMS.replaceAll(/^/gm, '      ')}
  --keys <keyring>      the keyring, "tag:key,tag:key,...", current key first. Prefer the
                        TWOFOLD_KEYS environment variable (the default): command-line arguments
                        are visible to other users of the machine
  --prefix <prefix>     table name prefix, the same as the store's (default twofold_)
  --batch-size <n>      rows read and re-sealed per batch, 1-1000 (default 100)
  --dry-run             open every secret and report what would be re-sealed; write nothing
  --quiet               no progress output
  -h, --help            show this help

Progress goes to stderr: a bar on a terminal, a line per 10% otherwise. The summary goes to
stdout; rows that could not be re-sealed (a key missing from the keyring, a damaged secret) are
listed on stderr by user id and the run goes on.

Recovery codes are stored as keyed hashes and cannot be re-hashed without the codes: keep an old
key in TWOFOLD_KEYS while users still hold recovery codes issued under it.

Exit codes: 0 every secret is under the current key (--dry-run: every secret opens),
1 some rows failed or the database failed, 2 usage error (including a malformed keyring),
130 interrupted by SIGINT, 143 by SIGTERM.
`;

/** `twofold rotate-keys`: re-seals every stored secret under the current key. */
export async function rotateKeysCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      url: { type: 'string' },
      keys: { type: 'string' },
      prefix: { type: 'string' },
      'batch-size': { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    help: rotateKeysHelp,
    maxPositionals: 0,
    what: '',
  });
  if (parsed === null) return 0;
  const { values } = parsed;
  const target = parseDatabaseUrl(values.url ?? io.env.TWOFOLD_DATABASE_URL);
  const prefix = prefixOption(values.prefix);
  const batchSize = integerOption('batch-size', values['batch-size'], 1, 1000) ?? 100;
  // Loaded once the command line is known to be right: --help and usage errors stay fast.
  const [{ parseKeyring }, { sqlStore }, { resealSecrets }] = await Promise.all([
    import('@twofold/core'),
    import('@twofold/store-sql'),
    import('../reseal.js'),
  ]);
  const keyring = keyringOption(parseKeyring, values.keys ?? io.env.TWOFOLD_KEYS, values.keys !== undefined);
  const dryRun = values['dry-run'] ?? false;
  const where = describeTarget(target);

  const database = await openDatabase(target, { create: false });
  let stopSignal: StopSignal | undefined;
  const stopListening = io.onStop((signal) => {
    stopSignal = signal;
  });
  const progress = progressReporter(io.stderr, 'rotate-keys', values.quiet ?? false);
  let result: ResealResult;
  try {
    const store = await sqlStore({ db: database.db, prefix, sweepIntervalMs: false }).catch(
      storeFailure(where),
    );
    let started = false;
    result = await resealSecrets({
      store,
      keyring,
      batchSize,
      dryRun,
      shouldStop: () => stopSignal !== undefined,
      onProgress(state) {
        if (!started) {
          started = true;
          if (!(values.quiet ?? false)) {
            io.stderr.write(
              `rotate-keys: ${dryRun ? 'checking' : 're-sealing'} ${state.total} TOTP secret(s) in ${where} ` +
                `under key "${keyring.currentTag}"${dryRun ? ' (dry run: nothing is written)' : ''}\n`,
            );
          }
        }
        const failed = state.failed.length > 0 ? `, ${state.failed.length} failed` : '';
        const verb = dryRun ? 'to re-seal' : 're-sealed';
        progress.update(state.checked, state.total, `${verb} ${state.resealed}${failed}`);
      },
    }).catch(storeFailure(where));
  } finally {
    progress.finish();
    stopListening();
    await database.close();
  }
  return report(io, result, keyring, dryRun, stopSignal);
}

/** How many failed rows are listed one by one. */
const LISTED_FAILURES = 20;

function report(
  io: Io,
  result: ResealResult,
  keyring: Keyring,
  dryRun: boolean,
  stopSignal: StopSignal | undefined,
): number {
  const { checked, total, resealed, alreadyCurrent, gone, failed } = result;
  for (const failure of failed.slice(0, LISTED_FAILURES)) {
    io.stderr.write(
      `rotate-keys: user ${JSON.stringify(failure.userId)}, authenticator ${JSON.stringify(failure.authenticatorId)}: ${failure.reason}\n`,
    );
  }
  if (failed.length > LISTED_FAILURES) {
    io.stderr.write(`rotate-keys: ... and ${failed.length - LISTED_FAILURES} more rows that failed\n`);
  }
  const current = `"${keyring.currentTag}"`;
  const oldTags = Object.entries(result.oldTags)
    .map(([tag, count]) => `${count} under "${tag}"`)
    .join(', ');
  const counts = [
    `${checked} checked`,
    `${resealed} ${dryRun ? 'to re-seal' : 're-sealed'}${oldTags && ` (${oldTags})`}`,
    `${alreadyCurrent} already under ${current}`,
    ...(gone > 0 ? [`${gone} deleted meanwhile`] : []),
    `${failed.length} failed`,
  ].join(', ');
  io.stdout.write(`${dryRun ? 'dry run: ' : ''}${counts}\n`);

  if (result.stopped) {
    io.stdout.write(
      `Stopped by ${stopSignal ?? 'a signal'} after ${checked} of ${total} rows. Run the same command again ` +
        'to finish: rows already under the current key are skipped.\n',
    );
    return stopSignal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
  }
  if (failed.length > 0) {
    io.stdout.write(
      `${failed.length} row(s) could not be ${dryRun ? 'opened' : 're-sealed'} (listed on stderr). Add the ` +
        'missing keys to the keyring, or remove those authenticators (or disable two-factor for those ' +
        'users), then run it again.\n',
    );
    return EXIT.failure;
  }
  if (!dryRun) {
    io.stdout.write(
      `Every stored TOTP secret is sealed under ${current}. Recovery codes issued before the rotation are ` +
        'still hashed under the older keys: keep those in TWOFOLD_KEYS until their users have new codes.\n',
    );
  }
  return EXIT.ok;
}
