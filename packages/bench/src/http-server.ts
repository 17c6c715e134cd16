/**
 * The server side of the HTTP benchmark, run in its own process so the load generator does not
 * share its event loop. One Fastify app serves a bare JSON route and the kit (rate limits off: every
 * request comes from one address) on the store named by argv[2]: `memory` (default), `redis`
 * (127.0.0.1:6379, a key prefix of its own, deleted on stop) or `postgres` (127.0.0.1:5432 db test,
 * tables of its own, migrated first and dropped on stop). On `{ prepare: n }` it enrolls n fresh
 * users and answers one `/2fa/login/verify` body per user (a challenge token and the current code),
 * so each request of a run verifies a different user and replay protection never refuses one.
 */
import { createKeyring, createTwoFactor, TOTP_AUTHENTICATOR_ID } from '@twofold/core';
import twofold from '@twofold/fastify';
import { generateSecret, Totp } from '@twofold/otp';
import Fastify from 'fastify';
import { isStoreKind, openBenchStore } from './stores.js';

const kind = process.argv[2] ?? 'memory';
if (!isStoreKind(kind)) throw new Error(`http-server: unknown store "${kind}" (memory, redis or postgres)`);
const bench = await openBenchStore(kind);
const { store } = bench;
const keyring = createKeyring({ keys: { bench: new Uint8Array(32).fill(7) }, current: 'bench' });
const engine = createTwoFactor({
  store,
  keyring,
  issuer: 'Bench',
  // Preparation runs minutes ahead of the requests: use the longest challenge the engine allows.
  challenge: { ttlMs: 5 * 60_000 },
});

const app = Fastify({ logger: false });
app.post('/bare', async (request) => ({ ok: true, echo: (request.body as { n?: number } | null)?.n ?? 0 }));
// The size of a real token pair, so the control route answers as much as /2fa/login/verify does.
const pairSized = { accessToken: 'a'.repeat(330), refreshToken: 'r'.repeat(370) };
app.post('/sized', async (request) => ({ ...pairSized, code: (request.body as { code?: string }).code }));
await app.register(twofold, { twoFactor: engine, authenticate: async () => null, rateLimit: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no port');

let nextUser = 0;

/**
 * Writes an enrolled, confirmed user straight through the store (what enroll + confirm leave
 * behind, without rendering a QR code per user), then asks the engine for a challenge token.
 */
async function prepareOne(): Promise<string> {
  const userId = `user-${nextUser++}`;
  const secret = generateSecret();
  const totp = new Totp({ secret });
  const now = Date.now();
  const record = {
    userId,
    type: 'totp' as const,
    id: TOTP_AUTHENTICATOR_ID,
    name: null,
    status: 'pending' as const,
    sealedSecret: keyring.seal(secret, userId),
    algorithm: 'SHA1' as const,
    digits: 6,
    period: 30,
    lastCounter: -1,
    createdAt: now,
    confirmedAt: null,
    lastUsedAt: null,
    expiresAt: now + 600_000,
  };
  await store.savePendingAuthenticator(record, now);
  // Confirmed with the previous step, so the current step is still unused.
  const previous = Math.floor(now / 30_000) - 1;
  await store.confirmAuthenticator(userId, TOTP_AUTHENTICATOR_ID, {
    sealedSecret: record.sealedSecret,
    counter: previous,
    recoveryCodeHashes: [],
    maxActive: 10,
    now,
  });
  const { challengeToken } = await engine.createChallenge(userId);
  return JSON.stringify({ challengeToken, code: totp.generate(now).token });
}

/** Prepares `count` users, a few dozen at a time (a networked store is round-trip bound). */
async function prepare(count: number): Promise<string[]> {
  const bodies: string[] = [];
  const parallel = kind === 'memory' ? 1 : 32;
  while (bodies.length < count) {
    const batch = Math.min(parallel, count - bodies.length);
    bodies.push(...(await Promise.all(Array.from({ length: batch }, prepareOne))));
  }
  return bodies;
}

process.on('message', (message: { prepare?: number; stop?: boolean }) => {
  if (message.stop) {
    void app
      .close()
      .then(() => bench.dispose())
      .then(() => process.exit(0));
    return;
  }
  if (typeof message.prepare === 'number') {
    void prepare(message.prepare).then((bodies) => process.send!({ bodies }));
  }
});
process.send!({ port: address.port });
