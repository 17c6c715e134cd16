import type { KeyValue } from './key-value.js';

/** How often (in backend time) a write also drops every expired key. */
const SWEEP_INTERVAL_MS = 60_000;

export interface MemoryKeyValueOptions {
  /** The backend's clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/**
 * A stand-in for your storage: a `KeyValue` in this process's memory. Replace it with a client of
 * your own backend; the adapter does not care which.
 *
 * It stores strings, never the objects behind them, so a caller can never change a stored value by
 * mutating something it read, just as with a real database.
 *
 * @example
 * const store = keyValueStore({ kv: memoryKeyValue() });
 */
export function memoryKeyValue(options: MemoryKeyValueOptions = {}): KeyValue {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: string; expiresAt: number | undefined }>();
  let nextSweepAt = 0;

  const isExpired = (expiresAt: number | undefined, at: number) => expiresAt !== undefined && expiresAt <= at;

  // Reads drop what they find expired; the sweep catches keys nobody reads again, so that abandoned
  // records never pile up.
  function sweep(at: number): void {
    if (at < nextSweepAt) return;
    nextSweepAt = at + SWEEP_INTERVAL_MS;
    for (const [key, entry] of entries) {
      if (isExpired(entry.expiresAt, at)) entries.delete(key);
    }
  }

  return {
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (!isExpired(entry.expiresAt, now())) return entry.value;
      entries.delete(key);
      return undefined;
    },

    async set(key, value, expiresAt) {
      sweep(now());
      entries.set(key, { value, expiresAt });
    },

    async delete(key) {
      entries.delete(key);
    },

    async *keys(prefix) {
      // A copy: the caller may write while it walks.
      for (const key of [...entries.keys()]) if (key.startsWith(prefix)) yield key;
    },
  };
}
