import { randomBytes } from 'node:crypto';
import {
  type AddWebAuthnCredentialInput,
  createKeyring,
  createTwoFactor,
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  type PendingAuthenticator,
  type WebAuthnCredentialRecord,
} from '@twofold/core';
import { generateSecret, Totp } from '@twofold/otp';
import { pendingRecord } from '@twofold/store-test-suite';
import { CamelCasePlugin, sql } from 'kysely';
import type { Test } from 'tap';
import {
  migrate,
  SCHEMA_VERSION,
  type SqlDatabase,
  type SqlDialect,
  type SqlStore,
  sqlStore,
} from '../../src/index.js';
import { MIGRATIONS } from '../../src/internal/migrations.js';
import { tableNames } from '../../src/internal/tables.js';
import { migrateAsRelease01 } from '../fixtures/release-0.1-migrate.js';
import { migrateAsSchema1, schema1Enrollment } from '../fixtures/schema-1-release.js';
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

export const NOW = 1_800_000_000_123;

/** The most active authenticators a user may have, in the tests that are not about the limit. */
export const MAX_ACTIVE = 10;

/** The sealed secret of {@link pending} records, which confirm must name. */
export const SEALED = 'v1.k1.sealed';

export function pending(userId: string, overrides: Partial<PendingAuthenticator> = {}): PendingAuthenticator {
  return pendingRecord(userId, NOW, {
    sealedSecret: SEALED,
    createdAt: NOW,
    expiresAt: NOW + 60_000,
    ...overrides,
  });
}

/** A WebAuthn credential of `userId` (a random authenticator id and credential id unless given). */
export function credential(
  userId: string,
  overrides: Partial<WebAuthnCredentialRecord> = {},
): WebAuthnCredentialRecord {
  return {
    type: 'webauthn',
    userId,
    id: `key-${randomBytes(6).toString('hex')}`,
    name: 'Security key',
    credentialId: randomBytes(32).toString('base64url'),
    publicKey: randomBytes(77).toString('base64url'),
    counter: 0,
    transports: ['usb', 'nfc'],
    aaguid: '00000000-0000-0000-0000-000000000000',
    backupEligible: false,
    backupState: false,
    createdAt: NOW + 1,
    lastUsedAt: null,
    ...overrides,
  };
}

/** What addWebAuthnCredential takes besides the record. */
export function registration(
  overrides: Partial<AddWebAuthnCredentialInput> = {},
): AddWebAuthnCredentialInput {
  return { recoveryCodeHashes: ['h1', 'h2'], maxActive: MAX_ACTIVE, now: NOW, ...overrides };
}

/** A fresh prefix with its tables dropped at teardown. */
export function freshPrefix(t: Test, target: SqlTarget): string {
  const prefix = uniquePrefix('tfa');
  t.teardown(() => dropTables(target.db, target.dialect, prefix));
  return prefix;
}

/** A migrated fresh prefix and a store on it with the given sweep interval. */
export async function freshStore(t: Test, target: SqlTarget, sweepIntervalMs: number | false = false) {
  const prefix = freshPrefix(t, target);
  await migrate(target.db, { prefix });
  return { prefix, store: await sqlStore({ db: target.db, prefix, sweepIntervalMs }) };
}

/** Rows of `table` (under `prefix`) that belong to `userId`, read directly from the database. */
export async function rowsOf(
  target: SqlTarget,
  prefix: string,
  table: string,
  userId: string,
): Promise<number> {
  const rows = await inspect(target.db, target.dialect)
    .selectFrom(`${prefix}${table}`)
    .select(sql<number>`1`.as('one'))
    .where('user_id', '=', userId)
    .execute();
  return rows.length;
}

/** The migration names recorded in Kysely's migration table of `prefix`, sorted. */
async function migrationNames(target: SqlTarget, prefix: string): Promise<string[]> {
  const rows = await inspect(target.db, target.dialect)
    .selectFrom(`${prefix}migration`)
    .select('name')
    .orderBy('name')
    .execute();
  return rows.map((row) => String(row.name));
}

/**
 * What the schema says of the nonces and counters tables: on SQLite (schema version 3) whether each
 * is a WITHOUT ROWID table and the indexes it has; elsewhere only the indexes on expires_at.
 */
async function shortLivedTables(target: SqlTarget, prefix: string): Promise<Record<string, unknown>> {
  const raw = inspect(target.db, target.dialect);
  const described: Record<string, unknown> = {};
  for (const kind of ['nonces', 'counters']) {
    const table = `${prefix}${kind}`;
    if (target.dialect === 'sqlite') {
      const { rows } = await sql<{ type: string; name: string; sql: string | null }>`
        select type, name, sql from sqlite_master where tbl_name = ${table} order by type, name`.execute(raw);
      described[kind] = {
        withoutRowid: /without rowid\s*$/i.test(rows.find((row) => row.type === 'table')?.sql ?? ''),
        indexes: rows.filter((row) => row.type === 'index').map((row) => row.name),
      };
    } else {
      const tables = await raw.introspection.getTables();
      const found = tables.find((candidate) => candidate.name === table);
      const indexed =
        target.dialect === 'postgres'
          ? await sql<{ name: string }>`
              select indexname as name from pg_indexes
              where tablename = ${table} and indexdef like '%(expires_at)%'`.execute(raw)
          : await sql<{ name: string }>`
              select distinct index_name as name from information_schema.statistics
              where table_schema = database() and table_name = ${table} and column_name = 'expires_at'`.execute(
              raw,
            );
      described[kind] = {
        exists: found !== undefined,
        expiresAtIndexes: indexed.rows.map((row) => row.name),
      };
    }
  }
  return described;
}

/** {@link shortLivedTables} of a database at the current schema version. */
function shortLivedSchema(dialect: SqlDialect, prefix: string): Record<string, unknown> {
  // Version 3 on SQLite: clustered on (user_id, key), no index to keep up on every login.
  if (dialect === 'sqlite') {
    return {
      nonces: { withoutRowid: true, indexes: [] },
      counters: { withoutRowid: true, indexes: [] },
    };
  }
  return {
    nonces: { exists: true, expiresAtIndexes: [`${prefix}nonces_expires_at_idx`] },
    counters: { exists: true, expiresAtIndexes: [`${prefix}counters_expires_at_idx`] },
  };
}

/** The schema versions after `version`, up to the one this code needs. */
export function versionsAfter(version: number): number[] {
  return Array.from({ length: SCHEMA_VERSION - version }, (_, index) => version + index + 1);
}

