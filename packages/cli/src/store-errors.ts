/** Options and failures shared by the commands that open a SQL store. */
import { CommandError, UsageError } from './errors.js';

const PREFIX = /^[a-z][a-z0-9_]{0,29}$/;

/** `--prefix`: the table name prefix, checked as the store checks it (default twofold_). */
export function prefixOption(text: string | undefined): string {
  if (text === undefined) return 'twofold_';
  if (!PREFIX.test(text)) {
    throw new UsageError(
      '--prefix must be 1-30 characters: a lowercase letter, then lowercase letters, digits or underscores',
    );
  }
  return text;
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
