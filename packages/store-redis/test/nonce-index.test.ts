import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '@twofold/core';
import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  freePort,
  hasCommand,
  isListening,
  reportMissing,
  SHARED_REDIS,
  scanClusterKeys,
  scanKeys,
  startLocalCluster,
  startRedisServer,
  tempDir,
  userKeyBase,
} from './helpers.js';

// The per-user nonce index `<user>ni` (a sorted set: member = nonce key, score = expiresAt): every
// nonce write keeps it in the same script, and listNonces reads it instead of scanning the keyspace.
// A Proxy over the client counts the SCAN and KEYS the store asks for; on a private redis-server,
// INFO commandstats also counts those a Lua script would run.

/** Commands that walk the keyspace; listNonces must send none of them. */
const KEYSPACE_WALKS = new Set([
  'scan',
  'scanstream',
  'scanbuffer',
  'scanbufferstream',
  'keys',
  'keysbuffer',
]);

/** How many keyspace walks the store asked of its client (or of a Cluster's nodes). */
interface WalkCount {
  walks: string[];
}

/**
 * The client behind a Proxy that records every SCAN and KEYS the store asks for, whether by method
 * (`scan`, `keys`, `scanStream`), by `call`/`sendCommand`, or on a node a Cluster's `nodes()` hands out.
 */
function counting<T extends object>(client: T, count: WalkCount): T {
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      const name = property.toLowerCase();
      return (...args: unknown[]) => {
        if (KEYSPACE_WALKS.has(name)) count.walks.push(name);
        if ((name === 'call' || name === 'sendcommand') && args.length > 0) {
          const first = args[0] as { name?: unknown } | string;
          const command = String(typeof first === 'string' ? first : first?.name).toLowerCase();
          if (KEYSPACE_WALKS.has(command)) count.walks.push(command);
        }
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (name === 'nodes' && Array.isArray(result)) {
          return result.map((node: object) => counting(node, count));
        }
        return result;
      };
    },
  });
}

/** The index of a user's nonces, by the documented layout. */
function indexKey(prefix: string, userId: string): string {
  return `${userKeyBase(prefix, userId)}ni`;
}

/** What the index holds: `[member, score]` pairs in score order. */
async function indexEntries(client: Redis, key: string): Promise<Array<[string, number]>> {
  const flat = await client.zrange(key, 0, '-1', 'WITHSCORES');
  const pairs: Array<[string, number]> = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, Number(flat[i + 1])]);
  return pairs;
}

const { host, port } = SHARED_REDIS;

