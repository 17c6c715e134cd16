import type { PendingAuthenticator } from '@twofold/core';
import { pendingRecord } from '@twofold/store-test-suite';
import { CamelCasePlugin, sql } from 'kysely';
import type { Test } from 'tap';
import { migrate, SCHEMA_VERSION, type SqlDatabase, type SqlDialect, sqlStore } from '../../src/index.js';
import { dropTables, inspect, uniquePrefix } from './databases.js';

/** One database under test. */
export interface SqlTarget {
  dialect: SqlDialect;
  /** The host's database object every test shares (a pool or a better-sqlite3 Database). */
  db: SqlDatabase;
  /** Ends `db` once every test is done. */
  close(): Promise<void>;
  /**
   * A database object the store cannot use: a pool to a closed port, or a closed database.
   * Registers its own cleanup on `t`.
   */
  unreachable(t: Test): Promise<SqlDatabase>;
  /** A database object of its own that the test may close, and a function that closes it. */
  disposable(t: Test): Promise<{ db: SqlDatabase; close(): Promise<void> }>;
  /**
   * Another pool (or connection) to the same database, as a second app process would have;
   * absent for an in-memory SQLite database, which has one connection by nature.
   */
  peer?(t: Test): Promise<SqlDatabase>;
}

const NOW = 1_800_000_000_123;

function pending(userId: string, overrides: Partial<PendingAuthenticator> = {}): PendingAuthenticator {
  return pendingRecord(userId, NOW, {
    sealedSecret: 'v1.k1.sealed',
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    ...overrides,
  });
}

/** A fresh prefix with its tables dropped at teardown. */
function freshPrefix(t: Test, target: SqlTarget): string {
  const prefix = uniquePrefix('tfa');
  t.teardown(() => dropTables(target.db, target.dialect, prefix));
  return prefix;
}

/** A migrated fresh prefix and a store on it with the given sweep interval. */
async function freshStore(t: Test, target: SqlTarget, sweepIntervalMs: number | false = false) {
  const prefix = freshPrefix(t, target);
  await migrate(target.db, { prefix });
  return { prefix, store: await sqlStore({ db: target.db, prefix, sweepIntervalMs }) };
}

/** Rows of `table` (under `prefix`) that belong to `userId`, read directly from the database. */
async function rowsOf(target: SqlTarget, prefix: string, table: string, userId: string): Promise<number> {
  const rows = await inspect(target.db, target.dialect)
    .selectFrom(`${prefix}${table}`)
    .select(sql<number>`1`.as('one'))
    .where('user_id', '=', userId)
    .execute();
  return rows.length;
}

