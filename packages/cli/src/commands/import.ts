import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import type { TwoFactor } from '@twofold/core';
import { integerOption, parseCommand } from '../args.js';
import { openDatabase, parseDatabaseUrl, URL_FORMS } from '../database.js';
import { CommandError, EXIT, storeFailure, UsageError } from '../errors.js';
import type { ImportEntry, ImportReader } from '../import/types.js';
import type { Io, StopSignal } from '../io.js';
import { keyringOption } from '../keyring.js';
import { progressReporter } from '../progress.js';
import { openStore, STORE_URL_FORMS } from '../store.js';

export const importHelp = `Usage: twofold import --from <format> <file | database URL> --url <store> [options]

Brings users' authenticator apps over from another 2FA system: each user's app keeps showing
codes that work, codes the old system already accepted stay refused (where it recorded them),
and the user's unused backup/static codes keep working once each. Secrets are sealed with the
keyring (TWOFOLD_KEYS, the app's); recovery codes are stored as keyed hashes.

Formats (--from):
  otpauth        a text file of otpauth:// URIs, one per line, each alone (the user id is the
                 label's account name) or after the user id: "<user id> <otpauth URI>"
  google         Google Authenticator's "Transfer accounts" export: otpauth-migration://offline?
                 data=... lines (the QR codes' contents), every batch of the export
  passlib        JSON Lines of passlib TOTP.to_json() output, alone (the user id is its label) or
                 as {"user": "<id>", "totp": <to_json output>, "last_counter": <n>}; keys
                 encrypted by an AppWallet need --passlib-secrets
  django-otp     the Django database itself (postgres://, mysql://, sqlite:): every confirmed
                 TOTPDevice, with the user's unused StaticDevice tokens as recovery codes
  django-totp    JSON Lines of django-totp rows: {"user","secret_key","backup_codes":[...]},
                 Fernet-encrypted as the app stored them; needs the Fernet key
A file may be "-" for standard input.

Running it again is safe and resumes an interrupted run: every authenticator is written once
(under an id derived from its source), rows already imported are reported "unchanged". Ctrl-C
finishes the rows under way and stops. Each row is written all at once or not at all.

Options:
  --url <store>              the app's store (or set TWOFOLD_DATABASE_URL):
${STORE_URL_FORMS.replaceAll(/^/gm, '      ')}
  --prefix <prefix>          SQL: table name prefix (default twofold_); Redis: key prefix (default twofold:)
  --keys <keyring>           the app's keyring, current key first; prefer TWOFOLD_KEYS (the default)
  --dry-run                  read and check every row and say what would happen; write nothing
  --report <file>            write one JSON line per source row: {ref,userId,outcome,reason,...}
  --max-authenticators <n>   the app's maxAuthenticators, 1-50 (default 10)
  --concurrency <n>          users imported at once, 1-64 (default 8)
  --user-field <field>       django-otp: the auth_user column that is the twofold user id:
                             id (default), username or email
  --passlib-secrets <file>   passlib: a JSON object of the AppWallet's secrets by tag
  --fernet-key <key>         django-totp: TOTP_ENCRYPTION_KEY; prefer TWOFOLD_IMPORT_FERNET_KEY
  --quiet                    no progress output
  -h, --help                 show this help

Progress goes to stderr; skipped rows are listed on stderr with the reason (never a secret or
code); the summary goes to stdout.

Exit codes: 0 every row imported or already there, 1 some rows were skipped or the store failed,
2 usage error, 130 interrupted by SIGINT, 143 by SIGTERM.
`;

const FORMATS = ['otpauth', 'google', 'passlib', 'django-otp', 'django-totp'] as const;
type Format = (typeof FORMATS)[number];

/** How many skipped rows are listed one by one on stderr (all of them go to --report). */
const LISTED_SKIPS = 50;

interface ImportValues {
  url?: string;
  prefix?: string;
  keys?: string;
  'passlib-secrets'?: string;
  'fernet-key'?: string;
  'user-field'?: string;
}

