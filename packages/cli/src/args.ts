/** Command-line parsing on node:util parseArgs, with every mistake turned into a UsageError. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ALGORITHMS, type Algorithm } from '@twofold/otp';
import { UsageError } from './errors.js';
import type { Io } from './io.js';

/** The `--help` / `-h` option every command takes. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

type CommandOptions = NonNullable<ParseArgsConfig['options']>;
type CommandArgs<O extends CommandOptions> = {
  args: string[];
  options: typeof HELP_OPTION & O;
  allowPositionals: true;
};

/**
 * Parses a command's arguments: its `options` plus -h/--help, at most `maxPositionals` positionals
 * (`what` names them in the error). Prints `help` and answers null when it was asked for.
 */
export function parseCommand<const O extends CommandOptions>(
  io: Io,
  args: string[],
  spec: { options: O; help: string; maxPositionals: number; what: string },
): ReturnType<typeof parseArgs<CommandArgs<O>>> | null {
  const config: CommandArgs<O> = {
    args,
    options: { ...HELP_OPTION, ...spec.options },
    allowPositionals: true,
  };
  const parsed = parseOrUsage(() => parseArgs(config));
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(spec.help);
    return null;
  }
  checkPositionals(parsed.positionals, spec.maxPositionals, spec.what);
  return parsed;
}

/**
 * Runs `parse` (a parseArgs call) and turns its errors into a UsageError of `command`. The
 * messages of parseArgs name the option and never repeat its value.
 */
function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
    const unknown = /^Unknown option '([^']*)'/.exec(String(message));
    if (unknown) throw new UsageError(`unknown option '${unknown[1]}'`);
    // An option whose next argument starts with "-": a forgotten value, or a value that starts with
    // a dash (a random key does, one time in 64), which parseArgs takes only as --name=<value>.
    const ambiguous = /^Option '([^' ]*)' argument is ambiguous/.exec(String(message));
    if (ambiguous) {
      const name = ambiguous[1]!;
      throw new UsageError(
        `${name} is followed by an argument starting with "-": give ${name} its value, or write ${name}=<value> when the value starts with "-"`,
      );
    }
    throw new UsageError(String(message).split('\n')[0]!.replace(/\.$/, ''));
  }
}

/** Refuses more positional arguments than `max` (without echoing them: one might be a secret). */
export function checkPositionals(positionals: readonly string[], max: number, what: string): void {
  if (positionals.length > max) {
    throw new UsageError(
      max === 0
        ? `this command takes no arguments, got ${positionals.length}`
        : `expected at most ${max} argument${max === 1 ? '' : 's'} (${what}), got ${positionals.length}`,
    );
  }
}

/** A whole number option from `min` to `max`. */
export function integerOption(name: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const value = /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** An `--algorithm` value, any case: SHA1, SHA256 or SHA512. */
export function algorithmOption(text: string | undefined): Algorithm | undefined {
  if (text === undefined) return undefined;
  const upper = text.trim().toUpperCase().replace('-', '');
  const found = ALGORITHMS.find((algorithm) => algorithm === upper);
  if (!found) throw new UsageError(`--algorithm must be one of ${ALGORITHMS.join(', ')}`);
  return found;
}

/** A `--time` value: Unix seconds, or a date and time that Date.parse reads (ISO 8601). In ms. */
export function timeOption(text: string | undefined, now: number): number {
  if (text === undefined) return now;
  const trimmed = text.trim();
  const ms = /^[0-9]+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new UsageError('--time must be Unix seconds or an ISO 8601 date and time (2026-01-01T12:00:00Z)');
  }
  return ms;
}

/**
 * The text of an argument that may be `-`, meaning "read it from standard input" (so a secret
 * need not appear in the shell history or the process list). Surrounding whitespace is dropped.
 */
export async function argumentOrStdin(io: Io, value: string, what: string): Promise<string> {
  const text = value === '-' ? await io.readStdin() : value;
  const trimmed = text.trim();
  if (trimmed === '') throw new UsageError(`${what} is empty`);
  return trimmed;
}
