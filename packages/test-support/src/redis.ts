/**
 * Redis servers a test starts itself (`@twofold/test-support/redis`, needs ioredis): a single
 * redis-server without persistence, or a 3-master Redis Cluster on loopback ports.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { onExit } from 'signal-exit';
import { freePort, isListening, tempDir } from './net.js';

const execFileAsync = promisify(execFile);

/**
 * Every redis-server of this process still running. When the test process ends without its
 * teardowns (tap's per-file timeout ends it with SIGALRM, then SIGKILL; a Ctrl-C), they are killed
 * on the way out, so no cluster node outlives its test holding a port. (SIGKILL itself leaves no
 * way out: the nodes then stay, as before.)
 */
const running = new Set<ChildProcess>();
let reaping = false;

function reapOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (reaping) return;
  reaping = true;
  onExit(() => {
    for (const server of running) server.kill('SIGKILL');
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
  reapOnExit(child);
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
