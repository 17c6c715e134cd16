/**
 * On better-sqlite3 the store prepares each SQL text once and reuses the statement (Kysely's driver
 * would prepare every query again): counted on the database's own `prepare`, and the answers stay
 * right past the cache's size, when the oldest statements are dropped and prepared again.
 */
import type { PendingAuthenticator } from '@twofold/core';
import { migrate, sqlStore } from '@twofold/store-sql';
import tap from 'tap';
import { reachBetterSqlite3 } from './helpers/databases.js';

const { db: Database, skip } = await reachBetterSqlite3();

/** A pending TOTP authenticator `totp` of `userId`, its secret sealed as 'sealed'. */
function pendingTotp(userId: string, now: number): PendingAuthenticator {
  return {
    type: 'totp',
    userId,
    id: 'totp',
    name: null,
    status: 'pending',
    sealedSecret: 'sealed',
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    lastCounter: -1,
    createdAt: now,
    confirmedAt: null,
    lastUsedAt: null,
    expiresAt: now + 600_000,
  };
}

/** A property of a native object, methods bound to it (they refuse to run on a Proxy). */
function bound(target: object, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

tap.test('each SQL text is prepared once', { skip }, async (t) => {
  const db = new Database!(':memory:');
  t.teardown(() => db.close());
  await migrate(db);
  const store = await sqlStore({ db, sweepIntervalMs: false });
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    prepared.push(source);
    return prepare(source);
  }) as typeof db.prepare;

  const now = Date.now();
  await store.putNonce('u1', 'k', 'v1', now + 60_000, now);
  t.equal(await store.getNonce('u1', 'k', now), 'v1', 'written and read');
  const first = prepared.length;
  t.ok(first >= 2, `the first calls prepared their statements (${first})`);
  for (let i = 0; i < 20; i++) {
    await store.putNonce(`u${i}`, 'k', `v${i}`, now + 60_000, now);
    t.equal(await store.getNonce(`u${i}`, 'k', now), `v${i}`, `user ${i}: its own value`);
  }
  t.equal(prepared.length, first, '40 more calls of the same two operations prepared nothing more');
});

tap.test('past the cache size the answers stay right', { skip }, async (t) => {
  const db = new Database!(':memory:');
  t.teardown(() => db.close());
  await migrate(db);
  const store = await sqlStore({ db, sweepIntervalMs: false });
  const prepared = new Map<string, number>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    prepared.set(source, (prepared.get(source) ?? 0) + 1);
    return prepare(source);
  }) as typeof db.prepare;

  const now = Date.now();
  const userId = 'many';
  t.equal(await store.savePendingAuthenticator(pendingTotp(userId, now), now), true);
  await store.confirmAuthenticator(userId, 'totp', {
    sealedSecret: 'sealed',
    counter: 1,
    recoveryCodeHashes: ['h0'],
    maxActive: 5,
    now,
  });
  // Sets of 1 to 300 codes: a multi-row insert of another length, so another SQL text, each time.
  for (let size = 1; size <= 300; size++) {
    const hashes = Array.from({ length: size }, (_, i) => `h${size}-${i}`);
    t.equal(await store.replaceRecoveryCodes(userId, hashes, now), true);
    if (size % 50 === 0) t.equal(await store.countRecoveryCodes(userId), size, `${size} codes stored`);
  }
  t.equal(await store.consumeRecoveryCode(userId, 'h300-299'), true, 'a code of the last set is there');
  t.equal(await store.consumeRecoveryCode(userId, 'h299-0'), false, 'one of the set before is gone');
  const again = [...prepared].filter(([, count]) => count > 1);
  t.strictSame(again, [], 'the statements of every round stayed (least recently used go first)');
  const texts = prepared.size;
  t.equal(await store.replaceRecoveryCodes(userId, ['h-one'], now), true, 'a set of one code again');
  t.equal(await store.countRecoveryCodes(userId), 1, 'and it is the whole set');
  t.equal(prepared.size, texts, 'no new SQL text');
  t.ok(
    [...prepared.values()].some((count) => count === 2),
    'the one-code insert, unused for 299 rounds, had gone from the cache and was prepared again',
  );
});

tap.test(
  "a failing statement in a login's transaction rolls back the statements before it and frees the database",
  { skip },
  async (t) => {
    const db = new Database!(':memory:');
    t.teardown(() => db.close());
    await migrate(db);
    const store = await sqlStore({ db, sweepIntervalMs: false });
    const now = Date.now();
    const userId = 'u1';
    await store.savePendingAuthenticator(pendingTotp(userId, now), now);
    await store.confirmAuthenticator(userId, 'totp', {
      sealedSecret: 'sealed',
      counter: 1,
      recoveryCodeHashes: [],
      maxActive: 5,
      now,
    });
    const failures = await store.incrementCounter(userId, 'failures', 60_000, now);

    // consumeCounterAndReset on SQLite: BEGIN IMMEDIATE, the consume, the reset, COMMIT, run on
    // better-sqlite3 directly. The reset fails once (as a full disk would), after the consume
    // succeeded. (The store keeps the prepared statement, so the failure is switched off after.)
    let failing = true;
    const prepare = db.prepare.bind(db);
    db.prepare = ((source: string) => {
      const statement = prepare(source);
      if (!source.startsWith('delete from "twofold_counters"')) return statement;
      return new Proxy(statement, {
        get: (target, property) =>
          property === 'run' && failing
            ? () => {
                throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
              }
            : bound(target, property),
      });
    }) as typeof db.prepare;
    await t.rejects(
      store.consumeCounterAndReset(userId, 'totp', 5, now, { key: 'failures', expected: failures }),
      'the failure reaches the caller',
    );
    failing = false;

    t.equal(db.inTransaction, false, 'no transaction is left open');
    t.match(
      await store.getAuthenticator(userId, 'totp', now),
      { lastCounter: 1 },
      'the consume before the failure was rolled back',
    );
    t.same(await store.getCounter(userId, 'failures', now), failures, 'the failures counter is as it was');
    // The database is free for the next operation (the transaction released Kysely's connection).
    t.equal(
      await store.consumeCounterAndReset(userId, 'totp', 5, now, { key: 'failures', expected: failures }),
      true,
      'the same call succeeds once the database works',
    );
    t.match(await store.getAuthenticator(userId, 'totp', now), { lastCounter: 5 });
    t.equal(await store.getCounter(userId, 'failures', now), null, 'and resets the counter');
  },
);
