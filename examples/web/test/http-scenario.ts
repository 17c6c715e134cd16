/**
 * The HTTP checks both example apps pass, run against a listening app: signup (202 "check your
 * mail" whether or not the address has an account, the mailed link, 400 naming the field, 409 for
 * a taken username), the pages, the kit's routes under /2fa end to end (login, enrollment, the
 * second step, tokens, recovery by email through the outbox), and the modes of the files the app
 * wrote (600, folders 700). Each app's test file starts its app and calls this.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
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

/** Mails in the outbox that no waitForMail has taken yet. */
export async function freshMails(outboxDir: string, seen: Set<string>): Promise<string[]> {
  const files = await readdir(outboxDir).catch(() => [] as string[]);
  return files.filter((file) => !seen.has(file) && !file.startsWith('.'));
}

/** The token of a signup mail's link (`.../confirm-signup.html#token=...`). */
export function signupToken(mail: string): string | undefined {
  const link = /(http\S+\/confirm-signup\.html#token=\S+)/.exec(mail)?.[1];
  return link ? (new URLSearchParams(new URL(link).hash.slice(1)).get('token') ?? undefined) : undefined;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A file or folder under a checked folder, with its permission bits. */
export interface Entry {
  path: string;
  mode: number;
  directory: boolean;
}

/** `dir` itself and everything under it, with the permission bits (`mode & 0o777`). */
export async function entriesUnder(dir: string): Promise<Entry[]> {
  const entries: Entry[] = [{ path: dir, mode: (await stat(dir)).mode & 0o777, directory: true }];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isDirectory()) entries.push(...(await entriesUnder(path)));
    else entries.push({ path, mode: info.mode & 0o777, directory: false });
  }
  return entries;
}

/**
 * Checks that every folder in `dirs` and under them is mode 700 and every file 600; returns the
 * paths seen, so a test can check which files were there.
 */
export async function checkPrivate(t: Test, dirs: string[]): Promise<string[]> {
  const seen: string[] = [];
  for (const dir of dirs) {
    for (const entry of await entriesUnder(dir)) {
      seen.push(entry.path);
      t.equal(
        entry.mode.toString(8),
        entry.directory ? '700' : '600',
        `${entry.path} is mode ${entry.directory ? '700' : '600'}`,
      );
    }
  }
  return seen;
}

/** The secrets a scenario handled, so a test can check none of them reached a log. */
export interface ScenarioSecrets {
  values: string[];
}

const PASSWORD = 'correct horse battery staple';

