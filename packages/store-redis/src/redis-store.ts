import {
  type AddAuthenticatorOutcome,
  type AttemptState,
  type AuthenticatorAlgorithm,
  type AuthenticatorRecord,
  type BeginSecondFactorResult,
  type CounterState,
  InvalidInputError,
  type NonceWrite,
  type RemoveAuthenticatorOutcome,
  type Store,
  type StoredAuthenticator,
  StoreUnavailableError,
  type WebAuthnCredentialRecord,
} from '@twofold/core';
import { guard, runScript } from './internal/client.js';
import { KeyLayout } from './internal/keys.js';
import {
  addWebAuthnCredentialScript,
  beginSecondFactorScript,
  claimNonceScript,
  confirmAuthenticatorScript,
  consumeCounterAndResetScript,
  consumeCounterScript,
  deleteNonceScript,
  deleteTwoFactorScript,
  finishSecondFactorScript,
  getAuthenticatorScript,
  getCounterScript,
  getNonceScript,
  type LuaScript,
  listAuthenticatorsScript,
  listNoncesScript,
  putNonceScript,
  putNoncesScript,
  readNoncesScript,
  removeAuthenticatorScript,
  renameAuthenticatorScript,
  replaceRecoveryCodesScript,
  replaceSealedSecretScript,
  resetCounterIfUnchangedScript,
  savePendingAuthenticatorScript,
  swapNonceScript,
  takeAttemptScript,
  takeNonceAndDeleteTwoFactorScript,
  takeNonceScript,
  useWebAuthnCredentialScript,
} from './internal/scripts.js';
import { type RedisStoreOptions, resolveRedisStoreOptions } from './options.js';

const ALGORITHMS: ReadonlySet<string> = new Set<AuthenticatorAlgorithm>(['SHA1', 'SHA256', 'SHA512']);

/** What confirmAuthenticator and addWebAuthnCredential scripts may answer. */
const ADD_OUTCOMES: ReadonlySet<string> = new Set<AddAuthenticatorOutcome>([
  'enabled',
  'added',
  'full',
  'missing',
  'duplicate',
]);

const REMOVE_OUTCOMES: ReadonlySet<string> = new Set<RemoveAuthenticatorOutcome>([
  'removed',
  'disabled',
  'missing',
]);

/** How many keys one SCAN step of findNonces asks each server to look at. */
const SCAN_COUNT = 1000;

/** A live nonce as {@link Store.listNonces} resolves it (the type core's `store.ts` declares). */
type NonceEntry = Awaited<ReturnType<Store['listNonces']>>[number];

/** What the read script answers for a live nonce. */
type NonceRead = Omit<NonceEntry, 'key'>;

/** Orders strings by their UTF-16 code units, as `<` does. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A Store in Redis, through an ioredis client (single server, Sentinel) or Cluster that the host app
 * already has. Every operation that reads and writes is one Lua script (EVALSHA, EVAL when the server
 * has not cached it yet), and every key of one user shares one hash tag, so the scripts also run on
 * Redis Cluster. Pending enrollments, counters and nonces carry Redis TTLs set relative to the
 * caller's clock (`expiresAt - now`).
 *
 * Failures fail closed: an unreachable Redis, a timeout (`operationTimeoutMs`, whatever the client's
 * own retry policy) or any Redis error rejects with StoreUnavailableError, its `cause` the original
 * error; once Redis is back the same store works again.
 *
 * @param options.client an ioredis `Redis` or `Cluster`; the store never closes it
 * @param options.prefix put before every key; no `{` or `}`. Default `'twofold:'`
 * @param options.operationTimeoutMs longest time one operation may take. Default 2000
 * @example
 * import { Redis } from 'ioredis';
 * const redis = new Redis(process.env.REDIS_URL);
 * const twoFactor = createTwoFactor({ store: redisStore({ client: redis }), keyring, issuer: 'Acme' });
 */
