/**
 * The SQL store's beginSecondFactor, finishSecondFactor, consumeCounterAndReset and putNonces beyond the conformance
 * suite: the rows they write are the ones the single operations read, the edges of each dialect's
 * implementation, races over several pools, and on PostgreSQL one query per operation, counted at
 * the pg client.
 */
import type { BeginSecondFactorInput } from '@twofold/core';
import { Kysely, type LogEvent, sql } from 'kysely';
import pg from 'pg';
import type { Test } from 'tap';
import { migrate, PGliteDialect, type SqlDatabase, type SqlStore, sqlStore } from '../../src/index.js';
import { isPGlite } from '../../src/pglite.js';
import {
  byNumber,
  credential,
  freshPrefix,
  freshStore,
  MAX_ACTIVE,
  NOW,
  pending,
  racingStores,
  range,
  registration,
  rowsOf,
  SEALED,
  type SqlTarget,
} from './adapter-tests.js';
import { inspect, POSTGRES } from './databases.js';

/** The lockout counter of the engine: 5 failures in 10 minutes. */
const LOCKOUT = { key: 'failures', limit: 5, ttlMs: 600_000 } as const;

/** The attempts left on one login challenge: 3 in 5 minutes. */
const challengeAttempts = (id: string) => ({ key: `attempts:${id}`, limit: 3, ttlMs: 300_000 });

/** What the engine asks at the start of a verify: claim the challenge, count on it, then the lockout. */
function verifyInput(id: string, overrides: Partial<BeginSecondFactorInput> = {}): BeginSecondFactorInput {
  return {
    claim: { key: `challenge:${id}`, value: `used-${id}`, expiresAt: NOW + 300_000 },
    attempts: [challengeAttempts(id), LOCKOUT],
    readNonce: 'recovery',
    now: NOW,
    ...overrides,
  };
}

/** A user with an active TOTP authenticator (last step 10) and a recovery code. */
async function activeUser(store: SqlStore, userId: string): Promise<void> {
  await store.savePendingAuthenticator(pending(userId), NOW);
  await store.confirmAuthenticator(userId, 'totp', {
    sealedSecret: SEALED,
    counter: 10,
    recoveryCodeHashes: ['h1'],
    maxActive: MAX_ACTIVE,
    now: NOW,
  });
}

/** Counts `key` of `userId` up to `count` (at NOW, expiring with the lockout's ttl unless given). */
async function countUp(
  store: SqlStore,
  userId: string,
  key: string,
  count: number,
  ttlMs: number = LOCKOUT.ttlMs,
) {
  for (let i = 0; i < count; i++) await store.incrementCounter(userId, key, ttlMs, NOW);
}

/** Makes every insert of the nonce `refused` under `prefix` fail (a trigger that raises). */
async function refuseNonce(t: Test, target: SqlTarget, prefix: string): Promise<void> {
  const db = inspect(target.db, target.dialect);
  const name = sql.id(`${prefix}refuse_nonce`);
  const table = sql.table(`${prefix}nonces`);
  switch (target.dialect) {
    case 'postgres':
      t.teardown(() => sql`drop function if exists ${name}() cascade`.execute(db));
      await sql`create function ${name}() returns trigger language plpgsql as ${sql.raw(
        "$$ begin if new.key = 'refused' then raise exception 'refused by the test'; end if; return new; end $$",
      )}`.execute(db);
      await sql`create trigger ${name} before insert on ${table} for each row execute function ${name}()`.execute(
        db,
      );
      return;
    case 'mysql':
      await sql`create trigger ${name} before insert on ${table} for each row begin if new.${sql.id('key')} = 'refused' then signal sqlstate '45000' set message_text = 'refused by the test'; end if; end`.execute(
        db,
      );
      return;
    case 'sqlite':
      await sql`create trigger ${name} before insert on ${table} when new.key = 'refused' begin select raise(abort, 'refused by the test'); end`.execute(
        db,
      );
      return;
  }
}

