/**
 * The two ways a command fails on purpose, and the translation of database failures into the
 * second. Both print one line (no stack trace) and exit non-zero; anything else thrown is a bug and
 * is reported as an unexpected error.
 */

/** Exit codes of every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: a database error, a secret that does not open, ... */
  failure: 1,
  /** The command line is wrong: unknown option, missing or malformed argument. */
  usage: 2,
  /** Stopped by SIGINT (128 + 2); `rotate-keys` finishes the row it is on first. */
  interrupted: 130,
  /** Stopped by SIGTERM (128 + 15). */
  terminated: 143,
} as const;

/** The command line is wrong (exit 2); the message names the option or argument. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command could not do its job (exit 1, or `exitCode`). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT.failure;
  }
}

/**
 * A rejection handler for work on the database: what the store reports (schema mismatch,
 * unavailable) and what the driver reports (authentication failed, unknown database...) become a
 * CommandError naming `where`. A TypeError or RangeError is a bug here and passes unchanged.
 */
export function storeFailure(where: string): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof Error) || error instanceof TypeError || error instanceof RangeError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    // A twofold error (TWOFOLD_STORE_UNAVAILABLE...) wraps the driver's, whose message says more.
    const twofold = String((error as { code?: unknown }).code).startsWith('TWOFOLD_');
    const detail = twofold && cause instanceof Error && cause.message !== '' ? `: ${cause.message}` : '';
    throw new CommandError(`${where}: ${error.message || error.name}${detail}`, { cause: error });
  };
}
