import { randomUUID } from 'node:crypto';
import type { BeginSecondFactorInput, Store, StoredAuthenticator } from '@twofold/core';
import { Redis } from 'ioredis';
import tap from 'tap';
import { type RedisClientLike, redisStore } from '../src/index.js';
import {
  beginSecondFactorScript,
  consumeCounterAndResetScript,
  finishSecondFactorScript,
  putNoncesScript,
} from '../src/internal/scripts.js';
import {
  confirmInput,
  freePort,
  hasCommand,
  isListening,
  pendingRecord,
  reportMissing,
  SHARED_REDIS,
  scanKeys,
  startRedisServer,
  tempDir,
  userKeyBase,
  webAuthnRecord,
} from './helpers.js';

// The four optional shortcuts of the Store contract (beginSecondFactor, finishSecondFactor,
// consumeCounterAndReset, putNonces), Redis side: each is one script, hence one round trip, counted by MONITOR on a private
// redis-server (only the commands of the store's own connection, identified by its address); the
// records they write are the very records the one-by-one operations write (compared key by key);
// and their guarantees hold under concurrency on the shared Redis. The general contract is checked
// by @twofold/store-test-suite.

const HOUR = 3_600_000;

/** A WebAuthn credential with fixed ids, so that two users' hashes can be compared field by field. */
function fixedWebAuthn(userId: string, id: string, now: number) {
  return webAuthnRecord(userId, id, now, { credentialId: `cred-${id}`, publicKey: `pk-${id}` });
}

/** An active TOTP authenticator `id` (with recovery codes when it is the first). */
async function activeTotp(store: Store, userId: string, id: string, now: number): Promise<void> {
  await store.savePendingAuthenticator(pendingRecord(userId, id, now), now);
  const outcome = await store.confirmAuthenticator(userId, id, confirmInput(id, now));
  if (outcome !== 'enabled' && outcome !== 'added') throw new Error(`confirm resolved ${outcome}`);
}

/** The authenticators without their user id, to compare two users' lists. */
function withoutUser(records: StoredAuthenticator[]): Array<Omit<StoredAuthenticator, 'userId'>> {
  return records.map(({ userId: _userId, ...rest }) => rest);
}

/**
 * Every key of `userId` as `{ name after the user's base, type, contents, whether it has a TTL }`,
 * sorted: what two users' keys are compared by.
 */
async function snapshot(client: Redis, prefix: string, userId: string) {
  const base = userKeyBase(prefix, userId);
  const found = [];
  for (const key of (await scanKeys(client, base)).sort()) {
    const type = await client.type(key);
    let contents: unknown;
    if (type === 'hash') contents = await client.hgetall(key);
    else if (type === 'set') contents = (await client.smembers(key)).sort();
    else if (type === 'zset') contents = await client.zrange(key, 0, '-1', 'WITHSCORES');
    else contents = await client.get(key);
    const pttl = await client.pttl(key);
    found.push({ key: key.slice(base.length), type, contents, ttl: pttl > 0 ? 'ttl' : String(pttl) });
  }
  return found;
}

/** Deletes every key under `prefix`. */
async function deleteAll(client: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(client, prefix);
  for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
}

/** A client that answers every script with `reply`: the store's handling of malformed replies. */
function answering(reply: unknown): RedisClientLike {
  return {
    status: 'ready',
    evalsha: async () => reply,
    eval: async () => reply,
    del: async () => 0,
    srem: async () => 0,
    scard: async () => 0,
    scan: async () => ['0', []],
  };
}

tap.test('malformed script replies fail closed (no Redis needed)', async (t) => {
  const input: BeginSecondFactorInput = {
    claim: null,
    attempts: [{ key: 'a', limit: 5, ttlMs: 1000 }],
    readNonce: null,
    now: 1,
  };
  const malformed: Array<[string, unknown]> = [
    ['not an array', 'x'],
    ['a wrong flag', [2, [], [], null]],
    ['too short', [1, [], []]],
    ['attempts not an array', [1, [], 'x', null]],
    [
      'more attempt states than attempts',
      [
        1,
        [],
        [
          [1, 1, 2],
          [1, 1, 2],
        ],
        null,
      ],
    ],
    ['a nonce that is no string', [1, [], [], 7]],
    ['authenticators not an array', [1, 'x', [], null]],
    ['an authenticator entry of the wrong shape', [1, [['id']], [], null]],
    ['an attempt state of the wrong shape', [1, [], [[3, 1, 2]], null]],
  ];
  for (const [name, reply] of malformed) {
    const store = redisStore({ client: answering(reply) });
    await t.rejects(store.beginSecondFactor!('u', input), { code: 'TWOFOLD_STORE_UNAVAILABLE' }, name);
  }
  await t.rejects(
    redisStore({ client: answering(2) }).consumeCounterAndReset!('u', 'totp', 1, 1, {
      key: 'k',
      expected: { count: 1, expiresAt: 2 },
    }),
    { code: 'TWOFOLD_STORE_UNAVAILABLE' },
    'consumeCounterAndReset',
  );
  t.strictSame(
    await redisStore({ client: answering([0]) }).beginSecondFactor!('u', input),
    { claimed: false, authenticators: [], attempts: [], nonce: null },
    'a refused claim',
  );
});