/** `twofold import --from <format> <source>`. */
export async function importCommand(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: {
      from: { type: 'string' },
      url: { type: 'string' },
      prefix: { type: 'string' },
      keys: { type: 'string' },
      'dry-run': { type: 'boolean' },
      report: { type: 'string' },
      'max-authenticators': { type: 'string' },
      concurrency: { type: 'string' },
      'user-field': { type: 'string' },
      'passlib-secrets': { type: 'string' },
      'fernet-key': { type: 'string' },
      quiet: { type: 'boolean' },
    },
    help: importHelp,
    maxPositionals: 1,
    what: 'the file or database to import from',
  });
  if (parsed === null) return EXIT.ok;
  const { values, positionals } = parsed;
  const format = values.from as Format | undefined;
  if (format === undefined || !FORMATS.includes(format)) {
    throw new UsageError(`--from must be one of ${FORMATS.join(', ')}`);
  }
  const input = positionals[0];
  if (input === undefined || input === '') {
    throw new UsageError(
      `the ${format === 'django-otp' ? 'Django database URL' : 'file'} to import from is missing`,
    );
  }
  const maxAuthenticators = integerOption('max-authenticators', values['max-authenticators'], 1, 50) ?? 10;
  const concurrency = integerOption('concurrency', values.concurrency, 1, 64) ?? 8;
  const dryRun = values['dry-run'] ?? false;
  const quiet = values.quiet ?? false;
  const { createTwoFactor, parseKeyring } = await import('@twofold/core');
  const keyring = keyringOption(parseKeyring, values.keys ?? io.env.TWOFOLD_KEYS, values.keys !== undefined);

  const source = await openSource(io, format, input, values);
  try {
    // A connection per user under way (and one spare), so --concurrency is not queued on a small pool.
    const opened = await openStore(values.url ?? io.env.TWOFOLD_DATABASE_URL, values.prefix, {
      connections: concurrency + 1,
    });
    try {
      const twoFactor = createTwoFactor({
        store: opened.store,
        keyring,
        issuer: 'twofold',
        maxAuthenticators,
      });
      return await run(io, twoFactor, source.reader, {
        dryRun,
        quiet,
        concurrency,
        report: values.report,
        where: opened.where,
      });
    } finally {
      await opened.close();
    }
  } finally {
    await source.close();
  }
}

/** The reader of `input` in `format`, and how to release what it opened. */
async function openSource(
  io: Io,
  format: Format,
  input: string,
  values: ImportValues,
): Promise<{ reader: ImportReader; close(): Promise<void> }> {
  const none = async () => {};
  switch (format) {
    case 'otpauth': {
      const { readOtpauthList } = await import('../import/otpauth-list.js');
      return { reader: readOtpauthList(await readInput(io, input)), close: none };
    }
    case 'google': {
      const { readGoogleMigration } = await import('../import/google-migration.js');
      return { reader: readGoogleMigration(await readInput(io, input)), close: none };
    }
    case 'passlib': {
      const { readPasslib } = await import('../import/passlib.js');
      const secrets =
        values['passlib-secrets'] === undefined ? undefined : readSecretsFile(values['passlib-secrets']);
      return { reader: readPasslib(await readInput(io, input), secrets ? { secrets } : {}), close: none };
    }
    case 'django-totp': {
      const key = values['fernet-key'] ?? io.env.TWOFOLD_IMPORT_FERNET_KEY;
      if (key === undefined || key.trim() === '') {
        throw new UsageError(
          'the Fernet key is missing: set TWOFOLD_IMPORT_FERNET_KEY (or pass --fernet-key)',
        );
      }
      const { readDjangoTotp } = await import('../import/django-totp.js');
      const text = await readInput(io, input);
      try {
        return { reader: readDjangoTotp(text, { key: key.trim() }), close: none };
      } catch (error) {
        // The reader's messages describe the key's shape, never the key.
        throw new UsageError(
          `${values['fernet-key'] === undefined ? 'TWOFOLD_IMPORT_FERNET_KEY' : '--fernet-key'}: ${(error as Error).message}`,
        );
      }
    }
    case 'django-otp': {
      const field = values['user-field'] ?? 'id';
      if (field !== 'id' && field !== 'username' && field !== 'email') {
        throw new UsageError('--user-field must be one of id, username, email');
      }
      let target: ReturnType<typeof parseDatabaseUrl>;
      try {
        target = parseDatabaseUrl(input);
      } catch {
        throw new UsageError(`the Django database must be a database URL:\n${URL_FORMS}`);
      }
      const database = await openDatabase(target, { create: false });
      const { readDjangoOtp } = await import('../import/django-otp.js');
      return {
        reader: readDjangoOtp(database.db, database.dialect, { userField: field }),
        close: () => database.close(),
      };
    }
  }
}

