import { type AuthenticatorRecord, generateKey, parseKeyring } from '@twofold/core';
import { decodeSecret } from '@twofold/otp';
import { migrate, type SqlStore, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import t, { type Test } from 'tap';
import { type ResealOptions, type ResealStore, resealSecrets } from '../src/reseal.js';
import { codeAt, ENROLLED_AT, engineAt, enrollUsers } from './fixtures.js';

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
function racing(store: SqlStore, userId: string, before: (call: number) => Promise<void>): ResealStore {
  let calls = 0;
  return {
    listSealedSecrets: (options) => store.listSealedSecrets(options),
    countSealedSecrets: () => store.countSealedSecrets(),
    getAuthenticator: (user, id, now) => store.getAuthenticator(user, id, now),
    async replaceSealedSecret(user, id, expected, next) {
      if (user === userId) await before(++calls);
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
        appWrote = await store.getAuthenticator(alice!.userId, 'totp', app.now());
      }),
    );
    t.match(result, { checked: 2, resealed: 1, alreadyCurrent: 1, failed: [] });
    const stored = await store.getAuthenticator(alice!.userId, 'totp', app.now());
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
  t.equal(await store.getAuthenticator(alice!.userId, 'totp', ENROLLED_AT), null);
  t.equal(await store.countSealedSecrets(), 2);
});

t.test(
  'a secret re-enrolled meanwhile by an app still on the old key is re-sealed, never replaced',
  { skip },
  async (t) => {
    const store = await freshStore(t);
    const [alice] = await enrollUsers(store, OLD, 2);
    let newSecret = '';
    const result = await reseal(
      racing(store, alice!.userId, async (call) => {
        if (call > 1) return;
        await store.deleteTwoFactor(alice!.userId);
        newSecret = (await engineAt(store, OLD).twoFactor.enroll(alice!.userId)).secret;
      }),
    );
    t.match(result, { checked: 2, resealed: 2, failed: [] });
    const alicesRow = (await rows(store, newOnly)).find((row) => row.userId === alice!.userId)!;
    t.equal(alicesRow.tag, 'new');
    t.equal(alicesRow.secret, hex(newSecret), 'the new enrollment, not the old secret');
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
        const current = await store.getAuthenticator(alice!.userId, 'totp', ENROLLED_AT);
        const fresh = oldKeyring.seal(decodeSecret(alice!.secret), alice!.userId);
        await store.replaceSealedSecret(alice!.userId, 'totp', current!.sealedSecret, fresh);
      }),
    );
    t.match(result, {
      checked: 2,
      resealed: 1,
      failed: [{ userId: alice!.userId, authenticatorId: 'totp' }],
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
    const bobsRow = await store.getAuthenticator(bob!.userId, 'totp', ENROLLED_AT);
    await store.replaceSealedSecret(
      bob!.userId,
      'totp',
      bobsRow!.sealedSecret,
      lost.seal(decodeSecret(bob!.secret), bob!.userId),
    );
    // Alice's envelope copied onto carol's row: the user id bound in it does not match.
    const alicesRow = await store.getAuthenticator(alice!.userId, 'totp', ENROLLED_AT);
    const carolsRow = await store.getAuthenticator(carol!.userId, 'totp', ENROLLED_AT);
    await store.replaceSealedSecret(carol!.userId, 'totp', carolsRow!.sealedSecret, alicesRow!.sealedSecret);

    const result = await reseal(store);
    t.match(result, { checked: 3, resealed: 1, alreadyCurrent: 0 });
    t.strictSame(result.failed, [
      {
        userId: bob!.userId,
        authenticatorId: 'totp',
        reason: 'sealed under key "lost", which is not in the keyring',
      },
      {
        userId: carol!.userId,
        authenticatorId: 'totp',
        reason: 'the sealed secret does not open (damaged, or copied from another user)',
      },
    ]);
    const alicesNow = await store.getAuthenticator(alice!.userId, 'totp', ENROLLED_AT);
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
