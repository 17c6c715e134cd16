/**
 * One app process of the reliability tests: the kit under /2fa on Fastify (@twofold/fastify, its
 * logger at level info on stdout) or Express (@twofold/express, its `log` hook as JSON lines on
 * stdout), over a store shared with the other processes. Started by `cluster.ts` with
 * `node --conditions=@twofold/source --import tsx server.ts`; its configuration comes in the
 * environment variable TWOFOLD_RELIABILITY_APP (JSON, see `AppConfig`). It listens on 127.0.0.1 on a
 * free port and tells the parent over IPC: `{ type: 'listening', port }`; recovery mails go to the
 * parent the same way (`{ type: 'mail', mail }`), never to a log.
 */
import type { AddressInfo } from 'node:net';
import { memoryStore, type Store } from '@twofold/core';
import type { TwofoldHttpOptions, TwofoldMail } from '@twofold/core/http';
import type { AppConfig, AppMessage } from './config.js';

const raw = process.env.TWOFOLD_RELIABILITY_APP;
if (raw === undefined || typeof process.send !== 'function') {
  console.error(
    'server.ts is started by test/reliability/cluster.ts (IPC and TWOFOLD_RELIABILITY_APP needed)',
  );
  process.exit(2);
}
const config = JSON.parse(raw) as AppConfig;
const send = (message: AppMessage) => process.send?.(message);

/** One JSON log line on stdout (the Express processes' log). */
function writeLine(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

const closers: (() => Promise<unknown> | unknown)[] = [];

/**
 * better-sqlite3, an optional dependency whose native build may have failed. Without it the process
 * exits with one line naming it, not a stack trace (the tests skip SQLite before starting one).
 */
async function betterSqlite3(): Promise<typeof import('better-sqlite3')> {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return Database;
  } catch (error) {
    console.error(
      'server.ts: the sqlite store needs better-sqlite3, which is not installed or not built ' +
        '(npm_config_nodedir=/usr pnpm rebuild better-sqlite3, or install a C toolchain and rebuild it): ' +
        String((error as Error).message ?? error).split('\n')[0],
    );
    process.exit(2);
  }
}

async function openStore(): Promise<Store> {
  const spec = config.store;
  switch (spec.kind) {
    case 'memory':
      return memoryStore();
    // Only what this process needs is loaded: a crash test restarts processes many times.
    case 'redis': {
      const { Redis } = await import('ioredis');
      const { redisStore } = await import('@twofold/store-redis');
      const client = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
      closers.push(() => client.quit());
      return redisStore({ client, prefix: spec.prefix });
    }
    case 'redis-cluster': {
      const { Cluster } = await import('ioredis');
      const { redisStore } = await import('@twofold/store-redis');
      const client = new Cluster(
        spec.ports.map((port) => ({ host: '127.0.0.1', port })),
        { redisOptions: { maxRetriesPerRequest: 1 } },
      );
      closers.push(() => client.quit());
      return redisStore({ client, prefix: spec.prefix });
    }
    case 'postgres': {
      const { default: pg } = await import('pg');
      const { sqlStore } = await import('@twofold/store-sql');
      const pool = new pg.Pool({
        host: '127.0.0.1',
        port: 5432,
        database: 'test',
        user: 'postgres',
        max: 10,
      });
      closers.push(() => pool.end());
      return sqlStore({ db: pool, prefix: spec.prefix });
    }
    case 'mysql': {
      const { createMysqlPool, endMysqlPool } = await import('./mysql.js');
      const { sqlStore } = await import('@twofold/store-sql');
      const pool = createMysqlPool();
      closers.push(() => endMysqlPool(pool));
      return sqlStore({ db: pool, prefix: spec.prefix });
    }
    case 'sqlite': {
      const Database = await betterSqlite3();
      const { sqlStore } = await import('@twofold/store-sql');
      const db = new Database(spec.file);
      db.pragma('busy_timeout = 5000');
      closers.push(() => db.close());
      return sqlStore({ db, prefix: spec.prefix });
    }
  }
}

const byName = new Map(config.users.map((user) => [user.username, user]));
const byId = new Map(config.users.map((user) => [user.userId, user]));

const store = await openStore();
const options: TwofoldHttpOptions = {
  store,
  keyring: config.keyring,
  issuer: 'Reliability',
  // Security keys as the flow races play them (a software authenticator in the test process).
  webauthn: { rpId: 'reliability.test', origins: ['https://reliability.test'] },
  lockout: config.lockout,
  challenge: config.challenge,
  rateLimit: config.rateLimit,
  authenticate: async ({ username, password }) => {
    const user = byName.get(username);
    return user && user.password === password ? user.userId : null;
  },
  recovery: {
    findUserByEmail: async (email) => {
      const user = config.users.find((candidate) => candidate.email === email);
      return user ? { userId: user.userId, email: user.email } : null;
    },
    getUserEmail: async (userId) => byId.get(userId)?.email ?? null,
    verifyPassword: async (userId, password) => byId.get(userId)?.password === password,
    sendMail: async (mail: TwofoldMail) => {
      send({ type: 'mail', mail });
    },
    linkUrl: config.linkUrl,
    maxRequestsPerHour: 20,
    ...(config.recoveryDelayMs === undefined ? {} : { delayMs: config.recoveryDelayMs }),
  },
  ...(config.trustedDevices ? { trustedDevices: config.trustedDevices } : {}),
  ...(config.mandatory
    ? {
        policy: {
          require: (userId: string) => config.mandatory!.userIds.includes(userId),
          graceLogins: config.mandatory.graceLogins,
        },
      }
    : {}),
};

let port: number;
if (config.framework === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const { default: fastifyTwofold } = await import('@twofold/fastify');
  const app = Fastify({ logger: { level: 'info' }, trustProxy: config.trustProxy ? '127.0.0.1' : false });
  await app.register(fastifyTwofold, options);
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.unshift(() => app.close());
  port = (app.server.address() as AddressInfo).port;
} else {
  const { default: express } = await import('express');
  const { twofold: expressTwofold } = await import('@twofold/express');
  const router = expressTwofold({
    ...options,
    log: (level, message, fields) => writeLine({ level, message, ...fields }),
  });
  const app = express();
  app.set('trust proxy', config.trustProxy ? 'loopback' : false);
  // An access log like a host's own (morgan-style), so the Express processes log every request too.
  app.use((request, response, next) => {
    response.once('finish', () =>
      writeLine({
        level: 'info',
        method: request.method,
        url: request.originalUrl,
        ip: request.ip,
        status: response.statusCode,
      }),
    );
    next();
  });
  app.use('/2fa', router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  closers.unshift(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  port = (server.address() as AddressInfo).port;
}

async function shutdown(): Promise<void> {
  for (const close of closers) {
    try {
      await close();
    } catch {
      // Closing as much as possible is all that matters here.
    }
  }
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('disconnect', () => void shutdown());

send({ type: 'listening', port });
