import { type AuthenticatorRecord, generateKey, parseKeyring } from '@twofold/core';
import { decodeSecret, generateSecret } from '@twofold/otp';
import { migrate, type SqlStore, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import t, { type Test } from 'tap';
import { type ResealOptions, type ResealStore, resealSecrets } from '../src/reseal.js';
import {
  addSecurityKey,
  codeAt,
  ENROLLED_AT,
  type EnrolledUser,
  engineAt,
  enrollApp,
  enrollLegacyApp,
  enrollUsers,
} from './fixtures.js';

// The re-sealing loop on its own, in process, where the app's concurrent writes can be placed exactly
// between the listing and the compare-and-set. The CLI tests run it through the real command.

const OLD = generateKey('old');
const NEW = generateKey('new');
const oldKeyring = parseKeyring(OLD);
const bothKeyring = parseKeyring(`${NEW},${OLD}`);
const newOnly = parseKeyring(NEW);

// Every test runs on SQLite in memory: without better-sqlite3 (an optional dependency) they are skipped.
const { db: Database, skip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));

async function freshStore(t: Test): Promise<SqlStore> {
  const db = new Database!(':memory:');
  t.teardown(() => db.close());
  await migrate(db);
  return sqlStore({ db, sweepIntervalMs: false });
}

/** Every stored row: its tag, and the secret it opens to under `keyring`. */
async function rows(store: SqlStore, keyring = bothKeyring) {
  const listed = await store.listSealedSecrets({ limit: 1000 });
  return listed.map(({ userId, authenticatorId, sealedSecret }) => ({
    userId,
    authenticatorId,
    tag: sealedSecret.split('.')[1],
    secret: Buffer.from(keyring.open(sealedSecret, userId).plaintext).toString('hex'),
  }));
}

const hex = (base32: string) => Buffer.from(decodeSecret(base32)).toString('hex');

function reseal(store: ResealStore, options: Partial<ResealOptions> = {}) {
  return resealSecrets({ store, keyring: bothKeyring, batchSize: 3, ...options });
}

/** The store, with `before` run just before each replaceSealedSecret of `userId` (the app racing). */
function racing(
  store: SqlStore,
  userId: string,
  before: (call: number, authenticatorId: string) => Promise<void>,
): ResealStore {
  let calls = 0;
  return {
    listSealedSecrets: (options) => store.listSealedSecrets(options),
    countSealedSecrets: () => store.countSealedSecrets(),
    getAuthenticator: (user, id, now) => store.getAuthenticator(user, id, now),
    async replaceSealedSecret(user, id, expected, next) {
      if (user === userId) await before(++calls, id);
      return store.replaceSealedSecret(user, id, expected, next);
    },
  };
}

t.test(
  'every row, pending ones included, is re-sealed under the current key and opens to the same secret',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const users = await enrollUsers(store, OLD, 8, { pendingEvery: 3 });
    const progress: number[] = [];
    const result = await reseal(store, { onProgress: ({ checked }) => progress.push(checked) });
    t.match(result, {
      total: 8,
      checked: 8,
      resealed: 8,
      alreadyCurrent: 0,
      gone: 0,
      failed: [],
      stopped: false,
    });
    t.strictSame(result.oldTags, { old: 8 });
    t.strictSame(progress, [0, 3, 6, 8], 'progress before the first batch and after each of 3');
    const after = await rows(store, newOnly);
    t.strictSame(
      after.map((row) => [row.userId, row.tag, row.secret]),
      users.map((user) => [user.userId, 'new', hex(user.secret)]),
    );
  },
);

/** Every stored row as [user id, authenticator id, tag, secret (hex)], in listing order. */
async function rowsOf(store: SqlStore, keyring = bothKeyring) {
  return (await rows(store, keyring)).map((row) => [row.userId, row.authenticatorId, row.tag, row.secret]);
}

/** `apps` as rows under `tag`, in listing order (user id, then authenticator id). */
function expectedRows(apps: readonly EnrolledUser[], tag: string) {
  return apps
    .map((app) => [app.userId, app.authenticatorId, tag, hex(app.secret)])
    .sort(([userA, idA], [userB, idB]) =>
      userA! < userB! ? -1 : userA! > userB! ? 1 : idA! < idB! ? -1 : idA! > idB! ? 1 : 0,
    );
}