tap.test('invalid input is refused before anything is sent', async (t) => {
  let sent = 0;
  const client: RedisClientLike = {
    ...answering(1),
    evalsha: async () => {
      sent++;
      return 1;
    },
  };
  const store = redisStore({ client });
  const input: BeginSecondFactorInput = { claim: null, attempts: [], readNonce: null, now: 1 };
  const invalid = { code: 'TWOFOLD_INVALID_INPUT' };
  await t.rejects(store.beginSecondFactor!('', input), invalid, 'beginSecondFactor: empty user id');
  await t.rejects(
    store.beginSecondFactor!('u', { ...input, attempts: 'x' as never }),
    invalid,
    'beginSecondFactor: attempts not an array',
  );
  await t.rejects(
    store.consumeCounterAndReset!('', 'totp', 1, 1, { key: 'k', expected: { count: 1, expiresAt: 2 } }),
    invalid,
    'consumeCounterAndReset: empty user id',
  );
  await t.rejects(store.putNonces!('', [{ key: 'a', value: 'v', expiresAt: 2 }], 1), invalid, 'putNonces');
  await t.rejects(
    store.putNonces!(
      'u',
      [
        { key: 'a', value: 'v', expiresAt: 2 },
        { key: 'a', value: 'w', expiresAt: 2 },
      ],
      1,
    ),
    invalid,
    'putNonces: the same key twice',
  );
  await t.rejects(
    store.putNonces!('u', [{ key: 'a', value: 'v', expiresAt: Number.NaN }], 1),
    invalid,
    'putNonces: an expiry that is no number',
  );
  await t.rejects(
    store.putNonces!('u', [{ key: 'a', value: 'v', expiresAt: 2 }], Number.POSITIVE_INFINITY),
    invalid,
    'putNonces: a clock that is no finite number',
  );
  const finishInput = {
    authenticatorId: 'totp',
    counter: 1,
    reset: { key: 'k', expected: { count: 1, expiresAt: 2 } },
    nonces: [{ key: 'a', value: 'v', expiresAt: 2 }],
    now: 1,
  };
  await t.rejects(store.finishSecondFactor!('', finishInput), invalid, 'finishSecondFactor: empty user id');
  await t.rejects(
    store.finishSecondFactor!('u', {
      ...finishInput,
      nonces: [...finishInput.nonces, ...finishInput.nonces],
    }),
    invalid,
    'finishSecondFactor: the same key twice',
  );
  await t.rejects(
    store.finishSecondFactor!('u', { ...finishInput, now: Number.NaN }),
    invalid,
    'finishSecondFactor: a clock that is no number',
  );
  await store.putNonces!('u', [], 1);
  t.equal(sent, 0, 'nothing was sent, not even for an empty list of nonces');
});

const { host, port } = SHARED_REDIS;

