/**
 * examples/custom-store's compare-and-set `update`: the names it uses, over a versioned in-memory
 * backend (`kv.get` gives `{ value, version }`, `kv.setIf` writes only at the expected version).
 */
import { StoreUnavailableError as CoreStoreUnavailableError } from '@twofold/core';
import { strictEqual } from './users.js';

interface Versioned {
  value: string;
  version: number;
}
const entries = new Map<string, Versioned>();
let conflicts = 1; // the first write loses a race, so the loop runs twice

export type UserDocument = { counters: Record<string, number> };
export const StoreUnavailableError = CoreStoreUnavailableError;
export const keyOf = (userId: string) => `twofold:${userId}`;
export const backend = <T>(call: () => Promise<T>) => call();
export const decode = (value: string | undefined): UserDocument =>
  value ? JSON.parse(value) : { counters: {} };
export const encode = (doc: UserDocument) => JSON.stringify(doc);
export const prune = (_doc: UserDocument, _now: number) => {};
export const documentExpiry = (_doc: UserDocument) => undefined;
export const kv = {
  async get(key: string) {
    return entries.get(key);
  },
  async setIf(key: string, value: string | undefined, version: number | undefined) {
    const current = entries.get(key);
    if (current?.version !== version) return false;
    if (conflicts-- > 0) {
      entries.set(key, { value: JSON.stringify({ counters: { other: 1 } }), version: (version ?? 0) + 1 });
      return false;
    }
    if (value === undefined) entries.delete(key);
    else entries.set(key, { value, version: (version ?? 0) + 1 });
    return true;
  },
};

type Update = (
  userId: string,
  now: number | undefined,
  change: (doc: UserDocument) => unknown,
) => Promise<unknown>;

/** A lost race is retried on the fresh document: both changes are kept. */
export async function after(scope: { update?: Update }) {
  const result = await scope.update!('u-1', Date.now(), (doc) => {
    doc.counters.failures = (doc.counters.failures ?? 0) + 1;
    return 'done';
  });
  strictEqual(result, 'done');
  strictEqual(entries.get(keyOf('u-1'))!.value, JSON.stringify({ counters: { other: 1, failures: 1 } }));
}