/** The WebAuthn credentials of bob and carol, as stored. */
async function securityKeys(store: SqlStore) {
  const records = await Promise.all(
    ['bob', 'carol'].map((user) => store.listAuthenticators(user, ENROLLED_AT)),
  );
  return records.flat().filter((record) => record.type === 'webauthn');
}

t.test(
  'every app of users with several is re-sealed, legacy "totp" ids included; security keys are left alone',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const apps = [
      // Alice: an app from before ids were random, two added since, the last still pending.
      await enrollLegacyApp(store, OLD, 'alice'),
      await enrollApp(store, OLD, 'alice'),
      await enrollApp(store, OLD, 'alice', { pending: true }),
      // Bob: one app and a security key; Dave: two apps.
      await enrollApp(store, OLD, 'bob'),
      await enrollApp(store, OLD, 'dave'),
      await enrollApp(store, OLD, 'dave'),
    ];
    await addSecurityKey(store, 'bob', 'w_bob');
    // Carol: a security key alone, so no secret at all.
    await addSecurityKey(store, 'carol', 'w_carol');
    const keysBefore = await securityKeys(store);
    t.equal(keysBefore.length, 2);
    t.equal(new Set(apps.map((app) => app.authenticatorId)).size, apps.length, 'every app has its own id');
    t.strictSame(await rowsOf(store), expectedRows(apps, 'old'), 'the listing holds the apps, not the keys');

    const result = await reseal(store, { batchSize: 2 });
    t.match(result, { total: 6, checked: 6, resealed: 6, alreadyCurrent: 0, gone: 0, failed: [] });
    t.strictSame(result.oldTags, { old: 6 });
    t.strictSame(await rowsOf(store, newOnly), expectedRows(apps, 'new'), 'each app keeps its own secret');
    t.strictSame(await securityKeys(store), keysBefore, 'the security keys are untouched');

    // The app on the new key alone: each active app answers for its own codes; the pending one confirms.
    const app = engineAt(store, NEW, ENROLLED_AT + 60_000);
    for (const enrolled of apps) {
      const code = codeAt(enrolled.secret, app.now());
      if (enrolled.status === 'active') {
        const verified = await app.twoFactor.verify(enrolled.userId, code);
        t.equal(verified.authenticatorId, enrolled.authenticatorId, `${enrolled.authenticatorId} verifies`);
      } else {
        const added = await app.twoFactor.confirm(enrolled.userId, code, {
          authenticatorId: enrolled.authenticatorId,
        });
        t.match(added, { authenticatorId: enrolled.authenticatorId, enabled: false });
      }
    }
  },
);

t.test(
  "an app removed meanwhile is not brought back, and the user's other app is re-sealed",
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const first = await enrollApp(store, OLD, 'alice');
    const second = await enrollApp(store, OLD, 'alice');
    await addSecurityKey(store, 'alice', 'w_alice');
    let removed = '';
    const result = await reseal(
      racing(store, 'alice', async (call, authenticatorId) => {
        if (call > 1) return;
        removed = authenticatorId;
        t.equal(await store.removeAuthenticator('alice', authenticatorId, ENROLLED_AT), 'removed');
      }),
    );
    t.match(result, { total: 2, checked: 2, resealed: 1, gone: 1, failed: [] });
    const kept = [first, second].find((app) => app.authenticatorId !== removed)!;
    t.strictSame(await rowsOf(store, newOnly), expectedRows([kept], 'new'));
    t.strictSame(
      (await store.listAuthenticators('alice', ENROLLED_AT)).map((record) => record.id).sort(),
      [kept.authenticatorId, 'w_alice'].sort(),
      'the removed app stays removed; the security key stays',
    );
  },
);

t.test('a second run finds every row current and writes nothing', { skip }, async (t) => {
  const store = await freshStore(t);
  await enrollUsers(store, OLD, 5);
  await reseal(store);
  const before = await store.listSealedSecrets({ limit: 100 });
  const again = await reseal(store);
  t.match(again, { checked: 5, resealed: 0, alreadyCurrent: 5, failed: [] });
  t.strictSame(await store.listSealedSecrets({ limit: 100 }), before, 'the envelopes are untouched');
});

