/**
 * Small pieces the contract suite is built from: a controllable clock, a JSON client over global
 * fetch, checks of the one error shape, fixtures for users and mail, a store that fails on demand,
 * JWT forgery helpers and TOTP codes.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Store } from '@twofold/core';
import type { TwofoldMail } from '@twofold/core/http';
import { Totp } from '@twofold/otp';
import type { ContractApp } from './app.js';

// ---------------------------------------------------------------------------------------------
// Time and codes

/** The engine's clock, moved by hand: `{ now, advance }`. */
export interface Clock {
  now(): number;
  advance(ms: number): void;
}

/**
 * Starts at the real time, rounded to the middle of a 30 s step (so a code is never at a step edge),
 * so stores that also set real TTLs (Redis) agree with it.
 */
export function controllableClock(): Clock {
  let now = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

export const PERIOD_MS = 30_000;

/** The code an authenticator app shows for `secret` at `time`. */
export function codeAt(secret: string, time: number): string {
  return new Totp({ secret }).generate(time).token;
}

/** A well-formed code that matches no step within +-3 of `time`. */
export function wrongCode(secret: string, time: number): string {
  const nearby = new Set([-3, -2, -1, 0, 1, 2, 3].map((steps) => codeAt(secret, time + steps * PERIOD_MS)));
  for (let candidate = 13_579; ; candidate += 111_111) {
    const code = String(candidate % 1_000_000).padStart(6, '0');
    if (!nearby.has(code)) return code;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export type Json = Record<string, unknown>;

/** A response, read whole. `body` is the parsed JSON (undefined when there is none or it is not JSON). */
export interface Answer<T = Json> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/**
 * How long {@link KitClient} waits for a whole answer, unless a request sets `timeoutMs`: a server
 * that never answers fails the test with the route named, instead of holding it until the runner's
 * own timeout (which skips the test's teardowns).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  method?: string;
  /** Sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as is (with `contentType`, or none for bytes). */
  raw?: string | Uint8Array;
  contentType?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  headers?: Record<string, string>;
  /** How long to wait for the whole answer, in ms. Default: {@link REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** A client of one ContractApp: paths under `/host/` go to the origin, others under the kit prefix. */
export class KitClient {
  constructor(readonly app: ContractApp) {}

  url(path: string): string {
    return path.startsWith('/host/') ? `${this.app.origin}${path}` : `${this.app.baseUrl}${path}`;
  }

  get<T = Json>(path: string, options: RequestOptions = {}): Promise<Answer<T>> {
    return this.fetch<T>(this.url(path), { method: 'GET', ...options });
  }

  post<T = Json>(path: string, json?: unknown, options: RequestOptions = {}): Promise<Answer<T>> {
    return this.fetch<T>(this.url(path), {
      method: 'POST',
      ...(json === undefined ? {} : { json }),
      ...options,
    });
  }

  /** Any request to an absolute URL. */
  async fetch<T = Json>(url: string, options: RequestOptions): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
    }
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const method = options.method ?? 'GET';
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
      text = await response.text();
    } catch (error) {
      if ((error as Error | null)?.name !== 'TimeoutError') throw error;
      // The path only: a query string may carry a token (a recovery link's).
      throw new Error(`${method} ${new URL(url).pathname}: no answer within ${timeoutMs} ms`, {
        cause: error,
      });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed as T };
  }
}

/** Throws (failing the test with the answer) unless the status is `status`: for setup steps. */
export function must<T>(answer: Answer<T>, status: number, what: string): T {
  if (answer.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
  }
  return answer.body;
}

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode'];