export function redisStore(options: RedisStoreOptions): Store {
  const { client, prefix, operationTimeoutMs } = resolveRedisStoreOptions(options);
  const keys = new KeyLayout(prefix);
  /** Refuses what cannot be keyed: an empty user id would leave an empty (ignored) hash tag. */
  function checkUserId(userId: string): void {
    if (typeof userId !== 'string' || userId.length === 0) {
      throw new InvalidInputError('userId', 'The user id must be a non-empty string');
    }
  }

  /** Runs `script` guarded; `parse` reads its reply inside the guard, so a malformed one fails closed too. */
  function run<T>(
    script: LuaScript,
    scriptKeys: readonly string[],
    args: readonly string[],
    parse: (reply: unknown) => T,
  ): Promise<T> {
    return guard(client, script.name, operationTimeoutMs, async () =>
      parse(await runScript(client, script, scriptKeys, args)),
    );
  }

  function ttl(expiresAt: number, now: number): string {
    return String(Math.ceil(expiresAt - now));
  }
  /**
   * Appends the keys and arguments of putNonce for each of `nonces` to a script's: the nonce hash,
   * then its key, value, expiresAt and ttl. Duplicate keys and expiries that are not finite numbers
   * are refused here, before anything is sent, so the script cannot fail half way.
   */
  function addNonces(
    userId: string,
    nonces: readonly NonceWrite[],
    now: number,
    scriptKeys: string[],
    args: string[],
  ): void {
    const seen = new Set<string>();
    for (const { key, value, expiresAt } of nonces) {
      if (seen.has(key)) throw new InvalidInputError('nonces', 'The nonce keys must be distinct');
      seen.add(key);
      checkTime('expiresAt', expiresAt);
      scriptKeys.push(keys.nonce(userId, key));
      args.push(key, value, String(expiresAt), ttl(expiresAt, now));
    }
  }

  /**
   * `maxActive` as the decimal string the scripts compare, kept within 0 and 2^53 - 1: an unbounded
   * limit (Infinity) becomes one no count reaches, since Lua's `tonumber('Infinity')` is not portable.
   */
  function maxActiveArg(maxActive: number): string {
    if (typeof maxActive !== 'number' || Number.isNaN(maxActive)) {
      throw new InvalidInputError('maxActive', 'maxActive must be a number');
    }
    return String(Math.max(0, Math.min(maxActive, Number.MAX_SAFE_INTEGER)));
  }

  /**
   * Every key matching `pattern`: SCAN (COUNT {@link SCAN_COUNT}) to the end on the server, or on
   * each master of a Cluster at once, since SCAN walks the keys of one server. Each step is guarded
   * on its own (`operationTimeoutMs` per step, not for the whole walk). A key may come back twice
   * from SCAN; it is listed once.
   */
  async function scanAll(operation: string, pattern: string): Promise<string[]> {
    const servers = typeof client.nodes === 'function' ? client.nodes('master') : [client];
    if (servers.length === 0) {
      throw new StoreUnavailableError(`Redis store: ${operation} failed, the cluster has no master yet`);
    }
    const found = new Set<string>();
    await Promise.all(
      servers.map(async (server) => {
        let cursor = '0';
        do {
          const [next, keys] = await guard(server, operation, operationTimeoutMs, () =>
            server.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT),
          );
          for (const key of keys) found.add(key);
          cursor = next;
        } while (cursor !== '0');
      }),
    );
    return [...found];
  }

  /** Reads the nonce hashes `nonceKeys` (one slot) at `now`: each live one's value and expiry, else null. */
  function readNonces(nonceKeys: readonly string[], now: number): Promise<Array<NonceRead | null>> {
    return run(readNoncesScript, nonceKeys, [String(now)], (reply) =>
      parseNonceReads(reply, nonceKeys.length),
    );
  }

  const store: Store = {
    async getAuthenticator(userId, authenticatorId, now) {
      checkUserId(userId);
      return await run(
        getAuthenticatorScript,
        [keys.authenticator(userId, authenticatorId), keys.authenticatorIndex(userId)],
        [String(now), authenticatorId, keys.authenticatorPrefix(userId)],
        (reply) => {
          if (reply === null) return null;
          const record = parseStoredAuthenticator(userId, authenticatorId, reply);
          // The id of a WebAuthn credential: getAuthenticator answers TOTP authenticators only.
          return record.type === 'totp' ? record : null;
        },
      );
    },

    async listAuthenticators(userId, now) {
      checkUserId(userId);
      return await run(
        listAuthenticatorsScript,
        [keys.authenticatorIndex(userId)],
        [String(now), keys.authenticatorPrefix(userId)],
        (reply) => parseAuthenticatorList(userId, reply),
      );
    },

    async savePendingAuthenticator(record, now) {
      checkUserId(record.userId);
      const fields = [
        ['type', 'totp'],
        ...(record.name == null ? [] : [['name', record.name]]),
        ['status', record.status],
        ['sealedSecret', record.sealedSecret],
        ['algorithm', record.algorithm],
        ['digits', String(record.digits)],
        ['period', String(record.period)],
        ['lastCounter', String(record.lastCounter)],
        ['createdAt', String(record.createdAt)],
        ['expiresAt', String(record.expiresAt)],
      ].flat();
      return await run(
        savePendingAuthenticatorScript,
        [keys.authenticator(record.userId, record.id), keys.authenticatorIndex(record.userId)],
        [record.id, keys.authenticatorPrefix(record.userId), ttl(record.expiresAt, now), ...fields],
        parseFlag,
      );
    },

    async confirmAuthenticator(userId, authenticatorId, input) {
      checkUserId(userId);
      return await run(
        confirmAuthenticatorScript,
        [
          keys.authenticator(userId, authenticatorId),
          keys.authenticatorIndex(userId),
          keys.recoveryCodes(userId),
        ],
        [
          authenticatorId,
          keys.authenticatorPrefix(userId),
          String(input.now),
          String(input.counter),
          input.sealedSecret,
          maxActiveArg(input.maxActive),
          ...input.recoveryCodeHashes,
        ],
        (reply) => parseOutcome(reply, ADD_OUTCOMES) as AddAuthenticatorOutcome,
      );
    },

    async addWebAuthnCredential(record, input) {
      checkUserId(record.userId);
      const fields = [
        ['type', 'webauthn'],
        // Active from the start: every rule that looks for an active authenticator sees it.
        ['status', 'active'],
        ...(record.name == null ? [] : [['name', record.name]]),
        ['credentialId', record.credentialId],
        ['publicKey', record.publicKey],
        ['counter', String(record.counter)],
        ['transports', JSON.stringify(record.transports)],
        ['aaguid', record.aaguid],
        ['backupEligible', flag(record.backupEligible)],
        ['backupState', flag(record.backupState)],
        ['createdAt', String(record.createdAt)],
        ...(record.lastUsedAt === null ? [] : [['lastUsedAt', String(record.lastUsedAt)]]),
      ].flat();
      return await run(
        addWebAuthnCredentialScript,
        [
          keys.authenticator(record.userId, record.id),
          keys.authenticatorIndex(record.userId),
          keys.recoveryCodes(record.userId),
        ],
        [
          record.id,
          keys.authenticatorPrefix(record.userId),
          String(input.now),
          record.credentialId,
          maxActiveArg(input.maxActive),
          String(fields.length),
          ...fields,
          ...input.recoveryCodeHashes,
        ],
        (reply) => parseOutcome(reply, ADD_OUTCOMES) as AddAuthenticatorOutcome,
      );
    },

    async useWebAuthnCredential(userId, authenticatorId, use) {
      checkUserId(userId);
      return await run(
        useWebAuthnCredentialScript,
        [keys.authenticator(userId, authenticatorId)],
        [String(use.counter), flag(use.backupState), String(use.now)],
        parseFlag,
      );
    },

    async renameAuthenticator(userId, authenticatorId, name, _now) {
      checkUserId(userId);
      return await run(
        renameAuthenticatorScript,
        [keys.authenticator(userId, authenticatorId)],
        [name],
        parseFlag,
      );
    },

    async removeAuthenticator(userId, authenticatorId, _now) {
      checkUserId(userId);
      return await run(
        removeAuthenticatorScript,
        [
          keys.authenticator(userId, authenticatorId),
          keys.authenticatorIndex(userId),
          keys.recoveryCodes(userId),
        ],
        [authenticatorId, keys.authenticatorPrefix(userId)],
        (reply) => parseOutcome(reply, REMOVE_OUTCOMES) as RemoveAuthenticatorOutcome,
      );
    },

    async consumeCounter(userId, authenticatorId, counter, now) {
      checkUserId(userId);
      return await run(
        consumeCounterScript,
        [keys.authenticator(userId, authenticatorId)],
        [String(counter), String(now)],
        parseFlag,
      );
    },

    /** consumeCounter, then (only when it consumed) resetCounterIfUnchanged: one script, one round trip. */
    async consumeCounterAndReset(userId, authenticatorId, counter, now, reset) {
      checkUserId(userId);
      return await run(
        consumeCounterAndResetScript,
        [keys.authenticator(userId, authenticatorId), keys.counter(userId, reset.key)],
        [String(counter), String(now), String(reset.expected.count), String(reset.expected.expiresAt)],
        parseFlag,
      );
    },

    /**
     * consumeCounter, then (only when it consumed) resetCounterIfUnchanged and putNonces: one script,
     * one round trip. The nonces are checked as putNonces checks them, before anything is sent.
     */
    async finishSecondFactor(userId, { authenticatorId, counter, reset, nonces, now }) {
      checkUserId(userId);
      checkTime('now', now);
      const scriptKeys = [
        keys.authenticator(userId, authenticatorId),
        keys.counter(userId, reset.key),
        keys.nonceIndex(userId),
      ];
      const args = [
        String(counter),
        String(now),
        String(reset.expected.count),
        String(reset.expected.expiresAt),
      ];
      addNonces(userId, nonces, now, scriptKeys, args);
      return await run(finishSecondFactorScript, scriptKeys, args, parseFlag);
    },

    async replaceSealedSecret(userId, authenticatorId, expected, next) {
      checkUserId(userId);
      return await run(
        replaceSealedSecretScript,
        [keys.authenticator(userId, authenticatorId)],
        [expected, next],
        parseFlag,
      );
    },

    async deleteTwoFactor(userId) {
      checkUserId(userId);
      return await run(
        deleteTwoFactorScript,
        [keys.authenticatorIndex(userId), keys.recoveryCodes(userId)],
        [keys.authenticatorPrefix(userId)],
        parseFlag,
      );
    },

    async replaceRecoveryCodes(userId, hashes, _now) {
      checkUserId(userId);
      return await run(
        replaceRecoveryCodesScript,
        [keys.authenticatorIndex(userId), keys.recoveryCodes(userId)],
        [keys.authenticatorPrefix(userId), ...hashes],
        parseFlag,
      );
    },

    async consumeRecoveryCode(userId, hash) {
      checkUserId(userId);
      const removed = await guard(client, 'consumeRecoveryCode', operationTimeoutMs, () =>
        client.srem(keys.recoveryCodes(userId), hash),
      );
      return removed === 1;
    },

    async countRecoveryCodes(userId) {
      checkUserId(userId);
      return await guard(client, 'countRecoveryCodes', operationTimeoutMs, async () =>
        Number(await client.scard(keys.recoveryCodes(userId))),
      );
    },

    async incrementCounter(userId, key, ttlMs, now) {
      // An increment is an attempt whose limit a count never reaches: one script for both.
      const { count, expiresAt } = await store.takeAttempt(userId, key, Number.MAX_SAFE_INTEGER, ttlMs, now);
      return { count, expiresAt };
    },

    async takeAttempt(userId, key, limit, ttlMs, now) {
      checkUserId(userId);
      const expiresAt = now + ttlMs;
      return await run(
        takeAttemptScript,
        [keys.counter(userId, key)],
        [String(now), String(expiresAt), ttl(expiresAt, now), String(limit)],
        parseAttempt,
      );
    },

    async resetCounterIfUnchanged(userId, key, expected) {
      checkUserId(userId);
      return await run(
        resetCounterIfUnchangedScript,
        [keys.counter(userId, key)],
        [String(expected.count), String(expected.expiresAt)],
        parseFlag,
      );
    },

    async getCounter(userId, key, now) {
      checkUserId(userId);
      return await run(getCounterScript, [keys.counter(userId, key)], [String(now)], (reply) =>
        reply === null ? null : parseCounter(reply),
      );
    },

    async resetCounter(userId, key) {
      checkUserId(userId);
      await guard(client, 'resetCounter', operationTimeoutMs, () => client.del(keys.counter(userId, key)));
    },

    async putNonce(userId, key, value, expiresAt, now) {
      checkUserId(userId);
      await run(
        putNonceScript,
        [keys.nonce(userId, key), keys.nonceIndex(userId)],
        [value, String(expiresAt), ttl(expiresAt, now), key, String(now)],
        () => undefined,
      );
    },

    /**
     * putNonce for each nonce, in one script (one round trip): all the nonces and their members of
     * the nonce index, exactly as putNonce writes them. Nothing to write sends nothing. Duplicate keys
     * and expiries that are not finite numbers are refused before anything is sent, so the script
     * cannot fail half way (see putNoncesScript).
     */
    async putNonces(userId, nonces, now) {
      checkUserId(userId);
      checkTime('now', now);
      const scriptKeys = [keys.nonceIndex(userId)];
      const args = [String(now)];
      addNonces(userId, nonces, now, scriptKeys, args);
      if (scriptKeys.length === 1) return;
      await run(putNoncesScript, scriptKeys, args, () => undefined);
    },

    async getNonce(userId, key, now) {
      checkUserId(userId);
      const nonceKeys = [keys.nonce(userId, key), keys.nonceIndex(userId)];
      return await run(getNonceScript, nonceKeys, [String(now), key], (reply) => {
        if (reply === null) return null;
        if (typeof reply !== 'string') throw new TypeError('Unexpected reply to getNonce');
        return reply;
      });
    },

    async claimNonce(userId, key, value, expiresAt, now) {
      checkUserId(userId);
      return await run(
        claimNonceScript,
        [keys.nonce(userId, key), keys.nonceIndex(userId)],
        [value, String(expiresAt), String(now), ttl(expiresAt, now), key],
        parseFlag,
      );
    },

    async takeNonce(userId, key, value, now) {
      checkUserId(userId);
      return await run(
        takeNonceScript,
        [keys.nonce(userId, key), keys.nonceIndex(userId)],
        [value, String(now), key],
        parseFlag,
      );
    },

    async swapNonce(userId, key, expected, next, expiresAt, now) {
      checkUserId(userId);
      return await run(
        swapNonceScript,
        [keys.nonce(userId, key), keys.nonceIndex(userId)],
        [expected, next, String(expiresAt), String(now), ttl(expiresAt, now), key],
        parseFlag,
      );
    },

    async deleteNonce(userId, key) {
      checkUserId(userId);
      await run(
        deleteNonceScript,
        [keys.nonce(userId, key), keys.nonceIndex(userId)],
        [key],
        () => undefined,
      );
    },

    /**
     * One script in the user's slot reads the user's nonce index (`<user>ni`, see
     * internal/keys.ts): the members scored after `now` whose key starts with `prefix`, then their
     * hashes; it never scans the keyspace, so it costs one round trip and work in proportion to the
     * user's own live nonces. Sorted here by UTF-16 code units (Lua would compare UTF-8 bytes, which
     * orders characters above U+FFFF after U+E000-U+FFFF instead of before).
     *
     * A nonce written by a version without the index (or by such a process during a rolling deploy)
     * has no member and is not listed until a write through this version indexes it; there is no
     * migration.
     */
    async listNonces(userId, prefix, now) {
      checkUserId(userId);
      const entries = await run(
        listNoncesScript,
        [keys.nonceIndex(userId)],
        [String(now), keys.noncePrefix(userId), prefix],
        parseNonceList,
      );
      // The script compares UTF-8 bytes; a prefix with a lone surrogate (sent as U+FFFD) must not
      // list keys holding a real U+FFFD.
      return entries
        .filter((entry) => entry.key.startsWith(prefix))
        .sort((a, b) => byCodeUnits(a.key, b.key));
    },

    /**
     * SCAN for `<prefix>{*}:n:<key>` on the server (every master of a Cluster), keeping the keys
     * that are exactly some user's nonce `key` and whose user id is after `page.after`; then reads
     * them in user id order, `limit` at a time (a script per key, since users live in different
     * slots), until `limit` live ones are found. The SCAN walks the whole keyspace: an operator's
     * sweep, not a request's work.
     */
    async findNonces(key, now, page) {
      const { after, limit } = page;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new InvalidInputError('limit', 'The page limit must be a whole number from 1 to 1000');
      }
      const candidates: Array<{ userId: string; nonceKey: string }> = [];
      for (const nonceKey of await scanAll('findNonces', keys.anyUserNoncePattern(key))) {
        const userId = keys.nonceOwner(nonceKey, key);
        if (userId !== undefined && (after === undefined || userId > after)) {
          candidates.push({ userId, nonceKey });
        }
      }
      candidates.sort((a, b) => byCodeUnits(a.userId, b.userId));
      const found: Array<NonceEntry & { userId: string }> = [];
      for (let from = 0; from < candidates.length && found.length < limit; from += limit) {
        const batch = candidates.slice(from, from + limit);
        const reads = await Promise.all(batch.map(({ nonceKey }) => readNonces([nonceKey], now)));
        batch.forEach(({ userId }, index) => {
          const read = reads[index]?.[0];
          if (read && found.length < limit) found.push({ userId, key, ...read });
        });
      }
      return found;
    },

    async takeNonceAndDeleteTwoFactor(userId, key, value, now) {
      checkUserId(userId);
      return await run(
        takeNonceAndDeleteTwoFactorScript,
        [
          keys.nonce(userId, key),
          keys.authenticatorIndex(userId),
          keys.recoveryCodes(userId),
          keys.nonceIndex(userId),
        ],
        [value, String(now), keys.authenticatorPrefix(userId), key],
        parseFlag,
      );
    },

    /**
     * claimNonce, listAuthenticators, takeAttempt for each attempt and getNonce, in one script (one
     * round trip) that runs the same Lua as those operations on the same keys: the claim first (a
     * refusal ends it), then the authenticators, then the attempts in order only when one of them is
     * active (stopping after the first refused), then the nonce.
     */
    async beginSecondFactor(userId, input) {
      checkUserId(userId);
      const { claim, attempts, readNonce, now } = input;
      if (!Array.isArray(attempts)) {
        throw new InvalidInputError('attempts', 'The attempts must be an array');
      }
      const scriptKeys = [keys.nonceIndex(userId), keys.authenticatorIndex(userId)];
      const args = [String(now), keys.authenticatorPrefix(userId)];
      if (claim) {
        scriptKeys.push(keys.nonce(userId, claim.key));
        args.push('1', claim.key, claim.value, String(claim.expiresAt), ttl(claim.expiresAt, now));
      } else {
        args.push('0', '', '', '', '');
      }
      if (readNonce !== null && readNonce !== undefined) {
        scriptKeys.push(keys.nonce(userId, readNonce));
        args.push('1', readNonce);
      } else {
        args.push('0', '');
      }
      for (const { key, limit, ttlMs } of attempts) {
        const expiresAt = now + ttlMs;
        scriptKeys.push(keys.counter(userId, key));
        args.push(String(expiresAt), ttl(expiresAt, now), String(limit));
      }
      return await run(beginSecondFactorScript, scriptKeys, args, (reply) =>
        parseBeginSecondFactor(userId, reply, attempts.length),
      );
    },

    /** Does nothing: the client belongs to the host app, which closes it (`client.quit()`). */
    async close() {},
  };
  return store;
}