/** The SQL store's own behaviour beyond the Store contract: migrations, startup check, sweep, failures. */
export function sqlAdapterTests(t: Test, target: SqlTarget): void {
  t.test('migrate creates the schema in an empty database', async (t) => {
    const prefix = freshPrefix(t, target);
    t.strictSame(await migrate(target.db, { prefix }), {
      from: 0,
      to: SCHEMA_VERSION,
      applied: versionsAfter(0),
    });
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
      [versionsAfter(0), [], []],
    );
  });

  t.test("migrate records each applied version in Kysely's migration table of the prefix", async (t) => {
    const prefix = freshPrefix(t, target);
    await migrate(target.db, { prefix });
    t.strictSame(
      await migrationNames(target, prefix),
      MIGRATIONS.map((migration) => migration.name),
    );
  });

  t.test("migration names sort in version order, as Kysely's Migrator runs them", async (t) => {
    const names = MIGRATIONS.map((migration) => migration.name);
    t.strictSame([...names].sort(), names);
    t.strictSame(
      MIGRATIONS.map((migration) => migration.version),
      MIGRATIONS.map((_, index) => index + 1),
      'versions run 1, 2, 3...',
    );
  });

  t.test('a database migrated by release 0.1 is adopted by migrate and keeps its users', async (t) => {
    const prefix = freshPrefix(t, target);
    t.strictSame(await migrateAsRelease01(target.db, { prefix }), { from: 0, to: 1, applied: [1] });
    // Today's store refuses schema 1: the user is enrolled as the schema-1 store wrote it.
    await t.rejects(sqlStore({ db: target.db, prefix }), { code: 'TWOFOLD_SCHEMA_MISMATCH', found: 1 });
    const before = schema1Enrollment(target.db, prefix);
    t.equal(await before.savePendingAuthenticator(pending('u1')), true);
    t.equal(
      await before.confirmAuthenticator('u1', 'totp', {
        sealedSecret: SEALED,
        counter: 5,
        recoveryCodeHashes: ['h1', 'h2'],
        now: NOW,
      }),
      true,
    );

    t.strictSame(
      await migrate(target.db, { prefix }),
      { from: 1, to: SCHEMA_VERSION, applied: versionsAfter(1) },
      'versions up to 1 are recognised as applied',
    );
    t.strictSame(
      await migrationNames(target, prefix),
      MIGRATIONS.map((migration) => migration.name),
    );
    const store = await sqlStore({ db: target.db, prefix });
    t.match(await store.getAuthenticator('u1', 'totp', NOW), {
      status: 'active',
      sealedSecret: SEALED,
      lastCounter: 5,
      confirmedAt: NOW,
    });
    t.equal(await store.countRecoveryCodes('u1'), 2);
    t.equal(await store.consumeCounter('u1', 'totp', 6, NOW), true, 'the user logs in');
    t.strictSame(
      await migrate(target.db, { prefix }),
      { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] },
      'the next run has nothing to do',
    );
  });

  t.test('concurrent migrate runs adopt a release 0.1 database once', async (t) => {
    const prefix = freshPrefix(t, target);
    await migrateAsRelease01(target.db, { prefix });
    const results = await Promise.all([1, 2, 3].map(() => migrate(target.db, { prefix })));
    t.strictSame(
      results.map((result) => result.applied).sort((a, b) => b.length - a.length),
      [versionsAfter(1), [], []],
    );
    t.strictSame(
      await migrationNames(target, prefix),
      MIGRATIONS.map((migration) => migration.name),
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
        ['takeAttempt key', () => store.takeAttempt('u2', long, 5, 1000, NOW)],
        ['takeAttempt userId', () => store.takeAttempt(long, 'failures', 5, 1000, NOW)],
        ['putNonce key', () => store.putNonce('u2', long, 'v', NOW + 1000, NOW)],
        ['claimNonce key', () => store.claimNonce('u2', long, 'v', NOW + 1000, NOW)],
        [
          'confirmAuthenticator hash',
          () =>
            store.confirmAuthenticator('u1', 'totp', {
              sealedSecret: SEALED,
              counter: 1,
              recoveryCodeHashes: ['h', long],
              maxActive: MAX_ACTIVE,
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
      sealedSecret: SEALED,
      counter: 5,
      recoveryCodeHashes: ['h1', 'h2'],
      maxActive: MAX_ACTIVE,
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
    await store.confirmAuthenticator('u1', 'totp', {
      sealedSecret: SEALED,
      counter: 5,
      recoveryCodeHashes: ['h1'],
      maxActive: MAX_ACTIVE,
      now: NOW,
    });
    await close();
    const unavailable = { code: 'TWOFOLD_STORE_UNAVAILABLE' };
    await t.rejects(store.consumeCounter('u1', 'totp', 6, NOW), unavailable, 'consumeCounter');
    await t.rejects(store.consumeRecoveryCode('u1', 'h1'), unavailable, 'consumeRecoveryCode');
    await t.rejects(store.incrementCounter('u1', 'failures', 1000, NOW), unavailable, 'incrementCounter');
    await t.rejects(store.getCounter('u1', 'failures', NOW), unavailable, 'getCounter');
    await t.rejects(store.takeAttempt('u1', 'failures', 5, 1000, NOW), unavailable, 'takeAttempt');
    await t.rejects(
      store.resetCounterIfUnchanged('u1', 'failures', { count: 1, expiresAt: NOW + 1000 }),
      unavailable,
      'resetCounterIfUnchanged',
    );
    await t.rejects(
      store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'v', NOW),
      unavailable,
      'takeNonceAndDeleteTwoFactor',
    );
    for (const claim of [{ key: 'challenge', value: 'v', expiresAt: NOW + 1000 }, null]) {
      await t.rejects(
        store.beginSecondFactor('u1', {
          claim,
          attempts: [{ key: 'failures', limit: 5, ttlMs: 1000 }],
          readNonce: 'recovery',
          now: NOW,
        }),
        unavailable,
        `beginSecondFactor (claim ${claim ? 'made' : 'none'})`,
      );
    }
    await t.rejects(
      store.consumeCounterAndReset('u1', 'totp', 6, NOW, {
        key: 'failures',
        expected: { count: 1, expiresAt: NOW + 1000 },
      }),
      unavailable,
      'consumeCounterAndReset',
    );
    await t.rejects(
      store.putNonces('u1', [{ key: 'a', value: 'v', expiresAt: NOW + 1000 }], NOW),
      unavailable,
      'putNonces',
    );
    await t.rejects(
      store.finishSecondFactor('u1', {
        authenticatorId: 'totp',
        counter: 6,
        reset: { key: 'failures', expected: { count: 1, expiresAt: NOW + 1000 } },
        nonces: [{ key: 'a', value: 'v', expiresAt: NOW + 1000 }],
        now: NOW,
      }),
      unavailable,
      'finishSecondFactor',
    );
  });

  const { peer } = target;
  if (peer) {
    /** Two stores on two pools of one database, as two app processes have, on a fresh prefix. */
    const twoProcesses = async (t: Test) => {
      const { prefix, store } = await freshStore(t, target);
      return [store, await sqlStore({ db: await peer(t), prefix })] as const;
    };

    // Two connections to one SQLite file in one thread cannot wait for each other (SQLite's busy
    // wait blocks the thread): the CLI tests run two migrate processes on one file instead.
    if (target.dialect !== 'sqlite') {
      t.test('two pools: concurrent migrate runs apply each version exactly once', async (t) => {
        const prefix = freshPrefix(t, target);
        const dbs = [target.db, await peer(t)];
        const results = await Promise.all([0, 1, 2, 3].map((i) => migrate(dbs[i % 2]!, { prefix })));
        t.strictSame(
          results.map((result) => result.applied).sort((a, b) => b.length - a.length),
          [versionsAfter(0), [], [], []],
        );
        t.strictSame(
          await migrationNames(target, prefix),
          MIGRATIONS.map((migration) => migration.name),
        );
      });
    }

    t.test('two pools: of 50 parallel consumeCounter calls with one counter exactly one wins', async (t) => {
      const stores = await twoProcesses(t);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        await stores[0].savePendingAuthenticator(pending(userId), NOW);
        await stores[1].confirmAuthenticator(userId, 'totp', {
          sealedSecret: SEALED,
          counter: 10,
          recoveryCodeHashes: [],
          maxActive: MAX_ACTIVE,
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
          sealedSecret: SEALED,
          counter: 10,
          recoveryCodeHashes: ['h'],
          maxActive: MAX_ACTIVE,
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

  lockoutTests(t, target);
  upgradeTests(t, target);
  authenticatorTests(t, target);

  t.test("works through the host's Kysely instance, whatever its plugins", async (t) => {
    const prefix = freshPrefix(t, target);
    const kysely = inspect(target.db, target.dialect).withPlugin(new CamelCasePlugin());
    t.strictSame((await migrate(kysely, { prefix })).applied, versionsAfter(0));
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
        const ids = index % 3 === 0 ? ['totp', 'phone', 'TOTP'] : ['totp'];
        for (const [position, id] of ids.entries()) {
          const sealedSecret = `tf1.k1.${index}-${id}`;
          await store.savePendingAuthenticator(pending(userId, { id, sealedSecret }), NOW);
          expected.set(`${userId}\0${id}`, sealedSecret);
          // One enrollment at a time: every one but the user's last is confirmed.
          if (position === ids.length - 1) continue;
          const outcome = await store.confirmAuthenticator(userId, id, {
            sealedSecret,
            counter: 1,
            recoveryCodeHashes: [],
            maxActive: MAX_ACTIVE,
            now: NOW,
          });
          t.equal(outcome, position === 0 ? 'enabled' : 'added');
        }
      }
      // A credential has no sealed secret: never listed.
      t.equal(await store.addWebAuthnCredential(credential('alice'), registration()), 'added');
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

/** Names a trigger or function of the tests under `prefix`. */
const refuseName = (prefix: string) => `${prefix}refuse`;

/**
 * Makes every delete from the recovery codes table of `prefix` fail (a trigger that raises), to
 * check that an operation failing halfway leaves nothing changed. The trigger goes with the table;
 * PostgreSQL's trigger function is dropped at teardown.
 */
async function refuseRecoveryCodeDeletes(t: Test, target: SqlTarget, prefix: string): Promise<void> {
  const db = inspect(target.db, target.dialect);
  const name = refuseName(prefix);
  const table = `${prefix}recovery_codes`;
  switch (target.dialect) {
    case 'postgres':
      t.teardown(() => sql`drop function if exists ${sql.id(name)}() cascade`.execute(db));
      await sql`create function ${sql.id(name)}() returns trigger language plpgsql as ${sql.raw(
        "$$ begin raise exception 'refused by the test'; end $$",
      )}`.execute(db);
      await sql`create trigger ${sql.id(name)} before delete on ${sql.table(table)} for each row execute function ${sql.id(name)}()`.execute(
        db,
      );
      return;
    case 'mysql':
      await sql`create trigger ${sql.id(name)} before delete on ${sql.table(table)} for each row signal sqlstate '45000' set message_text = 'refused by the test'`.execute(
        db,
      );
      return;
    case 'sqlite':
      await sql`create trigger ${sql.id(name)} before delete on ${sql.table(table)} begin select raise(abort, 'refused by the test'); end`.execute(
        db,
      );
      return;
  }
}

/**
 * The store on a fresh prefix, plus one more store per extra pool (as further app processes have,
 * where the target has peers). SQLite gets no extra store for `transactional` races: two
 * connections of one process cannot wait for each other's write lock without blocking the thread
 * that would release it.
 */
export async function racingStores(
  t: Test,
  target: SqlTarget,
  extraPools: number,
  transactional: boolean,
): Promise<{ prefix: string; stores: SqlStore[] }> {
  const { prefix, store } = await freshStore(t, target);
  const stores = [store];
  const { peer } = target;
  if (peer && !(transactional && target.dialect === 'sqlite')) {
    for (let i = 0; i < extraPools; i++) stores.push(await sqlStore({ db: await peer(t), prefix }));
  }
  return { prefix, stores };
}

export const byNumber = (a: number, b: number) => a - b;
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * takeAttempt, resetCounterIfUnchanged, takeNonceAndDeleteTwoFactor and confirm's compare-and-set
 * on the sealed secret, as the SQL store implements them: across pools, under races, and rolled back
 * when a step fails.
 */
function lockoutTests(t: Test, target: SqlTarget): void {
  t.test('takeAttempt counts up to the limit, then refuses without moving the expiry', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    for (let count = 1; count <= 3; count++) {
      t.strictSame(await store.takeAttempt('u1', 'failures', 3, 60_000, NOW + count), {
        taken: true,
        count,
        expiresAt: NOW + count + 60_000,
      });
    }
    const refused = { taken: false, count: 3, expiresAt: NOW + 3 + 60_000 };
    t.strictSame(await store.takeAttempt('u1', 'failures', 3, 60_000, NOW + 10), refused);
    t.strictSame(await store.takeAttempt('u1', 'failures', 3, 60_000, NOW + 20), refused, 'again');
    t.strictSame(await store.getCounter('u1', 'failures', NOW + 20), { count: 3, expiresAt: NOW + 60_003 });
    t.strictSame(
      await store.takeAttempt('u1', 'failures', 4, 60_000, NOW + 30),
      { taken: true, count: 4, expiresAt: NOW + 60_030 },
      'a higher limit counts on',
    );
    t.strictSame(
      await store.takeAttempt('u1', 'failures', 4, 1000, NOW + 60_030),
      { taken: true, count: 1, expiresAt: NOW + 61_030 },
      'an expired counter at the limit starts again at 1',
    );
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 1, 'one row, taken over');
  });

  t.test('takeAttempt shares its counters with incrementCounter, getCounter and resetCounter', async (t) => {
    const { store } = await freshStore(t, target);
    for (let i = 0; i < 5; i++) await store.incrementCounter('u1', 'failures', 60_000, NOW);
    t.strictSame(
      await store.takeAttempt('u1', 'failures', 3, 60_000, NOW + 1),
      { taken: false, count: 5, expiresAt: NOW + 60_000 },
      'a counter above the limit is reported as it stands',
    );
    t.strictSame(await store.incrementCounter('u1', 'failures', 60_000, NOW + 2), {
      count: 6,
      expiresAt: NOW + 60_002,
    });
    await store.resetCounter('u1', 'failures');
    t.strictSame(await store.takeAttempt('u1', 'failures', 3, 60_000, NOW + 3), {
      taken: true,
      count: 1,
      expiresAt: NOW + 60_003,
    });
    t.strictSame(await store.takeAttempt('u1', 'other', 3, 60_000, NOW + 3), {
      taken: true,
      count: 1,
      expiresAt: NOW + 60_003,
    });
    await store.putNonce('u1', 'failures', 'v', NOW + 60_000, NOW);
    t.strictSame(await store.getCounter('u1', 'failures', NOW + 3), { count: 1, expiresAt: NOW + 60_003 });
    t.equal(await store.getNonce('u1', 'failures', NOW + 3), 'v', 'nonces are another namespace');
  });

  t.test('resetCounterIfUnchanged deletes only the exact counter it was given', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    const state = await store.takeAttempt('u1', 'failures', 5, 60_000, NOW);
    const { taken: _, ...expected } = state;
    t.equal(await store.resetCounterIfUnchanged('u1', 'failures', { ...expected, count: 2 }), false, 'count');
    t.equal(
      await store.resetCounterIfUnchanged('u1', 'failures', {
        ...expected,
        expiresAt: expected.expiresAt + 1,
      }),
      false,
      'expiry',
    );
    t.equal(await store.resetCounterIfUnchanged('u2', 'failures', expected), false, 'another user');
    t.equal(await store.resetCounterIfUnchanged('u1', 'other', expected), false, 'another key');
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 1, 'still there');
    t.equal(await store.resetCounterIfUnchanged('u1', 'failures', expected), true);
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 0, 'deleted');
    t.equal(await store.resetCounterIfUnchanged('u1', 'failures', expected), false, 'already gone');
  });

  t.test(
    'takeAttempt over 3 pools (1 for in-memory SQLite): of 100 parallel takes with limit 10 exactly 10 win',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, false);
      const scenarios: Array<[string, number, (userId: string) => Promise<unknown>]> = [
        ['an absent counter', 0, async () => {}],
        [
          'an expired counter above the limit',
          0,
          async (userId) => {
            for (let i = 0; i < 12; i++)
              await stores[0]!.incrementCounter(userId, 'failures', 1000, NOW - 5000);
          },
        ],
        [
          'a counter at 4',
          4,
          async (userId) => {
            for (let i = 0; i < 4; i++) await stores[0]!.incrementCounter(userId, 'failures', 1000, NOW);
          },
        ],
      ];
      for (const [name, start, setup] of scenarios) {
        for (let round = 0; round < 3; round++) {
          const userId = `race-${start}-${round}-${name.length}`;
          await setup(userId);
          const results = await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              stores[i % stores.length]!.takeAttempt(userId, 'failures', 10, 60_000, NOW),
            ),
          );
          const taken = results.filter((result) => result.taken);
          t.strictSame(
            taken.map((result) => result.count).sort(byNumber),
            range(start + 1, 10),
            `${name}, round ${round}: ${10 - start} taken, counting ${start + 1} to 10`,
          );
          t.ok(
            results.every(
              (result) => result.taken || (result.count === 10 && result.expiresAt === NOW + 60_000),
            ),
            'every refusal reports the counter at the limit',
          );
          t.strictSame(await stores[0]!.getCounter(userId, 'failures', NOW), {
            count: 10,
            expiresAt: NOW + 60_000,
          });
        }
      }
    },
  );

  t.test('takeAttempt refusals report a counter at the limit while resets race with them', async (t) => {
    const { stores } = await racingStores(t, target, 1, false);
    for (let round = 0; round < 10; round++) {
      const userId = `race-${round}`;
      const calls = Array.from({ length: 40 }, (_, i) =>
        i % 8 === 7
          ? stores[i % stores.length]!.resetCounter(userId, 'failures').then(() => null)
          : stores[i % stores.length]!.takeAttempt(userId, 'failures', 3, 60_000, NOW),
      );
      const results = (await Promise.all(calls)).filter((result) => result !== null);
      t.ok(
        results.every((result) =>
          result.taken ? result.count >= 1 && result.count <= 3 : result.count === 3,
        ),
        `round ${round}: takes count 1 to 3, refusals report 3`,
      );
    }
  });

  t.test('resetCounterIfUnchanged racing takeAttempt never erases a counted attempt', async (t) => {
    const { stores } = await racingStores(t, target, 1, false);
    for (let round = 0; round < 10; round++) {
      const userId = `race-${round}`;
      const first = await stores[0]!.takeAttempt(userId, 'failures', 100, 60_000, NOW);
      const [reset] = await Promise.all([
        stores[round % stores.length]!.resetCounterIfUnchanged(userId, 'failures', first),
        ...Array.from({ length: 5 }, (_, i) =>
          stores[(round + i + 1) % stores.length]!.takeAttempt(userId, 'failures', 100, 60_000, NOW + 1),
        ),
      ]);
      t.strictSame(
        await stores[0]!.getCounter(userId, 'failures', NOW + 1),
        { count: reset ? 5 : 6, expiresAt: NOW + 60_001 },
        `round ${round}: the reset ${reset ? 'ran before' : 'lost to'} the 5 takes`,
      );
    }
  });

  /** An active user with recovery codes, a pending second authenticator, a nonce and a counter. */
  const recoverable = async (store: SqlStore, userId: string) => {
    await store.savePendingAuthenticator(pending(userId), NOW);
    await store.confirmAuthenticator(userId, 'totp', {
      sealedSecret: SEALED,
      counter: 7,
      recoveryCodeHashes: ['h1', 'h2', 'h3'],
      maxActive: MAX_ACTIVE,
      now: NOW,
    });
    await store.savePendingAuthenticator(pending(userId, { id: 'phone' }), NOW);
    await store.putNonce(userId, 'recovery', 'token', NOW + 1000, NOW);
    await store.putNonce(userId, 'other', 'token', NOW + 1000, NOW);
    await store.incrementCounter(userId, 'failures', 60_000, NOW);
  };

  t.test(
    'takeNonceAndDeleteTwoFactor takes the nonce and deletes the two-factor rows together',
    async (t) => {
      const { prefix, store } = await freshStore(t, target);
      await recoverable(store, 'u1');
      await recoverable(store, 'u2');
      t.equal(
        await store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'wrong', NOW),
        false,
        'another value',
      );
      t.equal(
        await store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'token', NOW + 1000),
        false,
        'expired',
      );
      t.equal(await store.takeNonceAndDeleteTwoFactor('u1', 'absent', 'token', NOW), false, 'no such nonce');
      t.equal(await rowsOf(target, prefix, 'authenticators', 'u1'), 2, 'nothing deleted by a refusal');
      t.equal(await store.countRecoveryCodes('u1'), 3);
      t.equal(await store.getNonce('u1', 'recovery', NOW), 'token');

      t.equal(await store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'token', NOW + 999), true);
      t.equal(
        await rowsOf(target, prefix, 'authenticators', 'u1'),
        0,
        'active and pending authenticators gone',
      );
      t.equal(await store.countRecoveryCodes('u1'), 0, 'recovery codes gone');
      t.equal(await store.getNonce('u1', 'recovery', NOW), null, 'the nonce is taken');
      t.equal(await store.getNonce('u1', 'other', NOW), 'token', 'other nonces stay');
      t.strictSame(await store.getCounter('u1', 'failures', NOW), { count: 1, expiresAt: NOW + 60_000 });
      t.equal(await store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'token', NOW), false, 'only once');
      t.equal(await rowsOf(target, prefix, 'authenticators', 'u2'), 2, 'another user keeps everything');
      t.equal(await store.countRecoveryCodes('u2'), 3);
    },
  );

  t.test(
    'takeNonceAndDeleteTwoFactor failing halfway leaves the nonce and the rows as they were',
    async (t) => {
      const { prefix, store } = await freshStore(t, target);
      await recoverable(store, 'u1');
      await refuseRecoveryCodeDeletes(t, target, prefix);
      await t.rejects(
        store.takeNonceAndDeleteTwoFactor('u1', 'recovery', 'token', NOW),
        /refused by the test/,
      );
      t.equal(await store.getNonce('u1', 'recovery', NOW), 'token', 'the nonce is still there');
      t.equal(await rowsOf(target, prefix, 'authenticators', 'u1'), 2, 'the authenticators too');
      t.equal(await store.countRecoveryCodes('u1'), 3, 'and the recovery codes');
    },
  );

  t.test(
    'takeNonceAndDeleteTwoFactor over 2 pools (1 for SQLite): of 50 parallel calls exactly one wins',
    async (t) => {
      const { prefix, stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 5; round++) {
        const userId = `race-${round}`;
        await recoverable(stores[0]!, userId);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            stores[i % stores.length]!.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token', NOW),
          ),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
        t.equal(await rowsOf(target, prefix, 'authenticators', userId), 0);
        t.equal(await stores[0]!.countRecoveryCodes(userId), 0);
      }
    },
  );

  t.test(
    'takeNonceAndDeleteTwoFactor racing replaceRecoveryCodes leaves no recovery code behind',
    async (t) => {
      const { prefix, stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        await recoverable(stores[0]!, userId);
        const [taken] = await Promise.all([
          stores[round % stores.length]!.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token', NOW),
          ...Array.from({ length: 6 }, (_, i) =>
            stores[(round + i + 1) % stores.length]!.replaceRecoveryCodes(userId, [`n${i}a`, `n${i}b`], NOW),
          ),
        ]);
        t.equal(taken, true, `round ${round}: the take wins`);
        t.equal(await rowsOf(target, prefix, 'authenticators', userId), 0);
        t.equal(await stores[0]!.countRecoveryCodes(userId), 0, 'no code of a replace survives');
      }
    },
  );

  t.test('confirm activates only while the record holds the sealed secret it names', async (t) => {
    const { store } = await freshStore(t, target);
    await store.savePendingAuthenticator(pending('u1', { sealedSecret: 'v1.k1.first' }), NOW);
    await store.savePendingAuthenticator(pending('u1', { sealedSecret: 'v1.k1.second' }), NOW);
    const input = { counter: 9, recoveryCodeHashes: ['h1'], maxActive: MAX_ACTIVE, now: NOW };
    t.equal(
      await store.confirmAuthenticator('u1', 'totp', { ...input, sealedSecret: 'v1.k1.first' }),
      'missing',
    );
    t.match(await store.getAuthenticator('u1', 'totp', NOW), {
      status: 'pending',
      sealedSecret: 'v1.k1.second',
    });
    t.equal(await store.countRecoveryCodes('u1'), 0, 'no codes written');
    t.equal(
      await store.confirmAuthenticator('u1', 'totp', { ...input, sealedSecret: 'v1.k1.second' }),
      'enabled',
    );
    t.match(await store.getAuthenticator('u1', 'totp', NOW), {
      status: 'active',
      sealedSecret: 'v1.k1.second',
    });
  });

  t.test(
    'confirm racing a re-enrollment over 2 pools (1 for SQLite) activates only the secret it checked',
    async (t) => {
      const { stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        await stores[0]!.savePendingAuthenticator(pending(userId, { sealedSecret: 'v1.k1.old' }), NOW);
        const [outcome, replaced] = await Promise.all([
          stores[round % stores.length]!.confirmAuthenticator(userId, 'totp', {
            sealedSecret: 'v1.k1.old',
            counter: 9,
            recoveryCodeHashes: ['h1'],
            maxActive: MAX_ACTIVE,
            now: NOW,
          }),
          stores[(round + 1) % stores.length]!.savePendingAuthenticator(
            pending(userId, { sealedSecret: 'v1.k1.new' }),
            NOW,
          ),
        ]);
        const confirmed = outcome === 'enabled';
        t.ok(confirmed || outcome === 'missing', `round ${round}: enabled or missing`);
        t.not(confirmed, replaced, `round ${round}: exactly one of them wins`);
        t.match(
          await stores[0]!.getAuthenticator(userId, 'totp', NOW),
          confirmed
            ? { status: 'active', sealedSecret: 'v1.k1.old' }
            : { status: 'pending', sealedSecret: 'v1.k1.new' },
        );
        t.equal(await stores[0]!.countRecoveryCodes(userId), confirmed ? 1 : 0);
      }
    },
  );
}

