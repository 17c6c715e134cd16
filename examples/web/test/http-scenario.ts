/**
 * The HTTP checks both example apps pass, run against a listening app: signup (201, 400 naming the
 * field, 409), the pages, and the kit's routes under /2fa end to end (login, enrollment, the
 * second step, tokens, recovery by email through the outbox). Each app's test file starts its app
 * and calls this.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Totp } from '@twofold/otp';
import type { Test } from 'tap';

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | null;
}

/** A small JSON client of a listening app. */
export function client(baseUrl: string) {
  return async function call(
    method: string,
    path: string,
    options: { json?: unknown; raw?: string; token?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (options.json !== undefined || options.raw !== undefined) {
      headers['content-type'] = 'application/json';
      body = options.raw ?? JSON.stringify(options.json);
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = null;
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
}

/** Waits (bounded) for a mail of `kind` in the outbox that was not there before; its text. */
export async function waitForMail(outboxDir: string, kind: string, seen: Set<string>): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const files = await readdir(outboxDir).catch(() => [] as string[]);
    const fresh = files.find((file) => file.includes(kind) && !seen.has(file));
    if (fresh) {
      seen.add(fresh);
      return readFile(join(outboxDir, fresh), 'utf8');
    }
    await sleep(50);
  }
  throw new Error(`no "${kind}" mail arrived in ${outboxDir}`);
}

/** The secrets a scenario handled, so a test can check none of them reached a log. */
export interface ScenarioSecrets {
  values: string[];
}

const PASSWORD = 'correct horse battery staple';

/** Everything both apps must do over HTTP. Returns the secrets used, for the log checks. */
export async function runHttpScenario(
  t: Test,
  options: { baseUrl: string; outboxDir: string },
): Promise<ScenarioSecrets> {
  const call = client(options.baseUrl);
  const secrets: string[] = [PASSWORD];
  const mails = new Set<string>();

  await t.test('POST /signup creates an account: 201 with the user, never the password', async (t) => {
    const answer = await call('POST', '/signup', {
      json: { username: 'ada', email: 'ada@example.com', password: PASSWORD },
    });
    t.equal(answer.status, 201);
    t.match(answer.body, { id: String, username: 'ada', email: 'ada@example.com' });
    t.same(Object.keys(answer.body ?? {}).sort(), ['email', 'id', 'username']);
  });

  await t.test('POST /signup answers 409 for a taken username or email, whatever the case', async (t) => {
    const username = await call('POST', '/signup', {
      json: { username: 'ADA', email: 'other@example.com', password: PASSWORD },
    });
    t.equal(username.status, 409);
    t.match(username.body, { statusCode: 409, code: 'USERNAME_TAKEN', error: 'Conflict' });
    const email = await call('POST', '/signup', {
      json: { username: 'ada2', email: 'Ada@Example.com', password: PASSWORD },
    });
    t.equal(email.status, 409);
    t.match(email.body, { statusCode: 409, code: 'EMAIL_TAKEN' });
  });

  await t.test('POST /signup answers 400 naming the wrong field', async (t) => {
    const cases: [string, { json?: unknown; raw?: string }, string][] = [
      [
        'missing username',
        { json: { email: 'b@example.com', password: PASSWORD } },
        '"username" is required',
      ],
      [
        'username of one letter',
        { json: { username: 'b', email: 'b@example.com', password: PASSWORD } },
        '"username"',
      ],
      [
        'username with a colon',
        { json: { username: 'b:c', email: 'b@example.com', password: PASSWORD } },
        '"username"',
      ],
      [
        'email without @',
        { json: { username: 'bob', email: 'bob.example.com', password: PASSWORD } },
        '"email"',
      ],
      [
        'email as a number',
        { json: { username: 'bob', email: 42, password: PASSWORD } },
        '"email" must be a string',
      ],
      [
        'short password',
        { json: { username: 'bob', email: 'b@example.com', password: 'short' } },
        '"password"',
      ],
      [
        'unknown field',
        { json: { username: 'bob', email: 'b@example.com', password: PASSWORD, admin: true } },
        '"admin"',
      ],
      ['an array body', { json: [1, 2] }, '"body"'],
      ['malformed JSON', { raw: '{"username": ' }, '"body"'],
    ];
    for (const [name, request, message] of cases) {
      const answer = await call('POST', '/signup', request);
      t.equal(answer.status, 400, name);
      t.equal(answer.body?.statusCode, 400, `${name}: the kit's error shape`);
      t.match(String(answer.body?.message), message, `${name}: names the field`);
    }
  });

  await t.test('the pages are served with a strict Content-Security-Policy', async (t) => {
    for (const page of [
      '/',
      '/signup.html',
      '/login.html',
      '/enable.html',
      '/settings.html',
      '/lost-device.html',
      '/recover.html',
    ]) {
      const response = await fetch(`${options.baseUrl}${page}`);
      t.equal(response.status, 200, page);
      t.match(response.headers.get('content-type'), /text\/html/, page);
      t.match(response.headers.get('content-security-policy'), /default-src 'self'/, page);
      t.equal(response.headers.get('referrer-policy'), 'no-referrer', page);
      t.match(await response.text(), /<script type="module" src="\/app\.js">/, page);
    }
    const script = await fetch(`${options.baseUrl}/app.js`);
    t.equal(script.status, 200);
    t.match(script.headers.get('content-type'), /javascript/);
  });

  let accessToken = '';
  let refreshToken = '';
  await t.test('the /2fa routes: login without 2FA, the guard on GET /me, status', async (t) => {
    const wrong = await call('POST', '/2fa/login', {
      json: { username: 'ada', password: 'not the password' },
    });
    t.equal(wrong.status, 401);
    t.equal(wrong.body?.code, 'TWOFOLD_INVALID_CREDENTIALS');
    const unknown = await call('POST', '/2fa/login', { json: { username: 'nobody', password: PASSWORD } });
    t.equal(unknown.status, 401);
    t.same(unknown.body, wrong.body, 'an unknown user answers exactly like a wrong password');

    const login = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
    t.equal(login.status, 200);
    t.equal(login.body?.twoFactorRequired, false);
    accessToken = String(login.body?.accessToken);
    refreshToken = String(login.body?.refreshToken);
    secrets.push(accessToken, refreshToken);

    const me = await call('GET', '/me', { token: accessToken });
    t.equal(me.status, 200);
    t.match(me.body, { username: 'ada', email: 'ada@example.com' });
    const anonymous = await call('GET', '/me');
    t.equal(anonymous.status, 401);
    t.equal(anonymous.body?.code, 'TWOFOLD_UNAUTHORIZED');

    const status = await call('GET', '/2fa/status', { token: accessToken });
    t.equal(status.status, 200);
    t.match(status.body, { enabled: false, pending: false });
    t.equal((await call('GET', '/2fa/status')).status, 401);
    t.equal((await call('POST', '/2fa/no-such-route', { json: {} })).status, 404);
  });

  let recoveryCodes: string[] = [];
  await t.test('enroll and confirm: the QR code, the label, the recovery codes', async (t) => {
    const enroll = await call('POST', '/2fa/totp/enroll', { token: accessToken });
    t.equal(enroll.status, 201);
    t.equal(enroll.headers.get('cache-control'), 'no-store');
    const uri = String(enroll.body?.otpauthUri);
    t.match(
      decodeURIComponent(uri.split('?')[0]!),
      /^otpauth:\/\/totp\/[^:]+:ada$/,
      'labelled with the username',
    );
    t.match(String(enroll.body?.qrDataUri), /^data:image\/svg\+xml;base64,/);
    const phone = Totp.fromUri(uri);
    secrets.push(String(enroll.body?.secret));

    const code = phone.generate().token;
    const confirm = await call('POST', '/2fa/totp/confirm', { token: accessToken, json: { code } });
    t.equal(confirm.status, 200);
    recoveryCodes = confirm.body?.recoveryCodes as string[];
    t.equal(recoveryCodes.length, 10);
    secrets.push(...recoveryCodes);
    t.match((await call('GET', '/2fa/status', { token: accessToken })).body, {
      enabled: true,
      recoveryCodesRemaining: 10,
    });
  });

  await t.test('two-step login with a recovery code; refresh and revoke', async (t) => {
    const login = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
    t.equal(login.status, 200);
    t.equal(login.body?.twoFactorRequired, true);
    t.notOk(login.body?.accessToken, 'no access before the second factor');
    const challengeToken = String(login.body?.challengeToken);
    secrets.push(challengeToken);
    t.equal(
      (await call('GET', '/me', { token: challengeToken })).status,
      401,
      'a challenge token is no access token',
    );

    const verify = await call('POST', '/2fa/login/verify', {
      json: { challengeToken, recoveryCode: recoveryCodes[0] },
    });
    t.equal(verify.status, 200);
    const pair = verify.body as { accessToken: string; refreshToken: string };
    secrets.push(pair.accessToken, pair.refreshToken);
    t.equal((await call('GET', '/me', { token: pair.accessToken })).status, 200);

    const refreshed = await call('POST', '/2fa/token/refresh', { json: { refreshToken: pair.refreshToken } });
    t.equal(refreshed.status, 200);
    const next = refreshed.body as { accessToken: string; refreshToken: string };
    secrets.push(next.accessToken, next.refreshToken);
    t.equal(
      (await call('POST', '/2fa/token/revoke', { json: { refreshToken: next.refreshToken } })).status,
      204,
    );
    const afterLogout = await call('POST', '/2fa/token/refresh', {
      json: { refreshToken: next.refreshToken },
    });
    t.equal(afterLogout.status, 401, 'a revoked session cannot be refreshed');
  });

  await t.test(
    'lost device: the recovery mail lands in the outbox; link + password turn 2FA off',
    async (t) => {
      const unknown = await call('POST', '/2fa/recovery/request', { json: { email: 'nobody@example.com' } });
      const known = await call('POST', '/2fa/recovery/request', { json: { email: 'ada@example.com' } });
      t.equal(known.status, 202);
      t.same(
        [unknown.status, unknown.body],
        [known.status, known.body],
        'the same answer for an unknown address',
      );

      const mail = await waitForMail(options.outboxDir, 'recovery-link', mails);
      t.match(mail, /^To: ada@example\.com$/m);
      const link = /(http\S+\/recover\.html#uid=[^&\s]+&token=\S+)/.exec(mail)?.[1];
      t.ok(link, 'the mail holds a link to the recover page');
      const fragment = new URLSearchParams(new URL(link!).hash.slice(1));
      const uid = fragment.get('uid')!;
      const token = fragment.get('token')!;
      secrets.push(token);

      const wrongPassword = await call('POST', '/2fa/recovery/confirm', {
        json: { uid, token, password: 'wrong password' },
      });
      t.equal(wrongPassword.status, 400);
      const confirm = await call('POST', '/2fa/recovery/confirm', {
        json: { uid, token, password: PASSWORD },
      });
      t.equal(confirm.status, 204);
      const again = await call('POST', '/2fa/recovery/confirm', { json: { uid, token, password: PASSWORD } });
      t.equal(again.status, 400, 'the link works once');

      const confirmation = await waitForMail(options.outboxDir, 'recovery-completed', mails);
      t.match(confirmation, /turned off/);
      const login = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
      t.equal(login.body?.twoFactorRequired, false, 'the password alone logs in again');
      secrets.push(String(login.body?.accessToken), String(login.body?.refreshToken));
    },
  );

  return { values: secrets };
}
