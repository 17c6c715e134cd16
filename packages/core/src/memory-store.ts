import { isActive } from './internal/authenticator-state.js';
import type {
  AddAuthenticatorOutcome,
  AttemptState,
  ConfirmAuthenticatorInput,
  CounterState,
  NonceEntry,
  PendingAuthenticator,
  Store,
  StoredAuthenticator,
  WebAuthnCredentialRecord,
} from './store.js';

/** Orders strings by their UTF-16 code units, as `<` does: no locale, no case folding. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How often (in store time) a write also sweeps every expired record. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * A flat copy of a string the store keeps for long. Strings built by concatenation (a sealed secret
 * is `tf1.${tag}.${base64url}`) are trees of pieces in V8, which take more heap than one flat string
 * for as long as they are held; a JSON round trip gives the same code units (lone surrogates
 * included) as one flat string. Anything else passes unchanged.
 */
function compact<T>(value: T): T {
  return typeof value === 'string' ? (JSON.parse(JSON.stringify(value)) as T) : value;
}

/** The stored form of no recovery codes; every list is written by JSON.stringify. */
const EMPTY_CODES = '[]';

/**
 * The stored form of a list of recovery code hashes: a JSON array of the distinct ones, made flat
 * (V8's JSON.stringify returns a longer result as a tree of the chunks it was built in).
 */
function encodeCodes(hashes: readonly string[]): string {
  return compact(JSON.stringify([...new Set(hashes)]));
}