if (!(await isListening(host, port))) {
  reportMissing(`Redis not reachable at ${host}:${port}`);
} else {
  tap.test('the nonce index on a single Redis server', async (t) => {
    const runId = randomUUID();
    const prefix = `twofold-test:nonce-index:${runId}:`;
    const raw = new Redis({ host, port });
    const count: WalkCount = { walks: [] };
    const store: Store = redisStore({ client: counting(raw, count), prefix });

    t.teardown(async () => {
      const keys = await scanKeys(raw, prefix);
      for (let i = 0; i < keys.length; i += 500) await raw.del(...keys.slice(i, i + 500));
      await raw.quit();
    });

    await t.test('listNonces sends no SCAN and no KEYS, and lists what the writes left', async (t) => {
      const userId = `${runId}-list{a}:b`;
      const now = Date.now();
      count.walks.length = 0;
      await store.putNonce(userId, 'refresh:a', 'a1', now + 60_000, now);
      await store.putNonce(userId, 'refresh:b', 'b1', now + 120_000, now);
      await store.putNonce(userId, 'refresh:c', 'c1', now + 60_000, now);
      await store.putNonce(userId, 'device:1', 'd1', now + 600_000, now);
      await store.putNonce(userId, 'recovery', 'r1', now + 3_600_000, now);
      t.equal(await store.claimNonce(userId, 'refresh:d', 'd1', now + 30_000, now), true, 'claimed');
      t.equal(await store.claimNonce(userId, 'refresh:d', 'd2', now + 90_000, now), false, 'claimed once');
      t.equal(await store.swapNonce(userId, 'refresh:a', 'a1', 'a2', now + 240_000, now), true, 'swapped');
      t.equal(
        await store.swapNonce(userId, 'refresh:a', 'a1', 'a3', now + 480_000, now),
        false,
        'stale swap',
      );
      t.equal(await store.takeNonce(userId, 'refresh:b', 'b1', now), true, 'taken');
      await store.deleteNonce(userId, 'refresh:c');

      t.strictSame(await store.listNonces(userId, 'refresh:', now), [
        { key: 'refresh:a', value: 'a2', expiresAt: now + 240_000 },
        { key: 'refresh:d', value: 'd1', expiresAt: now + 30_000 },
      ]);
      t.strictSame(await store.listNonces(userId, 'device:', now), [
        { key: 'device:1', value: 'd1', expiresAt: now + 600_000 },
      ]);
      t.strictSame(await store.listNonces(userId, 'refresh:a', now), [
        { key: 'refresh:a', value: 'a2', expiresAt: now + 240_000 },
      ]);
      t.strictSame(await store.listNonces(userId, 'nothing', now), []);
      t.strictSame(await store.listNonces(`${userId}-other`, 'refresh:', now), [], 'a user without nonces');

      t.strictSame(count.walks, [], 'the store asked its client for no SCAN and no KEYS');

      t.strictSame(
        await indexEntries(raw, indexKey(prefix, userId)),
        [
          ['refresh:d', now + 30_000],
          ['refresh:a', now + 240_000],
          ['device:1', now + 600_000],
          ['recovery', now + 3_600_000],
        ],
        'the index: one member per live nonce, scored by its expiresAt',
      );
    });

    await t.test('listNonces sorts by UTF-16 code units, not by UTF-8 bytes', async (t) => {
      const userId = `${runId}-order`;
      const now = Date.now();
      for (const key of ['u:\uFFFD', 'u:\u{1F600}', 'u:\uE000', 'u:z'])
        await store.putNonce(userId, key, 'v', now + 60_000, now);
      t.strictSame(
        (await store.listNonces(userId, 'u:', now)).map((entry) => entry.key),
        ['u:z', 'u:\u{1F600}', 'u:\uE000', 'u:\uFFFD'],
      );
    });

    await t.test('expired members are pruned from the index when the user writes a nonce', async (t) => {
      // A clock in 1970: pruning follows the caller's clock, not the server's.
      const now = 1_000_000;
      const userId = `${runId}-prune`;
      const index = indexKey(prefix, userId);
      await store.putNonce(userId, 'k:1', 'v1', now + 1_000, now);
      await store.putNonce(userId, 'k:2', 'v2', now + 60_000, now);
      t.strictSame(await indexEntries(raw, index), [
        ['k:1', now + 1_000],
        ['k:2', now + 60_000],
      ]);
      t.strictSame(
        (await store.listNonces(userId, 'k:', now + 1_000)).map((entry) => entry.key),
        ['k:2'],
        'not listed at its expiresAt',
      );
      await store.claimNonce(userId, 'k:3', 'v3', now + 90_000, now + 2_000);
      t.strictSame(
        await indexEntries(raw, index),
        [
          ['k:2', now + 60_000],
          ['k:3', now + 90_000],
        ],
        'the expired member is gone after the next write',
      );
      await store.putNonce(userId, 'k:4', 'v4', now + 70_000, now + 65_000);
      t.strictSame(
        await indexEntries(raw, index),
        [
          ['k:4', now + 70_000],
          ['k:3', now + 90_000],
        ],
        'and again',
      );
    });

    await t.test('listNonces drops members whose nonce hash is gone, from the index too', async (t) => {
      const now = Date.now();
      const userId = `${runId}-gone`;
      await store.putNonce(userId, 'k:1', 'v1', now + 60_000, now);
      await store.putNonce(userId, 'k:2', 'v2', now + 60_000, now);
      await raw.del(`${userKeyBase(prefix, userId)}n:k:1`);
      t.strictSame(await store.listNonces(userId, 'k:', now), [
        { key: 'k:2', value: 'v2', expiresAt: now + 60_000 },
      ]);
      t.strictSame(await indexEntries(raw, indexKey(prefix, userId)), [['k:2', now + 60_000]]);
    });

    await t.test('the index TTL is never shorter than its longest-lived nonce', async (t) => {
      const now = 1_000_000;
      const userId = `${runId}-ttl`;
      const base = userKeyBase(prefix, userId);
      const index = indexKey(prefix, userId);
      await store.putNonce(userId, 'long', 'v', now + 3_600_000, now);
      await store.putNonce(userId, 'short', 'v', now + 60_000, now);
      await store.claimNonce(userId, 'claimed', 'v', now + 120_000, now);
      const longest = await raw.pttl(`${base}n:long`);
      let pttl = await raw.pttl(index);
      t.ok(pttl >= longest && pttl <= 3_600_000 + 60_000, `index PTTL ${pttl} >= nonce PTTL ${longest}`);

      t.equal(await store.swapNonce(userId, 'short', 'v', 'w', now + 7_200_000, now), true);
      const swapped = await raw.pttl(`${base}n:short`);
      pttl = await raw.pttl(index);
      t.ok(pttl >= swapped, `a swap to a later expiry moves it: index PTTL ${pttl} >= ${swapped}`);

      t.equal(await store.takeNonce(userId, 'short', 'w', now), true);
      pttl = await raw.pttl(index);
      t.ok(pttl >= (await raw.pttl(`${base}n:long`)), `after a take: index PTTL ${pttl}`);

      await store.deleteNonce(userId, 'long');
      await store.deleteNonce(userId, 'claimed');
      t.equal(await raw.exists(index), 0, 'deleting the last nonce deletes the index');
    });

    await t.test('the index expires by itself soon after its last nonce', async (t) => {
      const userId = `${runId}-idle`;
      const base = userKeyBase(prefix, userId);
      const index = indexKey(prefix, userId);
      const now = Date.now();
      await store.putNonce(userId, 'a', 'v', now + 300, now);
      await store.putNonce(userId, 'b', 'v', now + 600, now);
      t.equal(await raw.exists(index), 1, 'written');
      t.ok((await raw.pttl(index)) >= (await raw.pttl(`${base}n:b`)), 'outlives the longest nonce');
      const deadline = Date.now() + 5_000;
      while ((await raw.exists(index)) === 1 && Date.now() < deadline) await sleep(100);
      t.equal(await raw.exists(`${base}n:b`), 0, 'the nonces expired');
      t.equal(await raw.exists(index), 0, `the index is gone too, ${Date.now() - now} ms after the write`);
    });

    await t.test(
      'a nonce written without an index entry (before this version) is not listed until written again',
      async (t) => {
        const now = Date.now();
        const userId = `${runId}-legacy`;
        const nonce = `${userKeyBase(prefix, userId)}n:refresh:old`;
        await raw.hset(nonce, 'v', 'old', 'e', String(now + 60_000));
        await raw.pexpire(nonce, 60_000);
        t.strictSame(await store.listNonces(userId, 'refresh:', now), [], 'not listed');
        t.equal(await store.getNonce(userId, 'refresh:old', now), 'old', 'but it still works');
        await store.putNonce(userId, 'refresh:old', 'new', now + 60_000, now);
        t.strictSame(await store.listNonces(userId, 'refresh:', now), [
          { key: 'refresh:old', value: 'new', expiresAt: now + 60_000 },
        ]);
      },
    );

    await t.test(
      'takeNonceAndDeleteTwoFactor removes its nonce from the index; deleteTwoFactor keeps nonces',
      async (t) => {
        const now = Date.now();
        const userId = `${runId}-recover`;
        await store.putNonce(userId, 'recovery', 'r', now + 60_000, now);
        await store.putNonce(userId, 'refresh:1', 'f', now + 60_000, now);
        t.equal(await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'r', now), true);
        t.strictSame(await indexEntries(raw, indexKey(prefix, userId)), [['refresh:1', now + 60_000]]);
        await store.deleteTwoFactor(userId);
        t.strictSame(
          (await store.listNonces(userId, 'refresh:', now)).map((entry) => entry.key),
          ['refresh:1'],
          'nonces outlive deleteTwoFactor, in the index too',
        );
      },
    );

    await t.test('findNonces never takes an index for a nonce', async (t) => {
      const now = Date.now();
      const key = `i${runId}`;
      const owner = `${runId}-find-owner`;
      const bystander = `${runId}-find-bystander`;
      await store.putNonce(owner, key, 'v', now + 60_000, now);
      await store.putNonce(bystander, `n${key}`, 'v', now + 60_000, now);
      await store.putNonce(bystander, key.slice(1), 'v', now + 60_000, now);
      t.strictSame(await store.findNonces(key, now, { limit: 1000 }), [
        { userId: owner, key, value: 'v', expiresAt: now + 60_000 },
      ]);
      t.strictSame(await store.findNonces('i', now, { limit: 1000 }), [], 'no user has a nonce "i"');
    });
  });
}

