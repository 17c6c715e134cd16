import {
  type AddAuthenticatorOutcome,
  type AuthenticatorRecord,
  type CounterState,
  type Store,
  type StoredAuthenticator,
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
  authenticators: Map<string, StoredAuthenticator>;
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
  authenticators: [string, StoredAuthenticator][];
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
    // Documents written before several authenticators existed hold TOTP records without `type` or
    // `name`: they read as what they are, an app with no name.
    authenticators: new Map(
      stored.authenticators.map(([id, record]) => [
        id,
        record.type === 'webauthn'
          ? record
          : { ...(record as AuthenticatorRecord), type: 'totp', name: record.name ?? null },
      ]),
    ),
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

/** Orders strings by UTF-16 code units, as `<` does: no locale, no case folding. */
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Drops the records that expired by `now`, so that every check after it sees only live ones. */
function prune(doc: UserDocument, now: number): void {
  for (const [id, record] of doc.authenticators) {
    if (record.type === 'totp' && !isLive(record.expiresAt, now)) doc.authenticators.delete(id);
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
    if (record.type === 'webauthn' || record.expiresAt === null) return undefined;
    latest = Math.max(latest, record.expiresAt);
  }
  for (const entry of [...doc.counters.values(), ...doc.nonces.values()]) {
    latest = Math.max(latest, entry.expiresAt);
  }
  return latest;
}

const isActive = (record: StoredAuthenticator) => record.type === 'webauthn' || record.status === 'active';
const activeCount = (doc: UserDocument) => [...doc.authenticators.values()].filter(isActive).length;
const hasActive = (doc: UserDocument) => activeCount(doc) > 0;

/**
 * Adds an active authenticator under the rules of confirm and WebAuthn registration, inside one
 * `update`: refused at `maxActive`; the first active one writes the recovery codes with it.
 */
function addActive(
  doc: UserDocument,
  add: () => void,
  recoveryCodeHashes: readonly string[],
  maxActive: number,
): AddAuthenticatorOutcome {
  const active = activeCount(doc);
  if (active >= maxActive) return 'full';
  add();
  if (active > 0) return 'added';
  doc.recoveryCodes = new Set(recoveryCodeHashes);
  return 'enabled';
}

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
  if (
    typeof kv?.get !== 'function' ||
    typeof kv.set !== 'function' ||
    typeof kv.delete !== 'function' ||
    typeof kv.keys !== 'function'
  ) {
    throw new TypeError(
      'keyValueStore: options.kv must be an object with get, set, delete and keys functions',
    );
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
      return record?.type === 'totp' && isLive(record.expiresAt, now) ? record : null;
    },

    async listAuthenticators(userId, now) {
      const doc = await read(userId);
      prune(doc, now);
      return [...doc.authenticators.values()].sort(
        (a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    },

    savePendingAuthenticator(record, now) {
      return update(record.userId, now, (doc) => {
        const existing = doc.authenticators.get(record.id);
        if (existing && isActive(existing)) return false;
        // One enrollment under way per user: every pending one goes.
        for (const [id, other] of doc.authenticators) if (!isActive(other)) doc.authenticators.delete(id);
        doc.authenticators.set(record.id, { ...record });
        return true;
      });
    },

    confirmAuthenticator(
      userId,
      authenticatorId,
      { sealedSecret, counter, recoveryCodeHashes, maxActive, now },
    ) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        // Compare-and-set on the secret: an enrollment that replaced the record since the code was
        // checked makes this confirm fail instead of activating a secret nobody confirmed.
        if (record?.type !== 'totp' || record.status !== 'pending' || record.sealedSecret !== sealedSecret) {
          return 'missing';
        }
        // Same document, same write: the codes cannot land without the activation or vice versa.
        const activate = () =>
          Object.assign(record, {
            status: 'active',
            confirmedAt: now,
            lastUsedAt: now,
            lastCounter: counter,
            expiresAt: null,
          });
        return addActive(doc, activate, recoveryCodeHashes, maxActive);
      });
    },

    addWebAuthnCredential(record, { recoveryCodeHashes, maxActive, now }) {
      return update(record.userId, now, (doc) => {
        const taken = [...doc.authenticators.values()].some(
          (other) =>
            other.id === record.id ||
            (other.type === 'webauthn' && other.credentialId === record.credentialId),
        );
        if (taken) return 'duplicate';
        const add = () =>
          doc.authenticators.set(record.id, { ...record, transports: [...record.transports] });
        return addActive(doc, add, recoveryCodeHashes, maxActive);
      });
    },

    useWebAuthnCredential(userId, authenticatorId, { counter, backupState, now }) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (record?.type !== 'webauthn') return false;
        // A counter that did not move forward is a cloned key or a replayed answer; 0 and 0 is a
        // key that keeps no counter.
        if (!(counter > record.counter || (counter === 0 && record.counter === 0))) return false;
        Object.assign(record, { counter, backupState, lastUsedAt: now });
        return true;
      });
    },

    renameAuthenticator(userId, authenticatorId, name, now) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (!record || !isActive(record)) return false;
        record.name = name;
        return true;
      });
    },

    removeAuthenticator(userId, authenticatorId, now) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (!record || !isActive(record)) return 'missing' as const;
        doc.authenticators.delete(authenticatorId);
        if (hasActive(doc)) return 'removed' as const;
        // The last one: 2FA goes off in the same write, pending enrollments and codes included.
        doc.authenticators.clear();
        doc.recoveryCodes.clear();
        return 'disabled' as const;
      });
    },

    consumeCounter(userId, authenticatorId, counter, now) {
      return update(userId, now, (doc) => {
        const record = doc.authenticators.get(authenticatorId);
        if (record?.type !== 'totp' || record.status !== 'active' || counter <= record.lastCounter)
          return false;
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
        if (record?.type !== 'totp' || record.sealedSecret !== expected) return false;
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

    async listNonces(userId, prefix, now) {
      // One get: the user's nonces are all in the document.
      const entries = [];
      for (const [key, nonce] of (await read(userId)).nonces) {
        if (key.startsWith(prefix) && isLive(nonce.expiresAt, now)) entries.push({ key, ...nonce });
      }
      return entries.sort((a, b) => byCodeUnits(a.key, b.key));
    },

    async findNonces(key, now, { after, limit }) {
      // A sweep: lists every document under the prefix, then reads those of the users after `after`
      // in user id order until `limit` of them hold the nonce. Without the lock, like every read.
      const userIds: string[] = [];
      await backend(async () => {
        for await (const documentKey of kv.keys(prefix)) {
          const userId = documentKey.slice(prefix.length);
          if (after === undefined || userId > after) userIds.push(userId);
        }
      });
      const found = [];
      for (const userId of userIds.sort(byCodeUnits)) {
        const nonce = (await read(userId)).nonces.get(key);
        if (nonce && isLive(nonce.expiresAt, now)) found.push({ userId, key, ...nonce });
        if (found.length === limit) break;
      }
      return found;
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
