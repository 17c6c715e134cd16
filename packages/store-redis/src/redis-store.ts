import {
  type AttemptState,
  type AuthenticatorAlgorithm,
  type AuthenticatorRecord,
  type CounterState,
  InvalidInputError,
  type Store,
} from '@twofold/core';
import { guard, runScript } from './internal/client.js';
import { KeyLayout } from './internal/keys.js';
import {
  claimNonceScript,
  confirmAuthenticatorScript,
  consumeCounterScript,
  deleteTwoFactorScript,
  getAuthenticatorScript,
  getCounterScript,
  getNonceScript,
  type LuaScript,
  putNonceScript,
  replaceRecoveryCodesScript,
  replaceSealedSecretScript,
  resetCounterIfUnchangedScript,
  savePendingAuthenticatorScript,
  swapNonceScript,
  takeAttemptScript,
  takeNonceAndDeleteTwoFactorScript,
  takeNonceScript,
} from './internal/scripts.js';
import { type RedisStoreOptions, resolveRedisStoreOptions } from './options.js';

const ALGORITHMS: ReadonlySet<string> = new Set<AuthenticatorAlgorithm>(['SHA1', 'SHA256', 'SHA512']);

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

  const store: Store = {
    async getAuthenticator(userId, authenticatorId, now) {
      checkUserId(userId);
      return await run(
        getAuthenticatorScript,
        [keys.authenticator(userId, authenticatorId), keys.authenticatorIndex(userId)],
        [String(now), authenticatorId, keys.authenticatorPrefix(userId)],
        (reply) => (reply === null ? null : parseAuthenticator(userId, authenticatorId, reply)),
      );
    },

    async savePendingAuthenticator(record, now) {
      checkUserId(record.userId);
      const fields = [
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
          ...input.recoveryCodeHashes,
        ],
        parseFlag,
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
        [keys.nonce(userId, key)],
        [value, String(expiresAt), String(Math.ceil(expiresAt - now))],
        () => undefined,
      );
    },

    async getNonce(userId, key, now) {
      checkUserId(userId);
      return await run(getNonceScript, [keys.nonce(userId, key)], [String(now)], (reply) => {
        if (reply === null) return null;
        if (typeof reply !== 'string') throw new TypeError('Unexpected reply to getNonce');
        return reply;
      });
    },

    async claimNonce(userId, key, value, expiresAt, now) {
      checkUserId(userId);
      return await run(
        claimNonceScript,
        [keys.nonce(userId, key)],
        [value, String(expiresAt), String(now), ttl(expiresAt, now)],
        parseFlag,
      );
    },

    async takeNonce(userId, key, value, now) {
      checkUserId(userId);
      return await run(takeNonceScript, [keys.nonce(userId, key)], [value, String(now)], parseFlag);
    },

    async swapNonce(userId, key, expected, next, expiresAt, now) {
      checkUserId(userId);
      return await run(
        swapNonceScript,
        [keys.nonce(userId, key)],
        [expected, next, String(expiresAt), String(now), ttl(expiresAt, now)],
        parseFlag,
      );
    },

    async deleteNonce(userId, key) {
      checkUserId(userId);
      await guard(client, 'deleteNonce', operationTimeoutMs, () => client.del(keys.nonce(userId, key)));
    },

    async takeNonceAndDeleteTwoFactor(userId, key, value, now) {
      checkUserId(userId);
      return await run(
        takeNonceAndDeleteTwoFactorScript,
        [keys.nonce(userId, key), keys.authenticatorIndex(userId), keys.recoveryCodes(userId)],
        [value, String(now), keys.authenticatorPrefix(userId)],
        parseFlag,
      );
    },

    /** Does nothing: the client belongs to the host app, which closes it (`client.quit()`). */
    async close() {},
  };
  return store;
}

/** Turns a flat HGETALL list into a record; anything malformed fails closed (StoreUnavailableError). */
function parseAuthenticator(userId: string, id: string, reply: unknown): AuthenticatorRecord {
  if (!Array.isArray(reply)) throw new TypeError('Unexpected reply to getAuthenticator');
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

  const status = text('status');
  if (status !== 'pending' && status !== 'active') {
    throw new TypeError('Stored authenticator has a malformed "status"');
  }
  const algorithm = text('algorithm');
  if (!ALGORITHMS.has(algorithm)) throw new TypeError('Stored authenticator has a malformed "algorithm"');

  return {
    userId,
    id,
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
  };
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

/** takeAttempt answers { taken (1 or 0), count, expiresAt }. */
function parseAttempt(reply: unknown): AttemptState {
  if (!Array.isArray(reply) || reply.length !== 3 || (reply[0] !== 0 && reply[0] !== 1)) {
    throw new TypeError('Unexpected reply to takeAttempt');
  }
  return { taken: reply[0] === 1, ...parseCounter(reply.slice(1)) };
}