async function readInput(io: Io, path: string): Promise<string> {
  if (path === '-') return io.readStdin();
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CommandError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** The --passlib-secrets file: a JSON object of tag to secret, as AppWallet's `secrets=` takes. */
function readSecretsFile(path: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    // Never the content: it holds the secrets.
    throw new UsageError(`--passlib-secrets: ${path} is not a readable JSON file (${(error as Error).name})`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((value) => typeof value === 'string' && value !== '')
  ) {
    throw new UsageError('--passlib-secrets: the file must hold a JSON object of tag to secret text');
  }
  return parsed as Record<string, string>;
}

async function run(
  io: Io,
  twoFactor: TwoFactor,
  reader: ImportReader,
  settings: {
    dryRun: boolean;
    quiet: boolean;
    concurrency: number;
    report: string | undefined;
    where: string;
  },
): Promise<number> {
  const { runImport } = await import('../import/run.js');
  let stopSignal: StopSignal | undefined;
  const stopListening = io.onStop((signal) => {
    stopSignal = signal;
  });
  const report: WriteStream | undefined =
    settings.report === undefined ? undefined : createWriteStream(settings.report, { flags: 'w' });
  const progress = progressReporter(io.stderr, 'import', settings.quiet);
  let listed = 0;
  let done = 0;
  const verb = settings.dryRun ? 'checked' : 'imported';
  let result: Awaited<ReturnType<typeof runImport>>;
  try {
    // Read first (a few hundred bytes a row): the bar then knows the total, and a source that
    // cannot be read fails before anything is written.
    const entries: ImportEntry[] = [];
    for await (const entry of reader) entries.push(entry);
    if (!settings.quiet) {
      io.stderr.write(
        `import: ${entries.length} row(s) read; ${settings.dryRun ? 'checking them against' : 'importing into'} ${settings.where}\n`,
      );
    }
    result = await runImport({
      reader: (async function* () {
        yield* entries;
      })(),
      twoFactor,
      dryRun: settings.dryRun,
      concurrency: settings.concurrency,
      shouldStop: () => stopSignal !== undefined,
      onOutcome(outcome) {
        done++;
        report?.write(`${JSON.stringify(outcome)}\n`);
        if (outcome.outcome === 'skipped' && listed++ < LISTED_SKIPS) {
          const user = outcome.userId === undefined ? '' : ` (user ${JSON.stringify(outcome.userId)})`;
          io.stderr.write(`import: ${outcome.ref}${user}: skipped: ${outcome.reason}\n`);
        }
        progress.update(done, entries.length, `rows ${verb}`);
      },
    });
  } finally {
    progress.finish();
    stopListening();
    if (report) await new Promise<void>((resolve) => report.end(resolve));
  }
  const { counts } = result;
  if (listed > LISTED_SKIPS) {
    io.stderr.write(
      `import: ... and ${listed - LISTED_SKIPS} more skipped rows${settings.report ? ' (see --report)' : ''}\n`,
    );
  }
  const would = settings.dryRun ? 'would be ' : '';
  io.stdout.write(
    `import${settings.dryRun ? ' (dry run, nothing written)' : ''}: ${counts.enabled + counts.added} ${would}imported ` +
      `(${counts.enabled} turning 2FA on, ${counts.added} next to existing ones), ` +
      `${counts.unchanged} already there, ${counts.skipped} skipped, ${counts.failed} failed\n`,
  );
  if (result.failure !== undefined) {
    io.stderr.write('import: stopped; run the same command again to resume\n');
    return storeFailure(settings.where)(result.failure);
  }
  if (stopSignal !== undefined) {
    io.stderr.write('import: interrupted; run the same command again to resume\n');
    return stopSignal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
  }
  return counts.skipped > 0 ? EXIT.failure : EXIT.ok;
}
