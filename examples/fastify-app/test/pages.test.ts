/**
 * The example pages' problems found in a real browser (issue 14, item 7), each checked in Chromium
 * (/usr/bin/chromium driven by playwright-core, launched once; each test has browser contexts of
 * its own, so its own cookies and sessionStorage). Accounts are made with `example.users.create`,
 * 2FA is turned on over the API with codes from @twofold/otp, and the browser gets the tokens in
 * its sessionStorage as the login page would leave them.
 *
 * The apps run in-process. One Fastify app serves most tests, each with accounts of its own (its
 * own usernames and addresses, so its own mails), and one Express app serves 7 and 8; both start at
 * their first use and stop at the end of the file. Two tests have an app of their own: 1 (its
 * browser sends 7 of the 10 POST /2fa/login/verify a minute the kit allows one address, and it
 * moves the server's clock) and 13 (RECOVERY_DELAY=1h). Every app starts on a copy of one data
 * folder, made by a first app on an empty one: PGlite's first start in a folder (its initdb) is
 * most of an app's start.
 *
 * The kit's rate limits count per client address and route: the API calls a test makes itself
 * come from a loopback address of its own (127.0.0.2, 127.0.0.3, ...: on Linux all of 127.0.0.0/8
 * is this machine), so only the browser's, from 127.0.0.1, add up across the tests of an app (on
 * the shared one, at most 7 of the 10 a minute on any route that checks a password or a code).
 *
 * 1. an expired challenge, or one out of attempts, goes back to the password form with a message;
 * 2. a lock (429 with Retry-After) says when to try again;
 * 3. recover.html and confirm-signup.html follow a new link opened in the same tab (hash change);
 * 4. a spent recovery link offers to ask for a new one;
 * 5. on a phone: an otpauth:// link, and the manual key in groups of 4 that never break;
 * 6. recovery codes: Copy and Download (.txt) buttons;
 * 7. a favicon on every page, and /favicon.ico answers (both apps);
 * 8. an unknown page is a small HTML page for a browser, JSON for API clients (both apps);
 * 9. signup shows every invalid field at once;
 * 10. times are shown with their time zone;
 * 11. the settings list the sessions ("this device" marked), and sign out one, or this one;
 * 12. mandatory 2FA (answers of a policy, played with page.route: the app has none): a session that
 *     may only enroll is sent to enable.html with a message; the grace left is shown in the settings;
 * 13. a delayed email recovery (an app with RECOVERY_DELAY=1h): confirming says when 2FA goes off,
 *     the settings say so too, and the mailed cancel link cancels it;
 * 14. "Remember this browser" (TRUSTED_DEVICE_DAYS, 30 by default): the next login skips the code
 *     step, the settings list the browser, and once forgotten the code step is back.
 *
 * The server's clock: the kit reads `Date.now` through its `clock` option (default: the `Date.now`
 * found when the app is built), so this file puts its own `Date.now` in place first and moves it
 * forward to let a challenge expire.
 */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from '@twofold/core';
import { type Example, loadConfig } from '@twofold/example-web';
import { Totp } from '@twofold/otp';
import { missing as reportMissing } from '@twofold/test-support';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';
import t, { type Test } from 'tap';
import { buildApp as buildExpressApp } from '../../express-app/src/app.js';
import { buildApp } from '../src/app.js';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';

// The server's clock (see above): real time plus an offset the tests move.
let clockOffsetMs = 0;
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + clockOffsetMs;

/** A running app, as one test sees it. */
interface RunningApp {
  kind: 'fastify' | 'express';
  baseUrl: string;
  outboxDir: string;
  example: Example;
  /** Where this test's own API calls (`call`) come from: a loopback address no other test uses. */
  clientAddress: string;
}

let lastClientHost = 1;
/** The next unused loopback address (127.0.0.1 is the browser's). */
function nextClientAddress(): string {
  lastClientHost += 1;
  if (lastClientHost > 254) throw new Error('out of loopback addresses');
  return `127.0.0.${lastClientHost}`;
}

/** An app's settings, its folders in `dir`. */
function appConfig(dir: string, kind: RunningApp['kind'], env: Record<string, string> = {}) {
  return loadConfig(
    {
      DATA_DIR: 'data',
      TWOFOLD_OUTBOX: 'outbox',
      PORT: '0',
      LOG_LEVEL: 'silent',
      TWOFOLD_KEYS: generateKey(),
      ...env,
    },
    dir,
    { issuer: `twofold ${kind} example` },
  );
}

let freshDataDir: Promise<string> | undefined;
/**
 * A data folder as a new app leaves it (PGlite's database made, the schemas migrated, no account),
 * made once by starting and stopping an app on an empty folder. PGlite's first start in a folder
 * (its initdb) is most of an app's start: each app starts on a copy of this one instead.
 */
function freshData(): Promise<string> {
  freshDataDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twofold-pages-fresh-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const config = appConfig(dir, 'fastify');
    const { app } = await buildApp(config);
    await app.close();
    return config.dataDir;
  })();
  return freshDataDir;
}

/**
 * Starts an app in-process on a free port with its own folder (data, outbox), its data a copy of
 * {@link freshData}; stopped at the end of `owner` (a test, or the whole file). `env`: more
 * settings (e.g. RECOVERY_DELAY).
 */