/** The SQL store's own behaviour beyond the Store contract: migrations, startup check, sweep, failures. */
export function sqlAdapterTests(t: Test, target: SqlTarget): void {
  t.test('migrate creates the schema in an empty database', async (t) => {
    const prefix = freshPrefix(t, target);
    t.strictSame(await migrate(target.db, { prefix }), { from: 0, to: SCHEMA_VERSION, applied: [1] });
    const store = await sqlStore({ db: target.db, prefix });
    await store.putNonce('u1', 'k', 'v', NOW + 1000, NOW);
    t.equal(await store.getNonce('u1', 'k', NOW), 'v', 'the store works on the new tables');
  });

  t.test('migrate run again applies nothing and keeps the data', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.putNonce('u1', 'k', 'v', NOW + 1000, NOW);
    t.strictSame(await migrate(target.db, { prefix }), {
      from: SCHEMA_VERSION,
      to: SCHEMA_VERSION,
      applied: [],
    });
    t.equal(await store.getNonce('u1', 'k', NOW), 'v');
  });

  t.test('concurrent migrate runs apply each version exactly once', async (t) => {
    const prefix = freshPrefix(t, target);
    const results = await Promise.all([1, 2, 3].map(() => migrate(target.db, { prefix })));
    t.strictSame(
      results.map((result) => result.applied).sort((a, b) => b.length - a.length),
      [[1], [], []],
    );
  });

  t.test('sqlStore refuses an unmigrated database with TWOFOLD_SCHEMA_MISMATCH', async (t) => {
    const prefix = freshPrefix(t, target);
    await t.rejects(sqlStore({ db: target.db, prefix }), {
      name: 'SchemaMismatchError',
      code: 'TWOFOLD_SCHEMA_MISMATCH',
      expected: SCHEMA_VERSION,
      found: 0,
      prefix,
    });
  });

  t.test('sqlStore and migrate refuse a schema newer than the code', async (t) => {
    const prefix = freshPrefix(t, target);
    await migrate(target.db, { prefix });
    await inspect(target.db, target.dialect)
      .updateTable(`${prefix}schema_version`)
      .set({ version: SCHEMA_VERSION + 1 })
      .execute();
    const newer = { code: 'TWOFOLD_SCHEMA_MISMATCH', expected: SCHEMA_VERSION, found: SCHEMA_VERSION + 1 };
    await t.rejects(sqlStore({ db: target.db, prefix }), newer, 'the store refuses to start');
    await t.rejects(migrate(target.db, { prefix }), newer, 'migrate never goes down');
  });

  t.test('user ids and keys compare exactly: case and trailing spaces make different users', async (t) => {
    const { store } = await freshStore(t, target);
    const users = ['alice', 'Alice', 'alice ', 'ALICE'];
    for (const [index, userId] of users.entries()) {
      t.equal(
        await store.savePendingAuthenticator(pending(userId, { sealedSecret: `s${index}` }), NOW),
        true,
      );
      await store.putNonce(userId, 'k', `v${index}`, NOW + 1000, NOW);
    }
    for (const [index, userId] of users.entries()) {
      t.match(await store.getAuthenticator(userId, 'totp', NOW), { userId, sealedSecret: `s${index}` });
      t.equal(await store.getNonce(userId, 'k', NOW), `v${index}`);
    }
    t.equal(await store.getNonce('alice', 'K', NOW), null, 'keys are case-sensitive too');
  });

  t.test(
    'writes refuse ids, keys and hashes over 255 characters with a RangeError and write nothing',
    async (t) => {
      const { prefix, store } = await freshStore(t, target);
      const long = 'x'.repeat(256);
      await store.savePendingAuthenticator(pending('u1'), NOW);
      const writes: Array<[string, () => Promise<unknown>]> = [
        ['savePendingAuthenticator userId', () => store.savePendingAuthenticator(pending(long), NOW)],
        [
          'savePendingAuthenticator id',
          () => store.savePendingAuthenticator(pending('u2', { id: long }), NOW),
        ],
        ['incrementCounter key', () => store.incrementCounter('u2', long, 1000, NOW)],
        ['putNonce key', () => store.putNonce('u2', long, 'v', NOW + 1000, NOW)],
        ['claimNonce key', () => store.claimNonce('u2', long, 'v', NOW + 1000, NOW)],
        [
          'confirmAuthenticator hash',
          () =>
            store.confirmAuthenticator('u1', 'totp', {
              counter: 1,
              recoveryCodeHashes: ['h', long],
              now: NOW,
            }),
        ],
      ];
      for (const [name, write] of writes) await t.rejects(write(), { name: 'RangeError' }, name);
      for (const table of ['authenticators', 'counters', 'nonces']) {
        t.equal(await rowsOf(target, prefix, table, 'u2'), 0, `nothing in ${table}`);
      }
      t.match(await store.getAuthenticator('u1', 'totp', NOW), { status: 'pending' }, 'confirm rolled back');
      t.equal(await store.countRecoveryCodes('u1'), 0);
    },
  );

  t.test('sweep deletes expired pending enrollments, counters and nonces, and nothing live', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.savePendingAuthenticator(pending('old', { expiresAt: NOW + 1000 }), NOW);
    await store.savePendingAuthenticator(pending('new', { expiresAt: NOW + 10_000 }), NOW);
    for (const [userId, ttl] of [
      ['old', 1000],
      ['new', 10_000],
    ] as const) {
      await store.incrementCounter(userId, 'failures', ttl, NOW);
      await store.putNonce(userId, 'recovery', 'v', NOW + ttl, NOW);
    }
    t.strictSame(await store.sweep(NOW + 1000), { authenticators: 1, counters: 1, nonces: 1 });
    for (const table of ['authenticators', 'counters', 'nonces']) {
      t.equal(await rowsOf(target, prefix, table, 'old'), 0, `expired ${table} row deleted`);
      t.equal(await rowsOf(target, prefix, table, 'new'), 1, `live ${table} row kept`);
    }
  });

  t.test('sweep keeps active authenticators and recovery codes', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.savePendingAuthenticator(pending('u1'), NOW);
    await store.confirmAuthenticator('u1', 'totp', {
      counter: 5,
      recoveryCodeHashes: ['h1', 'h2'],
      now: NOW,
    });
    t.strictSame(await store.sweep(NOW + 365 * 24 * 3600_000), { authenticators: 0, counters: 0, nonces: 0 });
    t.equal(await rowsOf(target, prefix, 'authenticators', 'u1'), 1);
    t.equal(await store.countRecoveryCodes('u1'), 2);
  });

  t.test('writes sweep expired rows at most once per sweepIntervalMs of store time', async (t) => {
    const { prefix, store } = await freshStore(t, target, 60_000);
    await store.incrementCounter('u1', 'a', 1000, NOW); // sweeps (nothing yet); next sweep at NOW + 60 s
    await store.incrementCounter('u1', 'b', 1000, NOW + 30_000);
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 2, 'no sweep within the interval');
    await store.incrementCounter('u1', 'c', 1000, NOW + 60_000);
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 1, 'the next write after it swept a and b');
  });

  t.test('an unreachable database rejects with TWOFOLD_STORE_UNAVAILABLE within seconds', async (t) => {
    const db = await target.unreachable(t);
    const started = Date.now();
    await t.rejects(sqlStore({ db }), { name: 'StoreUnavailableError', code: 'TWOFOLD_STORE_UNAVAILABLE' });
    await t.rejects(migrate(db), { code: 'TWOFOLD_STORE_UNAVAILABLE' });
    t.ok(Date.now() - started < 5000, 'fails fast');
  });

  t.test('operations fail closed with TWOFOLD_STORE_UNAVAILABLE once the connection is gone', async (t) => {
    const { db, close } = await target.disposable(t);
    const prefix = freshPrefix(t, target);
    await migrate(db, { prefix });
    const store = await sqlStore({ db, prefix });
    await store.savePendingAuthenticator(pending('u1'), NOW);
    await store.confirmAuthenticator('u1', 'totp', { counter: 5, recoveryCodeHashes: ['h1'], now: NOW });
    await close();
    const unavailable = { code: 'TWOFOLD_STORE_UNAVAILABLE' };
    await t.rejects(store.consumeCounter('u1', 'totp', 6, NOW), unavailable, 'consumeCounter');
    await t.rejects(store.consumeRecoveryCode('u1', 'h1'), unavailable, 'consumeRecoveryCode');
    await t.rejects(store.incrementCounter('u1', 'failures', 1000, NOW), unavailable, 'incrementCounter');
    await t.rejects(store.getCounter('u1', 'failures', NOW), unavailable, 'getCounter');
  });

  const { peer } = target;
  if (peer) {
    /** Two stores on two pools of one database, as two app processes have, on a fresh prefix. */
    const twoProcesses = async (t: Test) => {
      const { prefix, store } = await freshStore(t, target);
      return [store, await sqlStore({ db: await peer(t), prefix })] as const;
    };

    t.test('two pools: of 50 parallel consumeCounter calls with one counter exactly one wins', async (t) => {
      const stores = await twoProcesses(t);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        await stores[0].savePendingAuthenticator(pending(userId), NOW);
        await stores[1].confirmAuthenticator(userId, 'totp', {
          counter: 10,
          recoveryCodeHashes: [],
          now: NOW,
        });
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => stores[i % 2]!.consumeCounter(userId, 'totp', 11, NOW)),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
      }
    });

    t.test('two pools: of 50 parallel consumeRecoveryCode calls exactly one wins', async (t) => {
      const stores = await twoProcesses(t);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        await stores[0].savePendingAuthenticator(pending(userId), NOW);
        await stores[0].confirmAuthenticator(userId, 'totp', {
          counter: 10,
          recoveryCodeHashes: ['h'],
          now: NOW,
        });
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => stores[i % 2]!.consumeRecoveryCode(userId, 'h')),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
      }
    });

    t.test('two pools: 40 parallel incrementCounter calls count 40 and return 1..40', async (t) => {
      const stores = await twoProcesses(t);
      const states = await Promise.all(
        Array.from({ length: 40 }, (_, i) => stores[i % 2]!.incrementCounter('u1', 'failures', 60_000, NOW)),
      );
      t.strictSame(
        states.map((state) => state.count).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      t.strictSame(await stores[0].getCounter('u1', 'failures', NOW), { count: 40, expiresAt: NOW + 60_000 });
    });
  }

  t.test("works through the host's Kysely instance, whatever its plugins", async (t) => {
    const prefix = freshPrefix(t, target);
    const kysely = inspect(target.db, target.dialect).withPlugin(new CamelCasePlugin());
    t.strictSame((await migrate(kysely, { prefix })).applied, [1]);
    const store = await sqlStore({ db: kysely, prefix });
    t.equal(await store.savePendingAuthenticator(pending('u1'), NOW), true);
    t.strictSame(await store.getAuthenticator('u1', 'totp', NOW), pending('u1'));
  });

  t.test(
    'listSealedSecrets pages through every authenticator exactly once, pending ones included',
    async (t) => {
      const { store } = await freshStore(t, target);
      t.strictSame(await store.listSealedSecrets(), [], 'an empty store lists nothing');
      t.equal(await store.countSealedSecrets(), 0);
      const expected = new Map<string, string>();
      const users = ['alice', 'Alice', 'alice ', 'bob', 'b', 'carol-10', 'carol-9', 'dave'];
      for (const [index, userId] of users.entries()) {
        for (const id of index % 3 === 0 ? ['totp', 'phone', 'TOTP'] : ['totp']) {
          const sealedSecret = `tf1.k1.${index}-${id}`;
          await store.savePendingAuthenticator(pending(userId, { id, sealedSecret }), NOW);
          expected.set(`${userId}\0${id}`, sealedSecret);
        }
      }
      await store.confirmAuthenticator('bob', 'totp', { counter: 1, recoveryCodeHashes: [], now: NOW });
      t.equal(await store.countSealedSecrets(), expected.size);

      const all = await store.listSealedSecrets({ limit: 1000 });
      t.equal(all.length, expected.size, 'one big page holds every row');
      for (const limit of [1, 2, 3, 5]) {
        const paged = [];
        let page = await store.listSealedSecrets({ limit });
        while (page.length > 0) {
          t.ok(page.length <= limit, `a page holds at most ${limit}`);
          paged.push(...page);
          const last = page[page.length - 1]!;
          page = await store.listSealedSecrets({
            after: { userId: last.userId, authenticatorId: last.authenticatorId },
            limit,
          });
        }
        t.strictSame(paged, all, `pages of ${limit} concatenate to the same rows in the same order`);
      }
      t.strictSame(
        new Map(all.map((entry) => [`${entry.userId}\0${entry.authenticatorId}`, entry.sealedSecret])),
        expected,
        'each entry carries its own sealed secret',
      );
    },
  );

  t.test('listSealedSecrets keeps its place when rows before the cursor change', async (t) => {
    const { store } = await freshStore(t, target);
    for (const userId of ['u1', 'u2', 'u3', 'u4']) {
      await store.savePendingAuthenticator(pending(userId, { sealedSecret: `s-${userId}` }), NOW);
    }
    const first = await store.listSealedSecrets({ limit: 2 });
    t.strictSame(
      first.map((entry) => entry.userId),
      ['u1', 'u2'],
    );
    await store.deleteTwoFactor('u1');
    await store.savePendingAuthenticator(pending('u0'), NOW);
    const rest = await store.listSealedSecrets({
      after: { userId: 'u2', authenticatorId: 'totp' },
      limit: 10,
    });
    t.strictSame(
      rest.map((entry) => entry.userId),
      ['u3', 'u4'],
    );
  });

  t.test('listSealedSecrets refuses a bad limit or cursor', async (t) => {
    const { store } = await freshStore(t, target);
    for (const limit of [0, -1, 1.5, 1001, Number.NaN]) {
      await t.rejects(store.listSealedSecrets({ limit }), { name: 'RangeError' }, `limit ${limit}`);
    }
    await t.rejects(store.listSealedSecrets({ after: { userId: 'u1' } as never }), { name: 'TypeError' });
  });

  t.test('close() leaves the host database object open', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.close();
    const again = await sqlStore({ db: target.db, prefix });
    await again.putNonce('u1', 'k', 'v', NOW + 1000, NOW);
    t.equal(await again.getNonce('u1', 'k', NOW), 'v');
  });
}