/** Every user id with a row in the lock table of `prefix` (empty on SQLite, which needs none). */
async function lockRows(target: SqlTarget, prefix: string): Promise<string[]> {
  const rows = await inspect(target.db, target.dialect)
    .selectFrom(`${prefix}user_locks`)
    .select('user_id')
    .execute();
  return rows.map((row) => String(row.user_id)).sort();
}

/**
 * Asserts the rule every add and remove keeps: a user has recovery codes exactly when the user has
 * an active authenticator (the codes given here are never empty).
 */
async function expectConsistent(t: Test, store: SqlStore, userId: string, label: string): Promise<void> {
  const active = (await store.listAuthenticators(userId, NOW)).filter(
    (record) => record.type === 'webauthn' || record.status === 'active',
  );
  const codes = await store.countRecoveryCodes(userId);
  t.equal(codes > 0, active.length > 0, `${label}: recovery codes exactly while an authenticator is active`);
}

/**
 * Schema version 2 over a database made by the schema-1 release (its migration runner and its
 * store's writes, kept verbatim in test/fixtures/schema-1-release.ts): the upgrade keeps every user
 * able to log in, with the engine.
 */
function upgradeTests(t: Test, target: SqlTarget): void {
  t.test('users enrolled on schema 1 keep logging in after migrate brings it up to date', async (t) => {
    const prefix = freshPrefix(t, target);
    t.strictSame(await migrateAsSchema1(target.db, { prefix }), { from: 0, to: 1, applied: [1] });
    const keyring = createKeyring({ keys: { k1: randomBytes(32) }, current: 'k1' });
    const old = schema1Enrollment(target.db, prefix);
    const enrolledAt = NOW - 86_400_000;
    const users = new Map<string, { secret: Uint8Array; codes: string[] }>();
    // What the schema-1 engine's enroll and confirm wrote, through the schema-1 store's own code.
    for (const userId of ['alice', 'bob', 'Carol Smith']) {
      const secret = generateSecret();
      const sealedSecret = keyring.seal(secret, userId);
      const saved = await old.savePendingAuthenticator({
        userId,
        id: 'totp',
        status: 'pending',
        sealedSecret,
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
        lastCounter: -1,
        createdAt: enrolledAt,
        confirmedAt: null,
        lastUsedAt: null,
        expiresAt: enrolledAt + 15 * 60_000,
      });
      const codes = generateRecoveryCodes(10);
      const confirmed = await old.confirmAuthenticator(userId, 'totp', {
        sealedSecret,
        counter: Math.floor(enrolledAt / 30_000),
        recoveryCodeHashes: codes.map((code) =>
          hashRecoveryCode(keyring, userId, normalizeRecoveryCode(code)!),
        ),
        now: enrolledAt,
      });
      t.ok(saved && confirmed, `${userId} enrolled on schema 1`);
      users.set(userId, { secret, codes });
    }
    // And one enrollment under way, never confirmed.
    await old.savePendingAuthenticator({
      ...pending('dave'),
      createdAt: NOW - 1000,
      expiresAt: NOW + 3_600_000,
    });
    // Rows of the short-lived tables, which version 3 rebuilds on SQLite: a session family, a
    // failure count, and one nonce already expired.
    const raw = inspect(target.db, target.dialect);
    await raw
      .insertInto(`${prefix}nonces`)
      .values([
        { user_id: 'alice', key: 'family:f1', value: 'kept', expires_at: NOW + 3_600_000 },
        { user_id: 'bob', key: 'gone', value: 'old', expires_at: NOW - 1 },
      ])
      .execute();
    await raw
      .insertInto(`${prefix}counters`)
      .values({ user_id: 'bob', key: 'failures', count: 3, expires_at: NOW + 3_600_000 })
      .execute();
    await t.rejects(sqlStore({ db: target.db, prefix }), { code: 'TWOFOLD_SCHEMA_MISMATCH', found: 1 });

    t.strictSame(await migrate(target.db, { prefix }), {
      from: 1,
      to: SCHEMA_VERSION,
      applied: versionsAfter(1),
    });
    t.strictSame(
      await migrationNames(target, prefix),
      MIGRATIONS.map((migration) => migration.name),
    );
    const store = await sqlStore({ db: target.db, prefix });
    t.equal(await store.getNonce('alice', 'family:f1', NOW), 'kept', 'a nonce survives the upgrade');
    t.match(await store.getCounter('bob', 'failures', NOW), { count: 3 }, 'a counter survives it');
    t.strictSame(await shortLivedTables(target, prefix), shortLivedSchema(target.dialect, prefix));
    t.match(await store.sweep(NOW), { nonces: 1, counters: 0 }, 'the sweep finds the expired nonce');
    t.equal(await store.getNonce('alice', 'family:f1', NOW), 'kept', 'and only that one');
    let now = NOW;
    const engine = createTwoFactor({ store, keyring, issuer: 'Acme', clock: () => now });
    for (const [userId, { secret, codes }] of users) {
      t.match(
        await store.listAuthenticators(userId, now),
        [
          {
            type: 'totp',
            id: 'totp',
            name: null,
            status: 'active',
            lastCounter: Math.floor(enrolledAt / 30_000),
          },
        ],
        `${userId}: the schema-1 authenticator, without a name`,
      );
      const { token } = new Totp({ secret }).generate(now);
      t.match(
        await engine.verify(userId, token),
        { userId, method: 'totp', authenticatorId: 'totp' },
        `${userId} logs in with the app's code`,
      );
      await t.rejects(engine.verify(userId, token), { code: 'TWOFOLD_INVALID_CODE' }, 'not twice');
      t.equal(await store.countRecoveryCodes(userId), 10, `${userId}: ten recovery codes`);
      t.match(
        await engine.useRecoveryCode(userId, codes[3]),
        { userId, method: 'recovery-code', remaining: 9 },
        `${userId} logs in with a recovery code`,
      );
      now += 30_000;
    }
    t.match(
      await store.getAuthenticator('dave', 'totp', now),
      { status: 'pending', name: null },
      'the enrollment under way is still there',
    );

    // The new kinds of change work on the old rows: a security key beside the app, then removals.
    const key = credential('alice');
    t.equal(await store.addWebAuthnCredential(key, registration()), 'added', 'a key beside the old app');
    t.equal(await store.countRecoveryCodes('alice'), 9, 'the codes stay');
    t.equal(await store.renameAuthenticator('alice', 'totp', 'Old phone', now), true);
    t.equal(await store.removeAuthenticator('alice', 'totp', now), 'removed');
    t.equal(await store.removeAuthenticator('bob', 'totp', now), 'disabled');
    t.equal(await store.countRecoveryCodes('bob'), 0);
    t.strictSame(await store.listAuthenticators('alice', now), [key]);
    t.strictSame(
      await migrate(target.db, { prefix }),
      { from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] },
      'the next run has nothing to do',
    );
  });

  t.test('a new database has the short-lived tables of its dialect', async (t) => {
    const prefix = freshPrefix(t, target);
    await migrate(target.db, { prefix });
    t.strictSame(await shortLivedTables(target, prefix), shortLivedSchema(target.dialect, prefix));
  });

  // The rebuild of version 3 run from another connection (as `twofold migrate` from a shell) while a
  // store is open and has its statements prepared (as a running process of the previous version).
  t.test(
    'a store open during the SQLite rebuild of version 3 keeps working on the rebuilt tables',
    { skip: target.dialect !== 'sqlite' || !target.peer ? 'a second SQLite connection only' : false },
    async (t) => {
      const prefix = freshPrefix(t, target);
      await migrate(target.db, { prefix });
      const store = await sqlStore({ db: target.db, prefix, sweepIntervalMs: false });
      await store.putNonce('u1', 'family:f1', 'kept', NOW + 60_000, NOW);
      t.match(await store.incrementCounter('u1', 'failures', 60_000, NOW), { count: 1 });
      t.equal(await store.getNonce('u1', 'family:f1', NOW), 'kept');

      const other = inspect(await target.peer!(t), 'sqlite');
      const rebuild = MIGRATIONS.find((migration) => migration.version === 3)!;
      await other
        .transaction()
        // The inspection instance is untyped; the step only names the tables of `t`.
        .execute((trx) =>
          rebuild.up(trx as unknown as Parameters<typeof rebuild.up>[0], {
            dialect: 'sqlite',
            t: tableNames(prefix),
            collation: '',
          }),
        );

      t.equal(await store.getNonce('u1', 'family:f1', NOW), 'kept', 'the rows were copied');
      t.match(await store.incrementCounter('u1', 'failures', 60_000, NOW), { count: 2 }, 'counts go on');
      await store.putNonce('u1', 'family:f2', 'new', NOW + 60_000, NOW);
      t.equal(await store.getNonce('u1', 'family:f2', NOW), 'new', 'writes go on');
      t.strictSame(await shortLivedTables(target, prefix), shortLivedSchema('sqlite', prefix));
    },
  );

  t.test('concurrent migrate runs bring a schema-1 database to the current version once', async (t) => {
    const prefix = freshPrefix(t, target);
    await migrateAsSchema1(target.db, { prefix });
    const dbs = [target.db, ...(target.peer && target.dialect !== 'sqlite' ? [await target.peer(t)] : [])];
    const results = await Promise.all([0, 1, 2, 3].map((i) => migrate(dbs[i % dbs.length]!, { prefix })));
    t.strictSame(
      results.map((result) => result.applied).sort((a, b) => b.length - a.length),
      [versionsAfter(1), [], [], []],
    );
    t.strictSame(
      await migrationNames(target, prefix),
      MIGRATIONS.map((migration) => migration.name),
    );
  });

  t.test(
    'rows a schema-1 store writes after the upgrade (a rolling deploy) work with this one',
    async (t) => {
      const { prefix, store } = await freshStore(t, target);
      const old = schema1Enrollment(target.db, prefix);
      // No name, no lock row: as a process still running the schema-1 code writes them.
      t.equal(await old.savePendingAuthenticator(pending('u1', { createdAt: NOW - 5 })), true);
      t.equal(
        await store.confirmAuthenticator('u1', 'totp', {
          sealedSecret: SEALED,
          counter: 3,
          recoveryCodeHashes: ['h1'],
          maxActive: MAX_ACTIVE,
          now: NOW,
        }),
        'enabled',
      );
      t.equal(await old.savePendingAuthenticator(pending('u2')), true);
      t.equal(
        await old.confirmAuthenticator('u2', 'totp', {
          sealedSecret: SEALED,
          counter: 3,
          recoveryCodeHashes: ['h1', 'h2'],
          now: NOW,
        }),
        true,
      );
      t.match(await store.listAuthenticators('u2', NOW), [{ id: 'totp', name: null, status: 'active' }]);
      t.equal(await store.addWebAuthnCredential(credential('u2'), registration()), 'added');
      t.equal(await store.removeAuthenticator('u2', 'totp', NOW), 'removed');
      t.equal(await store.countRecoveryCodes('u2'), 2);
      t.equal(await store.deleteTwoFactor('u1'), true);
      t.equal(await store.deleteTwoFactor('u2'), true);
      t.strictSame(await lockRows(target, prefix), [], 'no lock row left');
    },
  );
}

