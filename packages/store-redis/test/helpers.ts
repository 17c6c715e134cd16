import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Store } from '@twofold/core';
import { pendingRecord as suitePendingRecord } from '@twofold/store-test-suite';
import { missing } from '@twofold/test-support';
import { Cluster, Redis } from 'ioredis';
import tap from 'tap';

const execFileAsync = promisify(execFile);

export const SHARED_REDIS = { host: '127.0.0.1', port: 6379 } as const;

/** True when something answers a TCP connection at host:port within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when `command` is on the PATH. */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/** What a Redis test file does when what it needs is missing: a skip naming it, or a failure under CI. */
export function reportMissing(reason: string): void {
  missing(tap, reason);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A redis-server this test started on a loopback port, without persistence. */
export interface RedisServer {
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops it (SIGKILL, like a crash) and waits until it has exited. */
  kill(): Promise<void>;
}

/** Starts redis-server with `args` on 127.0.0.1:`port` in `dir`, and waits until it accepts connections. */
export async function startRedisServer(
  port: number,
  dir: string,
  extraArgs: readonly string[] = [],
): Promise<RedisServer> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...extraArgs,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: RedisServer = {
    port,
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + 10_000;
  while (!(await isListening('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await server.kill();
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await sleep(50);
  }
  return server;
}

/** A fresh temporary directory, removed by `remove`. */
export async function tempDir(name: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${name}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A 3-master Redis Cluster on loopback ports, started by the test. */
export interface LocalCluster {
  readonly ports: readonly number[];
  readonly client: Cluster;
  /** Disconnects the client, kills every node and removes the directory (safe to call twice). */
  stop(): Promise<void>;
}

/**
 * Starts three redis-server nodes with cluster mode on, joins them with `redis-cli --cluster create`
 * (no replicas), waits for `cluster_state:ok` and connects an ioredis Cluster. Everything it started is
 * stopped again if a step fails. Bounded: about 30 s at most.
 */
export async function startLocalCluster(): Promise<LocalCluster> {
  const dir = await tempDir('twofold-redis-cluster');
  const servers: RedisServer[] = [];
  let client: Cluster | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    client?.disconnect();
    await Promise.all(servers.map((server) => server.kill()));
    await dir.remove();
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const busPort = await freePort();
      servers.push(
        await startRedisServer(port, dir.path, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          join(dir.path, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '5000',
        ]),
      );
    }
    const ports = servers.map((server) => server.port);
    await execFileAsync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 20_000 },
    );
    await waitForClusterOk(ports);
    client = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { clusterRetryStrategy: () => 100 },
    );
    await waitForReady(client);
    return { ports, client, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForClusterOk(ports: readonly number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (const port of ports) {
    const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      await node.connect();
      while (!String(await node.cluster('INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`cluster node ${port} never reported cluster_state:ok`);
        await sleep(100);
      }
    } finally {
      node.disconnect();
    }
  }
}

/** Resolves when the client is ready, or rejects after `timeoutMs`. */
export function waitForReady(client: Redis | Cluster, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`client not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Every key under `prefix` on one server (SCAN, never KEYS). */
export async function scanKeys(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Every key under `prefix` on every master of the cluster. */
export async function scanClusterKeys(cluster: Cluster, prefix: string): Promise<string[]> {
  const perNode = await Promise.all(cluster.nodes('master').map((node) => scanKeys(node, prefix)));
  return perNode.flat();
}

/** The commands {@link keysThatNeverExpire} reads; a Redis and a Cluster both have them. */
interface KeyReader {
  pttl(key: string): Promise<number>;
  hget(key: string, field: string): Promise<string | null>;
  smembers(key: string): Promise<string[]>;
}

/**
 * The keys among `keys` that have no TTL although they should: only an active authenticator, the
 * index of a user with an active authenticator and that user's recovery codes may live forever.
 */
export async function keysThatNeverExpire(client: KeyReader, keys: readonly string[]): Promise<string[]> {
  const offending: string[] = [];
  for (const key of keys) {
    if ((await client.pttl(key)) !== -1) continue;
    const userBase = key.slice(0, key.indexOf('}:') + 2);
    const rest = key.slice(userBase.length);
    const activeIn = async (ids: readonly string[]) => {
      for (const id of ids) {
        if ((await client.hget(`${userBase}a:${id}`, 'status')) === 'active') return true;
      }
      return false;
    };
    let allowed = false;
    if (rest.startsWith('a:')) allowed = (await client.hget(key, 'status')) === 'active';
    else if (rest === 'ai') allowed = await activeIn(await client.smembers(key));
    else if (rest === 'rc') allowed = await activeIn(await client.smembers(`${userBase}ai`));
    if (!allowed) offending.push(key);
  }
  return offending;
}

/** The hash tag of a key: what stands between its first `{` and the next `}`. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  return key.slice(open + 1, key.indexOf('}', open));
}

/** A pending authenticator record of `userId`, expiring `lifetimeMs` after `now`. */
export function pendingRecord(userId: string, id: string, now: number, lifetimeMs = 600_000) {
  return suitePendingRecord(userId, now, {
    id,
    sealedSecret: `sealed-${id}`,
    createdAt: now,
    expiresAt: now + lifetimeMs,
  });
}

/**
 * Writes one key of every kind for `userId`: an active authenticator with recovery codes, a second
 * pending one, a counter and two nonces.
 */
export async function writeEveryKind(store: Store, userId: string, now: number): Promise<void> {
  await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
  const confirmed = await store.confirmAuthenticator(userId, 'totp', {
    sealedSecret: 'sealed-totp',
    counter: 1,
    recoveryCodeHashes: ['h1', 'h2'],
    now,
  });
  if (!confirmed) throw new Error('writeEveryKind: confirmAuthenticator resolved false');
  await store.savePendingAuthenticator(pendingRecord(userId, 'tablet', now), now);
  await store.incrementCounter(userId, 'failures', 900_000, now);
  await store.putNonce(userId, 'recovery', 'token-hash', now + 3_600_000, now);
  await store.claimNonce(userId, 'challenge:1', 'spent', now + 300_000, now);
}

/** Where the keys of `userId` start: the prefix, then the id's UTF-16 code units in base64url as hash tag. */
export function userKeyBase(prefix: string, userId: string): string {
  return `${prefix}{${Buffer.from(userId, 'utf16le').toString('base64url')}}:`;
}
