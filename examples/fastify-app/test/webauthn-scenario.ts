/**
 * Security keys on the example pages, end to end in Chromium (/usr/bin/chromium driven by
 * playwright-core) with a virtual authenticator of the DevTools protocol (`WebAuthn.*`): the
 * browser's real WebAuthn code answers the kit's options, only the key itself is simulated.
 *
 * One app per test file (PGlite takes its time to start): `webauthn-pages.test.ts` of the Fastify
 * example and of the Express example each start theirs and run {@link webauthnPagesTest}. The app
 * runs in-process on a free port; the pages are opened at http://localhost:PORT, PUBLIC_URL's
 * default, since security keys work only on the relying party's domain (localhost here).
 *
 * Steps: sign up through the pages (the mailed link from the outbox); log in; add a security key
 * on the settings page (2FA turns on, the recovery codes are shown once); log out; log in with the
 * key; list the authenticators; add an authenticator app, which asks for a fresh second factor
 * (the step-up dialog, answered with the key); rename the key; remove it with a code from the app;
 * the list then holds only the app, and the next login offers no key. Then, in other tabs: a
 * browser without WebAuthn's JSON support is told so, and an address other than localhost says
 * where keys work. No script error, no CSP violation, throughout.
 *
 * The server's clock: the kit reads `Date.now` (its `clock` option defaults to it), so this module
 * puts its own in place and moves it past the step-up age (5 minutes) to make the app ask again.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { generateKey } from '@twofold/core';
import { type Example, type ExampleConfig, loadConfig } from '@twofold/example-web';
import { waitForMail } from '@twofold/example-web/http-scenario';
import { Totp } from '@twofold/otp';
import { missing as reportMissing } from '@twofold/test-support';
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core';
import type { Test } from 'tap';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';
const TOKENS_KEY = 'twofold-example.tokens';

/** What a test file gives: how to build its app and listen on `port` (127.0.0.1). */
export interface WebAuthnPagesApp {
  kind: 'fastify' | 'express';
  start(config: ExampleConfig, port: number): Promise<{ example: Example; close(): Promise<void> }>;
}

// The server's clock (see above): real time plus an offset the test moves.
let clockOffsetMs = 0;
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + clockOffsetMs;

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The rows of the authenticator table: name, type, added, last used. */
async function tableRows(page: Page): Promise<string[][]> {
  return page.evaluate(`[...document.querySelectorAll('#authenticator-rows tr')].map((row) =>
    [...row.querySelectorAll('td')].slice(0, 4).map((cell) => cell.textContent.trim()))`);
}

/** The `amr` of the access token the page holds. */
async function amrInPage(page: Page): Promise<string[]> {
  const tokens: { accessToken: string } = await page.evaluate(
    `JSON.parse(sessionStorage.getItem('${TOKENS_KEY}'))`,
  );
  const payload = JSON.parse(Buffer.from(tokens.accessToken.split('.')[1]!, 'base64url').toString('utf8'));
  return payload.amr as string[];
}

async function credentialsOf(cdp: CDPSession, authenticatorId: string) {
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  return credentials;
}

