/**
 * Re-sealing every stored TOTP secret under the keyring's current key: the work behind
 * `twofold rotate-keys`, kept apart from the command line so it can be tested on its own. A row is
 * one TOTP authenticator (a user may have several, each under its own id); WebAuthn credentials
 * hold no secret and are not listed.
 *
 * Safe while the app serves: each row is changed only by compare-and-set
 * (`replaceSealedSecret(expected, next)`), so a secret the app changed meanwhile (a re-seal on
 * verify, a removal, a disable, a new enrollment replacing a pending one) is never overwritten; the
 * row is read again and handled as it now is. Resumable: a row already sealed under the current key is left alone, so a run that
 * was interrupted, or that failed on some rows, can simply be run again.
 */
import { setImmediate as nextTick } from 'node:timers/promises';
import { isTwofoldError, type Keyring } from '@twofold/core';
import type { SealedSecretEntry, SqlStore } from '@twofold/store-sql';

/** What re-sealing needs of the store. */
export type ResealStore = Pick<
  SqlStore,
  'listSealedSecrets' | 'countSealedSecrets' | 'replaceSealedSecret' | 'getAuthenticator'
>;

/** A row that could not be re-sealed, and why (never the secret). */
export interface ResealFailure {
  userId: string;
  authenticatorId: string;
  reason: string;
}

/** Counts so far; `checked` = resealed + alreadyCurrent + gone + failed.length. */
export interface ResealProgress {
  /** Rows in the store when the run started (rows added later may take `checked` past it). */
  total: number;
  checked: number;
  /** Re-sealed under the current key by this run (with `dryRun`: rows that would be). */
  resealed: number;
  /** Already under the current key (including rows the app re-sealed while the run went on). */
  alreadyCurrent: number;
  /** Deleted (or expired, or replaced by a new enrollment, for a pending one) between listing and re-sealing. */
  gone: number;
  failed: ResealFailure[];
}

export interface ResealResult extends ResealProgress {
  /** True when `shouldStop` ended the run before the last row. */
  stopped: boolean;
  /** How many rows were found sealed under each tag other than the current one. */
  oldTags: Record<string, number>;
}

export interface ResealOptions {
  store: ResealStore;
  keyring: Keyring;
  /** Rows read per page, 1 to 1000. */
  batchSize: number;
  /** Open every row but write nothing: report what a real run would do. */
  dryRun?: boolean;
  /** Asked between batches; true ends the run (the rows done so far stay done). */
  shouldStop?: () => boolean;
  /** Called once before the first batch (with the total) and after every batch. */
  onProgress?: (progress: ResealProgress) => void;
  /** The time for reading a row back after a lost compare-and-set (default Date.now). */
  clock?: () => number;
}

/** How many times a row that keeps changing under the run is read back and tried again. */
const MAX_TRIES = 5;

/** The tag of an envelope `tf1.<tag>.<...>`, for the report; null when it is not one. */
function envelopeTag(sealedSecret: string): string | null {
  return /^tf1\.([A-Za-z0-9_-]{1,32})\./.exec(sealedSecret)?.[1] ?? null;
}

type Outcome = 'resealed' | 'alreadyCurrent' | 'gone' | { reason: string };

/**
 * Re-seals every row not yet under `keyring.currentTag`. Resolves with the counts; rows that fail
 * are listed in `failed` and the run goes on. Rejects only when the store fails.
 */
export async function resealSecrets(options: ResealOptions): Promise<ResealResult> {
  const { store, keyring, batchSize, dryRun = false, shouldStop = () => false, onProgress } = options;
  const clock = options.clock ?? Date.now;
  const result: ResealResult = {
    total: await store.countSealedSecrets(),
    checked: 0,
    resealed: 0,
    alreadyCurrent: 0,
    gone: 0,
    failed: [],
    stopped: false,
    oldTags: {},
  };

  /** Handles one row; `sealed` is its sealed secret as last read. */
  async function resealRow(userId: string, authenticatorId: string, sealed: string): Promise<Outcome> {
    for (let tries = 1; ; tries++) {
      let opened: { plaintext: Uint8Array; needsReseal: boolean };
      try {
        // The engine binds the user id as associated data; so must every re-seal.
        opened = keyring.open(sealed, userId);
      } catch (error) {
        if (isTwofoldError(error, 'TWOFOLD_UNKNOWN_KEY')) {
          const tag = (error as { tag?: string }).tag ?? '?';
          return { reason: `sealed under key "${tag}", which is not in the keyring` };
        }
        if (isTwofoldError(error, 'TWOFOLD_SEAL_BROKEN')) {
          return { reason: 'the sealed secret does not open (damaged, or copied from another user)' };
        }
        throw error;
      }
      try {
        if (!opened.needsReseal) return 'alreadyCurrent';
        if (tries === 1) {
          const tag = envelopeTag(sealed) ?? '?';
          result.oldTags[tag] = (result.oldTags[tag] ?? 0) + 1;
        }
        if (dryRun) return 'resealed';
        const next = keyring.seal(opened.plaintext, userId);
        if (await store.replaceSealedSecret(userId, authenticatorId, sealed, next)) return 'resealed';
      } finally {
        opened.plaintext.fill(0);
      }
      // Someone changed the row since it was read: read it again and decide on what it is now.
      const record = await store.getAuthenticator(userId, authenticatorId, clock());
      if (!record) return 'gone';
      if (tries >= MAX_TRIES) return { reason: `it changed ${MAX_TRIES} times while being re-sealed` };
      sealed = record.sealedSecret;
    }
  }

  onProgress?.(result);
  let after: SealedSecretEntry | undefined;
  for (;;) {
    if (shouldStop()) {
      result.stopped = true;
      break;
    }
    const page = await store.listSealedSecrets({
      after: after && { userId: after.userId, authenticatorId: after.authenticatorId },
      limit: batchSize,
    });
    for (const entry of page) {
      const outcome = await resealRow(entry.userId, entry.authenticatorId, entry.sealedSecret);
      result.checked++;
      if (typeof outcome === 'object') {
        result.failed.push({ userId: entry.userId, authenticatorId: entry.authenticatorId, ...outcome });
      } else {
        result[outcome]++;
      }
    }
    onProgress?.(result);
    if (page.length < batchSize) break;
    after = page[page.length - 1];
    // Lets signals and output through between batches (the drivers may answer without yielding).
    await nextTick();
  }
  return result;
}