async function startApp(
  owner: Test,
  kind: RunningApp['kind'] = 'fastify',
  env: Record<string, string> = {},
): Promise<Omit<RunningApp, 'clientAddress'>> {
  const dir = await mkdtemp(join(tmpdir(), `twofold-pages-${kind}-`));
  owner.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = appConfig(dir, kind, env);
  await cp(await freshData(), config.dataDir, { recursive: true });
  let baseUrl: string;
  let example: Example;
  if (kind === 'fastify') {
    const built = await buildApp(config);
    example = built.example;
    // Registered before the folder's removal above: teardowns run last registered first.
    owner.teardown(() => built.app.close());
    await built.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(built.app.server.address() as AddressInfo).port}`;
  } else {
    const built = await buildExpressApp(config, () => {});
    example = built.example;
    const server = createServer(built.app);
    owner.teardown(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await built.example.close();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  return { kind, baseUrl, outboxDir: config.outboxDir, example };
}

/** An app of this test alone, stopped at its end. */
async function ownApp(
  t: Test,
  kind: RunningApp['kind'] = 'fastify',
  env: Record<string, string> = {},
): Promise<RunningApp> {
  return { ...(await startApp(t, kind, env)), clientAddress: nextClientAddress() };
}

/** The apps the tests share, each started at its first use and stopped at the end of the file. */
const sharedApps = new Map<RunningApp['kind'], ReturnType<typeof startApp>>();

/** The shared app of `kind`, for one test: its API calls from an address of its own. */
async function sharedApp(kind: RunningApp['kind'] = 'fastify'): Promise<RunningApp> {
  let started = sharedApps.get(kind);
  if (!started) {
    started = startApp(t, kind);
    sharedApps.set(kind, started);
  }
  return { ...(await started), clientAddress: nextClientAddress() };
}

/** A POST to the app from the test's own address (`app.clientAddress`); the status and JSON body. */
async function call(
  app: RunningApp,
  path: string,
  body?: unknown,
  accessToken?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-length': String(Buffer.byteLength(payload)),
  };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = httpRequest(
      `${app.baseUrl}${path}`,
      { method: 'POST', headers, localAddress: app.clientAddress, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRNOTAVAIL'
          ? new Error(`cannot send from ${app.clientAddress}: these tests need 127.0.0.0/8 on loopback`, {
              cause: error,
            })
          : error,
      ),
    );
    request.end(payload);
  });
  return { status, body: text ? JSON.parse(text) : {} };
}

interface Account {
  username: string;
  email: string;
  tokens: { accessToken: string; refreshToken: string };
}

/** A new account, logged in over the API (2FA off). */
async function newAccount(app: RunningApp, username: string): Promise<Account> {
  const email = `${username}@example.com`;
  await app.example.users.create({ username, email, password: PASSWORD });
  const login = await call(app, '/2fa/login', { username, password: PASSWORD });
  if (login.status !== 200 || login.body.twoFactorRequired !== false) {
    throw new Error(`login answered ${login.status}`);
  }
  return { username, email, tokens: login.body as unknown as Account['tokens'] };
}

/** A new account with 2FA on (enrolled and confirmed over the API); the phone and the fresh tokens. */
async function newTwoFactorAccount(app: RunningApp, username: string) {
  const account = await newAccount(app, username);
  const enroll = await call(app, '/2fa/totp/enroll', undefined, account.tokens.accessToken);
  const phone = Totp.fromUri(String(enroll.body.otpauthUri));
  const confirm = await call(
    app,
    '/2fa/totp/confirm',
    { code: phone.generate().token },
    account.tokens.accessToken,
  );
  if (confirm.status !== 200) throw new Error(`confirm answered ${confirm.status}`);
  account.tokens = confirm.body as unknown as Account['tokens'];
  return { ...account, phone, recoveryCodes: confirm.body.recoveryCodes as string[] };
}

/** The link of the recovery mail to `to`, on this app's address (PUBLIC_URL says port 0 here). */
async function recoveryLink(app: RunningApp, to: string): Promise<string> {
  const mail = await waitForMail(app.outboxDir, 'recovery-link', to);
  const link = new URL(/(http\S+\/recover\.html#uid=\S+)/.exec(mail)![1]!);
  return `${app.baseUrl}${link.pathname}${link.hash}`;
}

/**
 * Waits (bounded) for a mail of `kind` to `to` in the outbox (a shared app's holds other tests'
 * mails too); its text.
 */
async function waitForMail(outbox: string, kind: string, to: string): Promise<string> {
  // The mailer's file names: `<time>-<kind>-<6 hex digits>.eml`.
  const ofKind = new RegExp(`-${kind}-[0-9a-f]{6}\\.eml$`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const files = await readdir(outbox).catch(() => [] as string[]);
    for (const file of files.filter((name) => ofKind.test(name))) {
      const mail = await readFile(join(outbox, file), 'utf8');
      if (mail.split('\n').includes(`To: ${to}`)) return mail;
    }
    await sleep(50);
  }
  throw new Error(`no "${kind}" mail to ${to} arrived`);
}

async function pagesTest(): Promise<void> {
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());
  const pageErrors: string[] = [];

  /** A fresh browser context (its own sessionStorage) and page, closed at the end of `t`. */
  async function openPage(
    t: Test,
    options: BrowserContextOptions = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 }, ...options });
    t.teardown(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(5_000);
    page.on('pageerror', (error) => pageErrors.push(`${t.name}: ${error.message}`));
    return { context, page };
  }

  /** Leaves the tokens in the tab's sessionStorage, as the login page does. */
  async function signIn(page: Page, app: RunningApp, tokens: Account['tokens']) {
    await page.goto(`${app.baseUrl}/login.html`);
    await page.evaluate(
      `sessionStorage.setItem('twofold-example.tokens', ${JSON.stringify(JSON.stringify(tokens))})`,
    );
  }

  async function passwordStep(page: Page, app: RunningApp, username: string) {
    await page.goto(`${app.baseUrl}/login.html`);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
    await page.locator('#verify-form').waitFor({ state: 'visible' });
  }

  /** Submits the second step with `code`; resolves once the answer arrived and the page handled it. */
  async function submitCode(page: Page, code: string) {
    await page.fill('#code', code);
    const answered = page.waitForResponse('**/2fa/login/verify');
    await page.click('#verify-form button[type="submit"]');
    const response = await answered;
    // Not page.waitForFunction with a string: once it has to poll, it evals in the page, which the
    // page's CSP forbids (no 'unsafe-eval'). A locator waits without running script in the page.
    await page.locator('#verify-form button[type=submit]:enabled').waitFor({ state: 'attached' });
    return response.status();
  }

  await t.test(
    '1. a challenge out of attempts, or expired, goes back to the password with a message',
    async (t) => {
      const app = await ownApp(t);
      const ada = await newTwoFactorAccount(app, 'ada');
      const { page } = await openPage(t);

      await passwordStep(page, app, 'ada');
      // Five wrong codes are each refused; the sixth attempt finds the challenge out of attempts.
      for (let attempt = 1; attempt <= 6 && (await page.locator('#verify-form').isVisible()); attempt++) {
        await submitCode(page, '000000');
      }
      await page.locator('#login-form').waitFor({ state: 'visible' });
      t.notOk(await page.locator('#verify-form').isVisible(), 'the second step is gone');
      const outOfAttempts = page.locator('#login-error');
      t.ok(await outOfAttempts.isVisible(), 'a message is shown above the password form');
      t.match(await outOfAttempts.textContent(), /password again/i, 'it says to enter the password again');

      await passwordStep(page, app, 'ada');
      t.notOk(
        await page.locator('#login-error').isVisible(),
        'the message is gone once the password is accepted',
      );
      clockOffsetMs = 3 * 60_000; // the challenge lives 2 minutes
      try {
        await submitCode(page, ada.phone.generate().token);
      } finally {
        clockOffsetMs = 0;
      }
      await page.locator('#login-form').waitFor({ state: 'visible' });
      t.ok(await page.locator('#login-error').isVisible(), 'an expired challenge: the message is shown too');
      t.match(await page.textContent('#login-error'), /too long|expired/i);
      t.match(await page.textContent('#login-error'), /password again/i);
    },
  );

  await t.test('2. a locked account is told when to try again (Retry-After)', async (t) => {
    const app = await sharedApp();
    const bob = await newTwoFactorAccount(app, 'bob');
    // Nine consecutive failures (the lock comes at ten), through another route than the login's.
    for (let i = 0; i < 9; i++) {
      const rotate = await call(
        app,
        '/2fa/recovery-codes/rotate',
        { code: '000000' },
        bob.tokens.accessToken,
      );
      t.equal(rotate.status, 400, `wrong code ${i + 1} refused`);
    }
    const { page } = await openPage(t, { locale: 'en-US', timezoneId: 'Europe/Berlin' });
    await passwordStep(page, app, 'bob');
    let status = 0;
    for (let attempt = 0; attempt < 3 && status !== 429; attempt++) status = await submitCode(page, '000000');
    t.equal(status, 429, 'the account is locked');
    const error = page.locator('#verify-error');
    t.ok(await error.isVisible());
    const text = (await error.textContent()) ?? '';
    t.match(text, /try again in 15 minutes/i, 'how long, from Retry-After (900 seconds)');
    t.match(text, /\d{1,2}:\d{2}\s*(AM|PM)?\s*GMT\+[12]\b/, 'and at what local time, with its zone');
  });

  await t.test('3. recover.html follows a new link opened in the same tab', async (t) => {
    const app = await sharedApp();
    const cy = await newTwoFactorAccount(app, 'cy');
    t.equal((await call(app, '/2fa/recovery/request', { email: cy.email })).status, 202);
    const link = await recoveryLink(app, cy.email);
    const uid = new URLSearchParams(new URL(link).hash.slice(1)).get('uid')!;
    const { page } = await openPage(t);

    await page.goto(`${app.baseUrl}/recover.html`);
    await page.locator('#link-error').waitFor({ state: 'visible' });
    // Then a link with a made-up token, then the real one: each only changes the hash.
    await page.goto(`${app.baseUrl}/recover.html#uid=${uid}&token=made-up`);
    await page.locator('#recover-form').waitFor({ state: 'visible' });
    t.notOk(await page.locator('#link-error').isVisible(), 'the "needs the link" message is gone');
    t.equal(page.url(), `${app.baseUrl}/recover.html`, 'the token is taken off the address bar');
    await page.goto(link);
    await page.locator('#recover-form').waitFor({ state: 'visible' });
    t.equal(page.url(), `${app.baseUrl}/recover.html`, 'this token too');
    await page.fill('#password', PASSWORD);
    await page.click('#recover-form button[type="submit"]');
    await page.locator('#recover-done:visible, #recover-error:visible').waitFor();
    t.ok(await page.locator('#recover-done').isVisible(), 'the link opened last is the one used');
  });

  await t.test('3b. confirm-signup.html follows a new signup link opened in the same tab', async (t) => {
    const app = await sharedApp();
    const signup = await call(app, '/signup', {
      username: 'ezra',
      email: 'ezra@example.com',
      password: PASSWORD,
    });
    t.equal(signup.status, 202);
    const mail = await waitForMail(app.outboxDir, 'signup-confirm', 'ezra@example.com');
    const sent = new URL(/(http\S+\/confirm-signup\.html#token=\S+)/.exec(mail)![1]!);
    const link = `${app.baseUrl}${sent.pathname}${sent.hash}`;
    const { page } = await openPage(t);

    await page.goto(`${app.baseUrl}/confirm-signup.html`);
    await page.locator('#link-error').waitFor({ state: 'visible' });
    await page.goto(`${app.baseUrl}/confirm-signup.html#token=made-up`);
    await page.locator('#confirm-signup-form').waitFor({ state: 'visible' });
    t.notOk(await page.locator('#link-error').isVisible(), 'the "needs the link" message is gone');
    t.equal(page.url(), `${app.baseUrl}/confirm-signup.html`, 'the token is taken off the address bar');
    await page.goto(link);
    await page.locator('#confirm-signup-form').waitFor({ state: 'visible' });
    await page.click('#confirm-signup-form button[type="submit"]');
    await page.locator('#confirm-signup-done:visible, #confirm-signup-error:visible').waitFor();
    t.ok(await page.locator('#confirm-signup-done').isVisible(), 'the link opened last is the one used');
    t.equal(await page.locator('#new-username').textContent(), 'ezra');
  });

  await t.test('4. a spent recovery link offers to ask for a new one', async (t) => {
    const app = await sharedApp();
    const dee = await newTwoFactorAccount(app, 'dee');
    await call(app, '/2fa/recovery/request', { email: dee.email });
    const link = await recoveryLink(app, dee.email);
    const { page } = await openPage(t);
    for (const round of ['first', 'again']) {
      await page.goto('about:blank');
      await page.goto(link);
      await page.locator('#recover-form').waitFor({ state: 'visible' });
      await page.fill('#password', PASSWORD);
      await page.click('#recover-form button[type="submit"]');
      await page
        .locator(round === 'first' ? '#recover-done' : '#recover-error')
        .waitFor({ state: 'visible' });
    }
    const ask = page.locator('#recover-error a[href="/lost-device.html"]');
    t.ok(await ask.isVisible(), 'the error links to lost-device.html');
    t.match(await ask.textContent(), /new one/i);
    await ask.click();
    await page.waitForURL('**/lost-device.html');
    t.pass('the link leads to the page that sends a new one');
  });

  await t.test(
    '5. on a phone: an otpauth:// link, and the key in groups of 4 that never break',
    async (t) => {
      const app = await sharedApp();
      const eve = await newAccount(app, 'eve');
      const { page } = await openPage(t, {
        viewport: { width: 360, height: 740 },
        isMobile: true,
        hasTouch: true,
        deviceScaleFactor: 2,
      });
      await signIn(page, app, eve.tokens);
      await page.goto(`${app.baseUrl}/enable.html`);
      await page.click('#start-enroll');
      await page.locator('#enroll-scan').waitFor({ state: 'visible' });
      const key = ((await page.textContent('#secret')) ?? '').replace(/\s+/g, '');
      t.match(key, /^[A-Z2-7]{32}$/, 'the key for manual entry');

      // Where each character of the key is drawn, at the widths of common phones: the characters of
      // a group always share one line.
      const linesOfKey = (): Promise<number[]> =>
        page.evaluate(`(() => {
        const tops = [];
        const walker = document.createTreeWalker(document.querySelector('#secret'), NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          for (let i = 0; i < node.data.length; i++) {
            if (/\\s/.test(node.data[i])) continue;
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            tops.push(Math.round(range.getBoundingClientRect().top));
          }
        }
        return tops;
      })()`);
      let wrapped = false;
      for (const width of [320, 340, 360, 375, 390, 412]) {
        await page.setViewportSize({ width, height: 740 });
        const lines = await linesOfKey();
        t.equal(lines.length, 32, `${width}px: every character is drawn`);
        if (new Set(lines).size > 1) wrapped = true;
        const groups = Array.from({ length: 8 }, (_, i) => lines.slice(i * 4, i * 4 + 4));
        t.ok(
          groups.every((group) => new Set(group).size === 1),
          `${width}px: no group of 4 is broken across lines (line of each character: ${lines.join(',')})`,
        );
      }
      t.ok(wrapped, 'the key does wrap on these narrow screens');
      t.equal(
        await page.textContent('#secret'),
        key.replace(/.{4}(?=.)/g, '$& '),
        'groups of 4, space between',
      );

      const open = page.locator('a[href^="otpauth://totp/"]');
      t.equal(await open.count(), 1, 'one link opens the authenticator app');
      t.ok(await open.isVisible(), 'visible on a phone');
      const uri = new URL((await open.getAttribute('href'))!);
      t.equal(uri.searchParams.get('secret'), key, 'the link holds the key shown');
      t.match(await open.textContent(), /authenticator app/i);

      await page.fill('#code', new Totp({ secret: key }).generate().token);
      await page.click('#confirm-form button[type="submit"]');
      await page.locator('#recovery-codes-section').waitFor({ state: 'visible' });
      t.equal(await page.locator('a[href^="otpauth:"]').count(), 0, 'the link is gone once confirmed');
    },
  );

  await t.test('6. recovery codes: Copy and Download buttons', async (t) => {
    const app = await sharedApp();
    const fay = await newAccount(app, 'fay');
    const { context, page } = await openPage(t, { acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.baseUrl });
    await signIn(page, app, fay.tokens);
    await page.goto(`${app.baseUrl}/enable.html`);
    await page.click('#start-enroll');
    await page.locator('#enroll-scan').waitFor({ state: 'visible' });
    const key = ((await page.textContent('#secret')) ?? '').replace(/\s+/g, '');
    const phone = new Totp({ secret: key });
    const confirmedAt = Date.now();
    await page.fill('#code', phone.generate(confirmedAt).token);
    await page.click('#confirm-form button[type="submit"]');
    await page.locator('#recovery-codes-section').waitFor({ state: 'visible' });
    const codes = (await page.locator('#recovery-codes li').allTextContents()).map((text) => text.trim());
    t.equal(codes.length, 10);

    const checkButtons = async (section: string, expected: string[], what: string) => {
      const copy = page.locator(`${section} button`, { hasText: /^Copy/ });
      const download = page.locator(`${section} button`, { hasText: /^Download/ });
      t.ok(await copy.isVisible(), `${what}: a Copy button`);
      t.ok(await download.isVisible(), `${what}: a Download button`);
      await copy.click();
      // Polled from here: page.waitForFunction with a string evals in the page, which its CSP forbids.
      for (let tries = 0; tries < 100; tries++) {
        if (((await page.evaluate('navigator.clipboard.readText()')) as string).length > 0) break;
        await sleep(50);
      }
      const copied: string = await page.evaluate('navigator.clipboard.readText()');
      t.same(copied.trim().split(/\r?\n/), expected, `${what}: the clipboard holds the codes, one a line`);
      t.match(await page.locator(section).textContent(), /copied/i, `${what}: the page says so`);
      const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
      t.match(file.suggestedFilename(), /\.txt$/, `${what}: a .txt file`);
      const text = await readFile((await file.path())!, 'utf8');
      for (const code of expected) t.ok(text.includes(code), `${what}: the file holds ${code.slice(0, 2)}…`);
      t.notMatch(text, /<|>/, `${what}: plain text`);
    };
    await checkButtons('#recovery-codes-section', codes, 'after turning 2FA on');

    await page.click('#done');
    await page.waitForURL('**/settings.html');
    await page.locator('#manage').waitFor({ state: 'visible' });
    // The code of the step after the one that confirmed (the +1 window accepts it).
    await page.fill('#rotate-code', phone.generate(confirmedAt + 30_000).token);
    await page.click('#rotate-form button[type="submit"]');
    await page.locator('#new-codes-section').waitFor({ state: 'visible' });
    const rotated = (await page.locator('#new-recovery-codes li').allTextContents()).map((text) =>
      text.trim(),
    );
    t.equal(rotated.length, 10);
    await checkButtons('#new-codes-section', rotated, 'new codes in the settings');
  });

  const PAGES = [
    '/',
    '/signup.html',
    '/confirm-signup.html',
    '/login.html',
    '/enable.html',
    '/settings.html',
    '/lost-device.html',
    '/recover.html',
  ];

  for (const kind of ['fastify', 'express'] as const) {
    await t.test(`7. ${kind}: every page has a favicon, and /favicon.ico answers`, async (t) => {
      const app = await sharedApp(kind);
      const { page } = await openPage(t);
      const notFound: string[] = [];
      page.on('response', (response) => {
        if (response.status() >= 400) notFound.push(`${response.status()} ${response.url()}`);
      });
      for (const path of PAGES) {
        await page.goto(`${app.baseUrl}${path}`);
        const href = await page
          .getAttribute('link[rel~="icon"]', 'href', { timeout: 1000 })
          .catch(() => null);
        t.ok(href, `${path}: <link rel="icon">`);
        if (!href) continue;
        const icon = await page.request.get(new URL(href, page.url()).href);
        t.equal(icon.status(), 200, `${path}: the icon answers`);
        t.match(icon.headers()['content-type'], /^image\/svg\+xml/, `${path}: an SVG`);
      }
      const ico = await page.request.get(`${app.baseUrl}/favicon.ico`);
      t.equal(ico.status(), 200, '/favicon.ico answers');
      t.match(ico.headers()['content-type'], /^image\//, 'with an image');
      t.same(notFound, [], 'no request of the pages failed');
    });

    await t.test(`8. ${kind}: an unknown page is HTML for a browser, JSON for API clients`, async (t) => {
      const app = await sharedApp(kind);
      const { page } = await openPage(t);
      const response = await page.goto(`${app.baseUrl}/no-such-page`);
      t.equal(response?.status(), 404);
      t.match(response?.headers()['content-type'], /^text\/html/, 'an HTML page');
      t.match(
        response?.headers()['content-security-policy'],
        /default-src 'self'/,
        "with the pages' headers",
      );
      t.match(await page.textContent('h1'), /not found/i);
      const home = page.locator('main a[href="/"]');
      t.ok(await home.isVisible(), 'a link home');
      await home.click();
      await page.waitForURL(`${app.baseUrl}/`);

      const json = await page.request.get(`${app.baseUrl}/no-such-page`, {
        headers: { accept: 'application/json' },
      });
      t.equal(json.status(), 404);
      t.match(await json.json(), { statusCode: 404, code: 'NOT_FOUND' }, 'a JSON request gets JSON');
      const any = await fetch(`${app.baseUrl}/no-such-page`);
      t.match(await any.json(), { statusCode: 404 }, 'so does a client that takes anything');
      const api = await page.request.get(`${app.baseUrl}/2fa/nope`, { headers: { accept: 'text/html' } });
      t.equal(api.status(), 404);
      t.match(await api.json(), { statusCode: 404, code: 'TWOFOLD_NOT_FOUND' }, "under /2fa: the kit's JSON");
    });
  }

  await t.test('9. signup shows every invalid field at once', async (t) => {
    const app = await sharedApp();
    const { page } = await openPage(t);
    await page.goto(`${app.baseUrl}/signup.html`);
    await page.fill('#username', 'a');
    await page.fill('#email', 'not-an-address');
    await page.fill('#password', 'short');
    const answered = page.waitForResponse('**/signup');
    await page.click('#signup-form button[type="submit"]');
    t.equal((await answered).status(), 400);
    for (const [field, message] of [
      ['username', /3 to 32 characters/],
      ['email', /email address/],
      ['password', /at least 8/],
    ] as const) {
      const error = page.locator(`#${field}-error`);
      await error.waitFor({ state: 'visible', timeout: 2000 }).catch(() => {});
      t.ok(await error.isVisible(), `${field}: its message is shown`);
      t.match(await error.textContent({ timeout: 500 }).catch(() => ''), message, `${field}: what is wrong`);
      t.equal(await page.getAttribute(`#${field}`, 'aria-invalid'), 'true', `${field}: marked invalid`);
    }

    await page.fill('#username', 'gus');
    await page.fill('#email', 'gus@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('#signup-form button[type="submit"]');
    await page.locator('#signup-done').waitFor({ state: 'visible' });
    for (const field of ['username', 'email', 'password']) {
      t.notOk(await page.locator(`#${field}-error`).isVisible(), `${field}: the message is gone`);
      t.equal(await page.getAttribute(`#${field}`, 'aria-invalid'), null, `${field}: no longer marked`);
    }
  });

  await t.test('10. times are shown with their time zone', async (t) => {
    const app = await sharedApp();
    const hal = await newTwoFactorAccount(app, 'hal');
    const ivy = await newAccount(app, 'ivy');
    const { page } = await openPage(t, { locale: 'en-US', timezoneId: 'America/New_York' });
    await signIn(page, app, hal.tokens);
    await page.goto(`${app.baseUrl}/settings.html`);
    await page.locator('#manage').waitFor({ state: 'visible' });
    t.match(
      await page.textContent('#status-enabled-at'),
      /\d{1,2}:\d{2}.*\b(EST|EDT)\b/,
      'turned on: with the zone',
    );

    await signIn(page, app, ivy.tokens);
    await page.goto(`${app.baseUrl}/enable.html`);
    await page.click('#start-enroll');
    await page.locator('#enroll-scan').waitFor({ state: 'visible' });
    t.match(
      await page.textContent('#expires'),
      /\d{1,2}:\d{2}.*\b(EST|EDT)\b/,
      'the setup expires: with the zone',
    );
  });

  /** Logs in with the password on the login page (2FA off): a session of this browser. */
  async function logIn(page: Page, app: RunningApp, username: string) {
    await page.goto(`${app.baseUrl}/login.html`);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
    await page.waitForURL(`${app.baseUrl}/`);
  }

  await t.test('11. the settings list the sessions and sign one out', async (t) => {
    const app = await sharedApp();
    await app.example.users.create({ username: 'jo', email: 'jo@example.com', password: PASSWORD });
    const { page } = await openPage(t, { locale: 'en-US', timezoneId: 'America/New_York' });
    const { page: phone } = await openPage(t, {
      userAgent:
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    });
    await logIn(phone, app, 'jo');
    await logIn(page, app, 'jo');

    await page.goto(`${app.baseUrl}/settings.html`);
    const rows = page.locator('#session-rows tr');
    await rows.nth(1).waitFor();
    t.equal(await rows.count(), 2, 'two sessions');
    t.equal(
      await page.locator('#sessions-section h2').textContent(),
      'Where you are signed in',
      'a section with its heading',
    );
    const current = page.locator('#session-rows tr[data-current]');
    t.equal(await current.count(), 1, 'one is this one');
    t.match(await current.textContent(), /Chrome \d+ on Linux\s*this device/, 'this browser, marked');
    t.equal(await page.locator('#session-rows .badge').count(), 1, '"this device" once');
    const other = page.locator('#session-rows tr:not([data-current])');
    const cells = (await other.locator('td').allTextContents()).map((text) => text.trim());
    t.equal(cells[0], 'Safari 17 on iOS', 'the User-Agent, shortened');
    t.equal(
      await other.locator('td').first().getAttribute('title'),
      await phone.evaluate('navigator.userAgent'),
      'the whole User-Agent on hover',
    );
    t.equal(cells[1], '127.0.0.1', 'the address');
    t.match(cells[2], /\d{1,2}:\d{2}.*\b(EST|EDT)\b/, 'signed in: a time with its zone');
    t.match(cells[3], /\d{1,2}:\d{2}.*\b(EST|EDT)\b/, 'last active too');

    const signOut = other.getByRole('button', { name: /^Sign out Safari 17 on iOS at 127\.0\.0\.1/ });
    t.equal(await signOut.textContent(), 'Sign out', 'a "Sign out" button, labelled with the session');
    await signOut.click();
    await page.locator('#sessions-notice').waitFor({ state: 'visible' });
    t.match(await page.textContent('#sessions-notice'), /Safari 17 on iOS is signed out/);
    t.equal(await rows.count(), 1, 'the list shows one');
    t.equal(
      await page.locator('#sessions-count').textContent(),
      'You have 1 active session.',
      'and counts one',
    );

    // The phone's next call is refused (its access token, then its refresh token): to the login.
    await phone.goto(`${app.baseUrl}/settings.html`);
    await phone.waitForURL('**/login.html');
    t.pass('the signed-out browser is sent to the login page');

    // Signing out this device is a logout.
    const tokens = JSON.parse(
      (await page.evaluate("sessionStorage.getItem('twofold-example.tokens')")) as string,
    ) as Account['tokens'];
    await page.getByRole('button', { name: 'Sign out this device' }).click();
    await page.waitForURL('**/login.html');
    t.equal(await page.evaluate("sessionStorage.getItem('twofold-example.tokens')"), null, 'tokens gone');
    const refused = await fetch(`${app.baseUrl}/2fa/status`, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    t.equal(refused.status, 401, "this device's access token is refused");
  });

  await t.test('12. mandatory 2FA: to enable.html when required, the grace in the settings', async (t) => {
    const app = await sharedApp();
    const kai = await newAccount(app, 'kai');
    await app.example.users.create({ username: 'lee', email: 'lee@example.com', password: PASSWORD });
    const { page } = await openPage(t, { locale: 'en-US', timezoneId: 'America/New_York' });
    const required = {
      status: 403,
      contentType: 'application/json',
      body: JSON.stringify({
        statusCode: 403,
        code: 'TWOFOLD_ENROLLMENT_REQUIRED',
        error: 'Forbidden',
        message: 'Two-factor authentication must be set up first',
      }),
    };
    const notice = page.locator('#required-notice');

    await signIn(page, app, kai.tokens);
    await page.route('**/2fa/status', (route) => route.fulfill(required));
    await page.goto(`${app.baseUrl}/settings.html`);
    await page.waitForURL('**/enable.html?required=1');
    await notice.waitFor({ state: 'visible' });
    t.match(await notice.textContent(), /must use two-factor authentication: set it up to continue/);
    t.ok(await page.locator('#start-enroll').isVisible(), 'and the setup can start');
    await page.unroute('**/2fa/status');

    await page.route('**/me', (route) => route.fulfill(required));
    await page.goto(`${app.baseUrl}/`);
    await page.waitForURL('**/enable.html?required=1');
    await page.unroute('**/me');
    t.pass('the home page too (GET /me refused)');
    await page.goto(`${app.baseUrl}/enable.html`);
    t.notOk(await notice.isVisible(), 'no message without the flag');

    // A login past the grace says so itself: straight to enable.html.
    await page.route('**/2fa/login', async (route) => {
      const answer = await route.fetch();
      await route.fulfill({ response: answer, json: { ...(await answer.json()), enrollmentRequired: true } });
    });
    await page.evaluate('sessionStorage.clear()');
    await page.goto(`${app.baseUrl}/login.html`);
    await page.fill('#username', 'lee');
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
    await page.waitForURL('**/enable.html?required=1');
    await notice.waitFor({ state: 'visible' });
    t.pass('a login answering enrollmentRequired: to enable.html');

    // In grace: the settings say until when, and how many logins are left.
    await page.route('**/2fa/status', async (route) => {
      const answer = await route.fetch();
      await route.fulfill({
        response: answer,
        json: {
          ...(await answer.json()),
          enrollmentRequired: false,
          enrollmentRequiredBy: '2031-03-01T17:00:00.000Z',
          graceLoginsLeft: 3,
        },
      });
    });
    await page.goto(`${app.baseUrl}/settings.html`);
    const grace = page.locator('#policy-notice');
    await grace.waitFor({ state: 'visible' });
    t.match(
      await grace.textContent(),
      /must use two-factor authentication by Mar 1, 2031, 12:00 PM EST, and you can log in without it 3 more times/,
      'the deadline with its zone, and the logins left',
    );
    await page.locator('#session-rows tr').first().waitFor();
    t.pass('the sessions are listed in grace');
  });

  await t.test(
    '13. a delayed recovery: scheduled, shown in the settings, cancelled by the mailed link',
    async (t) => {
      const app = await ownApp(t, 'fastify', { RECOVERY_DELAY: '1h' });
      const max = await newTwoFactorAccount(app, 'max');
      const zone = { locale: 'en-US', timezoneId: 'America/New_York' };
      const withZone = /\d{1,2}:\d{2}\s*(AM|PM)\s*(EST|EDT)\b/;

      // Lost the phone: ask for the recovery link on lost-device.html, open it, give the password.
      const { page } = await openPage(t, zone);
      await page.goto(`${app.baseUrl}/lost-device.html`);
      await page.fill('#email', max.email);
      await page.click('#lost-form button[type="submit"]');
      await page.locator('#lost-done').waitFor({ state: 'visible' });
      await page.goto(await recoveryLink(app, max.email));
      await page.locator('#recover-form').waitFor({ state: 'visible' });
      await page.fill('#password', PASSWORD);
      const confirmed = page.waitForResponse('**/2fa/recovery/confirm');
      const before = Date.now();
      await page.click('#recover-form button[type="submit"]');
      t.equal((await confirmed).status(), 202, 'the server schedules the removal (202)');
      const scheduled = page.locator('#recover-scheduled');
      await scheduled.waitFor({ state: 'visible' });
      const text = ((await scheduled.textContent()) ?? '').replace(/\s+/g, ' ').trim();
      t.match(
        text,
        /^Two-factor authentication will be turned off at [A-Z][a-z]{2} \d{1,2}, \d{4}, .*; we mailed you a link to cancel it\.$/,
        'recover.html says when, and that a cancel link was mailed',
      );
      t.match(text, withZone, 'the time with its zone');
      t.notOk(await page.locator('#recover-form').isVisible(), 'the form is gone');
      t.notOk(await page.locator('#recover-done').isVisible(), 'not "2FA is off"');

      // The status agrees: 2FA still on, the removal due in an hour.
      const status = await fetch(`${app.baseUrl}/2fa/status`, {
        headers: { authorization: `Bearer ${max.tokens.accessToken}` },
      });
      t.equal(status.status, 200, 'the sessions still work');
      const state = (await status.json()) as { enabled: boolean; recoveryPending: { dueAt: string } | null };
      t.equal(state.enabled, true, '2FA is still on');
      const dueAt = Date.parse(state.recoveryPending?.dueAt ?? '');
      t.ok(dueAt >= before + 3_600_000 - 1_000 && dueAt <= Date.now() + 3_600_000 + 1_000, 'due in an hour');

      // The cancel link mail.
      const mail = await waitForMail(app.outboxDir, 'recovery-cancel-link', max.email);
      const sent = new URL(/(http\S+\/recover\.html#uid=\S+&cancel=\S+)/.exec(mail)![1]!);
      const cancelLink = `${app.baseUrl}${sent.pathname}${sent.hash}`;

      // The settings (another browser, signed in) show the pending removal.
      const { page: settings } = await openPage(t, zone);
      await signIn(settings, app, max.tokens);
      await settings.goto(`${app.baseUrl}/settings.html`);
      const pending = settings.locator('#recovery-pending-notice');
      await pending.waitFor({ state: 'visible' });
      const pendingText = ((await pending.textContent()) ?? '').replace(/\s+/g, ' ').trim();
      t.match(
        pendingText,
        /^Two-factor authentication will be turned off at .*; sign in with your second factor or use the mailed link to cancel it\.$/,
        'the settings say 2FA is going off, and how to stop it',
      );
      t.match(pendingText, withZone, 'the time with its zone');

      // The cancel link: its own page, one button.
      await page.goto('about:blank');
      await page.goto(cancelLink);
      const cancelForm = page.locator('#cancel-form');
      await cancelForm.waitFor({ state: 'visible' });
      t.equal(await page.textContent('h1'), 'Cancel turning off two-factor authentication', 'the heading');
      t.equal(page.url(), `${app.baseUrl}/recover.html`, 'the token is taken off the address bar');
      t.notOk(await page.locator('#recover-form').isVisible(), 'no password form');
      t.equal(await cancelForm.locator('button').count(), 1, 'one button');
      const cancelled = page.waitForResponse('**/2fa/recovery/cancel');
      await cancelForm.locator('button').click();
      t.equal((await cancelled).status(), 204, 'cancelled');
      const done = page.locator('#cancel-done');
      await done.waitFor({ state: 'visible' });
      t.equal(
        ((await done.textContent()) ?? '').replace(/\s+/g, ' ').trim(),
        'Two-factor authentication stays on. If you did not ask for this, change your password and your email password.',
        'the page says 2FA stays on',
      );
      await waitForMail(app.outboxDir, 'recovery-cancelled', max.email);
      t.pass('the "cancelled" notice is mailed');

      // The settings no longer show it.
      await settings.reload();
      await settings.locator('#manage').waitFor({ state: 'visible' });
      t.equal(await settings.textContent('#status-enabled'), 'on', '2FA is on');
      t.notOk(await pending.isVisible(), 'no pending removal in the settings');

      // The same link again: it no longer works.
      await page.goto('about:blank');
      await page.goto(cancelLink);
      await cancelForm.waitFor({ state: 'visible' });
      const refused = page.waitForResponse('**/2fa/recovery/cancel');
      await cancelForm.locator('button').click();
      t.equal((await refused).status(), 400);
      const error = page.locator('#cancel-error');
      await error.waitFor({ state: 'visible' });
      t.match(
        await error.textContent(),
        /^This cancel link no longer works: the removal was already cancelled or carried out\./,
        'a spent cancel link says so',
      );
      t.notOk(await done.isVisible());

      // Every notice is mailed but "scheduled", which the cancel link mail says already.
      const kinds = (await readdir(app.outboxDir)).map((name) =>
        name.replace(/^[^Z]*Z-|-[0-9a-f]+\.eml$/g, ''),
      );
      t.notOk(
        kinds.some((name) => name.includes('recovery-scheduled')),
        `no recovery-scheduled mail (${kinds.join(', ')})`,
      );
    },
  );

  await t.test('14. a remembered browser skips the code step until it is forgotten', async (t) => {
    const app = await sharedApp();
    const lu = await newTwoFactorAccount(app, 'lu');
    const { context, page } = await openPage(t, { locale: 'en-US', timezoneId: 'America/New_York' });
    const logOut = async () => {
      await page.click('#logout');
      await page.waitForURL('**/login.html');
    };

    // The second step with the box ticked (the next time step's code: the current one confirmed 2FA).
    await passwordStep(page, app, 'lu');
    const remember = page.locator('#remember-device');
    t.match(
      await page.locator('label:has(#remember-device)').textContent(),
      /Remember this browser \(no code needed here for a while\)/,
      'a "Remember this browser" box on the second step',
    );
    t.notOk(await remember.isChecked(), 'not ticked by default');
    await remember.check();
    const verified = page.waitForResponse('**/2fa/login/verify');
    await page.fill('#code', lu.phone.generate(Date.now() + 30_000).token);
    await page.click('#verify-form button[type="submit"]');
    const verify = await verified;
    t.equal(verify.status(), 200);
    t.equal(verify.request().postDataJSON().rememberDevice, true, 'rememberDevice: true is sent');
    t.notOk('deviceName' in verify.request().postDataJSON(), 'without a deviceName');
    await page.waitForURL(`${app.baseUrl}/`);
    const cookie = (await context.cookies(`${app.baseUrl}/2fa/login`)).find(
      (entry) => entry.name === 'twofold_device',
    );
    t.match(cookie, { httpOnly: true, path: '/2fa' }, 'the browser keeps the HttpOnly cookie');

    // Out and in again with the password only: signed in, no code step.
    await logOut();
    await page.fill('#username', 'lu');
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
    // The home page: with the code step asked, the page would stay on the login.
    await page.waitForURL(`${app.baseUrl}/`);
    t.pass('signed in without the code step');

    // The settings list this browser, with times in the page's zone; Forget it.
    await page.goto(`${app.baseUrl}/settings.html`);
    const section = page.locator('#devices-section');
    await section.waitFor({ state: 'visible' });
    t.equal(await section.locator('h2').textContent(), 'Remembered browsers');
    const rows = page.locator('#device-rows tr');
    await rows.first().waitFor();
    t.equal(await rows.count(), 1, 'one remembered browser');
    const cells = (await rows.first().locator('td').allTextContents()).map((text) => text.trim());
    t.equal(cells[0], 'Chrome on Linux', 'its name, from its User-Agent');
    for (const [index, what] of [
      [1, 'added'],
      [2, 'last used'],
      [3, 'trusted until'],
    ] as const) {
      t.match(cells[index], /\d{1,2}:\d{2}.*\b(EST|EDT)\b/, `${what}: a time with its zone`);
    }
    const forget = rows.first().getByRole('button', { name: /^Forget Chrome/ });
    t.equal(await forget.textContent(), 'Forget');
    const revoked = page.waitForResponse('**/2fa/devices/*/revoke');
    await forget.click();
    t.equal((await revoked).status(), 204, 'forgotten');
    await page.locator('#devices-notice').waitFor({ state: 'visible' });
    t.equal(await rows.count(), 0, 'the list is empty');
    t.ok(await page.locator('#devices-empty').isVisible(), 'and says so');

    // Out and in again: the code step is asked.
    await logOut();
    await passwordStep(page, app, 'lu');
    t.pass('the code step is asked again');
  });

  await t.test('the pages raised no script error', async (t) => {
    t.same(pageErrors, []);
  });
}

if (!existsSync(CHROMIUM)) {
  reportMissing(t, `the page tests need ${CHROMIUM} (apt-get install chromium)`);
} else {
  await pagesTest();
}