/** What is wrong with an answer that should be the error `code` with `status`; [] when nothing. */
export function errorProblems(
  answer: Answer<unknown>,
  status: number,
  code: string,
  options: { field?: string } = {},
): string[] {
  const problems: string[] = [];
  if (answer.status !== status) problems.push(`status ${answer.status}, expected ${status}`);
  problems.push(...errorShapeProblems(answer));
  const body = answer.body as Json | undefined;
  if (body && typeof body === 'object') {
    if (body.code !== code) problems.push(`code ${String(body.code)}, expected ${code}`);
    if (options.field !== undefined && !String(body.message).includes(options.field)) {
      problems.push(`message ${JSON.stringify(body.message)} does not name "${options.field}"`);
    }
  }
  return problems;
}

/** Problems of the one error shape, whatever the code: exact keys, consistent status, no-store. */
export function errorShapeProblems(answer: Answer<unknown>): string[] {
  const problems: string[] = [];
  if (answer.status >= 500 && answer.status !== 503) problems.push(`server error ${answer.status}`);
  if (!/^application\/json/.test(answer.headers.get('content-type') ?? '')) {
    problems.push(`content-type ${answer.headers.get('content-type')}`);
  }
  if (!noStore(answer)) problems.push(`cache-control ${answer.headers.get('cache-control')}`);
  const body = answer.body as Json | undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    problems.push(`body is not a JSON object: ${answer.text.slice(0, 200)}`);
    return problems;
  }
  const keys = Object.keys(body).sort();
  if (keys.join() !== ERROR_KEYS.join()) problems.push(`keys ${keys.join()}, expected ${ERROR_KEYS.join()}`);
  if (body.statusCode !== answer.status) problems.push(`statusCode ${String(body.statusCode)}`);
  if (body.error !== STATUS_CODES[answer.status]) problems.push(`error ${JSON.stringify(body.error)}`);
  if (typeof body.code !== 'string' || !/^TWOFOLD_[A-Z_]+$/.test(body.code)) {
    problems.push(`code ${JSON.stringify(body.code)}`);
  }
  if (typeof body.message !== 'string' || body.message === '') problems.push('message missing');
  return problems;
}

/** Problems of a success answer: status, no-store, JSON with exactly `keys` (or no body for 204). */
export function successProblems(answer: Answer<unknown>, status: number, keys?: string[]): string[] {
  const problems: string[] = [];
  if (answer.status !== status) {
    problems.push(`status ${answer.status}, expected ${status}: ${answer.text.slice(0, 300)}`);
    return problems;
  }
  if (!noStore(answer)) problems.push(`cache-control ${answer.headers.get('cache-control')}`);
  if (status === 204) {
    if (answer.text !== '') problems.push(`a 204 with a body: ${answer.text.slice(0, 100)}`);
    return problems;
  }
  if (!/^application\/json/.test(answer.headers.get('content-type') ?? '')) {
    problems.push(`content-type ${answer.headers.get('content-type')}`);
  }
  if (keys) {
    const body = answer.body as Json | undefined;
    const actual = body && typeof body === 'object' ? Object.keys(body).sort() : [];
    if (actual.join() !== [...keys].sort().join())
      problems.push(`keys ${actual.join()}, expected ${keys.join()}`);
  }
  return problems;
}

function noStore(answer: Answer<unknown>): boolean {
  return /(^|,)\s*no-store\s*(,|$)/i.test(answer.headers.get('cache-control') ?? '');
}

// ---------------------------------------------------------------------------------------------
// Fixtures

export interface User {
  username: string;
  userId: string;
  password: string;
  email: string;
}