/** The SQL side of several authenticators per user: limits of the columns, lock rows, races. */
function authenticatorTests(t: Test, target: SqlTarget): void {
  t.test('credential ids up to 1,366 characters are told apart whole, and longer ones refused', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    const stem = randomBytes(1024).toString('base64url').slice(0, 1365);
    const first = credential('u1', { credentialId: `${stem}A` });
    const second = credential('u1', { credentialId: `${stem}B` });
    t.equal(await store.addWebAuthnCredential(first, registration()), 'enabled');
    t.equal(
      await store.addWebAuthnCredential(second, registration()),
      'added',
      'differs in the last character',
    );
    t.equal(
      await store.addWebAuthnCredential({ ...first, id: 'other' }, registration()),
      'duplicate',
      'the same credential id under another authenticator id',
    );
    t.equal(
      await store.addWebAuthnCredential(
        credential('u2', { credentialId: first.credentialId }),
        registration(),
      ),
      'enabled',
      'another user may have it',
    );
    const refusals: Array<[string, () => Promise<unknown>]> = [
      [
        'a credential id of 1,367 characters',
        () => store.addWebAuthnCredential(credential('u3', { credentialId: `${stem}AB` }), registration()),
      ],
      [
        'an authenticator id of 256',
        () => store.addWebAuthnCredential(credential('u3', { id: 'k'.repeat(256) }), registration()),
      ],
      [
        'a name of 65',
        () => store.addWebAuthnCredential(credential('u3', { name: 'n'.repeat(65) }), registration()),
      ],
      [
        'an aaguid of 37',
        () => store.addWebAuthnCredential(credential('u3', { aaguid: `${'0'.repeat(37)}` }), registration()),
      ],
      [
        'a recovery code hash of 256',
        () =>
          store.addWebAuthnCredential(
            credential('u3'),
            registration({ recoveryCodeHashes: ['h'.repeat(256)] }),
          ),
      ],
      [
        'a pending name of 65',
        () => store.savePendingAuthenticator(pending('u3', { name: 'n'.repeat(65) }), NOW),
      ],
      ['a new name of 65', () => store.renameAuthenticator('u1', first.id, 'n'.repeat(65), NOW)],
    ];
    for (const [name, write] of refusals) await t.rejects(write(), { name: 'RangeError' }, name);
    t.strictSame(await store.listAuthenticators('u3', NOW), [], 'nothing written');
    t.equal(await rowsOf(target, prefix, 'webauthn_credentials', 'u3'), 0);
    t.equal(await store.renameAuthenticator('u1', first.id, '😀'.repeat(32), NOW), true, '32 emoji fit');
    t.equal(
      (await store.listAuthenticators('u1', NOW)).find((record) => record.id === first.id)?.name,
      '😀'.repeat(32),
    );
  });

  t.test('lock rows: one per user while authenticators change, none left for nothing', async (t) => {
    const { prefix, store } = await freshStore(t, target, 60_000);
    const nothing = 'stranger';
    t.equal(await store.removeAuthenticator(nothing, 'totp', NOW), 'missing');
    t.equal(await store.renameAuthenticator(nothing, 'totp', 'x', NOW), false);
    t.equal(await store.replaceRecoveryCodes(nothing, ['h1'], NOW), false);
    t.equal(await store.deleteTwoFactor(nothing), false);
    t.equal(
      await store.confirmAuthenticator(nothing, 'totp', {
        sealedSecret: SEALED,
        counter: 1,
        recoveryCodeHashes: ['h1'],
        maxActive: MAX_ACTIVE,
        now: NOW,
      }),
      'missing',
    );
    t.equal(await store.addWebAuthnCredential(credential(nothing), registration({ maxActive: 0 })), 'full');
    t.strictSame(await lockRows(target, prefix), [], 'refusals leave no lock row');

    await store.savePendingAuthenticator(pending('abandoned', { expiresAt: NOW + 1000 }), NOW);
    t.equal(await store.addWebAuthnCredential(credential('kept'), registration()), 'enabled');
    await store.savePendingAuthenticator(pending('kept', { id: 'phone', expiresAt: NOW + 1000 }), NOW);
    t.strictSame(
      await lockRows(target, prefix),
      target.dialect === 'sqlite' ? [] : ['abandoned', 'kept'],
      'a lock row per user with authenticators (none on SQLite)',
    );
    t.strictSame(await store.sweep(NOW + 1000), { authenticators: 2, counters: 0, nonces: 0 });
    t.strictSame(
      await lockRows(target, prefix),
      target.dialect === 'sqlite' ? [] : ['kept'],
      'the sweep drops the lock row of an expired enrollment, not of a user with a credential',
    );
    const [key] = await store.listAuthenticators('kept', NOW);
    t.equal(await store.removeAuthenticator('kept', key!.id, NOW), 'disabled');
    t.strictSame(await lockRows(target, prefix), [], 'disabling drops it');
  });

  t.test(
    'useWebAuthnCredential over 3 pools (1 for in-memory SQLite): of 60 calls with one counter one wins',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, false);
      for (let round = 0; round < 5; round++) {
        const userId = `race-${round}`;
        const key = credential(userId, { counter: round === 0 ? 0 : 41 });
        await stores[0]!.addWebAuthnCredential(key, registration());
        const counter = round === 0 ? 1 : 42;
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            stores[i % stores.length]!.useWebAuthnCredential(userId, key.id, {
              counter,
              backupState: i % 2 === 0,
              now: NOW + i,
            }),
          ),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
        t.match(await stores[0]!.listAuthenticators(userId, NOW), [{ counter }]);
      }
    },
  );

  t.test(
    'adds over 3 pools (1 for SQLite): of 12 adds to a user without two-factor, one enables and none passes maxActive',
    async (t) => {
      const { prefix, stores } = await racingStores(t, target, 2, true);
      for (let round = 0; round < 4; round++) {
        const userId = `race-${round}`;
        // Round 1 and 3 mix a TOTP confirm among the credentials.
        if (round % 2 === 1) await stores[0]!.savePendingAuthenticator(pending(userId), NOW);
        const hashes = Array.from({ length: 12 }, (_, i) => [`r${round}-${i}a`, `r${round}-${i}b`]);
        const outcomes = await Promise.all(
          hashes.map((recoveryCodeHashes, i) => {
            const store = stores[i % stores.length]!;
            return round % 2 === 1 && i === 5
              ? store.confirmAuthenticator(userId, 'totp', {
                  sealedSecret: SEALED,
                  counter: 2,
                  recoveryCodeHashes,
                  maxActive: 5,
                  now: NOW,
                })
              : store.addWebAuthnCredential(
                  credential(userId),
                  registration({ recoveryCodeHashes, maxActive: 5 }),
                );
          }),
        );
        t.strictSame(
          [...outcomes].sort(),
          ['added', 'added', 'added', 'added', 'enabled', ...Array(7).fill('full')],
          `round ${round}: one enabled, four added, seven full`,
        );
        const active = await stores[0]!.listAuthenticators(userId, NOW);
        t.equal(
          active.filter((record) => record.type === 'webauthn' || record.status === 'active').length,
          5,
        );
        const enabled = outcomes.indexOf('enabled');
        t.equal(await stores[0]!.countRecoveryCodes(userId), 2, 'one set of codes');
        t.equal(
          await stores[0]!.consumeRecoveryCode(userId, hashes[enabled]![0]!),
          true,
          "the enabling one's codes",
        );
      }
      t.strictSame(
        await lockRows(target, prefix),
        target.dialect === 'sqlite' ? [] : ['race-0', 'race-1', 'race-2', 'race-3'],
      );
    },
  );

  t.test(
    'removals over 2 pools (1 for SQLite): of two concurrent removals of the last two, one removes and one disables',
    async (t) => {
      const { prefix, stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 8; round++) {
        const userId = `race-${round}`;
        const store = stores[0]!;
        const key = credential(userId);
        if (round % 2 === 0) {
          await store.savePendingAuthenticator(pending(userId), NOW);
          await store.confirmAuthenticator(userId, 'totp', {
            sealedSecret: SEALED,
            counter: 2,
            recoveryCodeHashes: ['h1', 'h2'],
            maxActive: MAX_ACTIVE,
            now: NOW,
          });
          await store.addWebAuthnCredential(key, registration());
        } else {
          await store.addWebAuthnCredential(key, registration());
          await store.addWebAuthnCredential({ ...credential(userId), id: 'totp' }, registration());
        }
        await store.savePendingAuthenticator(pending(userId, { id: 'tablet' }), NOW);
        const outcomes = await Promise.all(
          ['totp', key.id].map((id, i) =>
            stores[(round + i) % stores.length]!.removeAuthenticator(userId, id, NOW),
          ),
        );
        t.strictSame([...outcomes].sort(), ['disabled', 'removed'], `round ${round}`);
        t.strictSame(await store.listAuthenticators(userId, NOW), [], 'nothing left, the enrollment neither');
        t.equal(await store.countRecoveryCodes(userId), 0, 'no recovery code left');
      }
      t.strictSame(await lockRows(target, prefix), []);
    },
  );

  t.test(
    'adds racing removals and deleteTwoFactor over 2 pools (1 for SQLite) keep codes exactly while an authenticator is active',
    async (t) => {
      const { stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 10; round++) {
        const userId = `race-${round}`;
        const first = credential(userId);
        await stores[0]!.addWebAuthnCredential(first, registration());
        const store = (i: number) => stores[(round + i) % stores.length]!;
        await Promise.all([
          store(0).addWebAuthnCredential(credential(userId), registration({ recoveryCodeHashes: ['n1'] })),
          round % 2 === 0
            ? store(1).removeAuthenticator(userId, first.id, NOW)
            : store(1).deleteTwoFactor(userId),
          store(2).addWebAuthnCredential(credential(userId), registration({ recoveryCodeHashes: ['n2'] })),
          store(3).replaceRecoveryCodes(userId, ['n3'], NOW),
        ]);
        await expectConsistent(t, stores[0]!, userId, `round ${round}`);
      }
    },
  );

  t.test(
    'savePendingAuthenticator over 2 pools (1 for SQLite): of 10 enrollments with different ids one stays pending',
    async (t) => {
      const { stores } = await racingStores(t, target, 1, true);
      for (let round = 0; round < 5; round++) {
        const userId = `race-${round}`;
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            stores[i % stores.length]!.savePendingAuthenticator(pending(userId, { id: `app-${i}` }), NOW),
          ),
        );
        t.ok(results.every(Boolean), `round ${round}: every save resolved true`);
        t.equal((await stores[0]!.listAuthenticators(userId, NOW)).length, 1, `round ${round}: one left`);
      }
    },
  );
}
