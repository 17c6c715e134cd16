/**
 * The two ways a command fails on purpose. Both print one line (no stack trace) and exit non-zero;
 * anything else thrown is a bug and is reported as an unexpected error.
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
