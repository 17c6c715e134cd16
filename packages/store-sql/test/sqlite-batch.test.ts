/**
 * store-sql's `atomically` on a better-sqlite3 Database, beyond the conformance suite (which checks
 * that work's calls stay whether it resolves or rejects, and that calls outside wait): a call of work
 * that fails takes every write of work back with it; a second connection to the file sees none of
 * work's writes before the commit and all of them after; and where the store cannot hold the
 * database itself (a Kysely instance of the host), it has no `atomically` at all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@twofold/core';
import { migrate, sqlStore } from '@twofold/store-sql';
import { Kysely, SqliteDialect } from 'kysely';
import tap, { type Test } from 'tap';
import { reachBetterSqlite3 } from './helpers/databases.js';

const { db: Database, skip } = await reachBetterSqlite3();
const NOW = Date.UTC(2026, 11, 7, 12);
const LATER = NOW + 300_000;

/** A fresh SQLite file with the schema, its store, and a second connection to it. */
async function fileStore(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'twofold-batch-'));
  const db = new Database!(join(dir, 'store.db'));
  db.pragma('journal_mode = WAL');
  const peer = new Database!(join(dir, 'store.db'));
  t.teardown(() => {
    peer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db);
  const store = await sqlStore({ db, sweepIntervalMs: false });
  const seen = (userId: string, key: string) =>
    (
      peer.prepare('select value from twofold_nonces where user_id = ? and key = ?').get(userId, key) as
        | { value: string }
        | undefined
    )?.value ?? null;
  return { store, seen };
}

tap.test('a call of work that fails takes all of work back', { skip }, async (t) => {
  const { store, seen } = await fileStore(t);
  await store.putNonce('ada', 'before', 'kept', LATER, NOW);
  let caught: unknown;
  try {
    await store.atomically!(async (view: Store) => {
      await view.putNonce('ada', 'inside', 'written', LATER, NOW);
      await view.takeAttempt('ada', 'failures', 5, 600_000, NOW);
      // A user id past the store's limit: the call rejects before it runs.
      await view.putNonce('x'.repeat(300), 'k', 'v', LATER, NOW);
    });
  } catch (error) {
    caught = error;
  }
  t.type(caught, RangeError, 'atomically rejects with the failed call');
  t.match(String(caught), /userId/, 'which names the field');
  t.equal(await store.getNonce('ada', 'inside', NOW), null, "work's nonce is gone");
  t.equal(await store.getCounter('ada', 'failures', NOW), null, "work's counted attempt is gone");
  t.equal(await store.getNonce('ada', 'before', NOW), 'kept', 'what was there before stays');
  t.equal(seen('ada', 'inside'), null, 'the other connection never saw it');

  // The next batch starts clean: a failure does not spill into it.
  await store.atomically!(async (view: Store) => view.putNonce('ada', 'next', 'v', LATER, NOW));
  t.equal(await store.getNonce('ada', 'next', NOW), 'v', 'the batch after it commits');
});

tap.test(
  'another connection sees nothing of work before the commit, and all of it after',
  { skip },
  async (t) => {
    const { store, seen } = await fileStore(t);
    const during: (string | null)[] = [];
    await store.atomically!(async (view: Store) => {
      await view.putNonce('bea', 'a', 'one', LATER, NOW);
      await view.putNonce('bea', 'b', 'two', LATER, NOW);
      during.push(seen('bea', 'a'), seen('bea', 'b'));
    });
    t.strictSame(during, [null, null], 'before the commit: neither');
    t.strictSame([seen('bea', 'a'), seen('bea', 'b')], ['one', 'two'], 'after it: both');
  },
);

tap.test("on a host's Kysely instance the store has no atomically", { skip }, async (t) => {
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database!(':memory:') }) });
  t.teardown(() => db.destroy());
  await migrate(db);
  const store = await sqlStore({ db });
  t.equal(store.atomically, undefined, 'absent: the engine makes the calls one by one');
});
