/**
 * The storage this template adapts: any async key-value store that keeps a string under a string
 * key, optionally until a given time, and can list its keys. It is deliberately the least a backend can offer (no
 * transactions, no compare-and-set), so that almost anything fits: a Map, a file per key, Keyv,
 * unstorage, Memcached, Deno KV, Cloudflare Workers KV, a table with two columns.
 *
 * Because it offers no atomic read-modify-write, `keyValueStore` supplies one with an in-process
 * lock, which is why the result is safe in one process only (see the README).
 */
export interface KeyValue {
  /** The value under `key`, or undefined when there is none (or it has expired). */
  get(key: string): Promise<string | undefined>;

  /**
   * Stores `value` under `key`, replacing the value and any expiry it had.
   *
   * With `expiresAt` (milliseconds since the epoch) the backend may drop the key from that time on;
   * without it the key must stay until deleted. Dropping it later is fine, since the adapter checks
   * every record's expiry itself; dropping it earlier is not.
   */
  set(key: string, value: string, expiresAt?: number): Promise<void>;

  /** Removes `key`; removing a missing key is not an error. */
  delete(key: string): Promise<void>;

  /**
   * Every key that starts with `prefix`, in any order (expired ones may be among them). Only
   * `findNonces`, an operator's sweep across all users, calls it: a scan is fine. A backend that
   * cannot list its keys (Memcached) needs a document listing the users instead.
   */
  keys(prefix: string): AsyncIterable<string>;
}
