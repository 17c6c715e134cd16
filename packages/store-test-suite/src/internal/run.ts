import { randomBytes, randomUUID } from 'node:crypto';
import type { StoreSuiteContext, SuiteClock } from '../suite-context.js';

// One run of the suite: its id, the fresh clock and context each behaviour gets, fresh user ids.

/**
 * Creates a clock that starts at `start` (default: the real time, rounded down to a whole second)
 * and moves only when `advance` is called.
 */
export function createSuiteClock(start: number = Math.floor(Date.now() / 1000) * 1000): SuiteClock {
  let now = start;
  return {
    now: () => now,
    advance(ms: number): void {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw new RangeError('clock.advance(ms): ms must be a finite number of milliseconds >= 0');
      }
      now += ms;
    },
  };
}

/** Creates a run id: `tf`, the time in base 36 and 6 random hex digits (lowercase letters and digits). */
export function createRunId(): string {
  return `tf${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A fresh context: a new clock at the current real time, and the run's id. */
export function createContext(runId: string): StoreSuiteContext {
  return { clock: createSuiteClock(), runId };
}

/** A user id no other test of any run has used: `<runId>-<uuid>`. */
export function freshUserId(runId: string): string {
  return `${runId}-${randomUUID()}`;
}
