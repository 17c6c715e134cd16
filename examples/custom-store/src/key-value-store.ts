import {
  type AuthenticatorRecord,
  type CounterState,
  type Store,
  StoreUnavailableError,
  TwofoldError,
} from '@twofold/core';
import type { KeyValue } from './key-value.js';
import { createKeyedLock, type KeyedLock } from './keyed-lock.js';

export interface KeyValueStoreOptions {
  /** Where the documents live. */
  kv: KeyValue;
  /** Put in front of every key, to share a backend with other data. Default `'twofold:'`. */
  prefix?: string;
}

interface Nonce {
  value: string;
  expiresAt: number;
}

/** Everything twofold keeps about one user, as the operations see it. */
interface UserDocument {
  authenticators: Map<string, AuthenticatorRecord>;
  recoveryCodes: Set<string>;
  counters: Map<string, CounterState>;
  nonces: Map<string, Nonce>;
}

/**
 * The same document as stored. Maps travel as arrays of entries rather than as objects, so that an
 * id such as `__proto__` or `constructor` is data like any other. `v` lets a later layout tell old
 * documents from new ones.
 */
interface StoredDocument {
  v: 1;
  authenticators: [string, AuthenticatorRecord][];
  recoveryCodes: string[];
  counters: [string, CounterState][];
  nonces: [string, Nonce][];
}

// One lock per backend object, not per store: two stores over the same backend in one process (a
// second createTwoFactor, say) must queue behind each other too.
const locks = new WeakMap<KeyValue, KeyedLock>();

function decode(text: string | undefined): UserDocument {
  if (text === undefined) {
    return { authenticators: new Map(), recoveryCodes: new Set(), counters: new Map(), nonces: new Map() };
  }
  const stored = JSON.parse(text) as StoredDocument;
  if (stored.v !== 1) throw new Error(`keyValueStore: unknown document version ${String(stored.v)}`);
  return {
    authenticators: new Map(stored.authenticators),
    recoveryCodes: new Set(stored.recoveryCodes),
    counters: new Map(stored.counters),
    nonces: new Map(stored.nonces),
  };
}

/** The document as text, or undefined when it holds nothing (and so should not exist at all). */
function encode(doc: UserDocument): string | undefined {
  if (!doc.authenticators.size && !doc.recoveryCodes.size && !doc.counters.size && !doc.nonces.size) {
    return undefined;
  }
  const stored: StoredDocument = {
    v: 1,
    authenticators: [...doc.authenticators],
    recoveryCodes: [...doc.recoveryCodes],
    counters: [...doc.counters],
    nonces: [...doc.nonces],
  };
  return JSON.stringify(stored);
}

const isLive = (expiresAt: number | null, now: number) => expiresAt === null || expiresAt > now;

/** Drops the records that expired by `now`, so that every check after it sees only live ones. */
function prune(doc: UserDocument, now: number): void {
  for (const [id, record] of doc.authenticators) {
    if (!isLive(record.expiresAt, now)) doc.authenticators.delete(id);
  }
  for (const [key, counter] of doc.counters) {
    if (!isLive(counter.expiresAt, now)) doc.counters.delete(key);
  }
  for (const [key, nonce] of doc.nonces) {
    if (!isLive(nonce.expiresAt, now)) doc.nonces.delete(key);
  }
}

/**
 * When the backend may drop the whole document: once its last record has expired, or never while it
 * holds an active authenticator or recovery codes. This is what keeps users who never come back
 * from leaving expired records behind.
 */
function documentExpiry(doc: UserDocument): number | undefined {
  if (doc.recoveryCodes.size) return undefined;
  let latest = Number.NEGATIVE_INFINITY;
  for (const record of doc.authenticators.values()) {
    if (record.expiresAt === null) return undefined;
    latest = Math.max(latest, record.expiresAt);
  }
  for (const entry of [...doc.counters.values(), ...doc.nonces.values()]) {
    latest = Math.max(latest, entry.expiresAt);
  }
  return latest;
}