if (!(await isListening(host, port))) {
  reportMissing(`Redis not reachable at ${host}:${port}`);
} else {
  tap.test('the shortcuts on a single Redis server', async (t) => {
    const runId = randomUUID();
    const prefix = `twofold-test:round-trips:${runId}:`;
    // Several connections, so that concurrent calls really arrive side by side.
    const clients = Array.from({ length: 4 }, () => new Redis({ host, port }));
    const raw = clients[0]!;
    const stores = clients.map((client) => redisStore({ client, prefix }));
    const store = stores[0]!;
    t.teardown(async () => {
      await deleteAll(raw, prefix);
      await Promise.all(clients.map((client) => client.quit()));
    });
    let users = 0;
    const freshUser = (name: string) => `${runId}-${name}-${users++}{x}:y`;

    /**
     * Two users with the same authenticators and nonces at `now`: an active TOTP `totp`, a WebAuthn
     * key, a pending TOTP `tablet` that has expired by `later`, a nonce `recovery` that has too, a
     * live nonce `device` and a live claim `challenge:old`.
     */
    async function twoLikeUsers(now: number) {
      const pair = [freshUser('like-a'), freshUser('like-b')] as const;
      for (const userId of pair) {
        await activeTotp(store, userId, 'totp', now);
        await store.addWebAuthnCredential(fixedWebAuthn(userId, 'key', now + 1), {
          recoveryCodeHashes: [],
          maxActive: 10,
          now,
        });
        await store.savePendingAuthenticator(pendingRecord(userId, 'tablet', now, 60_000), now);
        await store.putNonce(userId, 'recovery', 'r', now + 60_000, now);
        await store.putNonce(userId, 'device', 'd', now + HOUR, now);
        await store.claimNonce(userId, 'challenge:old', 'spent', now + HOUR, now);
      }
      return pair;
    }

    await t.test(
      'beginSecondFactor writes and reads exactly what the one-by-one operations do',
      async (t) => {
        const now = Date.now();
        const later = now + 120_000;
        const [viaShortcut, oneByOne] = await twoLikeUsers(now);
        await store.incrementCounter(viaShortcut, 'lockout', HOUR, now);
        await store.incrementCounter(oneByOne, 'lockout', HOUR, now);

        const result = await store.beginSecondFactor!(viaShortcut, {
          claim: { key: 'challenge:new', value: 'spent', expiresAt: later + 300_000 },
          attempts: [
            { key: 'attempts:new', limit: 5, ttlMs: 300_000 },
            { key: 'lockout', limit: 10, ttlMs: HOUR },
          ],
          readNonce: 'recovery',
          now: later,
        });

        t.equal(await store.claimNonce(oneByOne, 'challenge:new', 'spent', later + 300_000, later), true);
        const authenticators = await store.listAuthenticators(oneByOne, later);
        const attempts = [
          await store.takeAttempt(oneByOne, 'attempts:new', 5, 300_000, later),
          await store.takeAttempt(oneByOne, 'lockout', 10, HOUR, later),
        ];
        const nonce = await store.getNonce(oneByOne, 'recovery', later);

        t.strictSame(result.claimed, true);
        t.strictSame(withoutUser(result.authenticators), withoutUser(authenticators), 'the same list');
        t.strictSame(
          result.authenticators.map((record) => `${record.type}:${record.id}`),
          ['totp:totp', 'webauthn:key'],
          'oldest first; the expired pending one is gone',
        );
        t.ok(
          result.authenticators.every((record) => record.userId === viaShortcut),
          'records of the right user',
        );
        t.strictSame(result.attempts, attempts, 'the same attempt states');
        t.strictSame(result.attempts, [
          { taken: true, count: 1, expiresAt: later + 300_000 },
          { taken: true, count: 2, expiresAt: later + HOUR },
        ]);
        t.equal(result.nonce, nonce);
        t.equal(result.nonce, null, 'the expired nonce reads as absent');
        t.strictSame(
          await snapshot(raw, prefix, viaShortcut),
          await snapshot(raw, prefix, oneByOne),
          'the same keys, fields, index members and TTLs',
        );
        t.strictSame(
          (await store.listNonces(viaShortcut, 'challenge:', later)).map((entry) => entry.key),
          ['challenge:new', 'challenge:old'],
          'the claim is in the nonce index',
        );
      },
    );

    await t.test('a refused claim counts nothing, reads nothing and collects nothing', async (t) => {
      const now = Date.now();
      const later = now + 120_000;
      const [userId] = await twoLikeUsers(now);
      await store.incrementCounter(userId, 'lockout', HOUR, now);
      const before = await snapshot(raw, prefix, userId);
      t.strictSame(
        await store.beginSecondFactor!(userId, {
          claim: { key: 'challenge:old', value: 'again', expiresAt: later + 300_000 },
          attempts: [
            { key: 'attempts:old', limit: 5, ttlMs: 300_000 },
            { key: 'lockout', limit: 10, ttlMs: HOUR },
          ],
          readNonce: 'recovery',
          now: later,
        }),
        { claimed: false, authenticators: [], attempts: [], nonce: null },
      );
      t.strictSame(
        await snapshot(raw, prefix, userId),
        before,
        'not a key changed: the expired pending authenticator and nonce are still there',
      );
    });

    await t.test('an expired claim is claimed again; a claim to read is read after the claim', async (t) => {
      const now = Date.now();
      const userId = freshUser('reclaim');
      await store.claimNonce(userId, 'challenge:1', 'first', now + 1_000, now);
      const result = await store.beginSecondFactor!(userId, {
        claim: { key: 'challenge:1', value: 'second', expiresAt: now + 300_000 },
        attempts: [{ key: 'lockout', limit: 5, ttlMs: HOUR }],
        readNonce: 'challenge:1',
        now: now + 1_000,
      });
      t.strictSame(result, { claimed: true, authenticators: [], attempts: [], nonce: 'second' });
      t.equal(await store.getCounter(userId, 'lockout', now), null, 'no authenticator: nothing counted');
    });

    await t.test('attempts are counted only for a user with an active authenticator', async (t) => {
      const now = Date.now();
      const input = (claim: string): BeginSecondFactorInput => ({
        claim: { key: claim, value: 'spent', expiresAt: now + 300_000 },
        attempts: [{ key: 'lockout', limit: 5, ttlMs: HOUR }],
        readNonce: null,
        now,
      });

      const pendingOnly = freshUser('pending-only');
      await store.savePendingAuthenticator(pendingRecord(pendingOnly, 'totp', now), now);
      const pending = await store.beginSecondFactor!(pendingOnly, input('c:1'));
      t.strictSame(pending.attempts, [], 'a pending TOTP authenticator is not active');
      t.strictSame(
        pending.authenticators.map((record) => record.id),
        ['totp'],
        'but it is listed',
      );
      t.equal(await store.getCounter(pendingOnly, 'lockout', now), null, 'no counter written');

      const webAuthnOnly = freshUser('webauthn-only');
      await store.addWebAuthnCredential(fixedWebAuthn(webAuthnOnly, 'key', now), {
        recoveryCodeHashes: ['h'],
        maxActive: 10,
        now,
      });
      t.strictSame((await store.beginSecondFactor!(webAuthnOnly, input('c:1'))).attempts, [
        { taken: true, count: 1, expiresAt: now + HOUR },
      ]);

      const legacy = freshUser('layout-v1');
      // A TOTP hash of layout version 1 (no `type`, no `name`) is active as well.
      const base = userKeyBase(prefix, legacy);
      await raw.hset(`${base}a:totp`, {
        status: 'active',
        sealedSecret: 's',
        algorithm: 'SHA1',
        digits: '6',
        period: '30',
        lastCounter: '1',
        createdAt: String(now),
        confirmedAt: String(now),
        lastUsedAt: String(now),
      });
      await raw.sadd(`${base}ai`, 'totp');
      const v1 = await store.beginSecondFactor!(legacy, input('c:1'));
      t.strictSame(v1.attempts, [{ taken: true, count: 1, expiresAt: now + HOUR }]);
      t.strictSame(
        v1.authenticators.map((record) => [record.type, record.name]),
        [['totp', null]],
      );
    });

    await t.test('the attempts stop after the first refused one, which reports the counter', async (t) => {
      const now = Date.now();
      const userId = freshUser('refused');
      await activeTotp(store, userId, 'totp', now);
      for (let i = 0; i < 3; i++) await store.incrementCounter(userId, 'attempts:1', 300_000, now - 1_000);
      const attempts = [
        { key: 'attempts:1', limit: 3, ttlMs: 300_000 },
        { key: 'lockout', limit: 5, ttlMs: HOUR },
      ];
      const first = await store.beginSecondFactor!(userId, {
        claim: null,
        attempts,
        readNonce: null,
        now,
      });
      t.strictSame(first.attempts, [{ taken: false, count: 3, expiresAt: now - 1_000 + 300_000 }]);
      t.equal(await store.getCounter(userId, 'lockout', now), null, 'the lockout was left alone');

      for (let i = 0; i < 5; i++) await store.incrementCounter(userId, 'lockout', HOUR, now - 2_000);
      const second = await store.beginSecondFactor!(userId, {
        claim: null,
        attempts: [{ key: 'attempts:2', limit: 3, ttlMs: 300_000 }, ...attempts.slice(1)],
        readNonce: null,
        now,
      });
      t.strictSame(second.attempts, [
        { taken: true, count: 1, expiresAt: now + 300_000 },
        { taken: false, count: 5, expiresAt: now - 2_000 + HOUR },
      ]);
      t.strictSame(
        await store.getCounter(userId, 'lockout', now),
        { count: 5, expiresAt: now - 2_000 + HOUR },
        'a refused attempt leaves the counter as it was',
      );
    });

    await t.test('consumeCounterAndReset consumes, then resets only an unchanged counter', async (t) => {
      const now = Date.now();
      const [viaShortcut, oneByOne] = [freshUser('consume-a'), freshUser('consume-b')];
      for (const userId of [viaShortcut, oneByOne]) {
        await activeTotp(store, userId, 'totp', now);
        await store.incrementCounter(userId, 'lockout', HOUR, now);
      }
      const expected = { count: 1, expiresAt: now + HOUR };
      const reset = { key: 'lockout', expected };
      t.equal(await store.consumeCounterAndReset!(viaShortcut, 'totp', 5, now + 10, reset), true);
      t.equal(await store.consumeCounter(oneByOne, 'totp', 5, now + 10), true);
      t.equal(await store.resetCounterIfUnchanged(oneByOne, 'lockout', expected), true);
      t.strictSame(
        await snapshot(raw, prefix, viaShortcut),
        await snapshot(raw, prefix, oneByOne),
        'the same authenticator fields, no counter left',
      );
      t.equal((await store.getAuthenticator(viaShortcut, 'totp', now))?.lastCounter, 5);

      await store.incrementCounter(viaShortcut, 'lockout', HOUR, now);
      t.equal(
        await store.consumeCounterAndReset!(viaShortcut, 'totp', 5, now, reset),
        false,
        'a step used already',
      );
      t.strictSame(
        await store.getCounter(viaShortcut, 'lockout', now),
        expected,
        'is not consumed, and nothing is reset',
      );
      await store.incrementCounter(viaShortcut, 'lockout', HOUR, now);
      t.equal(await store.consumeCounterAndReset!(viaShortcut, 'totp', 6, now, reset), true, 'a new step');
      t.strictSame(
        await store.getCounter(viaShortcut, 'lockout', now),
        { count: 2, expiresAt: now + HOUR },
        'consumed, but the counter changed since: it stays',
      );

      const other = freshUser('consume-other');
      await store.savePendingAuthenticator(pendingRecord(other, 'totp', now), now);
      await store.addWebAuthnCredential(fixedWebAuthn(other, 'key', now), {
        recoveryCodeHashes: [],
        maxActive: 10,
        now,
      });
      await store.incrementCounter(other, 'lockout', HOUR, now);
      for (const id of ['totp', 'key', 'missing']) {
        t.equal(await store.consumeCounterAndReset!(other, id, 9, now, reset), false, `${id}: refused`);
      }
      t.strictSame(await store.getCounter(other, 'lockout', now), expected, 'and never reset');
    });

    await t.test(
      'finishSecondFactor writes exactly what the single operations write, or nothing',
      async (t) => {
        const now = Date.now();
        const [viaShortcut, oneByOne] = [freshUser('finish-a'), freshUser('finish-b')];
        for (const userId of [viaShortcut, oneByOne]) {
          await activeTotp(store, userId, 'totp', now);
          await store.incrementCounter(userId, 'lockout', HOUR, now);
          await store.putNonce(userId, 'refresh:1', 'old', now + HOUR, now);
        }
        const expected = { count: 1, expiresAt: now + HOUR };
        const nonces = [
          { key: 'refresh:1', value: 'a', expiresAt: now + 60_000 },
          { key: 'session:1', value: 'b', expiresAt: now + 2 * HOUR },
        ];
        const input = {
          authenticatorId: 'totp',
          counter: 5,
          reset: { key: 'lockout', expected },
          nonces,
          now,
        };
        t.equal(await store.finishSecondFactor!(viaShortcut, input), true);
        t.equal(await store.consumeCounter(oneByOne, 'totp', 5, now), true);
        t.equal(await store.resetCounterIfUnchanged(oneByOne, 'lockout', expected), true);
        for (const nonce of nonces)
          await store.putNonce(oneByOne, nonce.key, nonce.value, nonce.expiresAt, now);
        t.strictSame(
          await snapshot(raw, prefix, viaShortcut),
          await snapshot(raw, prefix, oneByOne),
          'the same authenticator fields, no counter, the same nonces and index',
        );

        await store.incrementCounter(viaShortcut, 'lockout', HOUR, now);
        const replay = [{ key: 'refresh:9', value: 'x', expiresAt: now + HOUR }];
        t.equal(
          await store.finishSecondFactor!(viaShortcut, { ...input, nonces: replay }),
          false,
          'a spent step',
        );
        t.strictSame(await store.getCounter(viaShortcut, 'lockout', now), expected, 'nothing reset');
        t.equal(await store.getNonce(viaShortcut, 'refresh:9', now), null, 'no nonce written');

        // A key of another type at the nonce index fails the script before the step is consumed.
        const base = userKeyBase(prefix, viaShortcut);
        await raw.del(`${base}ni`);
        await raw.set(`${base}ni`, 'not a sorted set');
        await t.rejects(store.finishSecondFactor!(viaShortcut, { ...input, counter: 6, nonces: replay }), {
          code: 'TWOFOLD_STORE_UNAVAILABLE',
        });
        t.equal(
          (await store.getAuthenticator(viaShortcut, 'totp', now))?.lastCounter,
          5,
          'the step not spent',
        );
        t.strictSame(await store.getCounter(viaShortcut, 'lockout', now), expected, 'nothing reset');
      },
    );

    await t.test('putNonces writes exactly what putNonce writes, index included', async (t) => {
      const now = Date.now();
      const [viaShortcut, oneByOne] = [freshUser('put-a'), freshUser('put-b')];
      const first = [
        { key: 'refresh:1', value: 'a', expiresAt: now + HOUR },
        { key: 'device:1', value: 'b', expiresAt: now + 2 * HOUR },
        { key: 'gone', value: 'c', expiresAt: now + HOUR },
      ];
      // Replacing values, one expiry moved earlier, one already expired (so removed, as putNonce does).
      const second = [
        { key: 'refresh:1', value: 'a2', expiresAt: now + 60_000 },
        { key: 'gone', value: 'c2', expiresAt: now },
        { key: 'refresh:2', value: 'd', expiresAt: now + 30_000 },
      ];
      await store.putNonces!(viaShortcut, first, now);
      await store.putNonces!(viaShortcut, second, now);
      for (const nonce of [...first, ...second]) {
        await store.putNonce(oneByOne, nonce.key, nonce.value, nonce.expiresAt, now);
      }
      t.strictSame(await snapshot(raw, prefix, viaShortcut), await snapshot(raw, prefix, oneByOne));
      t.strictSame(await store.listNonces(viaShortcut, 'refresh:', now), [
        { key: 'refresh:1', value: 'a2', expiresAt: now + 60_000 },
        { key: 'refresh:2', value: 'd', expiresAt: now + 30_000 },
      ]);
      t.equal(await store.getNonce(viaShortcut, 'gone', now), null);
      t.equal(await store.getNonce(viaShortcut, 'device:1', now), 'b');
    });

    await t.test('putNonces writes all or none: a foreign key at the index fails it first', async (t) => {
      const now = Date.now();
      const userId = freshUser('put-none');
      await store.putNonce(userId, 'refresh:1', 'old', now + HOUR, now);
      const base = userKeyBase(prefix, userId);
      await raw.del(`${base}ni`);
      await raw.set(`${base}ni`, 'not a sorted set');
      await t.rejects(
        store.putNonces!(
          userId,
          [
            { key: 'refresh:1', value: 'new', expiresAt: now + HOUR },
            { key: 'refresh:2', value: 'new', expiresAt: now + HOUR },
          ],
          now,
        ),
        { code: 'TWOFOLD_STORE_UNAVAILABLE' },
      );
      t.equal(await store.getNonce(userId, 'refresh:1', now), 'old', 'the first nonce is unchanged');
      t.equal(await store.getNonce(userId, 'refresh:2', now), null, 'the second was not written');
    });

    await t.test('100 concurrent beginSecondFactor with the same claim: exactly one claims', async (t) => {
      const now = Date.now();
      const userId = freshUser('race-claim');
      await activeTotp(store, userId, 'totp', now);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          stores[i % stores.length]!.beginSecondFactor!(userId, {
            claim: { key: 'challenge:1', value: `v${i}`, expiresAt: now + 300_000 },
            attempts: [
              { key: 'attempts:1', limit: 5, ttlMs: 300_000 },
              { key: 'lockout', limit: 10, ttlMs: HOUR },
            ],
            readNonce: null,
            now,
          }),
        ),
      );
      const claimed = results.filter((result) => result.claimed);
      t.equal(claimed.length, 1, 'one claimed');
      t.strictSame(claimed[0]!.attempts, [
        { taken: true, count: 1, expiresAt: now + 300_000 },
        { taken: true, count: 1, expiresAt: now + HOUR },
      ]);
      t.strictSame(
        results.filter((result) => !result.claimed),
        Array.from({ length: 99 }, () => ({ claimed: false, authenticators: [], attempts: [], nonce: null })),
      );
      t.equal((await store.getCounter(userId, 'lockout', now))?.count, 1, 'only the winner counted');
    });

    await t.test('50 concurrent distinct claims on a lockout at limit 5: exactly 5 taken', async (t) => {
      const now = Date.now();
      const userId = freshUser('race-lockout');
      await activeTotp(store, userId, 'totp', now);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          stores[i % stores.length]!.beginSecondFactor!(userId, {
            claim: { key: `challenge:${i}`, value: 'spent', expiresAt: now + 300_000 },
            attempts: [
              { key: `attempts:${i}`, limit: 5, ttlMs: 300_000 },
              { key: 'lockout', limit: 5, ttlMs: HOUR },
            ],
            readNonce: null,
            now,
          }),
        ),
      );
      t.ok(
        results.every((result) => result.claimed && result.attempts[0]?.taken),
        'every claim and challenge attempt',
      );
      const lockout = results.map((result) => result.attempts[1]!);
      t.equal(lockout.filter((state) => state.taken).length, 5, 'five taken');
      t.strictSame(
        lockout
          .filter((state) => state.taken)
          .map((state) => state.count)
          .sort(),
        [1, 2, 3, 4, 5],
      );
      t.ok(
        lockout.filter((state) => !state.taken).every((state) => state.count === 5),
        'the others see the counter at 5',
      );
      t.equal((await store.getCounter(userId, 'lockout', now))?.count, 5);
    });

    await t.test('concurrent finishSecondFactor of one step: exactly one consumes and writes', async (t) => {
      const now = Date.now();
      const userId = freshUser('race-finish');
      await activeTotp(store, userId, 'totp', now);
      const expected = await store.incrementCounter(userId, 'lockout', HOUR, now);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          stores[i % stores.length]!.finishSecondFactor!(userId, {
            authenticatorId: 'totp',
            counter: 100,
            reset: { key: 'lockout', expected },
            nonces: [{ key: `family:${i}`, value: `jti ${i}`, expiresAt: now + HOUR }],
            now,
          }),
        ),
      );
      t.equal(results.filter(Boolean).length, 1);
      t.equal(await store.getCounter(userId, 'lockout', now), null, 'the winner reset the counter');
      t.strictSame(
        (await store.listNonces(userId, 'family:', now)).map((nonce) => nonce.value),
        [`jti ${results.indexOf(true)}`],
        "only the winner's nonce",
      );
    });

    await t.test('concurrent consumeCounterAndReset of one step: exactly one consumes', async (t) => {
      const now = Date.now();
      const userId = freshUser('race-consume');
      await activeTotp(store, userId, 'totp', now);
      const expected = await store.incrementCounter(userId, 'lockout', HOUR, now);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          stores[i % stores.length]!.consumeCounterAndReset!(userId, 'totp', 100, now, {
            key: 'lockout',
            expected,
          }),
        ),
      );
      t.equal(results.filter(Boolean).length, 1);
      t.equal(await store.getCounter(userId, 'lockout', now), null, 'the winner reset the counter');
      t.equal((await store.getAuthenticator(userId, 'totp', now))?.lastCounter, 100);
    });
  });
}