export function secondFactorTests(t: Test, target: SqlTarget): void {
  t.test('beginSecondFactor claims, counts in order and reads, as the calls it stands for', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const key = credential('u1');
    await store.addWebAuthnCredential(key, registration());
    await store.savePendingAuthenticator(
      pending('u1', { id: 'tablet', sealedSecret: 'v1.k1.tablet', createdAt: NOW + 2 }),
      NOW,
    );
    await store.putNonce('u1', 'recovery', 'scheduled', NOW + 1000, NOW);
    await activeUser(store, 'u2');

    const result = await store.beginSecondFactor('u1', verifyInput('c1'));
    t.strictSame(result, {
      claimed: true,
      authenticators: await store.listAuthenticators('u1', NOW),
      attempts: [
        { taken: true, count: 1, expiresAt: NOW + 300_000 },
        { taken: true, count: 1, expiresAt: NOW + 600_000 },
      ],
      nonce: 'scheduled',
    });
    t.strictSame(
      result.authenticators.map((entry) => entry.id),
      ['totp', key.id, 'tablet'],
      'every live authenticator, the enrollment under way too, oldest first',
    );

    // What it wrote is what the single operations read and write.
    t.equal(await store.getNonce('u1', 'challenge:c1', NOW), 'used-c1', 'the claim is a nonce');
    t.equal(await store.claimNonce('u1', 'challenge:c1', 'again', NOW + 1000, NOW), false, 'spent');
    t.strictSame(await store.getCounter('u1', 'attempts:c1', NOW), { count: 1, expiresAt: NOW + 300_000 });
    t.strictSame(await store.takeAttempt('u1', 'failures', 5, 600_000, NOW + 1), {
      taken: true,
      count: 2,
      expiresAt: NOW + 600_001,
    });
    t.equal(await rowsOf(target, prefix, 'counters', 'u2'), 0, 'another user is left alone');

    const next = await store.beginSecondFactor('u1', verifyInput('c2', { now: NOW + 2 }));
    t.strictSame(next.attempts, [
      { taken: true, count: 1, expiresAt: NOW + 300_002 },
      { taken: true, count: 3, expiresAt: NOW + 600_002 },
    ]);
    t.equal(next.nonce, 'scheduled');

    const reads: Array<[string | null, number, string | null]> = [
      ['recovery', NOW + 1000, null],
      ['absent', NOW, null],
      [null, NOW, null],
      ['challenge:c1', NOW, 'used-c1'],
    ];
    for (const [index, [readNonce, now, nonce]] of reads.entries()) {
      const read = await store.beginSecondFactor('u1', verifyInput(`r${index}`, { readNonce, now }));
      t.equal(read.nonce, nonce, `readNonce ${readNonce} at ${now - NOW}: as getNonce`);
    }
  });

  t.test('beginSecondFactor on a live claim counts nothing and reads nothing', async (t) => {
    const { store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    await store.putNonce('u1', 'recovery', 'scheduled', NOW + 1000, NOW);
    t.equal((await store.beginSecondFactor('u1', verifyInput('c1'))).claimed, true);
    const unclaimed = { claimed: false, authenticators: [], attempts: [], nonce: null };
    t.strictSame(await store.beginSecondFactor('u1', verifyInput('c1')), unclaimed, 'a second verify');
    t.strictSame(
      await store.beginSecondFactor('u1', verifyInput('c1', { attempts: [], readNonce: null })),
      unclaimed,
      'with nothing to count or read either',
    );
    t.strictSame(await store.getCounter('u1', 'attempts:c1', NOW), { count: 1, expiresAt: NOW + 300_000 });
    t.strictSame(await store.getCounter('u1', 'failures', NOW), { count: 1, expiresAt: NOW + 600_000 });
    t.equal(await store.getNonce('u1', 'challenge:c1', NOW), 'used-c1', 'the first claim stays');

    await store.claimNonce('u1', 'challenge:c2', 'other', NOW + 10, NOW);
    t.strictSame(await store.beginSecondFactor('u1', verifyInput('c2')), unclaimed, 'claimed by claimNonce');
    const late = await store.beginSecondFactor('u1', verifyInput('c2', { now: NOW + 10 }));
    t.equal(late.claimed, true, 'an expired nonce is taken over');
    t.strictSame(late.attempts, [
      { taken: true, count: 1, expiresAt: NOW + 300_010 },
      { taken: true, count: 2, expiresAt: NOW + 600_010 },
    ]);
    t.equal(await store.getNonce('u1', 'challenge:c2', NOW + 10), 'used-c2');

    const none = await store.beginSecondFactor('u1', verifyInput('c3', { claim: null }));
    t.equal(none.claimed, true, 'no claim to make: claimed');
    t.strictSame(none.attempts, [
      { taken: true, count: 1, expiresAt: NOW + 300_000 },
      { taken: true, count: 3, expiresAt: NOW + 600_000 },
    ]);
    t.equal(none.nonce, 'scheduled');
  });

  t.test('beginSecondFactor counts nothing for a user without an active authenticator', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.savePendingAuthenticator(pending('enrolling'), NOW);
    await store.savePendingAuthenticator(pending('expired', { expiresAt: NOW }), NOW - 1);
    for (const [userId, listed] of [
      ['enrolling', 1],
      ['expired', 0],
      ['unknown', 0],
    ] as const) {
      for (const claim of [true, false]) {
        const result = await store.beginSecondFactor(
          userId,
          verifyInput(`${claim}`, claim ? {} : { claim: null }),
        );
        t.equal(result.claimed, true, `${userId}: claimed`);
        t.equal(result.authenticators.length, listed, `${userId}: listed`);
        t.strictSame(result.attempts, [], `${userId}: nothing to judge, nothing counted`);
      }
      t.equal(await store.getNonce(userId, 'challenge:true', NOW), 'used-true', `${userId}: the claim stays`);
      t.equal(await rowsOf(target, prefix, 'counters', userId), 0, `${userId}: no counter`);
    }

    await store.addWebAuthnCredential(credential('keys-only'), registration());
    t.strictSame(
      (await store.beginSecondFactor('keys-only', verifyInput('c1'))).attempts.map((state) => state.taken),
      [true, true],
      'a WebAuthn credential is an active authenticator',
    );
  });

  t.test(
    'beginSecondFactor stops at the first refused attempt and reports it as the counter stands',
    async (t) => {
      const { store } = await freshStore(t, target);
      await activeUser(store, 'u1');
      await countUp(store, 'u1', 'failures', 5);
      t.strictSame((await store.beginSecondFactor('u1', verifyInput('c1'))).attempts, [
        { taken: true, count: 1, expiresAt: NOW + 300_000 },
        { taken: false, count: 5, expiresAt: NOW + 600_000 },
      ]);
      t.equal(await store.getNonce('u1', 'challenge:c1', NOW), 'used-c1', 'nothing undone: the claim stays');
      t.strictSame(await store.getCounter('u1', 'attempts:c1', NOW), { count: 1, expiresAt: NOW + 300_000 });

      await countUp(store, 'u1', 'attempts:c2', 3, 300_000);
      t.strictSame(
        (await store.beginSecondFactor('u1', verifyInput('c2', { now: NOW + 1 }))).attempts,
        [{ taken: false, count: 3, expiresAt: NOW + 300_000 }],
        'a refused challenge leaves the lockout alone',
      );
      t.strictSame(await store.getCounter('u1', 'failures', NOW + 1), { count: 5, expiresAt: NOW + 600_000 });

      await countUp(store, 'u1', 'failures', 2);
      t.strictSame(
        (await store.beginSecondFactor('u1', verifyInput('c3', { now: NOW + 2 }))).attempts[1],
        { taken: false, count: 7, expiresAt: NOW + 600_000 },
        'a counter above the limit, as it stands',
      );
      t.strictSame(
        (await store.beginSecondFactor('u1', verifyInput('c4', { now: NOW + 600_000 }))).attempts,
        [
          { taken: true, count: 1, expiresAt: NOW + 900_000 },
          { taken: true, count: 1, expiresAt: NOW + 1_200_000 },
        ],
        'an expired counter at the limit starts again at 1',
      );
    },
  );

  t.test('beginSecondFactor takes any number of attempts, in order', async (t) => {
    const { store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const attempts = ['a', 'b', 'c', 'd', 'e'].map((key, i) => ({ key, limit: 2, ttlMs: 1000 + i }));
    t.strictSame(
      (await store.beginSecondFactor('u1', verifyInput('c1', { attempts }))).attempts,
      attempts.map((_, i) => ({ taken: true, count: 1, expiresAt: NOW + 1000 + i })),
    );
    await countUp(store, 'u1', 'c', 1, 1002);
    t.strictSame(
      (await store.beginSecondFactor('u1', verifyInput('c2', { attempts }))).attempts,
      [
        { taken: true, count: 2, expiresAt: NOW + 1000 },
        { taken: true, count: 2, expiresAt: NOW + 1001 },
        { taken: false, count: 2, expiresAt: NOW + 1002 },
      ],
      'the third refused: the fourth and fifth left alone',
    );
    t.strictSame(await store.getCounter('u1', 'd', NOW), { count: 1, expiresAt: NOW + 1003 });
    t.strictSame(await store.getCounter('u1', 'e', NOW), { count: 1, expiresAt: NOW + 1004 });
    const none = await store.beginSecondFactor('u1', verifyInput('c3', { attempts: [] }));
    t.strictSame([none.claimed, none.attempts], [true, []], 'no attempt to count');
  });

  t.test('beginSecondFactor with two attempts on one counter counts them one after the other', async (t) => {
    const { store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const twice = [LOCKOUT, LOCKOUT];
    t.strictSame((await store.beginSecondFactor('u1', verifyInput('c1', { attempts: twice }))).attempts, [
      { taken: true, count: 1, expiresAt: NOW + 600_000 },
      { taken: true, count: 2, expiresAt: NOW + 600_000 },
    ]);
    const once = { ...LOCKOUT, limit: 3 };
    t.strictSame(
      (await store.beginSecondFactor('u1', verifyInput('c2', { attempts: [once, once, once] }))).attempts,
      [
        { taken: true, count: 3, expiresAt: NOW + 600_000 },
        { taken: false, count: 3, expiresAt: NOW + 600_000 },
      ],
    );
    t.strictSame(
      await store.beginSecondFactor('u1', verifyInput('c2', { attempts: twice })),
      { claimed: false, authenticators: [], attempts: [], nonce: null },
      'a live claim still counts nothing',
    );
    t.strictSame(await store.getCounter('u1', 'failures', NOW), { count: 3, expiresAt: NOW + 600_000 });
  });

  t.test('beginSecondFactor refuses ids over 255 characters before writing anything', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const long = 'x'.repeat(256);
    const inputs: Array<[string, string, BeginSecondFactorInput]> = [
      ['userId', long, verifyInput('c1')],
      ['claim key', 'u1', verifyInput('c1', { claim: { key: long, value: 'v', expiresAt: NOW + 1000 } })],
      ['second attempt key', 'u1', verifyInput('c1', { attempts: [LOCKOUT, { ...LOCKOUT, key: long }] })],
    ];
    for (const [name, userId, input] of inputs) {
      await t.rejects(store.beginSecondFactor(userId, input), { name: 'RangeError' }, name);
    }
    t.equal(await store.getNonce('u1', 'challenge:c1', NOW), null, 'no claim made');
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 0, 'nothing counted');
  });

  t.test('consumeCounterAndReset consumes the step, then resets the counter only if unchanged', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const { taken: _, ...expected } = await store.takeAttempt('u1', 'failures', 5, 600_000, NOW);
    const reset = { key: 'failures', expected };
    t.equal(await store.consumeCounterAndReset('u1', 'totp', 10, NOW + 5, reset), false, 'a used step');
    t.strictSame(await store.getCounter('u1', 'failures', NOW), expected, 'no reset without a consume');

    t.equal(await store.consumeCounterAndReset('u1', 'totp', 11, NOW + 5, reset), true);
    t.equal(await store.getCounter('u1', 'failures', NOW), null, 'reset');
    t.match(await store.getAuthenticator('u1', 'totp', NOW), { lastCounter: 11, lastUsedAt: NOW + 5 });
    t.equal(await store.consumeCounterAndReset('u1', 'totp', 11, NOW + 6, reset), false, 'once per step');

    await store.takeAttempt('u1', 'failures', 5, 600_000, NOW);
    await store.takeAttempt('u1', 'failures', 5, 600_000, NOW);
    t.equal(
      await store.consumeCounterAndReset('u1', 'totp', 12, NOW, { key: 'failures', expected }),
      true,
      'consumed',
    );
    t.strictSame(
      await store.getCounter('u1', 'failures', NOW),
      { count: 2, expiresAt: NOW + 600_000 },
      'a counter counted on since is kept',
    );

    await store.savePendingAuthenticator(pending('u1', { id: 'tablet', sealedSecret: 'v1.k1.tablet' }), NOW);
    const key = credential('u1');
    await store.addWebAuthnCredential(key, registration());
    const state = { key: 'failures', expected: { count: 2, expiresAt: NOW + 600_000 } };
    for (const [name, userId, id] of [
      ['a pending authenticator', 'u1', 'tablet'],
      ['a WebAuthn credential', 'u1', key.id],
      ['a missing authenticator', 'u1', 'none'],
      ['another user', 'u2', 'totp'],
    ] as const) {
      t.equal(await store.consumeCounterAndReset(userId, id, 99, NOW, state), false, name);
    }
    t.strictSame(await store.getCounter('u1', 'failures', NOW), state.expected, 'never reset');
    t.equal(await rowsOf(target, prefix, 'counters', 'u1'), 1);
  });

  t.test('putNonces writes every nonce in one step, replacing earlier values', async (t) => {
    const { store } = await freshStore(t, target);
    await store.putNonce('u1', 'refresh:a', 'old', NOW + 1000, NOW);
    await store.putNonces(
      'u1',
      [
        { key: 'refresh:a', value: 'new', expiresAt: NOW + 2000 },
        { key: 'refresh:b', value: 'b', expiresAt: NOW + 3000 },
        { key: 'trusted', value: 't', expiresAt: NOW + 4000 },
      ],
      NOW,
    );
    t.strictSame(await store.listNonces('u1', 'refresh:', NOW), [
      { key: 'refresh:a', value: 'new', expiresAt: NOW + 2000 },
      { key: 'refresh:b', value: 'b', expiresAt: NOW + 3000 },
    ]);
    t.equal(await store.getNonce('u1', 'trusted', NOW), 't');
    t.equal(await store.getNonce('u2', 'trusted', NOW), null, "another user's nonces are others");
    t.equal(
      await store.claimNonce('u1', 'refresh:b', 'x', NOW + 1000, NOW),
      false,
      'live, as putNonce leaves it',
    );

    await store.putNonces('u1', [], NOW);
    await store.putNonces(
      'u1',
      [
        { key: 'dup', value: 'first', expiresAt: NOW + 1000 },
        { key: 'dup', value: 'last', expiresAt: NOW + 2000 },
      ],
      NOW,
    );
    t.strictSame(
      await store.listNonces('u1', 'dup', NOW),
      [{ key: 'dup', value: 'last', expiresAt: NOW + 2000 }],
      'one key twice: the last wins, as two putNonce calls',
    );
  });

  t.test('putNonces writes all or nothing', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await store.putNonce('u1', 'a', 'old', NOW + 1000, NOW);
    await t.rejects(
      store.putNonces(
        'u1',
        [
          { key: 'a', value: 'new', expiresAt: NOW + 1000 },
          { key: 'b', value: 'b', expiresAt: NOW + 1000 },
          { key: 'x'.repeat(256), value: 'v', expiresAt: NOW + 1000 },
        ],
        NOW,
      ),
      { name: 'RangeError' },
    );
    await refuseNonce(t, target, prefix);
    await t.rejects(
      store.putNonces(
        'u1',
        [
          { key: 'a', value: 'new', expiresAt: NOW + 1000 },
          { key: 'b', value: 'b', expiresAt: NOW + 1000 },
          { key: 'refused', value: 'v', expiresAt: NOW + 1000 },
        ],
        NOW,
      ),
      /refused by the test/,
    );
    t.equal(await store.getNonce('u1', 'a', NOW), 'old', 'not replaced');
    t.equal(await store.getNonce('u1', 'b', NOW), null, 'not written');
    t.equal(await rowsOf(target, prefix, 'nonces', 'u1'), 1);
  });

  t.test('finishSecondFactor consumes, resets and writes the nonces, or writes nothing', async (t) => {
    const { prefix, store } = await freshStore(t, target);
    await activeUser(store, 'u1');
    const { taken: _, ...expected } = await store.takeAttempt('u1', 'failures', 5, 600_000, NOW);
    const reset = { key: 'failures', expected };
    const session = [
      { key: 'session:a', value: 'meta', expiresAt: NOW + 2000 },
      { key: 'family:a', value: 'jti', expiresAt: NOW + 3000 },
    ];
    const finish = (counter: number, nonces = session, now = NOW + 5) =>
      store.finishSecondFactor('u1', { authenticatorId: 'totp', counter, reset, nonces, now });
    t.equal(await finish(10), false, 'a used step');
    t.strictSame(await store.getCounter('u1', 'failures', NOW), expected, 'no reset without a consume');
    t.equal(await rowsOf(target, prefix, 'nonces', 'u1'), 0, 'no nonce without a consume');

    await t.rejects(
      finish(11, [...session, { key: 'x'.repeat(256), value: 'v', expiresAt: NOW + 1000 }]),
      { name: 'RangeError' },
      'a key too long: refused before anything is written',
    );
    t.match(await store.getAuthenticator('u1', 'totp', NOW), { lastCounter: 10 }, 'the step not spent');

    t.equal(await finish(11), true);
    t.equal(await store.getCounter('u1', 'failures', NOW), null, 'reset');
    t.match(await store.getAuthenticator('u1', 'totp', NOW), { lastCounter: 11, lastUsedAt: NOW + 5 });
    t.strictSame(
      [await store.getNonce('u1', 'session:a', NOW), await store.getNonce('u1', 'family:a', NOW)],
      ['meta', 'jti'],
      'the nonces written',
    );
    t.equal(await store.getNonce('u1', 'family:a', NOW + 3000), null, 'with their own expiry');

    t.equal(await finish(12, []), true, 'no nonces: a consume and a reset');
    t.match(await store.getAuthenticator('u1', 'totp', NOW), { lastCounter: 12 });
    const replaced = [
      { key: 'family:a', value: 'next', expiresAt: NOW + 4000 },
      { key: 'family:a', value: 'last', expiresAt: NOW + 5000 },
    ];
    t.equal(await finish(13, replaced), true);
    t.strictSame(
      await store.listNonces('u1', 'family:', NOW),
      [{ key: 'family:a', value: 'last', expiresAt: NOW + 5000 }],
      'a key written before is replaced; of one key twice the last wins',
    );

    await refuseNonce(t, target, prefix);
    const refused = [...session, { key: 'refused', value: 'v', expiresAt: NOW + 1000 }];
    await t.rejects(finish(14, refused), /refused by the test/);
    t.equal(await store.getNonce('u1', 'session:a', NOW + 3000), null, 'no nonce of the batch written');
    // MySQL spends the step first, then writes the nonces in a transaction of their own ("or the
    // consume first"); elsewhere one statement or one transaction, so the step is not spent either.
    t.match(
      await store.getAuthenticator('u1', 'totp', NOW),
      { lastCounter: target.dialect === 'mysql' ? 14 : 13 },
      target.dialect === 'mysql' ? 'MySQL: the step was spent first' : 'the step not spent',
    );
  });

  t.test(
    'finishSecondFactor over 3 pools (1 for SQLite): of 50 calls with one step exactly one consumes and writes',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, true);
      for (let round = 0; round < 5; round++) {
        const userId = `race-${round}`;
        await activeUser(stores[0]!, userId);
        const { taken: _, ...expected } = await stores[0]!.takeAttempt(userId, 'failures', 5, 600_000, NOW);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            stores[i % stores.length]!.finishSecondFactor(userId, {
              authenticatorId: 'totp',
              counter: 11,
              reset: { key: 'failures', expected },
              nonces: [
                { key: `session:${i}`, value: `meta ${i}`, expiresAt: NOW + 1000 },
                { key: `family:${i}`, value: `jti ${i}`, expiresAt: NOW + 1000 },
              ],
              now: NOW + i,
            }),
          ),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
        const winner = results.indexOf(true);
        t.equal(await stores[0]!.getCounter(userId, 'failures', NOW), null, 'reset once');
        t.strictSame(
          (await stores[0]!.listNonces(userId, '', NOW)).map((nonce) => nonce.value),
          [`jti ${winner}`, `meta ${winner}`],
          "only the winner's nonces",
        );
      }
    },
  );

  t.test(
    'beginSecondFactor over 3 pools (1 for SQLite): of 100 verifies of one challenge exactly one claims',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, true);
      for (let round = 0; round < 3; round++) {
        const userId = `race-${round}`;
        await activeUser(stores[0]!, userId);
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            stores[i % stores.length]!.beginSecondFactor(userId, verifyInput('c1')),
          ),
        );
        const claimed = results.filter((result) => result.claimed);
        t.equal(claimed.length, 1, `round ${round}: one claims`);
        t.strictSame(claimed[0]!.attempts, [
          { taken: true, count: 1, expiresAt: NOW + 300_000 },
          { taken: true, count: 1, expiresAt: NOW + 600_000 },
        ]);
        t.strictSame(await stores[0]!.getCounter(userId, 'failures', NOW), {
          count: 1,
          expiresAt: NOW + 600_000,
        });
      }
    },
  );

  t.test(
    'beginSecondFactor over 3 pools (1 for SQLite): of 50 verifies on a lockout of 5 exactly 5 count',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, true);
      for (const start of [0, 2]) {
        const userId = `race-${start}`;
        await activeUser(stores[0]!, userId);
        await countUp(stores[0]!, userId, 'failures', start);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            stores[i % stores.length]!.beginSecondFactor(userId, verifyInput(`c${i}`)),
          ),
        );
        t.ok(
          results.every((result) => result.claimed && result.attempts[0]?.taken === true),
          'every challenge claimed and counted',
        );
        const lockouts = results.map((result) => result.attempts[1]!);
        t.strictSame(
          lockouts
            .filter((state) => state.taken)
            .map((state) => state.count)
            .sort(byNumber),
          range(start + 1, 5),
          `from ${start}: ${5 - start} taken, counting ${start + 1} to 5`,
        );
        t.ok(
          lockouts.every((state) => state.taken || (state.count === 5 && state.expiresAt === NOW + 600_000)),
          'every refusal reports the counter at the limit',
        );
        t.strictSame(await stores[0]!.getCounter(userId, 'failures', NOW), {
          count: 5,
          expiresAt: NOW + 600_000,
        });
      }
    },
  );

  t.test(
    'consumeCounterAndReset over 3 pools (1 for SQLite): of 50 calls with one step exactly one consumes',
    async (t) => {
      const { stores } = await racingStores(t, target, 2, true);
      for (let round = 0; round < 5; round++) {
        const userId = `race-${round}`;
        await activeUser(stores[0]!, userId);
        const { taken: _, ...expected } = await stores[0]!.takeAttempt(userId, 'failures', 5, 600_000, NOW);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            stores[i % stores.length]!.consumeCounterAndReset(userId, 'totp', 11, NOW + i, {
              key: 'failures',
              expected,
            }),
          ),
        );
        t.equal(results.filter(Boolean).length, 1, `round ${round}`);
        t.equal(await stores[0]!.getCounter(userId, 'failures', NOW), null, 'reset once');
        t.match(await stores[0]!.getAuthenticator(userId, 'totp', NOW), {
          lastCounter: 11,
          lastUsedAt: NOW + results.indexOf(true),
        });
      }
    },
  );

  if (target.dialect === 'postgres') postgresTests(t, target);
}

