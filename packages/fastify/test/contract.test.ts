/**
 * The HTTP contract suite of DESIGN.md against @twofold/fastify: a real listening Fastify server,
 * its logger at level trace captured for the no-secrets-in-logs checks, on memoryStore and on Redis.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ContractStore, MakeContractApp } from '@twofold/http-test-suite';
import { runHttpContract } from '@twofold/http-test-suite';
import { redisStore } from '@twofold/store-redis';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import twofold from '../src/index.js';
import { isListening, logCapture, REDIS, reportRedisMissing } from './helpers.js';

/**
 * The kit under /2fa plus the host routes the suite expects. No `redact` on the logger, on
 * purpose: the suite proves the plugin logs nothing secret by itself (pino's redaction is the host's
 * second line of defence).
 */
const makeFastifyContractApp: MakeContractApp = async ({ twofold: options, trustProxy = false }) => {
  const logs = logCapture();
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream }, trustProxy });
  try {
    await app.register(twofold, options);
    app.get('/host/protected', { preHandler: app.twofoldAuthenticate }, async (request) => ({
      userId: request.twofoldUser!.userId,
    }));
    app.get(
      '/host/sensitive',
      { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp()] },
      async (request) => ({
        userId: request.twofoldUser!.userId,
      }),
    );
    app.get(
      '/host/sensitive-second-factor',
      { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp(undefined, { secondFactor: true })] },
      async (request) => ({ userId: request.twofoldUser!.userId }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await app.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    baseUrl: `${origin}${app.twofold.http.options.prefix}`,
    logs: logs.lines,
    close: () => app.close(),
  };
};

runHttpContract('@twofold/fastify on memoryStore', makeFastifyContractApp);

/** A Redis store under a prefix of its own; closing deletes its keys and disconnects. */
async function redisContractStore(): Promise<ContractStore> {
  const client = new Redis(REDIS);
  const prefix = `twofold-fastify-contract:${randomUUID()}:`;
  return {
    store: redisStore({ client, prefix }),
    async close() {
      try {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await client.unlink(...keys);
        } while (cursor !== '0');
      } finally {
        client.disconnect();
      }
    },
  };
}

if (await isListening(REDIS.host, REDIS.port)) {
  runHttpContract('@twofold/fastify on Redis', makeFastifyContractApp, { makeStore: redisContractStore });
} else {
  reportRedisMissing('the HTTP contract on @twofold/store-redis');
}