function decodeCodes(stored: string | undefined): string[] {
  return stored === undefined ? [] : (JSON.parse(stored) as string[]);
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/**
 * Everything the memory store keeps for one user; the parts exist only once used. It is laid out
 * for a small heap, since an app may hold millions of users: the authenticators are a short array
 * (a user has one or two; an array of one takes a third of the heap of a Map of one), and the
 * recovery code hashes one JSON string of the distinct hashes (one flat string of about 500 bytes
 * for 10 codes, where a Set of 10 strings takes well over 1 KB). Recovery codes are read rarely, and
 * parsing 10 hashes costs microseconds.
 */
interface UserState {
  authenticators?: StoredAuthenticator[];
  recoveryCodes?: string;
  counters?: Map<string, Expiring<number>>;
  nonces?: Map<string, Expiring<string>>;
}

/**
 * The embedded store: every record in this process's memory. Each operation runs without yielding,
 * so it is atomic within the process; state is lost on restart and not shared between processes, so
 * use Redis or SQL when several app processes serve the same users.
 *
 * Expired records are dropped when touched, and a sweep at most once a minute (store time) removes
 * the ones nobody touches again.
 *
 * @example
 * const twoFactor = createTwoFactor({ store: memoryStore(), keyring, issuer: 'Acme' });
 */
export function memoryStore(): Store {
  const users = new Map<string, UserState>();
  let nextSweepAt = 0;

  function user(userId: string): UserState {
    let state = users.get(userId);
    if (!state) {
      state = {};
      users.set(userId, state);
    }
    return state;
  }

  function dropIfEmpty(userId: string, state: UserState): void {
    if (
      !state.authenticators?.length &&
      (state.recoveryCodes === undefined || state.recoveryCodes === EMPTY_CODES) &&
      !state.counters?.size &&
      !state.nonces?.size
    ) {
      users.delete(userId);
    }
  }

  function isLive(record: StoredAuthenticator, now: number): boolean {
    return record.type === 'webauthn' || record.expiresAt === null || record.expiresAt > now;
  }

  /** The user's live authenticators, expired pending ones dropped on the way. */
  function liveAuthenticators(userId: string, now: number): StoredAuthenticator[] {
    const state = users.get(userId);
    if (!state?.authenticators) return [];
    if (state.authenticators.some((record) => !isLive(record, now))) {
      state.authenticators = state.authenticators.filter((record) => isLive(record, now));
      dropIfEmpty(userId, state);
    }
    return state.authenticators;
  }

  /**
   * Adds an active authenticator under the rules of confirm and WebAuthn registration (no await: one
   * atomic step): refused at `maxActive`; the first active one writes the recovery codes.
   */
  function addActive(
    userId: string,
    add: () => void,
    recoveryCodeHashes: readonly string[],
    maxActive: number,
    now: number,
  ): AddAuthenticatorOutcome {
    const active = liveAuthenticators(userId, now).filter(isActive).length;
    if (active >= maxActive) return 'full';
    add();
    if (active > 0) return 'added';
    user(userId).recoveryCodes = encodeCodes(recoveryCodeHashes);
    return 'enabled';
  }

  function sweep(now: number): void {
    if (now < nextSweepAt) return;
    nextSweepAt = now + SWEEP_INTERVAL_MS;
    for (const [userId, state] of users) {
      if (state.authenticators?.some((record) => !isLive(record, now))) {
        state.authenticators = state.authenticators.filter((record) => isLive(record, now));
      }
      for (const [key, entry] of state.counters ?? []) {
        if (entry.expiresAt <= now) state.counters!.delete(key);
      }
      for (const [key, entry] of state.nonces ?? []) {
        if (entry.expiresAt <= now) state.nonces!.delete(key);
      }
      dropIfEmpty(userId, state);
    }
  }

  function liveAuthenticator(userId: string, id: string, now: number): StoredAuthenticator | undefined {
    const state = users.get(userId);
    const index = state?.authenticators?.findIndex((record) => record.id === id) ?? -1;
    if (index < 0) return undefined;
    const record = state!.authenticators![index]!;
    if (isLive(record, now)) return record;
    state!.authenticators!.splice(index, 1);
    dropIfEmpty(userId, state!);
    return undefined;
  }

  function liveEntry<T>(
    userId: string,
    map: 'counters' | 'nonces',
    key: string,
    now: number,
  ): Expiring<T> | undefined {
    const state = users.get(userId);
    const entries = state?.[map] as Map<string, Expiring<T>> | undefined;
    const entry = entries?.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > now) return entry;
    entries!.delete(key);
    dropIfEmpty(userId, state!);
    return undefined;
  }

  function setNonce(userId: string, key: string, value: string, expiresAt: number): void {
    const state = user(userId);
    state.nonces ??= new Map();
    state.nonces.set(key, { value, expiresAt });
  }

  function deleteNonceEntry(userId: string, key: string): void {
    const state = users.get(userId);
    if (!state?.nonces?.delete(key)) return;
    dropIfEmpty(userId, state);
  }

  function deleteTwoFactorNow(userId: string): boolean {
    const state = users.get(userId);
    if (!state) return false;
    const wasActive = state.authenticators?.some(isActive) ?? false;
    delete state.authenticators;
    delete state.recoveryCodes;
    dropIfEmpty(userId, state);
    return wasActive;
  }

  /** Counts one attempt on the counter `key` unless it is live at `limit` or above (no await: atomic). */
  function countAttempt(
    userId: string,
    key: string,
    limit: number,
    ttlMs: number,
    now: number,
  ): AttemptState {
    sweep(now);
    const previous = liveEntry<number>(userId, 'counters', key, now);
    if (previous && previous.value >= limit) {
      return { taken: false, count: previous.value, expiresAt: previous.expiresAt };
    }
    const count = (previous?.value ?? 0) + 1;
    const expiresAt = now + ttlMs;
    const state = user(userId);
    state.counters ??= new Map();
    state.counters.set(key, { value: count, expiresAt });
    return { taken: true, count, expiresAt };
  }

  /** Copies of the user's live authenticators, oldest first (the caller may change them freely). */
  function copiesOfAuthenticators(userId: string, now: number): StoredAuthenticator[] {
    return liveAuthenticators(userId, now)
      .map((record) =>
        record.type === 'webauthn' ? { ...record, transports: [...record.transports] } : { ...record },
      )
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  function consumeStep(userId: string, authenticatorId: string, counter: number, now: number): boolean {
    const record = liveAuthenticator(userId, authenticatorId, now);
    if (record?.type !== 'totp' || record.status !== 'active' || counter <= record.lastCounter) {
      return false;
    }
    record.lastCounter = counter;
    record.lastUsedAt = now;
    return true;
  }

  function resetIfUnchanged(userId: string, key: string, expected: CounterState): boolean {
    const state = users.get(userId);
    const entry = state?.counters?.get(key);
    if (!entry || entry.value !== expected.count || entry.expiresAt !== expected.expiresAt) return false;
    state!.counters!.delete(key);
    dropIfEmpty(userId, state!);
    return true;
  }

  function claim(userId: string, key: string, value: string, expiresAt: number, now: number): boolean {
    sweep(now);
    if (liveEntry<string>(userId, 'nonces', key, now)) return false;
    setNonce(userId, key, value, expiresAt);
    return true;
  }

  const store: Store = {
    async getAuthenticator(userId, authenticatorId, now) {
      const record = liveAuthenticator(userId, authenticatorId, now);
      return record?.type === 'totp' ? { ...record } : null;
    },

    async listAuthenticators(userId, now) {
      return copiesOfAuthenticators(userId, now);
    },

    async savePendingAuthenticator(record: PendingAuthenticator, now) {
      sweep(now);
      const existing = liveAuthenticator(record.userId, record.id, now);
      if (existing && isActive(existing)) return false;
      const state = user(record.userId);
      const saved = { ...record, sealedSecret: compact(record.sealedSecret) };
      // Every pending enrollment of the user is replaced: one at a time.
      const others = state.authenticators?.filter(isActive) ?? [];
      // A literal of one element is allocated at its size; an array grown by push is not.
      state.authenticators = others.length === 0 ? [saved] : [...others, saved];
      return true;
    },

    async confirmAuthenticator(userId, authenticatorId, input: ConfirmAuthenticatorInput) {
      const { now } = input;
      sweep(now);
      const record = liveAuthenticator(userId, authenticatorId, now);
      if (
        record?.type !== 'totp' ||
        record.status !== 'pending' ||
        record.sealedSecret !== input.sealedSecret
      ) {
        return 'missing';
      }
      const activate = () => {
        record.status = 'active';
        record.confirmedAt = now;
        record.lastUsedAt = now;
        record.lastCounter = input.counter;
        record.expiresAt = null;
      };
      return addActive(userId, activate, input.recoveryCodeHashes, input.maxActive, now);
    },

    async addWebAuthnCredential(record: WebAuthnCredentialRecord, input) {
      const { now } = input;
      sweep(now);
      const { userId } = record;
      const existing = liveAuthenticators(userId, now);
      if (
        existing.some(
          (other) =>
            other.id === record.id ||
            (other.type === 'webauthn' && other.credentialId === record.credentialId),
        )
      ) {
        return 'duplicate';
      }
      const add = () => {
        const saved: WebAuthnCredentialRecord = {
          ...record,
          credentialId: compact(record.credentialId),
          publicKey: compact(record.publicKey),
          transports: [...record.transports],
        };
        const state = user(userId);
        state.authenticators = state.authenticators?.length ? [...state.authenticators, saved] : [saved];
      };
      return addActive(userId, add, input.recoveryCodeHashes, input.maxActive, now);
    },

    async useWebAuthnCredential(userId, authenticatorId, use) {
      const record = users.get(userId)?.authenticators?.find((other) => other.id === authenticatorId);
      if (record?.type !== 'webauthn') return false;
      if (!(use.counter > record.counter || (use.counter === 0 && record.counter === 0))) return false;
      record.counter = use.counter;
      record.backupState = use.backupState;
      record.lastUsedAt = use.now;
      return true;
    },

    async renameAuthenticator(userId, authenticatorId, name, now) {
      const record = liveAuthenticator(userId, authenticatorId, now);
      if (!record || !isActive(record)) return false;
      record.name = compact(name);
      return true;
    },

    async removeAuthenticator(userId, authenticatorId, now) {
      const record = liveAuthenticator(userId, authenticatorId, now);
      if (!record || !isActive(record)) return 'missing';
      const state = users.get(userId)!;
      const rest = state.authenticators!.filter((other) => other !== record);
      if (rest.some(isActive)) {
        state.authenticators = rest;
        return 'removed';
      }
      deleteTwoFactorNow(userId);
      return 'disabled';
    },

    async consumeCounter(userId, authenticatorId, counter, now) {
      return consumeStep(userId, authenticatorId, counter, now);
    },

    async consumeCounterAndReset(userId, authenticatorId, counter, now, reset) {
      if (!consumeStep(userId, authenticatorId, counter, now)) return false;
      resetIfUnchanged(userId, reset.key, reset.expected);
      return true;
    },

    async finishSecondFactor(userId, { authenticatorId, counter, reset, nonces, now }) {
      sweep(now);
      if (!consumeStep(userId, authenticatorId, counter, now)) return false;
      resetIfUnchanged(userId, reset.key, reset.expected);
      for (const { key, value, expiresAt } of nonces) setNonce(userId, key, value, expiresAt);
      return true;
    },

    async replaceSealedSecret(userId, authenticatorId, expected, next) {
      const record = users.get(userId)?.authenticators?.find((other) => other.id === authenticatorId);
      if (record?.type !== 'totp' || record.sealedSecret !== expected) return false;
      record.sealedSecret = compact(next);
      return true;
    },

    async deleteTwoFactor(userId) {
      return deleteTwoFactorNow(userId);
    },

    async replaceRecoveryCodes(userId, hashes, now) {
      sweep(now);
      const state = users.get(userId);
      if (!state?.authenticators?.some(isActive)) return false;
      state!.recoveryCodes = encodeCodes(hashes);
      return true;
    },

    async consumeRecoveryCode(userId, hash) {
      const state = users.get(userId);
      const codes = decodeCodes(state?.recoveryCodes);
      const index = codes.indexOf(hash);
      if (index < 0) return false;
      codes.splice(index, 1);
      state!.recoveryCodes = encodeCodes(codes);
      return true;
    },

    async countRecoveryCodes(userId) {
      return decodeCodes(users.get(userId)?.recoveryCodes).length;
    },

    async incrementCounter(userId, key, ttlMs, now): Promise<CounterState> {
      // An increment is an attempt with no limit.
      const { count, expiresAt } = countAttempt(userId, key, Number.POSITIVE_INFINITY, ttlMs, now);
      return { count, expiresAt };
    },

    async takeAttempt(userId, key, limit, ttlMs, now): Promise<AttemptState> {
      return countAttempt(userId, key, limit, ttlMs, now);
    },

    async resetCounterIfUnchanged(userId, key, expected) {
      return resetIfUnchanged(userId, key, expected);
    },

    async getCounter(userId, key, now) {
      const entry = liveEntry<number>(userId, 'counters', key, now);
      return entry ? { count: entry.value, expiresAt: entry.expiresAt } : null;
    },

    async resetCounter(userId, key) {
      const state = users.get(userId);
      if (!state?.counters?.delete(key)) return;
      dropIfEmpty(userId, state);
    },

    async putNonce(userId, key, value, expiresAt, now) {
      sweep(now);
      setNonce(userId, key, value, expiresAt);
    },

    async putNonces(userId, nonces, now) {
      sweep(now);
      for (const { key, value, expiresAt } of nonces) setNonce(userId, key, value, expiresAt);
    },

    async getNonce(userId, key, now) {
      return liveEntry<string>(userId, 'nonces', key, now)?.value ?? null;
    },

    async claimNonce(userId, key, value, expiresAt, now) {
      return claim(userId, key, value, expiresAt, now);
    },

    async beginSecondFactor(userId, { claim: toClaim, attempts, readNonce, now }) {
      if (toClaim && !claim(userId, toClaim.key, toClaim.value, toClaim.expiresAt, now)) {
        return { claimed: false, authenticators: [], attempts: [], nonce: null };
      }
      const authenticators = copiesOfAuthenticators(userId, now);
      const taken: AttemptState[] = [];
      if (authenticators.some(isActive)) {
        for (const { key, limit, ttlMs } of attempts) {
          const state = countAttempt(userId, key, limit, ttlMs, now);
          taken.push(state);
          if (!state.taken) break;
        }
      }
      const nonce =
        readNonce === null ? null : (liveEntry<string>(userId, 'nonces', readNonce, now)?.value ?? null);
      return { claimed: true, authenticators, attempts: taken, nonce };
    },

    async takeNonce(userId, key, value, now) {
      const entry = liveEntry<string>(userId, 'nonces', key, now);
      if (entry?.value !== value) return false;
      deleteNonceEntry(userId, key);
      return true;
    },

    async swapNonce(userId, key, expected, next, expiresAt, now) {
      const entry = liveEntry<string>(userId, 'nonces', key, now);
      if (entry?.value !== expected) return false;
      setNonce(userId, key, next, expiresAt);
      return true;
    },

    async deleteNonce(userId, key) {
      deleteNonceEntry(userId, key);
    },

    async listNonces(userId, prefix, now) {
      const entries: NonceEntry[] = [];
      for (const [key, entry] of users.get(userId)?.nonces ?? []) {
        if (entry.expiresAt > now && key.startsWith(prefix)) {
          entries.push({ key, value: entry.value, expiresAt: entry.expiresAt });
        }
      }
      return entries.sort((a, b) => compareCodeUnits(a.key, b.key));
    },

    async findNonces(key, now, { after, limit }) {
      // Walks every user: an operator's sweep, not something a request does.
      const found: Array<NonceEntry & { userId: string }> = [];
      for (const [userId, state] of users) {
        if (after !== undefined && userId <= after) continue;
        const entry = state.nonces?.get(key);
        if (entry && entry.expiresAt > now) {
          found.push({ userId, key, value: entry.value, expiresAt: entry.expiresAt });
        }
      }
      return found.sort((a, b) => compareCodeUnits(a.userId, b.userId)).slice(0, limit);
    },

    async takeNonceAndDeleteTwoFactor(userId, key, value, now) {
      // No await between the two: nothing else runs in this process in between.
      if (liveEntry<string>(userId, 'nonces', key, now)?.value !== value) return false;
      deleteNonceEntry(userId, key);
      deleteTwoFactorNow(userId);
      return true;
    },
  };
  return store;
}
