import { Writable } from 'node:stream';
import { createKeyring, memoryStore } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { missing } from '@twofold/test-support';
import Fastify, { type FastifyInstance } from 'fastify';
import tap, { type Test } from 'tap';
import twofold, { redact, type TwofoldFastifyOptions } from '../src/index.js';

export const PASSWORD = 'correct horse battery staple';

/** The engine's clock, moved by hand; starts in the middle of a 30 s step. */
export function controllableClock() {
  let now = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

export function codeAt(secret: string, time: number): string {
  return new Totp({ secret }).generate(time).token;
}

/** The kit options of a test: users `ada` and `bob` with PASSWORD; overrides win. */
export function kitOptions(clock = controllableClock(), overrides: Partial<TwofoldFastifyOptions> = {}) {
  return {
    store: memoryStore(),
    keyring: createKeyring({ keys: { t1: new Uint8Array(32).fill(7) }, current: 't1' }),
    issuer: 'Fastify Test',
    clock: clock.now,
    authenticate: async ({ username, password }: { username: string; password: string }) =>
      ['ada', 'bob'].includes(username) && password === PASSWORD ? `id-${username}` : null,
    ...overrides,
  } as TwofoldFastifyOptions;
}

/** Log lines written by the app's pino logger. */
export function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  return { lines, stream };
}

/** A Fastify app (logger at trace into `logs`) with the plugin registered and ready. */
export async function buildApp(
  t: Test,
  options: { twofold?: Partial<TwofoldFastifyOptions>; clock?: ReturnType<typeof controllableClock> } = {},
) {
  const clock = options.clock ?? controllableClock();
  const logs = logCapture();
  const app: FastifyInstance = Fastify({ logger: { level: 'trace', stream: logs.stream, redact } });
  t.teardown(() => app.close());
  await app.register(twofold, kitOptions(clock, options.twofold));
  app.get('/host/protected', { preHandler: app.twofoldAuthenticate }, async (request) => ({
    userId: request.twofoldUser?.userId,
  }));
  app.get(
    '/host/sensitive',
    { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp()] },
    async (request) => ({
      userId: request.twofoldUser?.userId,
    }),
  );
  await app.ready();
  return { app, clock, logs: logs.lines };
}

/** POST /2fa/login for `username`: the parsed body. */
export async function login(app: FastifyInstance, username: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username, password: PASSWORD },
  });
  return response.json() as Record<string, unknown>;
}

/**
 * Logs `username` in, enrolls and confirms: 2FA on. Returns the access token confirm answered (the
 * password-only one has ended), the secret and the recovery codes.
 */
export async function enable(
  app: FastifyInstance,
  clock: ReturnType<typeof controllableClock>,
  username: string,
): Promise<{ accessToken: string; secret: string; recoveryCodes: string[] }> {
  const { accessToken } = (await login(app, username)) as { accessToken: string };
  const headers = { authorization: `Bearer ${accessToken}` };
  const enrollment = (await app.inject({ method: 'POST', url: '/2fa/totp/enroll', headers })).json();
  const confirm = await app.inject({
    method: 'POST',
    url: '/2fa/totp/confirm',
    headers,
    payload: { code: codeAt(enrollment.secret, clock.now()) },
  });
  clock.advance(30_000);
  // Turning 2FA on ended the password-only session: go on with the tokens confirm answered.
  const confirmed = confirm.json();
  return {
    accessToken: confirmed.accessToken,
    secret: enrollment.secret,
    recoveryCodes: confirmed.recoveryCodes,
  };
}

export const REDIS = { host: '127.0.0.1', port: 6379 } as const;

export { isListening } from '@twofold/test-support';

/** What a test file does when Redis is missing: a skip naming it, or a failure under CI. */
export function reportRedisMissing(what: string): void {
  missing(tap, `${what} needs Redis on ${REDIS.host}:${REDIS.port}, which is not running`);
}
