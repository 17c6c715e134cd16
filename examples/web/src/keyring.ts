/**
 * The keyring that seals TOTP secrets. Production supplies TWOFOLD_KEYS (make one with
 * `generateKey()` or `twofold keygen`); in development a keyring is generated once into
 * DATA_DIR/.twofold-dev-keys (mode 600, in a folder the example creates mode 700) and reused, with
 * a loud warning at every start.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey, parseKeyring } from '@twofold/core';
import { ConfigError, type ExampleConfig } from './config.js';
import { makePrivateDir, PRIVATE_FILE_MODE, restrictFile } from './files.js';
import type { Log } from './log.js';

export const DEV_KEYS_FILE = '.twofold-dev-keys';

/** The keyring text to hand to the plugin. @throws ConfigError in production without TWOFOLD_KEYS. */
export function loadKeyring(config: ExampleConfig, log: Log): string {
  if (config.keys !== undefined) {
    try {
      parseKeyring(config.keys);
    } catch (error) {
      // parseKeyring's messages name the entry and tag, never the key.
      throw new ConfigError(`TWOFOLD_KEYS is not a valid keyring: ${(error as Error).message}`);
    }
    return config.keys;
  }
  if (config.production) {
    throw new ConfigError(
      'TWOFOLD_KEYS is required when NODE_ENV=production (make a key with generateKey() from @twofold/core)',
    );
  }
  const file = join(config.dataDir, DEV_KEYS_FILE);
  let keys: string;
  let created = false;
  try {
    keys = readFileSync(file, 'utf8').trim();
    // A keyring file left readable by others (copied in, or from an older version): 600 again.
    restrictFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    makePrivateDir(config.dataDir);
    keys = generateKey();
    try {
      writeFileSync(file, `${keys}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      // The mode given to open() loses bits to the umask; set it exactly.
      chmodSync(file, PRIVATE_FILE_MODE);
      created = true;
    } catch (raced) {
      // Another process created it first: use that one.
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
      keys = readFileSync(file, 'utf8').trim();
    }
  }
  try {
    parseKeyring(keys);
  } catch (error) {
    throw new ConfigError(`${file} does not hold a valid keyring: ${(error as Error).message}`);
  }
  // Loud on purpose, straight to stderr where a person starting the app sees it, and in the log.
  const banner = '!'.repeat(78);
  process.stderr.write(
    [
      banner,
      `!! DEVELOPMENT KEYRING ${created ? 'GENERATED' : 'IN USE'}: ${file}`,
      '!! It seals the TOTP secrets of this app. Do NOT use it in production: set TWOFOLD_KEYS',
      '!! to a keyring of your own, kept secret. Losing the keyring means every user enrolls again.',
      banner,
      '',
    ].join('\n'),
  );
  log(
    'warn',
    `development keyring ${created ? 'generated' : 'in use'} (${file}): production must set TWOFOLD_KEYS`,
  );
  return keys;
}
