import { runStoreSuite } from '@twofold/store-test-suite';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  hasCommand,
  keysThatNeverExpire,
  type LocalCluster,
  reportMissing,
  scanClusterKeys,
  scanKeys,
  startLocalCluster,
  userKeyBase,
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
            t.equal(ownKeys.length, 7, 'one key of every kind');
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
          ]);
        });

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
