/**
 * Private files: everything the example writes (the SQLite file and its `-wal`/`-shm`/`-journal`
 * companions, the development keyring, the outbox mails) holds password hashes, sealed secrets or
 * recovery links, so files are mode 600 and the folders the example creates are mode 700.
 *
 * The modes are set explicitly (chmod after creating), not left to the process umask: a mode given
 * to `mkdir` or `open` only ever loses bits to the umask, and the example also runs inside other
 * processes (the tests, an app that embeds it) whose umask it does not choose. `main.ts` of each app
 * additionally sets the umask to 077 for anything else the process creates.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Log } from './log.js';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** The folders from `first` (the topmost one mkdir created) down to `dir`. */
function createdFolders(dir: string, first: string): string[] {
  const folders: string[] = [];
  const top = resolve(first);
  for (let folder = resolve(dir); ; folder = dirname(folder)) {
    folders.push(folder);
    if (folder === top || folder === dirname(folder)) return folders;
  }
}

/**
 * Creates `dir` and its missing parents, each mode 700. A folder that already exists is left as it
 * is (it may be shared, like /tmp or a home folder). True when the folder had to be created.
 */
export function makePrivateDir(dir: string): boolean {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return false;
  for (const folder of createdFolders(dir, first)) chmodSync(folder, PRIVATE_DIR_MODE);
  return true;
}

/** `makePrivateDir`, without blocking (the mailer runs on the request path). */
export async function makePrivateDirAsync(dir: string): Promise<boolean> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return false;
  for (const folder of createdFolders(dir, first)) await chmod(folder, PRIVATE_DIR_MODE);
  return true;
}

/**
 * Makes sure `file` exists with mode 600, creating it empty when missing; an existing file (say,
 * from an older version of the example) is set to 600 too.
 */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodSync(file, PRIVATE_FILE_MODE);
}

/** Sets `file` to mode 600 when it exists. */
export function restrictFile(file: string): void {
  try {
    chmodSync(file, PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Warns when a folder that already existed can be read or entered by other users. */
export function warnIfOpen(dir: string, setting: string, log: Log): void {
  let mode: number;
  try {
    mode = statSync(dir).mode & 0o777;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    log(
      'warn',
      `${setting} (${dir}) is mode ${mode.toString(8)}: other users can list it; the example's files in it are mode 600, but run "chmod 700 ${dir}"`,
    );
  }
}