/** Everything both apps must do over HTTP. Returns the secrets used, for the log checks. */
export async function runHttpScenario(
  t: Test,
  options: { baseUrl: string; outboxDir: string; dataDir: string },
): Promise<ScenarioSecrets> {
  const call = client(options.baseUrl);
  const secrets: string[] = [PASSWORD];
  const mails = new Set<string>();

  await t.test(
    'POST /signup answers 202 "check your mail"; the mailed link creates the account, once',
    async (t) => {
      const answer = await call('POST', '/signup', {
        json: { username: 'ada', email: 'ada@example.com', password: PASSWORD },
      });
      t.equal(answer.status, 202);
      t.same(Object.keys(answer.body ?? {}), ['message'], 'no user, id or token in the answer');
      t.match(answer.body?.message, /check your mail/i);

      const mail = await waitForMail(options.outboxDir, 'signup-confirm', mails);
      t.match(mail, /^To: ada@example\.com$/m);
      const token = signupToken(mail);
      t.ok(token, 'the mail links to /confirm-signup.html#token=...');
      secrets.push(token!);

      const early = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
      t.equal(early.status, 401, 'no account, so no login, before the link is opened');

      const confirm = await call('POST', '/signup/confirm', { json: { token } });
      t.equal(confirm.status, 201);
      t.match(confirm.body, { id: String, username: 'ada', email: 'ada@example.com' });
      t.same(Object.keys(confirm.body ?? {}).sort(), ['email', 'id', 'username'], 'never the password');

      const again = await call('POST', '/signup/confirm', { json: { token } });
      t.equal(again.status, 400, 'the link works once');
      t.equal(again.body?.code, 'INVALID_TOKEN');
      const made = await call('POST', '/signup/confirm', { json: { token: 'made-up' } });
      t.match(made.body, { statusCode: 400, code: 'INVALID_TOKEN' });
      const missing = await call('POST', '/signup/confirm', { json: {} });
      t.equal(missing.status, 400);
      t.match(String(missing.body?.message), '"token" is required');
    },
  );

  await t.test('POST /signup answers 409 for a taken username, whatever the case', async (t) => {
    const username = await call('POST', '/signup', {
      json: { username: 'ADA', email: 'other@example.com', password: PASSWORD },
    });
    t.equal(username.status, 409);
    t.match(username.body, { statusCode: 409, code: 'USERNAME_TAKEN', error: 'Conflict' });
  });

  await t.test(
    'a taken email answers exactly like a free one, creates nothing, and warns the owner by mail',
    async (t) => {
      const taken = await call('POST', '/signup', {
        json: { username: 'mallory', email: 'Ada@Example.com', password: 'mallory password' },
      });
      const free = await call('POST', '/signup', {
        json: { username: 'grace', email: 'grace@example.com', password: PASSWORD },
      });
      t.equal(taken.status, 202);
      t.same([taken.status, taken.body], [free.status, free.body], 'the same status and body');
      for (const header of ['content-type', 'content-length', 'cache-control']) {
        t.equal(taken.headers.get(header), free.headers.get(header), `the same ${header}`);
      }

      const warning = await waitForMail(options.outboxDir, 'signup-attempt', mails);
      t.match(warning, /^To: ada@example\.com$/m, "to the account's own address");
      t.match(warning, /tried to create a new account/);
      t.match(warning, /log in as "ada"/);
      t.match(warning, /\/login\.html/);
      t.match(warning, /\/lost-device\.html/);
      t.notMatch(warning, /token=/, 'with no link that creates anything');
      const graceMail = await waitForMail(options.outboxDir, 'signup-confirm', mails);
      t.match(graceMail, /^To: grace@example\.com$/m, 'the free address gets its link');
      await sleep(200);
      t.same(await freshMails(options.outboxDir, mails), [], 'and nothing else was mailed');

      const login = await call('POST', '/2fa/login', {
        json: { username: 'mallory', password: 'mallory password' },
      });
      t.equal(login.status, 401, 'no account was created');
      const retry = await call('POST', '/signup', {
        json: { username: 'mallory', email: 'mallory@example.com', password: 'mallory password' },
      });
      t.equal(retry.status, 202, 'nor was the username reserved');
      await waitForMail(options.outboxDir, 'signup-confirm', mails);
    },
  );

  await t.test(
    'a taken email takes about as long as a free one: the password is hashed either way',
    async (t) => {
      // Eight of each: a median of eight holds up on a busy machine.
      const rounds = 8;
      const times: Record<'taken' | 'free', number[]> = { taken: [], free: [] };
      for (let round = 0; round < rounds; round++) {
        // Alternating which goes first, so a slow moment of the machine hits both alike.
        for (const kind of round % 2 === 0 ? (['taken', 'free'] as const) : (['free', 'taken'] as const)) {
          const email = kind === 'taken' ? 'ada@example.com' : `timing${round}@example.com`;
          const started = performance.now();
          const answer = await call('POST', '/signup', {
            json: { username: `timing${round}${kind}`, email, password: PASSWORD },
          });
          times[kind].push(performance.now() - started);
          t.equal(answer.status, 202, `${kind} ${round}`);
        }
      }
      const taken = median(times.taken);
      const free = median(times.free);
      t.ok(
        // Loose bounds for a busy machine; skipping the hash would make it a few percent.
        taken > free * 0.4 && taken < free * 2.5,
        `median ${taken.toFixed(1)} ms for a taken address, ${free.toFixed(1)} ms for a free one`,
      );
      // One warning and one link per round. Waiting for them keeps the later checks exact.
      for (let i = 0; i < rounds; i++) {
        await waitForMail(options.outboxDir, 'signup-attempt', mails);
        await waitForMail(options.outboxDir, 'signup-confirm', mails);
      }
    },
  );

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
      '/confirm-signup.html',
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

  await t.test("an unknown path under /2fa gets the kit's own 404, whatever the method", async (t) => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const response = await fetch(`${options.baseUrl}/2fa/nope`, { method });
      t.equal(response.status, 404, `${method} /2fa/nope`);
      t.match(
        await response.json(),
        { statusCode: 404, code: 'TWOFOLD_NOT_FOUND' },
        `${method}: the kit's body`,
      );
    }
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
    t.match(status.body, { enabled: false, pending: false, authenticators: { totp: 0, webauthn: 0 } });
    t.equal((await call('GET', '/2fa/status')).status, 401);
    t.equal((await call('POST', '/2fa/no-such-route', { json: {} })).status, 404);
  });

  let recoveryCodes: string[] = [];
  await t.test('enroll and confirm: the QR code, the label, the recovery codes', async (t) => {
    const enroll = await call('POST', '/2fa/totp/enroll', { token: accessToken, json: { name: 'Phone' } });
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
    t.equal(confirm.body?.authenticatorId, enroll.body?.authenticatorId, 'the authenticator enrolled');
    recoveryCodes = confirm.body?.recoveryCodes as string[];
    t.equal(recoveryCodes.length, 10);
    secrets.push(...recoveryCodes);
    // Turning 2FA on ends every session; the confirming one goes on with the fresh pair it got.
    t.equal(
      (await call('GET', '/me', { token: accessToken })).status,
      401,
      'the old access token is revoked',
    );
    accessToken = String(confirm.body?.accessToken);
    secrets.push(accessToken, String(confirm.body?.refreshToken));
    t.match((await call('GET', '/2fa/status', { token: accessToken })).body, {
      enabled: true,
      recoveryCodesRemaining: 10,
      authenticators: { totp: 1, webauthn: 0 },
    });
    const list = await call('GET', '/2fa/authenticators', { token: accessToken });
    t.equal(list.status, 200);
    t.match(list.body, { authenticators: [{ type: 'totp', name: 'Phone', createdAt: String }] });
    t.equal(
      (list.body?.authenticators as unknown[] | undefined)?.length,
      1,
      'one authenticator, by the name given',
    );

    // Security keys are on (PUBLIC_URL's host, localhost by default): the creation options say so.
    const creation = await call('POST', '/2fa/webauthn/register/options', {
      token: accessToken,
      json: { name: 'YubiKey' },
    });
    t.equal(creation.status, 200, 'the WebAuthn routes are there');
    t.match(creation.body, { rp: { id: 'localhost' }, challenge: String, user: { name: 'ada' } });

    // The security notice goes to the account's address.
    const notice = await waitForMail(options.outboxDir, 'two-factor-enabled', mails);
    t.match(notice, /^To: ada@example\.com$/m);
    t.match(notice, /^Subject: .*: two-factor authentication is on$/m);
  });

  await t.test('two-step login with a recovery code; refresh and revoke', async (t) => {
    const login = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
    t.equal(login.status, 200);
    t.equal(login.body?.twoFactorRequired, true);
    t.notOk(login.body?.accessToken, 'no access before the second factor');
    const challengeToken = String(login.body?.challengeToken);
    secrets.push(challengeToken);
    const factors = await call('POST', '/2fa/login/options', { json: { challengeToken } });
    t.equal(factors.status, 200);
    t.same(factors.body, { factors: ['totp', 'recoveryCode'], webauthn: null }, 'an app, no key');
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
    const used = await waitForMail(options.outboxDir, 'recovery-code-used', mails);
    t.match(used, /9 codes are left/, 'the notice says how many recovery codes are left');

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
      t.notOk(
        (await freshMails(options.outboxDir, mails)).some((file) => file.includes('recovery-requested')),
        'no separate "recovery requested" mail: the link mail says it',
      );
      const login = await call('POST', '/2fa/login', { json: { username: 'ada', password: PASSWORD } });
      t.equal(login.body?.twoFactorRequired, false, 'the password alone logs in again');
      secrets.push(String(login.body?.accessToken), String(login.body?.refreshToken));
    },
  );

  await t.test('every file the app wrote is mode 600, every folder it made 700', async (t) => {
    const seen = await checkPrivate(t, [options.dataDir, options.outboxDir]);
    const pglite = join(options.dataDir, 'pglite');
    t.ok(seen.includes(join(pglite, 'PG_VERSION')), "PGlite's data folder is among them");
    t.ok(
      seen.some((path) => path.startsWith(join(pglite, 'base', '/'))),
      'and the files of its tables',
    );
    t.ok(
      seen.some((path) => path.endsWith('.eml')),
      'and the mails',
    );
  });

  return { values: secrets };
}