export async function webauthnPagesTest(t: Test, app: WebAuthnPagesApp): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    reportMissing(t, `the security key pages test needs ${CHROMIUM} (apt-get install chromium)`);
    return;
  }
  const timings: string[] = [];
  const started = performance.now();
  const lap = (what: string, since: number) => {
    timings.push(`${what} ${((performance.now() - since) / 1000).toFixed(1)} s`);
    return performance.now();
  };

  const dir = await mkdtemp(join(tmpdir(), `twofold-webauthn-${app.kind}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const config = loadConfig(
    {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: 'data',
      TWOFOLD_OUTBOX: 'outbox',
      LOG_LEVEL: 'silent',
      TWOFOLD_KEYS: generateKey(),
    },
    dir,
    { issuer: `twofold ${app.kind} example` },
  );
  const baseUrl = `http://localhost:${port}`;
  t.equal(config.publicUrl, baseUrl, 'PUBLIC_URL defaults to http://localhost:PORT');
  t.same(config.webauthn, { rpId: 'localhost', origins: [baseUrl] }, 'security keys are on, for localhost');
  const running = await app.start(config, port);
  t.teardown(() => running.close());
  let since = lap('app start', started);

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());
  const problems: string[] = [];
  const watch = (page: Page, where: string) => {
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => problems.push(`${where}: ${error.message}`));
    // Console errors, but for the browser's note on each answer 4xx (the pages expect some).
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(`${where}: console: ${message.text()}`);
      }
    });
  };

  const context = await browser.newContext({ viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  watch(page, 'main tab');
  // The security key: a virtual CTAP2 authenticator on USB that keeps discoverable credentials,
  // verifies the user (a PIN or a fingerprint) and is touched as soon as it is asked.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'usb',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const mails = new Set<string>();

  const passwordStep = async () => {
    await page.goto(`${baseUrl}/login.html`);
    await page.fill('#username', 'kim');
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
  };
  const logOut = async () => {
    await page.click('#logout');
    await page.waitForURL('**/login.html');
  };
  const expectHome = async () => {
    await page.waitForURL(`${baseUrl}/`);
    await page.locator('#who').filter({ hasText: 'kim' }).waitFor();
  };
  let phone: Totp | undefined;
  /** The app's next code: the clock moves on a step first (the kit refuses a step used already). */
  const nextCode = () => {
    clockOffsetMs += 30_000;
    return phone!.generate(Date.now()).token;
  };

  await t.test('sign up and log in through the pages', async (t) => {
    await page.goto(`${baseUrl}/signup.html`);
    await page.fill('#username', 'kim');
    await page.fill('#email', 'kim@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('#signup-form button[type="submit"]');
    await page.locator('#signup-done').waitFor({ state: 'visible' });
    const mail = await waitForMail(config.outboxDir, 'signup-confirm', mails);
    const link = /(http\S+\/confirm-signup\.html#token=\S+)/.exec(mail)?.[1];
    t.ok(link?.startsWith(`${baseUrl}/confirm-signup.html#token=`), 'the mail links to PUBLIC_URL');
    await page.goto(link!);
    await page.click('#confirm-signup-form button[type="submit"]');
    await page.locator('#confirm-signup-done').waitFor({ state: 'visible' });
    await passwordStep();
    await expectHome();
    t.match(await page.textContent('#status-summary'), /is off/);
  });

  await t.test('add a security key: 2FA turns on and the recovery codes are shown once', async (t) => {
    await page.goto(`${baseUrl}/settings.html`);
    await page.locator('#not-enabled').waitFor({ state: 'visible' });
    t.notOk(await page.locator('#webauthn-unsupported').isVisible(), 'Chromium has what the page needs');
    t.notOk(await page.locator('#authenticators-section').isVisible(), 'no authenticators yet');
    await page.fill('#key-name', 'YubiKey');
    const verified = page.waitForResponse('**/2fa/webauthn/register/verify');
    await page.click('#add-key');
    t.equal((await verified).status(), 201, 'the key answered and the kit took it');
    await page.locator('#key-codes-section').waitFor({ state: 'visible' });
    const codes = (await page.locator('#key-recovery-codes li').allTextContents()).map((code) => code.trim());
    t.equal(codes.length, 10, 'ten recovery codes');
    // The page moves the focus once it has refreshed the account's status (a request after the codes
    // are shown): wait for it, then read where the focus is. Polled from here: page.waitForFunction
    // with a string evals in the page once it has to poll, which the page's CSP forbids (no
    // 'unsafe-eval'), so it failed whenever the focus had not moved at its first look.
    for (let tries = 0; tries < 100; tries++) {
      if ((await page.evaluate('document.activeElement?.id')) === 'key-codes-title') break;
      await delay(50);
    }
    t.equal(await page.evaluate('document.activeElement?.id'), 'key-codes-title', 'focus moves to them');
    await page.locator('#status-enabled').filter({ hasText: 'on' }).waitFor();
    t.equal(await page.textContent('#status-remaining'), '10');
    t.ok(await page.locator('#authenticators-section').isVisible(), 'the list is shown');
    const rows = await tableRows(page);
    t.equal(rows.length, 1, 'one authenticator');
    t.equal(rows[0]![0], 'YubiKey', 'with the name given');
    t.match(rows[0]![1], /^(Security key|Passkey)$/, 'a security key');
    t.match(rows[0]![2], /\d{1,2}:\d{2}/, 'added: a time');
    t.equal(rows[0]![3], 'never', 'never used yet');
    const stored = await credentialsOf(cdp, authenticatorId);
    t.equal(stored.length, 1, 'the virtual key holds one credential');
    t.equal(stored[0]?.rpId, 'localhost', "for the app's relying party id");
    t.same(await amrInPage(page), ['pwd', 'hwk', 'mfa'], 'the session goes on with fresh tokens');
    await logOut();
  });

  await t.test('log in with the security key', async (t) => {
    await passwordStep();
    await page.locator('#verify-form').waitFor({ state: 'visible' });
    t.ok(await page.locator('#use-key').isVisible(), '"Use your security key" is offered');
    t.notOk(await page.locator('#code-field').isVisible(), 'no code field: the account has no app');
    t.ok(await page.locator('#use-recovery').isVisible(), 'a recovery code is offered too');
    t.equal(await page.evaluate('document.activeElement?.id'), 'use-key', 'the key button has the focus');
    const verified = page.waitForResponse('**/2fa/login/verify');
    await page.click('#use-key');
    t.equal((await verified).status(), 200);
    await expectHome();
    t.match(await page.textContent('#status-summary'), /is on; 10 recovery codes left/);
    t.match(await page.textContent('#status-summary'), /a security key or passkey/);
    t.match(await amrInPage(page), ['pwd', /^(hwk|swk)$/, 'mfa'], 'the session says a key was used');
  });

  await t.test('the settings list the key, now used', async (t) => {
    await page.goto(`${baseUrl}/settings.html`);
    await page.locator('#authenticators-section').waitFor({ state: 'visible' });
    const rows = await tableRows(page);
    t.equal(rows.length, 1);
    t.match(rows[0]![3], /\d{1,2}:\d{2}/, 'last used: a time');
    t.ok(await page.locator('#rotate-with-key').isVisible(), 'recovery codes can be replaced with the key');
    t.notOk(await page.locator('#rotate-code').isVisible(), 'no app, no code field');
    t.ok(await page.locator('#disable-with-key').isVisible(), '2FA can be turned off with the key');
  });

  await t.test('add an authenticator app: a fresh factor first (the key), then the QR code', async (t) => {
    // Later than the step-up age (5 minutes) after the login: adding an authenticator asks again.
    clockOffsetMs = 6 * 60_000;
    await page.click('#add-app');
    await page.waitForURL('**/enable.html');
    await page.fill('#app-name', 'Phone');
    const refused = page.waitForResponse('**/2fa/totp/enroll');
    await page.click('#start-enroll');
    const first = await refused;
    t.equal(first.status(), 401, 'the kit wants a recent second factor');
    t.match(await first.json(), { code: 'TWOFOLD_STEP_UP_REQUIRED' });
    const dialog = page.locator('#step-up');
    await dialog.waitFor({ state: 'visible' });
    t.ok(await page.locator('#step-up-with-key').isVisible(), 'the dialog offers the key');
    t.notOk(await page.locator('#step-up-code').isVisible(), 'and no app code (there is no app yet)');
    const steppedUp = page.waitForResponse('**/2fa/step-up');
    await page.click('#step-up-with-key');
    t.equal((await steppedUp).status(), 200, 'the key proved it');
    await page.locator('#enroll-scan').waitFor({ state: 'visible' });
    t.notOk(await dialog.isVisible(), 'the dialog is closed');
    const secret = ((await page.textContent('#secret')) ?? '').replace(/\s+/g, '');
    phone = new Totp({ secret });
    await page.fill('#code', phone.generate(Date.now()).token);
    await page.click('#confirm-form button[type="submit"]');
    await page.locator('#app-added').waitFor({ state: 'visible' });
    t.equal(await page.textContent('#added-name'), 'Phone');
    t.notOk(await page.locator('#recovery-codes-section').isVisible(), 'no new recovery codes: 2FA was on');
  });

  await t.test('the list holds both; rename the key', async (t) => {
    await page.goto(`${baseUrl}/settings.html`);
    await page.locator('#authenticators-section').waitFor({ state: 'visible' });
    let rows = await tableRows(page);
    t.same(
      rows.map((row) => [row[0], row[1]]),
      [
        ['YubiKey', rows[0]![1]],
        ['Phone', 'Authenticator app'],
      ],
      'the key and the app, oldest first',
    );
    t.equal(await page.textContent('#status-remaining'), '10', 'the recovery codes are unchanged');
    await page.click('button[aria-label="Rename YubiKey"]');
    await page.locator('#rename-form').waitFor({ state: 'visible' });
    t.equal(await page.inputValue('#rename-name'), 'YubiKey', 'the form holds the current name');
    await page.fill('#rename-name', 'Blue YubiKey');
    await page.click('#rename-form button[type="submit"]');
    await page.locator('#settings-notice').filter({ hasText: 'Blue YubiKey' }).waitFor();
    t.notOk(await page.locator('#rename-form').isVisible(), 'the form is closed');
    rows = await tableRows(page);
    t.equal(rows[0]![0], 'Blue YubiKey', 'renamed in the list');
  });

  await t.test('remove the key with a code from the app; the list is checked', async (t) => {
    await page.click('button[aria-label="Remove Blue YubiKey"]');
    await page.locator('#remove-form').waitFor({ state: 'visible' });
    t.match(await page.textContent('#remove-title'), /Blue YubiKey/);
    t.notOk(await page.locator('#remove-last').isVisible(), 'not the last one: 2FA stays on');
    t.ok(await page.locator('#remove-with-key').isVisible(), 'the key could confirm it too');
    const wrong = page.waitForResponse('**/remove');
    await page.fill('#remove-code', '000000');
    await page.click('#remove-form button[type="submit"]');
    t.equal((await wrong).status(), 400, 'a wrong code is refused');
    await page.locator('#remove-error').waitFor({ state: 'visible' });
    t.equal(await page.getAttribute('#remove-error', 'role'), 'alert', 'and said so aloud');
    await page.fill('#remove-code', nextCode());
    const removed = page.waitForResponse('**/remove');
    await page.click('#remove-form button[type="submit"]');
    t.equal((await removed).status(), 204, 'removed; 2FA stays on');
    await page.locator('#settings-notice').filter({ hasText: 'removed' }).waitFor();
    t.notOk(await page.locator('#remove-form').isVisible(), 'the form is closed');
    const rows = await tableRows(page);
    t.same(
      rows.map((row) => [row[0], row[1]]),
      [['Phone', 'Authenticator app']],
      'only the app is left',
    );
    t.equal(await page.textContent('#status-enabled'), 'on');
    t.notOk(await page.locator('#rotate-with-key').isVisible(), 'no key to use any more');
    t.ok(await page.locator('#rotate-code').isVisible(), "the app's code field instead");
  });

  await t.test('the next login offers no key', async (t) => {
    await logOut();
    await passwordStep();
    await page.locator('#verify-form').waitFor({ state: 'visible' });
    t.notOk(await page.locator('#key-field').isVisible(), 'no "Use your security key"');
    t.ok(await page.locator('#code-field').isVisible(), 'the code from the app');
  });
  since = lap('journey', since);

  await t.test('a browser without the JSON methods is told so', async (t) => {
    const other = await browser.newContext();
    t.teardown(() => other.close());
    await other.addInitScript('delete PublicKeyCredential.parseCreationOptionsFromJSON');
    const tab = await other.newPage();
    watch(tab, 'no JSON support');
    await tab.goto(`${baseUrl}/login.html`);
    await tab.fill('#username', 'kim');
    await tab.fill('#password', PASSWORD);
    await tab.click('#login-form button[type="submit"]');
    await tab.locator('#verify-form').waitFor({ state: 'visible' });
    await tab.fill('#code', nextCode());
    await tab.click('#verify-form button[type="submit"]');
    await tab.waitForURL(`${baseUrl}/`);
    await tab.goto(`${baseUrl}/settings.html`);
    await tab.locator('#webauthn-unsupported').waitFor({ state: 'visible' });
    t.match(await tab.textContent('#webauthn-unsupported'), /cannot use security keys/);
    t.ok(await tab.locator('#add-key').isDisabled(), '"Add a security key" is disabled');
  });

  await t.test('another address than localhost says where security keys work', async (t) => {
    const other = await browser.newContext();
    t.teardown(() => other.close());
    const tab = await other.newPage();
    watch(tab, '127.0.0.1');
    const serverUrl = `http://127.0.0.1:${port}`;
    await tab.goto(`${serverUrl}/login.html`);
    await tab.fill('#username', 'kim');
    await tab.fill('#password', PASSWORD);
    await tab.click('#login-form button[type="submit"]');
    await tab.locator('#verify-form').waitFor({ state: 'visible' });
    await tab.fill('#code', nextCode());
    await tab.click('#verify-form button[type="submit"]');
    await tab.waitForURL(`${serverUrl}/`);
    await tab.goto(`${serverUrl}/settings.html`);
    await tab.locator('#authenticators-section').waitFor({ state: 'visible' });
    // A fresh login: no step-up needed, the options come, and the page stops before the browser.
    await tab.click('#add-key');
    await tab.locator('#add-key-error').waitFor({ state: 'visible' });
    t.match(
      await tab.textContent('#add-key-error'),
      `Security keys work on this site only at localhost: open http://localhost:${port}/settings.html`,
    );
  });
  lap('other tabs', since);

  await t.test('no script error and no CSP violation on any page', async (t) => {
    t.same(problems, []);
    t.comment(`timings: ${timings.join(', ')}`);
  });
}