/** How many times the server ran SCAN and KEYS (scripts included) since the last CONFIG RESETSTAT. */
async function walksRun(client: Redis): Promise<{ scan: number; keys: number }> {
  const info = await client.info('commandstats');
  const calls = (command: string) =>
    Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { scan: calls('scan'), keys: calls('keys') };
}

if (!(await hasCommand('redis-server'))) {
  reportMissing('redis-server not found on PATH (needed to start a private Redis)');
} else {
  tap.test('listNonces runs no SCAN and no KEYS on the server, not even inside a script', async (t) => {
    const dir = await tempDir('twofold-redis-nonce-index');
    t.teardown(() => dir.remove());
    const server = await startRedisServer(await freePort(), dir.path);
    t.teardown(() => server.kill());
    const client = new Redis({ host: '127.0.0.1', port: server.port });
    t.teardown(() => client.disconnect());
    const count: WalkCount = { walks: [] };
    const store = redisStore({ client: counting(client, count), prefix: 'twofold-nonce-index:' });
    const now = Date.now();
    // Other keys in the keyspace, which a scan would have to walk.
    for (let i = 0; i < 50; i++) await store.putNonce(`other-${i}`, 'refresh:x', 'v', now + 60_000, now);
    await store.putNonce('u', 'refresh:1', 'v1', now + 60_000, now);
    await store.claimNonce('u', 'refresh:2', 'v2', now + 60_000, now);

    await client.config('RESETSTAT');
    t.strictSame(
      (await store.listNonces('u', 'refresh:', now)).map((entry) => entry.key),
      ['refresh:1', 'refresh:2'],
    );
    t.strictSame(await walksRun(client), { scan: 0, keys: 0 }, 'INFO commandstats: no SCAN, no KEYS');
    t.strictSame(count.walks, [], 'and the store asked its client for none');

    // The check itself: findNonces, an operator's sweep, does scan, and commandstats sees it.
    t.equal((await store.findNonces('refresh:x', now, { limit: 10 })).length, 10);
    t.ok((await walksRun(client)).scan > 0, 'findNonces scans (so the counter works)');
  });
}

