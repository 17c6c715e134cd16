/**
 * better-auth in the head-to-head benchmark (issue 18): its `twoFactor` plugin behind Fastify through
 * the catch-all route of better-auth's Fastify guide, on its Kysely adapter (a better-sqlite3 file or
 * a pg Pool on a schema of its own, migrated with `getMigrations`) or its memory adapter. Rate limits
 * off, as for twofold. Users are enrolled through its own endpoints: sign-up/email,
 * two-factor/enable, two-factor/verify-totp (with the code of the previous 30 s step), then
 * sign-in/email, whose answer carries the two-factor cookie; the measured request is
 * `POST /api/auth/two-factor/verify-totp` with that cookie and a code.
 *
 * Passwords are hashed with one SHA-256 instead of better-auth's scrypt (its documented
 * `emailAndPassword.password` option): only the untimed steps check passwords, and scrypt would
 * make preparing thousands of users take minutes. The measured request never touches them.
 */
import { createHash } from 'node:crypto';
import { betterAuth } from 'better-auth';
import { memoryAdapter } from 'better-auth/adapters/memory';
import { getMigrations } from 'better-auth/db/migration';
import { twoFactor } from 'better-auth/plugins';
import type { FastifyInstance } from 'fastify';
import {
  confirmWithPreviousCode,
  expectStatus,
  inBatches,
  type PeerDatabase,
  type PeerKitServer,
  type PeerUser,
  runTag,
  totpCode,
} from './http-peers-common.js';

const PASSWORD = 'correct horse battery staple';
const hash = (password: string) => createHash('sha256').update(password).digest('hex');
export const BETTER_AUTH_ORIGIN = 'http://127.0.0.1';

/** `name=value` of every cookie set (not cleared) by an answer. */
function cookiesOf(setCookie: string | string[] | undefined): string[] {
  const all = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  return all
    .filter((cookie) => !/max-age=0\b/i.test(cookie))
    .map((cookie) => cookie.split(';')[0]!)
    .filter((pair) => !pair.endsWith('='));
}

export async function setupBetterAuth(app: FastifyInstance, database: PeerDatabase): Promise<PeerKitServer> {
  const options = {
    appName: 'Bench',
    baseURL: BETTER_AUTH_ORIGIN,
    secret: 'bench-secret-bench-secret-bench-secret-0123456789',
    database:
      database.kind === 'sqlite'
        ? database.db
        : database.kind === 'postgres'
          ? database.pool
          : memoryAdapter({ user: [], session: [], account: [], verification: [], twoFactor: [] }),
    emailAndPassword: {
      enabled: true,
      password: {
        hash: async (password: string) => hash(password),
        verify: async ({ hash: stored, password }: { hash: string; password: string }) =>
          stored === hash(password),
      },
    },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    logger: { level: 'error' as const },
    plugins: [twoFactor({ issuer: 'Bench' })],
  };
  if (database.kind !== 'memory') {
    const { runMigrations } = await getMigrations(options);
    await runMigrations();
  }
  const auth = betterAuth(options);

  // The catch-all route of better-auth's Fastify integration guide, as documented.
  app.route({
    method: ['GET', 'POST'],
    url: '/api/auth/*',
    async handler(request, reply) {
      const url = new URL(request.url, `http://${request.headers.host}`);
      const headers = new Headers();
      for (const [key, value] of Object.entries(request.headers)) {
        if (value) headers.append(key, value.toString());
      }
      const req = new Request(url.toString(), {
        method: request.method,
        headers,
        ...(request.body ? { body: JSON.stringify(request.body) } : {}),
      });
      const response = await auth.handler(req);
      reply.status(response.status);
      response.headers.forEach((value, key) => {
        reply.header(key, value);
      });
      return reply.send(response.body ? await response.text() : null);
    },
  });

  let nextUser = 0;
  const post = (path: string, payload: object, cookie?: string) =>
    app.inject({
      method: 'POST',
      url: `/api/auth${path}`,
      payload,
      headers: { origin: BETTER_AUTH_ORIGIN, ...(cookie ? { cookie } : {}) },
    });
  async function signIn(email: string): Promise<string> {
    const signIn = await post('/sign-in/email', { email, password: PASSWORD });
    expectStatus('better-auth sign-in/email', signIn);
    if (!signIn.body.includes('"twoFactorRedirect":true')) {
      throw new Error(`better-auth sign-in asked for no second factor: ${signIn.body}`);
    }
    const cookie = cookiesOf(signIn.headers['set-cookie']).join('; ');
    if (!cookie.includes('two_factor='))
      throw new Error(`better-auth sign-in set no two-factor cookie: ${cookie}`);
    return cookie;
  }
  async function prepareOne(): Promise<PeerUser & { email: string }> {
    const email = `user-${nextUser++}-${runTag}@bench.test`;
    const signUp = await post('/sign-up/email', { email, password: PASSWORD, name: 'Bench User' });
    expectStatus('better-auth sign-up/email', signUp);
    const session = cookiesOf(signUp.headers['set-cookie']).join('; ');
    const enable = await post('/two-factor/enable', { password: PASSWORD }, session);
    expectStatus('better-auth two-factor/enable', enable);
    const { totpURI } = enable.json() as { totpURI: string };
    const secret = new URL(totpURI).searchParams.get('secret');
    if (!secret) throw new Error(`better-auth gave no TOTP secret: ${totpURI}`);
    await confirmWithPreviousCode(secret, async (code) => {
      const confirm = await post('/two-factor/verify-totp', { code }, session);
      if (confirm.statusCode === 401) return false;
      expectStatus('better-auth two-factor/verify-totp (enable)', confirm);
      return true;
    });
    return { email, secret, body: {}, cookie: await signIn(email) };
  }

  return {
    prepare: (count) =>
      inBatches(count, database.kind === 'postgres' ? 16 : 1, prepareOne).then((users) =>
        users.map(({ secret, body, cookie }) => ({ secret, body, ...(cookie ? { cookie } : {}) })),
      ),
    async replay() {
      const user = await prepareOne();
      const code = totpCode(user.secret);
      const first = await post('/two-factor/verify-totp', { code }, user.cookie);
      const second = await post('/two-factor/verify-totp', { code }, await signIn(user.email));
      return {
        firstStatus: first.statusCode,
        secondStatus: second.statusCode,
        secondSession:
          second.statusCode === 200 &&
          cookiesOf(second.headers['set-cookie']).some((c) => c.includes('session_token=')),
        secondBody: second.body.slice(0, 200),
      };
    },
    close: async () => {},
  };
}
