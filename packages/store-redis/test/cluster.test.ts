import { runStoreSuite } from '@twofold/store-test-suite';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  confirmInput,
  hasCommand,
  keysThatNeverExpire,
  type LocalCluster,
  pendingRecord,
  reportMissing,
  scanClusterKeys,
  scanKeys,
  startLocalCluster,
  userKeyBase,
  webAuthnRecord,
  writeEveryKind,
} from './helpers.js';

// The conformance suite against a 3-master Redis Cluster that this file starts on loopback ports
// (redis-server --cluster-enabled yes, redis-cli --cluster create) and stops at the end.

const missing = [];
if (!(await hasCommand('redis-server'))) missing.push('redis-server');
if (!(await hasCommand('redis-cli'))) missing.push('redis-cli');

if (missing.length > 0) {
  reportMissing(`${missing.join(' and ')} not found on PATH (needed to start a Redis Cluster)`);
} else {
  const cluster: LocalCluster = await startLocalCluster();
  tap.teardown(() => cluster.stop());
  const { client } = cluster;

  runStoreSuite(
    'redisStore on a 3-master Redis Cluster',
    (ctx) => redisStore({ client, prefix: `twofold-test:${ctx.runId}:` }),
    {
      additionalTests(t, ctx) {
        const runPrefix = `twofold-test:${ctx.runId}:`;
        const store = redisStore({ client, prefix: runPrefix });

        t.test(
          'every key of one user maps to one cluster slot, and users spread over the nodes',
          async (t) => {
            const userId = `${ctx.runId}{a}:b`;
            await writeEveryKind(store, userId, Date.now());
            const ownKeys = (await scanClusterKeys(client, userKeyBase(runPrefix, userId))).sort();
            t.equal(ownKeys.length, 9, 'one key of every kind (two nonces and their index)');
            const ownSlots = new Set(await Promise.all(ownKeys.map((key) => client.cluster('KEYSLOT', key))));
            t.equal(ownSlots.size, 1, 'all in one slot');

            // The same holds for every user the suite wrote, and those users sit on several masters.
            const byUser = new Map<string, Set<number>>();
            for (const key of await scanClusterKeys(client, runPrefix)) {
              const user = key.slice(0, key.indexOf('}:') + 2);
              const slots = byUser.get(user) ?? new Set<number>();
              slots.add(Number(await client.cluster('KEYSLOT', key)));
              byUser.set(user, slots);
            }
            t.ok(byUser.size > 20, `${byUser.size} users inspected`);
            t.same(
              [...byUser.entries()].filter(([, slots]) => slots.size !== 1),
              [],
              'no user spans slots',
            );
            const perMaster = await Promise.all(
              client.nodes('master').map((node) => scanKeys(node, runPrefix)),
            );
            t.ok(perMaster.filter((keys) => keys.length > 0).length > 1, 'keys live on more than one master');
          },
        );

        t.test('the multi-key recovery script runs on the cluster: its keys share one slot', async (t) => {
          const userId = `${ctx.runId}-recover{x}`;
          const now = Date.now();
          await writeEveryKind(store, userId, now);
          t.equal(await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token-hash', now), true);
          const base = userKeyBase(runPrefix, userId);
          t.same((await scanClusterKeys(client, base)).map((key) => key.slice(base.length)).sort(), [
            'c:failures',
            'n:challenge:1',
            'ni',
          ]);
        });

        t.test(
          'the scripts of several authenticators and WebAuthn run on the cluster, in one slot',
          async (t) => {
            const userId = `${ctx.runId}-several{a}:b`;
            const base = userKeyBase(runPrefix, userId);
            const now = Date.now();
            await writeEveryKind(store, userId, now);
            t.same(
              (await store.listAuthenticators(userId, now))
                .map((record) => `${record.type}:${record.id}`)
                .sort(),
              ['totp:tablet', 'totp:totp', 'webauthn:key'],
              'listAuthenticators',
            );
            t.equal(
              await store.useWebAuthnCredential(userId, 'key', { counter: 1, backupState: true, now }),
              true,
              'useWebAuthnCredential',
            );
            t.equal(await store.renameAuthenticator(userId, 'key', 'Security key', now), true, 'rename');
            t.equal(
              await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now), now),
              true,
              'savePendingAuthenticator replaces the pending one',
            );
            t.equal(await store.confirmAuthenticator(userId, 'phone', confirmInput('phone', now)), 'added');
            t.equal(
              await store.addWebAuthnCredential(webAuthnRecord(userId, 'key-2', now), {
                recoveryCodeHashes: [],
                maxActive: 3,
                now,
              }),
              'full',
            );
            const keys = (await scanClusterKeys(client, base)).sort();
            t.same(
              keys.map((key) => key.slice(base.length)),
              ['a:key', 'a:phone', 'a:totp', 'ai', 'c:failures', 'n:challenge:1', 'n:recovery', 'ni', 'rc'],
            );
            t.equal(new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key)))).size, 1);
            t.equal(await store.removeAuthenticator(userId, 'totp', now), 'removed');
            t.equal(await store.removeAuthenticator(userId, 'phone', now), 'removed');
            t.equal(await store.removeAuthenticator(userId, 'key', now), 'disabled');
            t.same(
              (await scanClusterKeys(client, base)).map((key) => key.slice(base.length)).sort(),
              ['c:failures', 'n:challenge:1', 'n:recovery', 'ni'],
              'the last removal deletes the 2FA keys',
            );
          },
        );

        t.test(
          'the shortcut scripts (several keys of one user each) run on the cluster, in one slot',
          async (t) => {
            const userId = `${ctx.runId}-shortcuts{a}:b`;
            const base = userKeyBase(runPrefix, userId);
            const now = Date.now();
            await writeEveryKind(store, userId, now);
            const begun = await store.beginSecondFactor!(userId, {
              claim: { key: 'challenge:2', value: 'spent', expiresAt: now + 300_000 },
              attempts: [
                { key: 'attempts:2', limit: 5, ttlMs: 300_000 },
                { key: 'failures', limit: 10, ttlMs: 900_000 },
              ],
              readNonce: 'recovery',
              now,
            });
            t.equal(begun.claimed, true);
            t.strictSame(
              begun.authenticators.map((record) => record.id),
              ['key', 'tablet', 'totp'],
              'all created at `now`: by id',
            );
            t.strictSame(
              begun.attempts.map((state) => [state.taken, state.count]),
              [
                [true, 1],
                [true, 2],
              ],
            );
            t.equal(begun.nonce, 'token-hash');
            const again = await store.beginSecondFactor!(userId, {
              claim: { key: 'challenge:2', value: 'spent', expiresAt: now + 300_000 },
              attempts: [],
              readNonce: null,
              now,
            });
            t.equal(again.claimed, false, 'claimed once');
            t.equal(
              await store.consumeCounterAndReset!(userId, 'totp', 7, now, {
                key: 'failures',
                expected: begun.attempts[1]!,
              }),
              true,
            );
            t.equal(await store.getCounter(userId, 'failures', now), null, 'reset');
            t.equal(
              await store.finishSecondFactor!(userId, {
                authenticatorId: 'totp',
                counter: 8,
                reset: { key: 'failures', expected: { count: 1, expiresAt: now + 1 } },
                nonces: [{ key: 'refresh:0', value: 'z', expiresAt: now + 60_000 }],
                now,
              }),
              true,
              'finishSecondFactor in one slot',
            );
            await store.putNonces!(
              userId,
              [
                { key: 'refresh:1', value: 'a', expiresAt: now + 60_000 },
                { key: 'refresh:2', value: 'b', expiresAt: now + 60_000 },
              ],
              now,
            );
            t.strictSame(
              (await store.listNonces(userId, 'refresh:', now)).map((entry) => entry.value),
              ['z', 'a', 'b'],
            );
            const keys = await scanClusterKeys(client, base);
            t.same(keys.map((key) => key.slice(base.length)).sort(), [
              'a:key',
              'a:tablet',
              'a:totp',
              'ai',
              'c:attempts:2',
              'n:challenge:1',
              'n:challenge:2',
              'n:recovery',
              'n:refresh:0',
              'n:refresh:1',
              'n:refresh:2',
              'ni',
              'rc',
            ]);
            t.equal(new Set(await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key)))).size, 1);
          },
        );

        t.test(
          'after the whole suite, only active authenticators, their index and recovery codes lack a TTL',
          async (t) => {
            const keys = await scanClusterKeys(client, runPrefix);
            t.ok(keys.length > 50, 'the suite left keys to inspect');
            t.same(await keysThatNeverExpire(client, keys), []);
          },
        );
      },
    },
  );
}