t.test(
  'a row the app re-sealed just before the compare-and-set is left as the app wrote it',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice, bob] = await enrollUsers(store, OLD, 2);
    let appWrote: AuthenticatorRecord | null = null;
    const app = engineAt(store, `${NEW},${OLD}`, ENROLLED_AT + 30_000);
    const result = await reseal(
      racing(store, alice!.userId, async () => {
        // A login on the app (already on the new keyring) re-seals alice's secret itself.
        await app.twoFactor.verify(alice!.userId, codeAt(alice!.secret, app.now()));
        appWrote = await store.getAuthenticator(alice!.userId, alice!.authenticatorId, app.now());
      }),
    );
    t.match(result, { checked: 2, resealed: 1, alreadyCurrent: 1, failed: [] });
    t.match(appWrote, { sealedSecret: /^tf1\.new\./ }, 'the app re-sealed it');
    const stored = await store.getAuthenticator(alice!.userId, alice!.authenticatorId, app.now());
    t.equal(stored!.sealedSecret, appWrote!.sealedSecret, "the app's envelope stays");
    t.strictSame(
      (await rows(store, newOnly)).map((row) => row.secret),
      [hex(alice!.secret), hex(bob!.secret)],
    );
  },
);

t.test('a user who disabled two-factor meanwhile is not brought back', { skip }, async (t) => {
  const store = await freshStore(t);
  const [alice] = await enrollUsers(store, OLD, 3);
  const result = await reseal(
    racing(store, alice!.userId, async () => {
      await store.deleteTwoFactor(alice!.userId);
    }),
  );
  t.match(result, { checked: 3, resealed: 2, gone: 1, failed: [] });
  t.equal(await store.getAuthenticator(alice!.userId, alice!.authenticatorId, ENROLLED_AT), null);
  t.strictSame(await store.listAuthenticators(alice!.userId, ENROLLED_AT), []);
  t.equal(await store.countSealedSecrets(), 2);
});

t.test(
  'a user who re-enrolled meanwhile on an app still on the old key keeps the new secret; the next run re-seals it',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice, bob] = await enrollUsers(store, OLD, 2);
    let reEnrolled: EnrolledUser | undefined;
    const result = await reseal(
      racing(store, alice!.userId, async (call) => {
        if (call > 1) return;
        await store.deleteTwoFactor(alice!.userId);
        // A new enrollment is a new authenticator, under a new id, after this run listed its page.
        reEnrolled = await enrollApp(store, OLD, alice!.userId, { pending: true });
      }),
    );
    t.match(result, { checked: 2, resealed: 1, gone: 1, failed: [] });
    t.not(reEnrolled!.authenticatorId, alice!.authenticatorId);
    t.equal(await store.getAuthenticator(alice!.userId, alice!.authenticatorId, ENROLLED_AT), null);
    const listed = await rows(store);
    t.strictSame(
      listed.map((row) => [row.userId, row.authenticatorId, row.tag, row.secret]),
      [
        [alice!.userId, reEnrolled!.authenticatorId, 'old', hex(reEnrolled!.secret)],
        [bob!.userId, bob!.authenticatorId, 'new', hex(bob!.secret)],
      ],
      'the new enrollment, never the old secret; the old row is not brought back',
    );

    const again = await reseal(store);
    t.match(again, { checked: 2, resealed: 1, alreadyCurrent: 1, gone: 0, failed: [] });
    t.strictSame(
      (await rows(store, newOnly)).map((row) => [row.authenticatorId, row.tag, row.secret]),
      [
        [reEnrolled!.authenticatorId, 'new', hex(reEnrolled!.secret)],
        [bob!.authenticatorId, 'new', hex(bob!.secret)],
      ],
    );
  },
);

t.test(
  'a row whose secret is replaced meanwhile under the same id is re-sealed as it now is, never as it was listed',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice] = await enrollUsers(store, OLD, 2);
    const other = generateSecret();
    const result = await reseal(
      racing(store, alice!.userId, async (call) => {
        if (call > 1) return;
        const current = await store.getAuthenticator(alice!.userId, alice!.authenticatorId, ENROLLED_AT);
        const replaced = oldKeyring.seal(other, alice!.userId);
        t.ok(
          await store.replaceSealedSecret(
            alice!.userId,
            alice!.authenticatorId,
            current!.sealedSecret,
            replaced,
          ),
        );
      }),
    );
    t.match(result, { checked: 2, resealed: 2, gone: 0, failed: [] });
    t.strictSame(result.oldTags, { old: 2 }, 'a row tried again is counted once');
    const alicesRow = (await rows(store, newOnly)).find((row) => row.userId === alice!.userId)!;
    t.equal(alicesRow.tag, 'new');
    t.equal(alicesRow.secret, Buffer.from(other).toString('hex'), 'the secret as it now is');
    t.not(alicesRow.secret, hex(alice!.secret));
  },
);