if (!(await hasCommand('redis-server')) || !(await hasCommand('redis-cli'))) {
  reportMissing('redis-server or redis-cli not found on PATH (needed to start a Redis Cluster)');
} else {
  tap.test('the nonce index on a 3-master Redis Cluster', async (t) => {
    const cluster = await startLocalCluster();
    t.teardown(() => cluster.stop());
    const count: WalkCount = { walks: [] };
    const prefix = 'twofold-nonce-index:';
    const store = redisStore({ client: counting(cluster.client, count), prefix });
    const now = Date.now();
    const users = ['alice', '{bob}', 'carol}:n:x', 'dave', 'erin', 'frank', '\u{1F600}'];
    for (const userId of users) {
      await store.putNonce(userId, 'refresh:2', `${userId}-2`, now + 60_000, now);
      await store.putNonce(userId, 'refresh:1', `${userId}-1`, now + 120_000, now);
      await store.claimNonce(userId, 'refresh:3', `${userId}-3`, now + 30_000, now);
      await store.swapNonce(userId, 'refresh:3', `${userId}-3`, `${userId}-3b`, now + 90_000, now);
      await store.takeNonce(userId, 'refresh:2', `${userId}-2`, now);
      await store.putNonce(userId, 'recovery', 'r', now + 60_000, now);
    }
    for (const userId of users) {
      t.strictSame(
        await store.listNonces(userId, 'refresh:', now),
        [
          { key: 'refresh:1', value: `${userId}-1`, expiresAt: now + 120_000 },
          { key: 'refresh:3', value: `${userId}-3b`, expiresAt: now + 90_000 },
        ],
        JSON.stringify(userId),
      );
      const base = userKeyBase(prefix, userId);
      const slots = await Promise.all(
        [indexKey(prefix, userId), `${base}n:refresh:1`, `${base}n:refresh:3`, `${base}n:recovery`].map(
          (key) => cluster.client.cluster('KEYSLOT', key),
        ),
      );
      t.equal(new Set(slots).size, 1, `${JSON.stringify(userId)}: the index shares the nonces' slot`);
    }
    t.strictSame(count.walks, [], 'no SCAN and no KEYS on any node');
    const perMaster = await Promise.all(
      cluster.client.nodes('master').map((node) => scanKeys(node, `${prefix}{`)),
    );
    t.ok(
      perMaster.filter((keys) => keys.some((key) => key.endsWith('}:ni'))).length > 1,
      'indexes on several masters',
    );
    t.ok((await scanClusterKeys(cluster.client, prefix)).length > 0);
  });
}
