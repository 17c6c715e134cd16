import { parseCommand } from '../args.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';

export const keygenHelp = `Usage: twofold keygen [--tag <tag>] [--env]

Prints a new random keyring key as one entry of the TWOFOLD_KEYS form, tag:key
(32 random bytes, base64url). The key is shown only here: store it in your secret manager.

Options:
  --tag <tag>   the key's tag: 1-32 characters of A-Z a-z 0-9 _ -
                (default: k + today's UTC date + 4 random hex digits, e.g. k20261123-9c1e)
  --env         print it as a shell assignment: TWOFOLD_KEYS=tag:key
  -h, --help    show this help

TWOFOLD_KEYS lists tag:key entries separated by commas, the current key first. To rotate, put
the new entry first and keep the old ones after it, deploy, then run 'twofold rotate-keys':
  TWOFOLD_KEYS="$(twofold keygen),$TWOFOLD_KEYS"

Exit codes: 0 printed, 2 usage error.
`;

/** `twofold keygen`: prints a new `tag:key` keyring entry. */
export async function keygen(io: Io, args: string[]): Promise<number> {
  const parsed = parseCommand(io, args, {
    options: { tag: { type: 'string' }, env: { type: 'boolean' } },
    help: keygenHelp,
    maxPositionals: 0,
    what: '',
  });
  if (parsed === null) return 0;
  const { values } = parsed;
  const { generateKey } = await import('@twofold/core');
  let entry: string;
  try {
    entry = generateKey(values.tag);
  } catch {
    throw new UsageError('--tag must be 1-32 characters of A-Z a-z 0-9 _ -');
  }
  io.stdout.write(values.env ? `TWOFOLD_KEYS=${entry}\n` : `${entry}\n`);
  return 0;
}
