import { randomUUID } from 'node:crypto';
import type { PendingAuthenticator } from '@twofold/core';
import { pendingRecord, runStoreSuite, type StoreSuiteContext } from '@twofold/store-test-suite';
import { type KeyValue, keyValueStore, memoryKeyValue } from '../src/index.js';

/** A backend that records each write, to check what the adapter asks of it. */
function recordingKeyValue(ctx: StoreSuiteContext) {
  const inner = memoryKeyValue({ now: ctx.clock.now });
  const writes: { key: string; deleted: boolean; expiresAt: number | undefined }[] = [];
  const kv: KeyValue = {
    get: (key) => inner.get(key),
    async set(key, value, expiresAt) {
      writes.push({ key, deleted: false, expiresAt });
      await inner.set(key, value, expiresAt);
    },
    async delete(key) {
      writes.push({ key, deleted: true, expiresAt: undefined });
      await inner.delete(key);
    },
    keys: (prefix) => inner.keys(prefix),
  };
  return { kv, writes };
}

function pending(userId: string, now: number): PendingAuthenticator {
  return pendingRecord(userId, now, {
    sealedSecret: 'v1.k1.sealed',
    createdAt: now,
    expiresAt: now + 600_000,
  });
}

runStoreSuite(
  'keyValueStore over memoryKeyValue',
  // The backend takes the suite's clock, so that its own expiry agrees with the `now` the suite passes.
  (ctx) => keyValueStore({ kv: memoryKeyValue({ now: ctx.clock.now }), prefix: `test:${ctx.runId}:` }),
  {
    additionalTests: (t, ctx) => {
      const userId = () => `${ctx.runId}-${randomUUID()}`;

      t.test('a document of expiring records reaches the backend with its latest expiry', async (t) => {
        const { kv, writes } = recordingKeyValue(ctx);
        const store = keyValueStore({ kv, prefix: 'p:' });
        const user = userId();
        const now = ctx.clock.now();
        await store.claimNonce(user, 'challenge', 'v', now + 300_000, now);
        await store.incrementCounter(user, 'failures', 900_000, now);
        t.strictSame(writes.at(-1), { key: `p:${user}`, deleted: false, expiresAt: now + 900_000 });
        ctx.clock.advance(900_000);
        t.equal(await kv.get(`p:${user}`), undefined, 'the backend dropped it by itself');
      });

      t.test('a document holding an active authenticator never expires', async (t) => {
        const { kv, writes } = recordingKeyValue(ctx);
        const store = keyValueStore({ kv });
        const user = userId();
        const now = ctx.clock.now();
        const record = pending(user, now);
        await store.savePendingAuthenticator(record, now);
        t.equal(writes.at(-1)?.expiresAt, now + 600_000, 'pending: expires with the enrollment');
        const { sealedSecret } = record;
        await store.confirmAuthenticator(user, 'totp', {
          sealedSecret,
          counter: 1,
          recoveryCodeHashes: ['h'],
          maxActive: 10,
          now,
        });
        t.equal(writes.at(-1)?.expiresAt, undefined, 'active: no expiry');
      });

      t.test('a document left empty is deleted, and an unchanged one is not rewritten', async (t) => {
        const { kv, writes } = recordingKeyValue(ctx);
        const store = keyValueStore({ kv });
        const user = userId();
        const now = ctx.clock.now();
        await store.putNonce(user, 'recovery', 'v', now + 60_000, now);
        t.equal(await store.takeNonce(user, 'recovery', 'wrong', now), false);
        t.equal(await store.takeNonceAndDeleteTwoFactor(user, 'recovery', 'wrong', now), false);
        t.equal(writes.length, 1, 'a refused take wrote nothing');
        await store.takeAttempt(user, 'failures', 1, 60_000, now);
        t.match(await store.takeAttempt(user, 'failures', 1, 60_000, now), { taken: false });
        t.equal(await store.resetCounterIfUnchanged(user, 'failures', { count: 1, expiresAt: now }), false);
        t.equal(writes.length, 2, 'a refused attempt and a refused reset wrote nothing');
        await store.resetCounter(user, 'failures');
        await store.deleteNonce(user, 'recovery');
        t.strictSame(writes.at(-1), { key: `twofold:${user}`, deleted: true, expiresAt: undefined });
      });

      t.test('a failing backend rejects with StoreUnavailableError and releases the lock', async (t) => {
        const inner = memoryKeyValue({ now: ctx.clock.now });
        let failures = 1;
        const kv: KeyValue = {
          ...inner,
          async get(key) {
            if (failures-- > 0) throw new Error('connection refused');
            return inner.get(key);
          },
        };
        const store = keyValueStore({ kv });
        const user = userId();
        await t.rejects(store.incrementCounter(user, 'failures', 60_000, ctx.clock.now()), {
          code: 'TWOFOLD_STORE_UNAVAILABLE',
        });
        const counter = await store.incrementCounter(user, 'failures', 60_000, ctx.clock.now());
        t.equal(counter.count, 1, 'the next call ran, and the failed one changed nothing');
      });

      t.test('two stores over one backend in one process share the lock', async (t) => {
        const kv = memoryKeyValue({ now: ctx.clock.now });
        const stores = [keyValueStore({ kv }), keyValueStore({ kv })];
        const user = userId();
        const now = ctx.clock.now();
        const record = pending(user, now);
        await stores[0]!.savePendingAuthenticator(record, now);
        const input = {
          sealedSecret: record.sealedSecret,
          counter: 1,
          recoveryCodeHashes: [],
          maxActive: 10,
          now,
        };
        await stores[0]!.confirmAuthenticator(user, 'totp', input);
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, index) => stores[index % 2]!.consumeCounter(user, 'totp', 2, now)),
        );
        t.equal(results.filter(Boolean).length, 1, 'exactly one of 100 calls across both stores won');
        const attempts = await Promise.all(
          Array.from({ length: 100 }, (_, index) =>
            stores[index % 2]!.takeAttempt(user, 'failures', 10, 60_000, now),
          ),
        );
        t.equal(attempts.filter((state) => state.taken).length, 10, 'exactly 10 of 100 attempts were taken');
      });

      t.test('findNonces lists only documents under its own prefix, and fails closed', async (t) => {
        const inner = memoryKeyValue({ now: ctx.clock.now });
        let failing = false;
        const kv: KeyValue = {
          ...inner,
          async *keys(prefix) {
            if (failing) throw new Error('connection refused');
            yield* inner.keys(prefix);
          },
        };
        const mine = keyValueStore({ kv, prefix: 'p:' });
        const theirs = keyValueStore({ kv, prefix: 'q:' });
        const now = ctx.clock.now();
        const [first, second] = [userId(), userId()].sort();
        await mine.putNonce(first!, 'due', 'a', now + 60_000, now);
        await theirs.putNonce(second!, 'due', 'b', now + 60_000, now);
        t.strictSame(await mine.findNonces('due', now, { limit: 10 }), [
          { userId: first, key: 'due', value: 'a', expiresAt: now + 60_000 },
        ]);
        failing = true;
        await t.rejects(mine.findNonces('due', now, { limit: 10 }), { code: 'TWOFOLD_STORE_UNAVAILABLE' });
      });

      t.test('malformed options are a TypeError naming the option', async (t) => {
        t.throws(() => keyValueStore(undefined as never), TypeError);
        t.throws(() => keyValueStore({ kv: {} as KeyValue }), { name: 'TypeError', message: /options\.kv/ });
        const kv = memoryKeyValue();
        t.throws(() => keyValueStore({ kv, prefix: 1 as never }), { message: /options\.prefix/ });
      });
    },
  },
);
