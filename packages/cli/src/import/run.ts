/**
 * Runs an import: takes a reader's entries in order and writes each row with
 * `TwoFactor.importAuthenticator`, several users at a time but the rows of one user in their
 * order (the first row of a user carries the recovery codes and turns 2FA on). Every row ends in
 * one outcome for the report. Resuming is running the same import again: rows already imported
 * come back `unchanged`, so an interrupted run followed by a second one leaves exactly what one
 * uninterrupted run leaves.
 */
import type { TwoFactor } from '@twofold/core';
import type { ImportReader, ImportRow } from './types.js';

/** What happened to one source row. */
export interface RowOutcome {
  ref: string;
  userId?: string;
  /**
   * `enabled` (imported, turned 2FA on), `added` (imported next to the user's other authenticators),
   * `unchanged` (imported before), `skipped` (the row cannot be imported: `reason` says why),
   * `failed` (the store failed on it; the run stops).
   */
  outcome: 'enabled' | 'added' | 'unchanged' | 'skipped' | 'failed';
  authenticatorId?: string;
  /** Recovery codes written with it. */
  recoveryCodes?: number;
  reason?: string;
}

export interface ImportRunOptions {
  reader: ImportReader;
  twoFactor: TwoFactor;
  /** Check and read only; outcomes say what would happen. */
  dryRun: boolean;
  /** Rows written at once (of different users). */
  concurrency: number;
  /** Polled before each row: true stops reading (rows under way finish). */
  shouldStop(): boolean;
  onOutcome(outcome: RowOutcome): void;
}

export interface ImportRunResult {
  counts: Record<RowOutcome['outcome'], number>;
  /** Whether every entry was read (false when stopped or failed). */
  complete: boolean;
  /** The store failure that stopped the run, if one did. */
  failure?: unknown;
}

/** The import's refusals that belong to the row, as opposed to the store failing. */
const ROW_ERRORS = new Set(['TWOFOLD_INVALID_INPUT', 'TWOFOLD_AUTHENTICATOR_LIMIT']);

function reasonOf(error: unknown): string {
  const { field, message } = error as { field?: unknown; message?: unknown };
  return typeof field === 'string' ? `${field}: ${String(message)}` : String(message);
}

async function importRow(
  twoFactor: TwoFactor,
  row: ImportRow,
  dryRun: boolean,
): Promise<RowOutcome & { storeError?: unknown }> {
  const { ref, userId } = row;
  try {
    const result = await twoFactor.importAuthenticator(
      userId,
      {
        source: row.source,
        secret: row.secret,
        algorithm: row.algorithm,
        digits: row.digits,
        period: row.period,
        ...(row.t0 === undefined ? {} : { t0: row.t0 }),
        ...(row.lastCounter === undefined ? {} : { lastCounter: row.lastCounter }),
        ...(row.name === undefined ? {} : { name: row.name }),
        ...(row.recoveryCodes === undefined ? {} : { recoveryCodes: row.recoveryCodes }),
      },
      { dryRun },
    );
    return { ref, userId, ...result };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && ROW_ERRORS.has(code)) {
      return { ref, userId, outcome: 'skipped', reason: reasonOf(error) };
    }
    return { ref, userId, outcome: 'failed', reason: reasonOf(error), storeError: error };
  }
}

export async function runImport(options: ImportRunOptions): Promise<ImportRunResult> {
  const { twoFactor, dryRun, concurrency, onOutcome } = options;
  const counts: ImportRunResult['counts'] = { enabled: 0, added: 0, unchanged: 0, skipped: 0, failed: 0 };
  const record = (outcome: RowOutcome) => {
    counts[outcome.outcome]++;
    onOutcome(outcome);
  };
  /** The last row under way of each user: the next row of that user waits for it. */
  const lastOfUser = new Map<string, Promise<void>>();
  const running = new Set<Promise<void>>();
  let failure: unknown;
  let complete = true;

  for await (const entry of options.reader) {
    if (failure !== undefined || options.shouldStop()) {
      complete = false;
      break;
    }
    if ('skip' in entry) {
      record({ ...entry.skip, outcome: 'skipped' });
      continue;
    }
    const { row } = entry;
    while (running.size >= concurrency) await Promise.race(running);
    const previous = lastOfUser.get(row.userId) ?? Promise.resolve();
    const work = previous.then(async () => {
      if (failure !== undefined) return;
      const { storeError, ...outcome } = await importRow(twoFactor, row, dryRun);
      if (storeError !== undefined) failure ??= storeError;
      record(outcome);
    });
    lastOfUser.set(row.userId, work);
    running.add(work);
    void work.finally(() => {
      running.delete(work);
      if (lastOfUser.get(row.userId) === work) lastOfUser.delete(row.userId);
    });
  }
  await Promise.all(running);
  if (failure !== undefined) complete = false;
  return failure === undefined ? { counts, complete } : { counts, complete, failure };
}