t.test(
  'a row that changes on every try is reported after 5 tries and the run goes on',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice, bob] = await enrollUsers(store, OLD, 2);
    const result = await reseal(
      racing(store, alice!.userId, async () => {
        const { authenticatorId } = alice!;
        const current = await store.getAuthenticator(alice!.userId, authenticatorId, ENROLLED_AT);
        const fresh = oldKeyring.seal(decodeSecret(alice!.secret), alice!.userId);
        await store.replaceSealedSecret(alice!.userId, authenticatorId, current!.sealedSecret, fresh);
      }),
    );
    t.match(result, {
      checked: 2,
      resealed: 1,
      failed: [{ userId: alice!.userId, authenticatorId: alice!.authenticatorId }],
    });
    t.match(result.failed[0]!.reason, /changed 5 times/);
    t.equal((await rows(store)).find((row) => row.userId === bob!.userId)!.tag, 'new');
  },
);

t.test(
  'rows under a key the keyring lacks, or that do not open, are listed; the rest is done',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice, bob, carol] = await enrollUsers(store, OLD, 3);
    const lost = parseKeyring(generateKey('lost'));
    const bobsRow = await store.getAuthenticator(bob!.userId, bob!.authenticatorId, ENROLLED_AT);
    t.ok(
      await store.replaceSealedSecret(
        bob!.userId,
        bob!.authenticatorId,
        bobsRow!.sealedSecret,
        lost.seal(decodeSecret(bob!.secret), bob!.userId),
      ),
    );
    // Alice's envelope copied onto carol's row: the user id bound in it does not match.
    const alicesRow = await store.getAuthenticator(alice!.userId, alice!.authenticatorId, ENROLLED_AT);
    const carolsRow = await store.getAuthenticator(carol!.userId, carol!.authenticatorId, ENROLLED_AT);
    t.ok(
      await store.replaceSealedSecret(
        carol!.userId,
        carol!.authenticatorId,
        carolsRow!.sealedSecret,
        alicesRow!.sealedSecret,
      ),
    );

    const result = await reseal(store);
    t.match(result, { checked: 3, resealed: 1, alreadyCurrent: 0 });
    t.strictSame(result.failed, [
      {
        userId: bob!.userId,
        authenticatorId: bob!.authenticatorId,
        reason: 'sealed under key "lost", which is not in the keyring',
      },
      {
        userId: carol!.userId,
        authenticatorId: carol!.authenticatorId,
        reason: 'the sealed secret does not open (damaged, or copied from another user)',
      },
    ]);
    const alicesNow = await store.getAuthenticator(alice!.userId, alice!.authenticatorId, ENROLLED_AT);
    t.match(alicesNow!.sealedSecret, /^tf1\.new\./);
  },
);

t.test('shouldStop ends the run between batches; running it again finishes the rest', { skip }, async (t) => {
  const store = await freshStore(t);
  const users = await enrollUsers(store, OLD, 10);
  let batches = 0;
  const first = await reseal(store, {
    onProgress: () => {
      batches++;
    },
    shouldStop: () => batches > 2,
  });
  t.match(first, { stopped: true, checked: 6, resealed: 6 });
  const tags = (await rows(store)).map((row) => row.tag);
  t.strictSame(tags, [...Array(6).fill('new'), ...Array(4).fill('old')], 'rows done so far stay done');
  const second = await reseal(store);
  t.match(second, { stopped: false, checked: 10, resealed: 4, alreadyCurrent: 6 });
  t.strictSame(
    (await rows(store, newOnly)).map((row) => row.secret),
    users.map((user) => hex(user.secret)),
  );
});

t.test('a dry run opens every row, counts what it would re-seal, and writes nothing', { skip }, async (t) => {
  const store = await freshStore(t);
  await enrollUsers(store, OLD, 4);
  const before = await store.listSealedSecrets({ limit: 100 });
  const result = await reseal(store, { dryRun: true });
  t.match(result, { checked: 4, resealed: 4, alreadyCurrent: 0, failed: [] });
  t.strictSame(result.oldTags, { old: 4 });
  t.strictSame(await store.listSealedSecrets({ limit: 100 }), before);
});
