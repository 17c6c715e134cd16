/** The `twofold` command line: dispatches to a command and maps every outcome to an exit code. */
import { readFileSync } from 'node:fs';
import { CommandError, EXIT, UsageError } from './errors.js';
import type { Io } from './io.js';

export const mainHelp = `Usage: twofold <command> [options]

Command-line tools for twofold, two-factor authentication for Node.js servers.

Commands:
  keygen        print a new keyring key (tag:key) for TWOFOLD_KEYS
  migrate       create or upgrade the tables of a SQL store
  rotate-keys   re-seal every TOTP secret of a SQL store under the current key
  user          an operator's actions on one user: status, unlock, reset (SQL or Redis)
  recovery      process-due: carry out the delayed email recoveries that are due
  import        bring users' authenticators over from another 2FA system (otpauth URIs, Google
                Authenticator exports, passlib, django-otp, django-totp)
  code          print the current code of a secret or otpauth:// URI
  uri build     build an otpauth:// URI, optionally shown as a QR code
  uri inspect   show what an otpauth:// URI holds

Options:
  -h, --help     show this help ('twofold <command> --help' shows a command's)
  -v, --version  print the version

Environment:
  TWOFOLD_KEYS           the keyring for rotate-keys and import ("tag:key,...", current key first)
  TWOFOLD_DATABASE_URL   the store for migrate, rotate-keys, user, recovery and import when --url is not given
  NO_COLOR               no colours in the terminal QR code
  TWOFOLD_DEBUG=1        print the stack trace of an unexpected error

Exit codes: 0 success, 1 the command failed, 2 usage error, 130 interrupted (SIGINT),
143 terminated (SIGTERM).
`;

type Command = (io: Io, args: string[]) => Promise<number>;

/** Each command's module is loaded only when it runs (the SQL ones pull in Kysely and drivers). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  keygen: async () => (await import('./commands/keygen.js')).keygen,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  'rotate-keys': async () => (await import('./commands/rotate-keys.js')).rotateKeysCommand,
  user: async () => (await import('./commands/user.js')).userCommand,
  recovery: async () => (await import('./commands/recovery.js')).recoveryCommand,
  import: async () => (await import('./commands/import.js')).importCommand,
  code: async () => (await import('./commands/code.js')).codeCommand,
  uri: async () => (await import('./commands/uri.js')).uriCommand,
};

/** How errors name the command: with its action for those that have one (`uri build`, `user reset`). */
function commandLabel(name: string, action: string | undefined): string {
  const actions: Record<string, string[]> = {
    uri: ['build', 'inspect'],
    user: ['status', 'unlock', 'reset'],
    recovery: ['process-due'],
  };
  return action !== undefined && actions[name]?.includes(action) ? `${name} ${action}` : name;
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return String(manifest.version);
}

/**
 * Runs `twofold` with `argv` (the arguments after the program name) and resolves the exit code.
 * Usage errors and command failures print one line on stderr, never a stack trace.
 */
export async function runCli(io: Io, argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    io.stderr.write(mainHelp);
    return EXIT.usage;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    const topic = args[0];
    if (name === 'help' && topic !== undefined && Object.hasOwn(COMMANDS, topic)) {
      return (await COMMANDS[topic]!())(io, [...args.slice(1), '--help']);
    }
    io.stdout.write(mainHelp);
    return EXIT.ok;
  }
  if (name === '-v' || name === '--version') {
    io.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  const label = command ? `twofold ${commandLabel(name, args[0])}` : 'twofold';
  try {
    if (!command) {
      // Not echoed: a secret typed in the wrong place would end up in logs.
      throw new UsageError(`unknown command; the commands are ${Object.keys(COMMANDS).join(', ')}`);
    }
    return await (await command())(io, args);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${label}: ${error.message}\nRun '${label} --help' for usage.\n`);
      return EXIT.usage;
    }
    if (error instanceof CommandError) {
      io.stderr.write(`${label}: ${error.message}\n`);
      return error.exitCode;
    }
    const detail = error instanceof Error ? error.message : String(error);
    io.stderr.write(`${label}: unexpected error: ${detail}\n`);
    if ((io.env.TWOFOLD_DEBUG ?? '') !== '' && error instanceof Error && error.stack) {
      io.stderr.write(`${error.stack}\n`);
    } else {
      io.stderr.write('(set TWOFOLD_DEBUG=1 for the stack trace)\n');
    }
    return EXIT.failure;
  }
}