/** Refuses a time that is not a finite number (it would fail a script half way through its writes). */
function checkTime(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidInputError(name, `${name} must be a finite number of milliseconds`);
  }
}

/**
 * What listAuthenticators' Lua answers, `{ id, field/value list }` per live authenticator in no
 * order, as records sorted oldest first: by createdAt, then id by UTF-16 code units (like every
 * JavaScript string comparison).
 */
function parseAuthenticatorList(userId: string, reply: unknown): StoredAuthenticator[] {
  if (!Array.isArray(reply)) throw new TypeError('Unexpected reply listing authenticators');
  const records = reply.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
      throw new TypeError('Unexpected reply listing authenticators');
    }
    return parseStoredAuthenticator(userId, entry[0], entry[1]);
  });
  return records.sort((a, b) => a.createdAt - b.createdAt || byCodeUnits(a.id, b.id));
}

/**
 * beginSecondFactor's script answers { 0 } for a refused claim, else { 1, authenticators, attempt
 * states (at most one per attempt asked), value or nil }.
 */
function parseBeginSecondFactor(userId: string, reply: unknown, asked: number): BeginSecondFactorResult {
  if (!Array.isArray(reply)) throw new TypeError('Unexpected reply to beginSecondFactor');
  if (reply.length === 1 && reply[0] === 0) {
    return { claimed: false, authenticators: [], attempts: [], nonce: null };
  }
  const [flag, authenticators, attempts, nonce] = reply;
  if (
    reply.length !== 4 ||
    flag !== 1 ||
    !Array.isArray(attempts) ||
    attempts.length > asked ||
    (nonce !== null && typeof nonce !== 'string')
  ) {
    throw new TypeError('Unexpected reply to beginSecondFactor');
  }
  return {
    claimed: true,
    authenticators: parseAuthenticatorList(userId, authenticators),
    attempts: attempts.map(parseAttempt),
    nonce,
  };
}

