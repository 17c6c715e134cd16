/**
 * The root README's Fastify sample: `users` (check, byId), `remove`, and `redis`, an ioredis
 * client to the local Redis (REDIS_URL).
 */

import { randomUUID } from 'node:crypto';
import { decodeUserTag } from '@twofold/store-redis';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { ada, ownHandler, strictEqual, userDirectory } from './users.js';

export const users = userDirectory;
export const remove = ownHandler;
export const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });

/**
 * The plugin starts on Redis; an access token (issued as the kit's own login would) opens
 * /me, which answers its user, and /account/delete while it is recent. No request goes through the kit's rate-limited routes, whose
 * counts in Redis other tests share. The user id is this run's own, and its keys (the session's
 * refresh-token family) are deleted afterwards.
 */
export async function after(scope: { app?: FastifyInstance }) {
  const app = scope.app!;
  await app.ready();
  const userId = `readme-sample-${randomUUID()}`;
  const { accessToken } = await app.twofold.http.tokens.issue(userId, ['pwd'], Date.now());
  strictEqual((await app.inject({ url: '/me' })).statusCode, 401);
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${accessToken}` } });
  strictEqual(me.statusCode, 200);
  strictEqual(me.json().userId, userId);
  // A user without 2FA: a password login within the step-up guard's 120 s passes it, an older one
  // does not (the page then sends the password to POST /2fa/step-up, which verifyPassword checks).
  const fresh = await app.inject({
    method: 'POST',
    url: '/account/delete',
    headers: { authorization: `Bearer ${accessToken}` },
  });
  strictEqual(fresh.statusCode, 204, 'a fresh password session passes the step-up guard');
  const old = await app.twofold.http.tokens.issue(userId, ['pwd'], Date.now() - 121_000);
  const refused = await app.inject({
    method: 'POST',
    url: '/account/delete',
    headers: { authorization: `Bearer ${old.accessToken}` },
  });
  strictEqual(
    refused.json().code,
    'TWOFOLD_STEP_UP_REQUIRED',
    'a password older than 120 s is refused by the step-up guard',
  );
  const { verifyPassword } = app.twofold.http.options;
  strictEqual(await verifyPassword?.(ada.id, ada.password), true, 'verifyPassword: ada');
  strictEqual(await verifyPassword?.(ada.id, 'wrong'), false, 'verifyPassword: a wrong password');
  await app.close();
  let deleted = 0;
  for await (const keys of redis.scanStream({ match: 'twofold:{*}:*', count: 1000 })) {
    const mine = (keys as string[]).filter(
      (key) => decodeUserTag(key.slice('twofold:{'.length, key.indexOf('}'))) === userId,
    );
    if (mine.length > 0) deleted += await redis.del(...mine);
  }
  strictEqual(deleted > 0, true, 'the session the check opened is deleted from Redis');
  await redis.quit();
}