/** One command as MONITOR reports it: its arguments, the command name lowercased. */
type Command = string[];

/**
 * Watches, through MONITOR on its own connection, every command the connection of `client` sends
 * (by its address: a script's inner commands come from `lua` and other connections from other
 * addresses, so neither is counted).
 */
async function watchCommands(client: Redis) {
  const address = /(?:^| )addr=(\S+)/.exec(String(await client.client('INFO')))?.[1];
  if (!address) throw new Error('CLIENT INFO without addr');
  const monitor = await client.monitor();
  const seen: Command[] = [];
  let waiting: { marker: string; resolve: () => void } | undefined;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== address) return;
    const command = [String(args[0]).toLowerCase(), ...args.slice(1).map(String)];
    seen.push(command);
    if (waiting && command[0] === 'echo' && command[1] === waiting.marker) waiting.resolve();
  });
  /** Sends an ECHO on the watched connection and waits until MONITOR has reported it. */
  const fence = async () => {
    const marker = randomUUID();
    const reported = new Promise<void>((resolve) => {
      waiting = { marker, resolve };
    });
    await client.echo(marker);
    await reported;
  };
  return {
    /** The commands the watched connection sent while `operation` ran. */
    async during(operation: () => Promise<unknown>): Promise<Command[]> {
      await fence();
      const from = seen.length;
      await operation();
      await fence();
      return seen.slice(from, -1);
    },
    stop: () => monitor.disconnect(),
  };
}

