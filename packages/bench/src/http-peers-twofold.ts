/**
 * twofold in the head-to-head benchmark (issue 18): @twofold/fastify on memoryStore or
 * @twofold/store-sql (better-sqlite3 or a pg Pool), rate limits off. Users are enrolled through the
 * engine (`enroll`, then `confirm` with the code of the previous 30 s step, so the current one is
 * unused) and signed in with `POST /2fa/login`; the measured request is `POST /2fa/login/verify`.
 */
import { createHash } from 'node:crypto';
import { createKeyring, createTwoFactor, InvalidCodeError, memoryStore, type Store } from '@twofold/core';
import twofold from '@twofold/fastify';
import { migrate, sqlStore } from '@twofold/store-sql';
import type { FastifyInstance } from 'fastify';
import {
  confirmWithPreviousCode,
  expectStatus,
  inBatches,
  type PeerDatabase,
  type PeerKitServer,
  type PeerUser,
  totpCode,
} from './http-peers-common.js';

const PASSWORD = 'correct horse battery staple';
const hash = (password: string) => createHash('sha256').update(password).digest('hex');

export async function setupTwofold(app: FastifyInstance, database: PeerDatabase): Promise<PeerKitServer> {
  let store: Store;
  if (database.kind === 'memory') {
    store = memoryStore();
  } else {
    const db = database.kind === 'sqlite' ? database.db : database.pool;
    await migrate(db);
    store = await sqlStore({ db });
  }
  const keyring = createKeyring({ keys: { bench: new Uint8Array(32).fill(7) }, current: 'bench' });
  const engine = createTwoFactor({
    store,
    keyring,
    issuer: 'Bench',
    // Preparation runs well ahead of the requests: use the longest challenge the engine allows.
    challenge: { ttlMs: 5 * 60_000 },
  });
  // The application's own user table (the kit leaves passwords to it); only the untimed first step reads it.
  const passwords = new Map<string, string>();
  await app.register(twofold, {
    twoFactor: engine,
    rateLimit: false,
    authenticate: async ({ username, password }) =>
      passwords.get(username) === hash(password) ? username : null,
  });

  let nextUser = 0;
  async function signIn(username: string): Promise<string> {
    const login = await app.inject({
      method: 'POST',
      url: '/2fa/login',
      payload: { username, password: PASSWORD },
    });
    expectStatus('twofold POST /2fa/login', login);
    const { challengeToken } = login.json() as { challengeToken?: string };
    if (typeof challengeToken !== 'string') throw new Error(`twofold login gave no challenge: ${login.body}`);
    return challengeToken;
  }
  async function prepareOne(): Promise<PeerUser & { username: string }> {
    const username = `user-${nextUser++}`;
    passwords.set(username, hash(PASSWORD));
    const { secret } = await engine.enroll(username);
    await confirmWithPreviousCode(secret, (code) =>
      engine.confirm(username, code).then(
        () => true,
        (error: unknown) => {
          if (error instanceof InvalidCodeError) return false;
          throw error;
        },
      ),
    );
    return { username, secret, body: { challengeToken: await signIn(username) } };
  }

  return {
    prepare: (count) =>
      inBatches(count, database.kind === 'postgres' ? 16 : 1, prepareOne).then((all) =>
        all.map(({ secret, body }) => ({ secret, body })),
      ),
    async replay() {
      const user = await prepareOne();
      const code = totpCode(user.secret);
      const verify = (challengeToken: string) =>
        app.inject({ method: 'POST', url: '/2fa/login/verify', payload: { challengeToken, code } });
      const first = await verify(user.body.challengeToken!);
      const second = await verify(await signIn(user.username));
      return {
        firstStatus: first.statusCode,
        secondStatus: second.statusCode,
        secondSession: second.statusCode === 200 && second.body.includes('accessToken'),
        secondBody: second.body.slice(0, 200),
      };
    },
    close: async () => store.close?.(),
  };
}