/** A store on `db` (already migrated under `prefix`) that never sweeps, so no write adds a sweep. */
function quietStore(db: SqlDatabase, prefix: string): Promise<SqlStore> {
  return sqlStore({ db, prefix, sweepIntervalMs: false });
}

/**
 * On PostgreSQL (a server, and PGlite): each operation is one statement. On a server the queries
 * are counted at the pg client, every one sent (BEGIN and COMMIT included); on PGlite through
 * Kysely's log (every statement the store compiles; a transaction would show more than one).
 */
function postgresTests(t: Test, target: SqlTarget): void {
  /** A store whose every query lands in `queries`, on a fresh migrated prefix. */
  const countingStore = async (t: Test) => {
    const prefix = freshPrefix(t, target);
    await migrate(target.db, { prefix });
    const queries: string[] = [];
    if (isPGlite(target.db)) {
      const log = (event: LogEvent) => {
        queries.push(event.query.sql);
      };
      const kysely = new Kysely<Record<string, Record<string, unknown>>>({
        dialect: new PGliteDialect({ database: target.db }),
        log,
      });
      return { prefix, queries, store: await quietStore(kysely, prefix) };
    }
    const pool = new pg.Pool({ ...POSTGRES, max: 4 });
    t.teardown(() => pool.end());
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      // Every query of the client, whatever its form: text, config object or Submittable.
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const [first] = args;
        queries.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
        return query(...args);
      };
    });
    return { prefix, queries, store: await quietStore(pool, prefix) };
  };

  t.test('PostgreSQL: each of the four operations is one query', async (t) => {
    const { queries, store } = await countingStore(t);
    await activeUser(store, 'u1');
    await store.addWebAuthnCredential(credential('u1'), registration());
    await store.putNonce('u1', 'recovery', 'scheduled', NOW + 1000, NOW);
    await countUp(store, 'u1', 'attempts:c3', 3, 300_000);
    const once = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      queries.length = 0;
      const result = await run();
      t.equal(queries.length, 1, `${name}: one query`);
      t.notMatch(queries[0] ?? '', /^\s*(begin|start)/i, `${name}: no transaction`);
      return result;
    };

    const taken = await once('a verify', () => store.beginSecondFactor('u1', verifyInput('c1')));
    t.strictSame([taken.attempts.length, taken.authenticators.length, taken.nonce], [2, 2, 'scheduled']);
    const unclaimed = await once('a spent challenge', () => store.beginSecondFactor('u1', verifyInput('c1')));
    t.equal(unclaimed.claimed, false);
    await once('no claim, no nonce', () =>
      store.beginSecondFactor('u1', verifyInput('c2', { claim: null, readNonce: null })),
    );
    const refused = await once('a refused challenge', () => store.beginSecondFactor('u1', verifyInput('c3')));
    t.strictSame(refused.attempts, [{ taken: false, count: 3, expiresAt: NOW + 300_000 }]);
    await countUp(store, 'u1', 'failures', 5);
    const locked = await once('a locked account', () => store.beginSecondFactor('u1', verifyInput('c4')));
    t.strictSame(locked.attempts[1], { taken: false, count: 7, expiresAt: NOW + 600_000 });
    const attempts = ['a', 'b', 'c', 'd'].map((key) => ({ key, limit: 5, ttlMs: 1000 }));
    const four = await once('four attempts', () =>
      store.beginSecondFactor('u1', verifyInput('c5', { attempts })),
    );
    t.equal(four.attempts.length, 4);
    await once('a user without two-factor', () => store.beginSecondFactor('u9', verifyInput('c1')));

    const reset = { key: 'failures', expected: { count: 7, expiresAt: NOW + 600_000 } };
    t.equal(
      await once('a consumed step', () => store.consumeCounterAndReset('u1', 'totp', 11, NOW, reset)),
      true,
    );
    t.equal(await store.getCounter('u1', 'failures', NOW), null);
    t.equal(
      await once('a used step', () => store.consumeCounterAndReset('u1', 'totp', 11, NOW, reset)),
      false,
    );

    const session = ['s', 'f'].map((key) => ({ key, value: key, expiresAt: NOW + 1000 }));
    const finish = (counter: number, nonces = session) =>
      store.finishSecondFactor('u1', {
        authenticatorId: 'totp',
        counter,
        reset: { key: 'failures', expected: { count: 1, expiresAt: NOW + 600_000 } },
        nonces,
        now: NOW,
      });
    await countUp(store, 'u1', 'failures', 1);
    t.equal(await once('a finished login', () => finish(12)), true);
    t.strictSame(
      [await store.getCounter('u1', 'failures', NOW), await store.getNonce('u1', 'f', NOW)],
      [null, 'f'],
    );
    t.equal(await once('a spent step', () => finish(12)), false);
    t.equal(await once('no nonces', () => finish(13, [])), true);

    await once('three nonces', () =>
      store.putNonces(
        'u1',
        ['a', 'b', 'c'].map((key) => ({ key, value: key, expiresAt: NOW + 1000 })),
        NOW,
      ),
    );
    t.equal(await store.getNonce('u1', 'c', NOW), 'c');
  });

  if (!(target.db instanceof pg.Pool)) return;
  const pool = target.db;

  t.test(
    'PostgreSQL: a refusal whose counter changed under the statement is decided again after it',
    async (t) => {
      const { prefix, queries, store } = await countingStore(t);
      await activeUser(store, 'u1');
      await countUp(store, 'u1', 'failures', 4);
      // Another request holds the lockout counter, about to bring it to the limit: the statement's
      // snapshot sees 4, its upsert waits for the row, then finds 5 and counts nothing.
      const client = await pool.connect();
      t.teardown(() => client.release());
      await client.query('begin');
      await client.query(
        `update ${prefix}counters set count = 5, expires_at = $1 where user_id = 'u1' and key = 'failures'`,
        [NOW + 700_000],
      );
      queries.length = 0;
      const verify = store.beginSecondFactor('u1', verifyInput('c1'));
      for (let waited = 0; ; waited += 20) {
        const { rows } = await client.query(
          `select count(*)::int as waiting from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%' || $1 || '%'`,
          [`${prefix}counters`],
        );
        if (rows[0].waiting > 0) break;
        if (waited > 10_000) throw new Error('the statement never waited for the row');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await client.query('commit');
      const result = await verify;
      t.equal(queries.length, 3, "the statement, then takeAttempt's upsert and read");
      t.strictSame(result, {
        claimed: true,
        authenticators: await store.listAuthenticators('u1', NOW),
        attempts: [
          { taken: true, count: 1, expiresAt: NOW + 300_000 },
          { taken: false, count: 5, expiresAt: NOW + 700_000 },
        ],
        nonce: null,
      });
      t.strictSame(await store.getCounter('u1', 'failures', NOW), { count: 5, expiresAt: NOW + 700_000 });
    },
  );
}