/**
 * Turns a flat HGETALL list into a record of either type; anything malformed fails closed
 * (StoreUnavailableError). A hash without `type` or `name` was written by layout version 1: a TOTP
 * authenticator without a name.
 */
function parseStoredAuthenticator(userId: string, id: string, reply: unknown): StoredAuthenticator {
  if (!Array.isArray(reply)) throw new TypeError('Unexpected reply for an authenticator');
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));

  const text = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw new TypeError(`Stored authenticator lacks "${name}"`);
    return value;
  };
  const number = (name: string): number => {
    const value = Number(text(name));
    if (!Number.isFinite(value)) throw new TypeError(`Stored authenticator has a malformed "${name}"`);
    return value;
  };
  const optionalNumber = (name: string): number | null => (fields.has(name) ? number(name) : null);
  const boolean = (name: string): boolean => {
    const value = text(name);
    if (value !== '0' && value !== '1') throw new TypeError(`Stored authenticator has a malformed "${name}"`);
    return value === '1';
  };
  const name = fields.get('name') ?? null;

  const status = text('status');
  if (status !== 'pending' && status !== 'active') {
    throw new TypeError('Stored authenticator has a malformed "status"');
  }
  const type = fields.get('type') ?? 'totp';
  if (type === 'webauthn') {
    if (status !== 'active') throw new TypeError('Stored WebAuthn credential has a malformed "status"');
    return {
      type,
      userId,
      id,
      name,
      credentialId: text('credentialId'),
      publicKey: text('publicKey'),
      counter: number('counter'),
      transports: parseTransports(text('transports')),
      aaguid: text('aaguid'),
      backupEligible: boolean('backupEligible'),
      backupState: boolean('backupState'),
      createdAt: number('createdAt'),
      lastUsedAt: optionalNumber('lastUsedAt'),
    } satisfies WebAuthnCredentialRecord;
  }
  if (type !== 'totp') throw new TypeError('Stored authenticator has a malformed "type"');
  const algorithm = text('algorithm');
  if (!ALGORITHMS.has(algorithm)) throw new TypeError('Stored authenticator has a malformed "algorithm"');

  return {
    type,
    userId,
    id,
    name,
    status,
    sealedSecret: text('sealedSecret'),
    algorithm: algorithm as AuthenticatorAlgorithm,
    digits: number('digits'),
    period: number('period'),
    lastCounter: number('lastCounter'),
    createdAt: number('createdAt'),
    confirmedAt: optionalNumber('confirmedAt'),
    lastUsedAt: optionalNumber('lastUsedAt'),
    expiresAt: optionalNumber('expiresAt'),
  } satisfies AuthenticatorRecord;
}

