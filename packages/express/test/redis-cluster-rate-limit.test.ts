// Rate limits counted in a Redis Cluster: the counts of different clients live on different
// nodes, and each node has the counting script. Starts a 3-master cluster on loopback ports with
// @twofold/test-support/redis; needs redis-server and redis-cli.
import { memoryStore } from '@twofold/core';
import { hasCommand, missing } from '@twofold/test-support';
import { startLocalCluster } from '@twofold/test-support/redis';
import t from 'tap';
import { authenticate, call, startServer } from './helpers.js';

const absent = [];
if (!(await hasCommand('redis-server'))) absent.push('redis-server');
if (!(await hasCommand('redis-cli'))) absent.push('redis-cli');

if (absent.length > 0) {
  missing(t, `${absent.join(' and ')} not found on PATH (needed to start a Redis Cluster)`);
} else {
  const cluster = await startLocalCluster();
  t.teardown(() => cluster.stop());

  t.test(
    'clients whose counts sit on every node are each limited, never a 503, also after SCRIPT FLUSH',
    async (t) => {
      const server = await startServer(
        t,
        { store: memoryStore(), authenticate, rateLimit: { sensitiveMax: 2, redis: cluster.client } },
        { trustProxy: 'loopback' },
      );
      const networks = Array.from({ length: 24 }, (_, index) => `2001:db8:77:${(index + 1).toString(16)}`);
      const slots = new Set<number>();
      for (const [index, network] of networks.entries()) {
        if (index === 12) {
          // A node restart or failover empties its script cache: the scripts must come back everywhere.
          await Promise.all(cluster.client.nodes('master').map((node) => node.script('FLUSH')));
        }
        const from = {
          json: { username: 'ada', password: 'wrong' },
          headers: { 'x-forwarded-for': `${network}::1` },
        };
        const statuses = [];
        for (let request = 0; request < 3; request++) {
          statuses.push((await call(`${server.url}/2fa/login`, 'POST', from)).status);
        }
        t.same(statuses, [401, 401, 429], network);
        slots.add(Number(await cluster.client.cluster('KEYSLOT', `twofold:rl:${network}::/64:login`)));
      }
      const nodes = await Promise.all(
        cluster.client.nodes('master').map(async (node) => (await node.dbsize()) > 0),
      );
      t.same(nodes, [true, true, true], 'every master holds counts');
      t.ok(slots.size > 1);
      t.same(server.logs, [], 'no store error on the way');
    },
  );
}
