/**
 * Shared by the preludes (not a prelude itself): the one known user of the samples' apps, and
 * small HTTP helpers for the checks that run after a sample.
 */
import { deepStrictEqual, ok, strictEqual } from 'node:assert';

export const ada = { id: 'u-ada', name: 'ada', email: 'ada@example.com', password: 'correct horse battery' };

/** A users module as the samples call it (the names differ from one README to the next). */
export const userDirectory = {
  async findByName(name: string) {
    return name === ada.name ? ada : null;
  },
  async checkPassword(user: typeof ada, password: string) {
    return user === ada && password === ada.password;
  },
  async check(name: string, password: string) {
    return name === ada.name && password === ada.password ? ada : null;
  },
  async byId(id: string) {
    if (id !== ada.id) throw new Error(`no user ${id}`);
    return ada;
  },
};

/** An `authenticate` option: ada with her password, else null. */
export async function authenticateAda({ username, password }: { username: string; password: string }) {
  return username === ada.name && password === ada.password ? ada.id : null;
}

/** A route handler standing for the app's own (deleteAccount, remove, ...). */
export function ownHandler(
  _request: unknown,
  reply: { code?: (n: number) => { send(): void }; status?: (n: number) => { end(): void } },
) {
  if (reply.code) reply.code(204).send();
  else reply.status?.(204).end();
}

async function json(response: Response) {
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

/**
 * Logs ada in over real HTTP at `base` (`/2fa/login`, no 2FA yet) and calls `mePath` with the
 * access token: the samples' "your routes" answer for her.
 */
export async function loginAndCallMe(base: string, check: (body: unknown) => void) {
  const login = await fetch(`${base}/2fa/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ada.name, password: ada.password }),
  });
  strictEqual(login.status, 200, 'POST /2fa/login answers 200');
  const tokens = await json(login);
  strictEqual(tokens.twoFactorRequired, false);
  ok(typeof tokens.accessToken === 'string' && typeof tokens.refreshToken === 'string');
  const unauthenticated = await fetch(`${base}/me`);
  strictEqual(unauthenticated.status, 401, 'GET /me without a token is refused');
  const me = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
  strictEqual(me.status, 200, 'GET /me with the access token answers 200');
  check(await json(me));
}

/**
 * Ada (no 2FA) at `base` over real HTTP: her fresh login passes the step-up guard of
 * `POST /account/delete`; `POST /2fa/step-up` with her password gives a token that passes it too,
 * and with a wrong password answers 401.
 */
export async function passwordStepUp(base: string) {
  const post = (path: string, token: string | null, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const login = await post('/2fa/login', null, { username: ada.name, password: ada.password });
  const { accessToken } = await json(login);
  strictEqual((await post('/account/delete', accessToken)).status, 204, 'a fresh password login passes');
  const stepUp = await post('/2fa/step-up', accessToken, { password: ada.password });
  strictEqual(stepUp.status, 200, 'POST /2fa/step-up with the password answers 200');
  const stepped = await json(stepUp);
  strictEqual((await post('/account/delete', stepped.accessToken)).status, 204, 'its token passes too');
  const wrong = await post('/2fa/step-up', accessToken, { password: `${ada.password}!` });
  strictEqual(wrong.status, 401, 'a wrong password answers 401');
}

export { deepStrictEqual, ok, strictEqual };