/** The `transports` field: the JSON array of strings the store wrote. */
function parseTransports(stored: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    throw new TypeError('Stored WebAuthn credential has a malformed "transports"');
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new TypeError('Stored WebAuthn credential has a malformed "transports"');
  }
  return value;
}

/** Booleans are stored as `1` and `0`. */
function flag(value: boolean): string {
  return value ? '1' : '0';
}

/** Scripts with several outcomes answer the outcome's name. */
function parseOutcome(reply: unknown, outcomes: ReadonlySet<string>): string {
  if (typeof reply !== 'string' || !outcomes.has(reply))
    throw new TypeError('Unexpected reply from a script');
  return reply;
}

/** Scripts answer 1 for "done" and 0 for "refused". */
function parseFlag(reply: unknown): boolean {
  if (reply !== 0 && reply !== 1) throw new TypeError('Unexpected reply from a script');
  return reply === 1;
}

function parseCounter(reply: unknown): CounterState {
  if (!Array.isArray(reply) || reply.length !== 2) throw new TypeError('Unexpected reply for a counter');
  const count = Number(reply[0]);
  const expiresAt = Number(reply[1]);
  if (!Number.isSafeInteger(count) || !Number.isFinite(expiresAt)) {
    throw new TypeError('Stored counter is malformed');
  }
  return { count, expiresAt };
}