/** The host's user model: usernames, random passwords, emails; ids unique to this run. */
export function usersFixture() {
  const run = randomUUID().slice(0, 8);
  const byName = new Map<string, User>();
  const byId = new Map<string, User>();
  return {
    add(name: string): User {
      const user: User = {
        username: `${name}-${run}`,
        userId: `u-${name}-${run}`,
        password: `pw ${randomBytes(12).toString('base64url')}`,
        email: `${name}.${run}@example.test`,
      };
      byName.set(user.username, user);
      byId.set(user.userId, user);
      return user;
    },
    async authenticate({ username, password }: { username: string; password: string }) {
      const user = byName.get(username);
      return user && user.password === password ? user.userId : null;
    },
    async findUserByEmail(email: string) {
      for (const user of byId.values()) {
        if (user.email === email) return { userId: user.userId, email: user.email };
      }
      return null;
    },
    async getUserEmail(userId: string) {
      return byId.get(userId)?.email ?? null;
    },
    async verifyPassword(userId: string, password: string) {
      return byId.get(userId)?.password === password;
    },
  };
}
export type UsersFixture = ReturnType<typeof usersFixture>;

/** Captures the mails the kit asks the host to send. */
export function mailFixture() {
  const mails: TwofoldMail[] = [];
  const waiters: (() => boolean)[] = [];
  return {
    mails,
    async sendMail(mail: TwofoldMail) {
      mails.push(mail);
      for (const settled of waiters.splice(0)) {
        if (!settled()) waiters.push(settled);
      }
    },
    /** The `index`-th mail (0-based) that matches, now or once it arrives. */
    next(match: (mail: TwofoldMail) => boolean, index = 0): Promise<TwofoldMail> {
      return new Promise((resolve) => {
        const settled = () => {
          const found = mails.filter(match)[index];
          if (found) resolve(found);
          return found !== undefined;
        };
        if (!settled()) waiters.push(settled);
      });
    },
  };
}
export type MailFixture = ReturnType<typeof mailFixture>;

/** The uid and token of a recovery mail's link (the token travels in the URL fragment). */
export function recoveryLink(mail: TwofoldMail, linkUrl: string): { uid: string; token: string } {
  const start = mail.text.indexOf(`${linkUrl}#`);
  if (start < 0) throw new Error('the recovery mail holds no link to the configured page');
  const link = mail.text.slice(start).split(/\s/)[0]!;
  const fragment = new URLSearchParams(new URL(link).hash.slice(1));
  const uid = fragment.get('uid');
  const token = fragment.get('token');
  if (!uid || !token) throw new Error('the recovery link has no uid and token in its fragment');
  return { uid, token };
}

/** Wraps a store; while `failing` is on, every method rejects like a database that went away. */
/**
 * A store whose calls fail while `setFailing(true)`: every call, or only those `which` picks (by
 * method name and arguments).
 */
export function failingStore(
  store: Store,
  which: (method: string, args: unknown[]) => boolean = () => true,
): { store: Store; setFailing(on: boolean): void } {
  let failing = false;
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) =>
        failing && which(String(property), args)
          ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1 (contract suite: store down)'))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return {
    store: wrapped,
    setFailing(on) {
      failing = on;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// JWTs

export function decodeJwt(token: string): { header: Json; payload: Json; signature: string } {
  const [header, payload, signature] = token.split('.');
  const part = (text: string | undefined) =>
    JSON.parse(Buffer.from(text ?? '', 'base64url').toString('utf8'));
  return { header: part(header), payload: part(payload), signature: signature ?? '' };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The token re-signed with HS256 under a key the server does not have. */
export function resignWithWrongKey(token: string, changes: Json = {}): string {
  const { header, payload } = decodeJwt(token);
  const unsigned = `${b64(header)}.${b64({ ...payload, ...changes })}`;
  return `${unsigned}.${createHmac('sha256', randomBytes(32)).update(unsigned).digest('base64url')}`;
}

/** The token with `alg: none` and the given signature (empty by default). */
export function algNone(token: string, signature = ''): string {
  const { header, payload } = decodeJwt(token);
  return `${b64({ ...header, alg: 'none' })}.${b64(payload)}.${signature}`;
}

/** The token with its payload changed and the original signature kept. */
export function tamper(token: string, changes: Json): string {
  const { header, payload, signature } = decodeJwt(token);
  return `${b64(header)}.${b64({ ...payload, ...changes })}.${signature}`;
}
