/**
 * A mixed deployment: a Fastify app and an Express app behind one load balancer, both counting
 * rate limits in the same Redis. One client's requests, spread over both, share one count per route:
 * the request past `sensitiveMax` is refused whichever app it reaches.
 */
import { randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createKeyring, memoryStore } from '@twofold/core';
import { RATE_LIMIT_REDIS_PREFIX } from '@twofold/core/http';
import twofoldExpress from '@twofold/express';
import twofoldFastify from '@twofold/fastify';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import tap from 'tap';
import { isListening, REDIS, reportMissing } from './reliability/cluster.js';

const SENSITIVE_MAX = 3;

function kitOptions(redis: Redis) {
  return {
    store: memoryStore(),
    keyring: createKeyring({ keys: { k1: new Uint8Array(32).fill(3) }, current: 'k1' }),
    issuer: 'Mixed',
    // Every password is wrong: each request is a counted 401 until the limit answers 429.
    authenticate: async () => null,
    rateLimit: { sensitiveMax: SENSITIVE_MAX, redis },
  };
}

if (!(await isListening(REDIS.host, REDIS.port))) {
  reportMissing(tap, `Redis on ${REDIS.host}:${REDIS.port} (the shared rate-limit test)`);
} else {
  tap.test('Fastify and Express count one client in one Redis key per route', async (t) => {
    const fastifyRedis = new Redis(REDIS);
    const expressRedis = new Redis(REDIS);
    t.teardown(() => {
      fastifyRedis.disconnect();
      expressRedis.disconnect();
    });

    const fastify = Fastify({ trustProxy: '127.0.0.1' });
    await fastify.register(twofoldFastify, kitOptions(fastifyRedis));
    const fastifyUrl = await fastify.listen({ host: '127.0.0.1', port: 0 });
    t.teardown(() => fastify.close());

    const app = express();
    app.set('trust proxy', 'loopback');
    app.use('/2fa', twofoldExpress(kitOptions(expressRedis)));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // A /64 of this run only, so other runs and test files on the same Redis never meet it.
    const network = `2001:db8:${randomInt(0xffff).toString(16)}:${randomInt(0xffff).toString(16)}`;
    const login = (base: string, host: number) =>
      fetch(`${base}/2fa/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `${network}::${host}` },
        body: JSON.stringify({ username: 'ada', password: 'wrong' }),
      });

    const order = [fastifyUrl, expressUrl, fastifyUrl, expressUrl, fastifyUrl];
    const answers = [];
    for (const [index, base] of order.entries()) answers.push(await login(base, index + 1));
    t.strictSame(
      answers.map((answer) => answer.status),
      [401, 401, 401, 429, 429],
      `requests ${SENSITIVE_MAX + 1} on are refused, by Express and by Fastify alike`,
    );
    for (const answer of answers.slice(SENSITIVE_MAX)) {
      t.match(
        await answer.json(),
        { statusCode: 429, code: 'TWOFOLD_RATE_LIMITED' },
        'in the one error shape',
      );
    }

    // The exact key, never KEYS: that would block a shared Redis holding millions of other keys.
    const key = `${RATE_LIMIT_REDIS_PREFIX}${network}::/64:login`;
    t.equal(
      Number(await fastifyRedis.get(key)),
      order.length,
      'every request of both apps counted in one key',
    );
    t.ok((await fastifyRedis.pttl(key)) > 0, 'it expires with the window');
    await fastifyRedis.del(key);
  });
}