/** The read script answers, per key, `{ value, expiresAt }` for a live nonce and nil otherwise. */
function parseNonceReads(reply: unknown, count: number): Array<NonceRead | null> {
  if (!Array.isArray(reply) || reply.length !== count) throw new TypeError('Unexpected reply reading nonces');
  return reply.map((entry: unknown) => {
    if (entry === null) return null;
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
      throw new TypeError('Unexpected reply reading nonces');
    }
    const expiresAt = Number(entry[1]);
    if (!Number.isFinite(expiresAt)) throw new TypeError('Stored nonce has a malformed expiry');
    return { value: entry[0], expiresAt };
  });
}

/** The listNonces script answers `{ key, value, expiresAt }` per live nonce, in no order. */
function parseNonceList(reply: unknown): NonceEntry[] {
  if (!Array.isArray(reply)) throw new TypeError('Unexpected reply to listNonces');
  return reply.map((entry: unknown) => {
    if (
      !Array.isArray(entry) ||
      entry.length !== 3 ||
      typeof entry[0] !== 'string' ||
      typeof entry[1] !== 'string'
    ) {
      throw new TypeError('Unexpected reply to listNonces');
    }
    const expiresAt = Number(entry[2]);
    if (!Number.isFinite(expiresAt)) throw new TypeError('Stored nonce has a malformed expiry');
    return { key: entry[0], value: entry[1], expiresAt };
  });
}

/** takeAttempt answers { taken (1 or 0), count, expiresAt }. */
function parseAttempt(reply: unknown): AttemptState {
  if (!Array.isArray(reply) || reply.length !== 3 || (reply[0] !== 0 && reply[0] !== 1)) {
    throw new TypeError('Unexpected reply to takeAttempt');
  }
  return { taken: reply[0] === 1, ...parseCounter(reply.slice(1)) };
}
