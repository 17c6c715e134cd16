/**
 * examples/custom-store's Keyv adapter: `keyv`, an in-memory stand-in with Keyv's API (`get`,
 * `set(key, value, ttlMs)` resolving true, `delete`), since Keyv is not installed here.
 */
import { strictEqual } from './users.js';

const entries = new Map<string, { value: unknown; expiresAt?: number }>();
export const keyv = {
  async get<T>(key: string): Promise<T | undefined> {
    const entry = entries.get(key);
    if (!entry || (entry.expiresAt !== undefined && entry.expiresAt <= Date.now())) return undefined;
    return entry.value as T;
  },
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    entries.set(key, { value, expiresAt: ttl === undefined ? undefined : Date.now() + ttl });
    return true;
  },
  async delete(key: string): Promise<boolean> {
    return entries.delete(key);
  },
};

type Kv = {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, expiresAt?: number): Promise<void>;
  delete(key: string): Promise<void>;
};

/** The adapter meets the KeyValue contract: values round-trip, an expiry applies, delete removes. */
export async function after(scope: { kv?: Kv }) {
  const kv = scope.kv!;
  strictEqual(await kv.get('a'), undefined);
  await kv.set('a', '1');
  strictEqual(await kv.get('a'), '1');
  await kv.set('b', '2', Date.now() - 1000);
  await new Promise((resolve) => setTimeout(resolve, 5));
  strictEqual(await kv.get('b'), undefined, 'an expiry in the past gives the shortest TTL');
  await kv.delete('a');
  strictEqual(await kv.get('a'), undefined);
}
