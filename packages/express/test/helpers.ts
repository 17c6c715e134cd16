import type { AddressInfo } from 'node:net';
import { createKeyring, type Store } from '@twofold/core';
import { Totp } from '@twofold/otp';
import express, { type Express, type RequestHandler } from 'express';
import type { Test } from 'tap';
import { type TwofoldExpressOptions, type TwofoldRouter, twofold } from '../src/index.js';

export const USERS = {
  ada: { userId: 'user-ada', password: 'correct horse battery staple', email: 'ada@example.com' },
  bob: { userId: 'user-bob', password: 'hunter2 but longer', email: 'bob@example.com' },
} as const;

/** The host's password check. */
export async function authenticate({ username, password }: { username: string; password: string }) {
  const user = USERS[username as keyof typeof USERS];
  return user && user.password === password ? user.userId : null;
}

/** A controllable clock in ms, in the middle of a 30 s step. */
export function fakeClock(start = 1_900_000_015_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

export function testKeyring() {
  return createKeyring({ keys: { k1: new Uint8Array(32).fill(7) }, current: 'k1' });
}

/** The code an authenticator app shows for `secret` at `time` plus `steps` steps. */
export function codeAt(secret: string, time: number, steps = 0): string {
  return new Totp({ secret }).generate(time + steps * 30_000).token;
}

/** A well-formed code that matches no step near `time`. */
export function wrongCode(secret: string, time: number): string {
  const near = new Set([-2, -1, 0, 1, 2].map((steps) => codeAt(secret, time, steps)));
  for (let candidate = 123_456; ; candidate += 111_111) {
    const code = String(candidate % 1_000_000).padStart(6, '0');
    if (!near.has(code)) return code;
  }
}

export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

export interface TestServer {
  url: string;
  router: TwofoldRouter;
  app: Express;
  logs: LogLine[];
  /** Every log line as JSON text, for "no secret in the logs" checks. */
  logText(): string;
}

/**
 * A real listening server on 127.0.0.1 with the router at /2fa and two host routes using the
 * guards; closed at the end of the test.
 */
export async function startServer(
  t: Test,
  options: Omit<TwofoldExpressOptions, 'store' | 'keyring' | 'issuer' | 'twoFactor'> & {
    store: Store;
    clock?: () => number;
  },
  setup: { trustProxy?: unknown; before?: RequestHandler } = {},
): Promise<TestServer> {
  const logs: LogLine[] = [];
  const router = twofold({
    keyring: testKeyring(),
    issuer: 'Acme',
    log: (level, message, fields) => logs.push({ level, message, fields }),
    ...options,
  } as TwofoldExpressOptions);
  const app = express();
  if (setup.trustProxy !== undefined) app.set('trust proxy', setup.trustProxy);
  if (setup.before) app.use(setup.before);
  app.use('/2fa', router);
  app.get('/host/protected', router.requireAuth, (request, response) => {
    response.json({ userId: request.twofold!.userId });
  });
  app.get('/host/sensitive', router.requireAuth, router.requireStepUp(), (request, response) => {
    response.json({ userId: request.twofold!.userId });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    router,
    app,
    logs,
    logText: () => logs.map((line) => JSON.stringify(line)).join('\n'),
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in tests.
  body: any;
}

/** One HTTP request; `json` is sent as application/json, `body` as is. */
export async function call(
  url: string,
  method: string,
  options: { json?: unknown; body?: string; headers?: Record<string, string>; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  if (response.headers.get('content-type')?.includes('json') && text !== '') parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, body: parsed };
}