const hasActive = (doc: UserDocument) =>
  [...doc.authenticators.values()].some((record) => record.status === 'active');

/**
 * A twofold `Store` over any async key-value backend: one JSON document per user, changed under a
 * per-user lock. Atomic within this process only; read the README before running several.
 *
 * @example
 * const twoFactor = createTwoFactor({ store: keyValueStore({ kv: myKeyValue }), keyring, issuer: 'Acme' });
 */
export function keyValueStore(options: KeyValueStoreOptions): Store {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('keyValueStore: options must be an object with kv');
  }
  const { kv, prefix = 'twofold:' } = options;
  if (typeof kv?.get !== 'function' || typeof kv.set !== 'function' || typeof kv.delete !== 'function') {
    throw new TypeError('keyValueStore: options.kv must be an object with get, set and delete functions');
  }
  if (typeof prefix !== 'string') throw new TypeError('keyValueStore: options.prefix must be a string');

  let lock = locks.get(kv);
  if (!lock) {
    lock = createKeyedLock();
    locks.set(kv, lock);
  }
  const withLock = lock;

  // The user id goes into the key as it is: the prefix is fixed, so no two ids share a key. A
  // backend that restricts key characters or length needs an encoding here (hex, or a hash).
  const keyOf = (userId: string) => `${prefix}${userId}`;

  // A backend failure becomes StoreUnavailableError, so the engine fails closed and says why.
  async function backend<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof TwofoldError) throw error;
      throw new StoreUnavailableError(undefined, { cause: error });
    }
  }

  // A single get sees a whole document, before or after any change, so reads need no lock.
  async function read(userId: string): Promise<UserDocument> {
    return decode(await backend(() => kv.get(keyOf(userId))));
  }

  /**
   * The one way anything is written: under the user's lock, read the document, drop what expired by
   * `now` (when the operation has a `now`), apply `change`, and write the document back only if it
   * differs. Every multi-step contract of the Store interface rests on this being atomic.
   */
  function update<T>(userId: string, now: number | undefined, change: (doc: UserDocument) => T): Promise<T> {
    const key = keyOf(userId);
    return withLock(key, async () => {
      const before = await backend(() => kv.get(key));
      const doc = decode(before);
      if (now !== undefined) prune(doc, now);
      const result = change(doc);
      const after = encode(doc);
      if (after === before) return result;
      if (after === undefined) await backend(() => kv.delete(key));
      else await backend(() => kv.set(key, after, documentExpiry(doc)));
      return result;
    });
  }

  return {
    async getAuthenticator(userId, authenticatorId, now) {
      const record = (await read(userId)).authenticators.get(authenticatorId);
      return record && isLive(record.expiresAt, now) ? record : null;
    },

    savePendingAuthenticator(record, now) {
      return update(record.userId, now, (doc) => {
        if (doc.authenticators.get(record.id)?.status === 'active') return false;
        doc.authenticators.set(record.id, { ...record });
        return true;
      });
    },

    confirmAuthenticator(userId, authenticatorId, { sealedSecret, counter, recoveryCodeHashes, now }) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        // Compare-and-set on the secret: an enrollment that replaced the record since the code was
        // checked makes this confirm fail instead of activating a secret nobody confirmed.
        if (record?.status !== 'pending' || record.sealedSecret !== sealedSecret) return false;
        Object.assign(record, {
          status: 'active',
          confirmedAt: now,
          lastUsedAt: now,
          lastCounter: counter,
          expiresAt: null,
        });
        // Same document, same write: the codes cannot land without the activation or vice versa.
        doc.recoveryCodes = new Set(recoveryCodeHashes);
        return true;
      });
    },

    consumeCounter(userId, authenticatorId, counter, now) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (record?.status !== 'active' || counter <= record.lastCounter) return false;
        record.lastCounter = counter;
        record.lastUsedAt = now;
        return true;
      });
    },

    replaceSealedSecret(userId, authenticatorId, expected, next) {
      // No `now` here, so nothing is pruned: an expired pending record keeps its `expiresAt` and stays
      // expired, whatever its secret.
      return update(userId, undefined, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (record?.sealedSecret !== expected) return false;
        record.sealedSecret = next;
        return true;
      });
    },

    deleteTwoFactor(userId) {
      return update(userId, undefined, (doc) => {
        const wasActive = hasActive(doc);
        // Counters and nonces stay: disabling two-factor must not clear a lockout.
        doc.authenticators.clear();
        doc.recoveryCodes.clear();
        return wasActive;
      });
    },

    replaceRecoveryCodes(userId, hashes, now) {
      return update(userId, now, (doc) => {
        if (!hasActive(doc)) return false;
        doc.recoveryCodes = new Set(hashes);
        return true;
      });
    },

    consumeRecoveryCode(userId, hash) {
      return update(userId, undefined, (doc) => doc.recoveryCodes.delete(hash));
    },

    async countRecoveryCodes(userId) {
      return (await read(userId)).recoveryCodes.size;
    },

    incrementCounter(userId, key, ttlMs, now) {
      return update(userId, now, (doc) => {
        const counter = { count: (doc.counters.get(key)?.count ?? 0) + 1, expiresAt: now + ttlMs };
        doc.counters.set(key, counter);
        return { ...counter };
      });
    },

    takeAttempt(userId, key, limit, ttlMs, now) {
      return update(userId, now, (doc) => {
        // Expired counters were pruned above, so a counter found here is live.
        const current = doc.counters.get(key);
        if (current && current.count >= limit) return { taken: false, ...current };
        const counter = { count: (current?.count ?? 0) + 1, expiresAt: now + ttlMs };
        doc.counters.set(key, counter);
        return { taken: true, ...counter };
      });
    },

    resetCounterIfUnchanged(userId, key, expected) {
      return update(userId, undefined, (doc) => {
        const current = doc.counters.get(key);
        if (current?.count !== expected.count || current.expiresAt !== expected.expiresAt) return false;
        return doc.counters.delete(key);
      });
    },

    async getCounter(userId, key, now) {
      const counter = (await read(userId)).counters.get(key);
      return counter && isLive(counter.expiresAt, now) ? counter : null;
    },

    async resetCounter(userId, key) {
      await update(userId, undefined, (doc) => doc.counters.delete(key));
    },

    async putNonce(userId, key, value, expiresAt, now) {
      await update(userId, now, (doc) => doc.nonces.set(key, { value, expiresAt }));
    },

    async getNonce(userId, key, now) {
      const nonce = (await read(userId)).nonces.get(key);
      return nonce && isLive(nonce.expiresAt, now) ? nonce.value : null;
    },

    claimNonce(userId, key, value, expiresAt, now) {
      return update(userId, now, (doc) => {
        if (doc.nonces.has(key)) return false;
        doc.nonces.set(key, { value, expiresAt });
        return true;
      });
    },

    takeNonce(userId, key, value, now) {
      return update(userId, now, (doc) => {
        if (doc.nonces.get(key)?.value !== value) return false;
        doc.nonces.delete(key);
        return true;
      });
    },

    swapNonce(userId, key, expected, next, expiresAt, now) {
      return update(userId, now, (doc) => {
        if (doc.nonces.get(key)?.value !== expected) return false;
        doc.nonces.set(key, { value: next, expiresAt });
        return true;
      });
    },

    async deleteNonce(userId, key) {
      await update(userId, undefined, (doc) => doc.nonces.delete(key));
    },

    takeNonceAndDeleteTwoFactor(userId, key, value, now) {
      return update(userId, now, (doc) => {
        if (doc.nonces.get(key)?.value !== value) return false;
        // One document, one write: the nonce cannot go without the two-factor state or vice versa.
        doc.nonces.delete(key);
        doc.authenticators.clear();
        doc.recoveryCodes.clear();
        return true;
      });
    },
  };
}
