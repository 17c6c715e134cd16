/** The keyring of the commands that seal or open secrets (`rotate-keys`, `import`). */
import type { Keyring } from '@twofold/core';
import { UsageError } from './errors.js';

/** The keyring from --keys or TWOFOLD_KEYS; a malformed one is a usage error that shows no key. */
export function keyringOption(
  parseKeyring: (text: string) => Keyring,
  text: string | undefined,
  fromOption: boolean,
): Keyring {
  if (text === undefined || text.trim() === '') {
    throw new UsageError('the keyring is missing: set TWOFOLD_KEYS (or pass --keys), current key first');
  }
  try {
    return parseKeyring(text);
  } catch (error) {
    // parseKeyring's messages name the entry by position and tag, never its key.
    const message = (error as Error).message.replace(/^parseKeyring: /, '');
    throw new UsageError(`${fromOption ? '--keys' : 'TWOFOLD_KEYS'}: ${message}`);
  }
}