if (!(await hasCommand('redis-server'))) {
  reportMissing('redis-server not found on PATH (needed to start a private Redis)');
} else {
  tap.test('round trips, counted on a private redis-server', async (t) => {
    const dir = await tempDir('twofold-redis-round-trips');
    t.teardown(() => dir.remove());
    const server = await startRedisServer(await freePort(), dir.path);
    t.teardown(() => server.kill());
    const client = new Redis({ host: '127.0.0.1', port: server.port });
    t.teardown(() => client.disconnect());
    const inspector = new Redis({ host: '127.0.0.1', port: server.port });
    t.teardown(() => inspector.disconnect());
    const watch = await watchCommands(client);
    t.teardown(() => watch.stop());
    const store = redisStore({ client, prefix: 'twofold-round-trips:' });

    const now = Date.now();
    const userId = 'u{1}';
    await activeTotp(store, userId, 'totp', now);
    await store.addWebAuthnCredential(fixedWebAuthn(userId, 'key', now), {
      recoveryCodeHashes: [],
      maxActive: 10,
      now,
    });
    await store.putNonce(userId, 'recovery', 'r', now + HOUR, now);
    let challenges = 0;
    const begin = () =>
      store.beginSecondFactor!(userId, {
        claim: { key: `challenge:${challenges++}`, value: 'spent', expiresAt: now + 300_000 },
        attempts: [
          { key: `attempts:${challenges}`, limit: 5, ttlMs: 300_000 },
          { key: 'lockout', limit: 1_000, ttlMs: HOUR },
        ],
        readNonce: 'recovery',
        now,
      });
    let step = 10;
    const consume = () =>
      store.consumeCounterAndReset!(userId, 'totp', step++, now, {
        key: 'lockout',
        expected: { count: 1, expiresAt: now + HOUR },
      });
    const put = () =>
      store.putNonces!(
        userId,
        [
          { key: 'refresh:1', value: 'a', expiresAt: now + HOUR },
          { key: 'device:1', value: 'b', expiresAt: now + HOUR },
          { key: 'refresh:2', value: 'c', expiresAt: now + HOUR },
        ],
        now,
      );
    const finish = () =>
      store.finishSecondFactor!(userId, {
        authenticatorId: 'totp',
        counter: step++,
        reset: { key: 'lockout', expected: { count: 1, expiresAt: now + HOUR } },
        nonces: [
          { key: 'session:1', value: 'a', expiresAt: now + HOUR },
          { key: 'family:1', value: 'b', expiresAt: now + HOUR },
        ],
        now,
      });
    const operations: Array<[string, () => Promise<unknown>, string]> = [
      ['beginSecondFactor', begin, beginSecondFactorScript.sha],
      ['finishSecondFactor', finish, finishSecondFactorScript.sha],
      ['consumeCounterAndReset', consume, consumeCounterAndResetScript.sha],
      ['putNonces', put, putNoncesScript.sha],
    ];

    await t.test('the measure works: the same work one by one is eight commands', async (t) => {
      const oneByOne = async () => {
        await store.claimNonce(userId, `challenge:${challenges++}`, 'spent', now + 300_000, now);
        await store.takeAttempt(userId, `attempts:${challenges}`, 5, 300_000, now);
        await store.takeAttempt(userId, 'lockout', 1_000, HOUR, now);
        await store.listAuthenticators(userId, now);
        await store.getNonce(userId, 'recovery', now);
        await store.consumeCounter(userId, 'totp', step++, now);
        await store.resetCounterIfUnchanged(userId, 'lockout', { count: 1, expiresAt: now + HOUR });
        await store.putNonce(userId, 'refresh:1', 'a', now + HOUR, now);
      };
      await oneByOne(); // the server has the scripts from here on
      const commands = await watch.during(oneByOne);
      t.strictSame(
        commands.map((command) => command[0]),
        Array.from({ length: 8 }, () => 'evalsha'),
      );
    });

    for (const [name, operation, sha] of operations) {
      await t.test(`${name} is one EVALSHA`, async (t) => {
        await operation(); // the server has the script from here on
        await inspector.config('RESETSTAT');
        const commands = await watch.during(operation);
        t.strictSame(
          commands.map((command) => command.slice(0, 2)),
          [['evalsha', sha]],
          'MONITOR: one command from the store connection',
        );
        const stats = await inspector.info('commandstats');
        const calls = (command: string) =>
          Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
        t.strictSame(
          { evalsha: calls('evalsha'), eval: calls('eval') },
          { evalsha: 1, eval: 0 },
          'INFO commandstats agrees',
        );
      });
    }

    await t.test('a refused claim is one EVALSHA too', async (t) => {
      await store.claimNonce(userId, 'challenge:taken', 'spent', now + 300_000, now);
      let result: unknown;
      const commands = await watch.during(async () => {
        result = await store.beginSecondFactor!(userId, {
          claim: { key: 'challenge:taken', value: 'again', expiresAt: now + 300_000 },
          attempts: [{ key: 'lockout', limit: 5, ttlMs: HOUR }],
          readNonce: 'recovery',
          now,
        });
      });
      t.equal(commands.length, 1);
      t.strictSame(result, { claimed: false, authenticators: [], attempts: [], nonce: null });
    });

    await t.test(
      'after SCRIPT FLUSH each reloads itself: EVALSHA, NOSCRIPT, EVAL, then EVALSHA',
      async (t) => {
        for (const [name, operation, sha] of operations) {
          await inspector.script('FLUSH');
          const reloading = await watch.during(operation);
          t.strictSame(
            reloading.map((command) => command[0]),
            ['evalsha', 'eval'],
            `${name}: sent whole once`,
          );
          t.equal(reloading[0]![1], sha);
          const again = await watch.during(operation);
          t.strictSame(
            again.map((command) => command.slice(0, 2)),
            [['evalsha', sha]],
            `${name}: then by its SHA1`,
          );
        }
        const result = await begin();
        t.equal(result.claimed, true);
        t.equal(result.nonce, 'r');
        t.equal(result.authenticators.length, 2);
        t.ok(result.attempts.every((state) => state.taken));
      },
    );
  });
}
