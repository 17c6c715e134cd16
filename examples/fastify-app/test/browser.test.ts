/**
 * The Fastify example in a real browser, as a person uses it. The app runs as its own process
 * (`src/main.ts`, like `pnpm start`) on a free port with a temporary data folder and no
 * TWOFOLD_KEYS, so it generates its development keyring. Chromium (/usr/bin/chromium, driven by
 * playwright-core) plays the person; the phone is played by real tools: zbarimg reads the QR code
 * from a screenshot of the page and oathtool computes the codes from the secret in it.
 *
 * Covered: sign up (check your mail, open the link, create the account, log in); sign up with a
 * taken address (the same page, a warning mail to its owner, no account); enable 2FA (QR, manual
 * key, confirm, recovery codes); log out (the session is revoked); log in with a replayed code
 * (refused) and then a fresh one; log in with a recovery code; disable with a recovery code; enable
 * again and recover by email (outbox mail, link, password); every file written is private.
 * Screenshots go to examples/fastify-app/artifacts/browser/ (gitignored).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkPrivate } from '@twofold/example-web/http-scenario';
import { missing as reportMissing } from '@twofold/test-support';
import { type Browser, chromium } from 'playwright-core';
import t, { type Test } from 'tap';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const EXAMPLE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const ARTIFACTS = join(EXAMPLE_DIR, 'artifacts', 'browser');
const PASSWORD = 'correct horse battery staple';
const STEP_MS = 30_000;

const missing = [
  existsSync(CHROMIUM) ? null : `${CHROMIUM} (apt-get install chromium)`,
  spawnSync('zbarimg', ['--version']).status === 0 ? null : 'zbarimg (apt-get install zbar-tools)',
  spawnSync('oathtool', ['--version']).status === 0 ? null : 'oathtool (apt-get install oathtool)',
].filter((entry): entry is string => entry !== null);

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `src/main.ts` as `pnpm start` would; resolves once it listens. Everything it prints is kept. */
async function startExample(env: Record<string, string>) {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const name of ['TWOFOLD_KEYS', 'PUBLIC_URL', 'STORE', 'REDIS_URL', 'DATABASE_URL', 'NODE_ENV']) {
    delete childEnv[name];
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@twofold/source', 'src/main.ts'], {
    cwd: EXAMPLE_DIR,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr.on('data', (chunk) => {
    output += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let attempt = 0; attempt < 600 && !output.includes('Server listening at'); attempt++) {
    const done = await Promise.race([exited.then(() => true), sleep(100).then(() => false)]);
    if (done) throw new Error(`the example exited before listening:\n${output}`);
  }
  if (!output.includes('Server listening at')) throw new Error(`the example did not start:\n${output}`);
  return {
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** What the phone shows: oathtool's TOTP code for the step that contains `timeMs`. */
async function codeAt(secret: string, timeMs: number): Promise<string> {
  const { stdout } = await run('oathtool', ['--totp', '-b', '-N', `@${Math.floor(timeMs / 1000)}`, secret]);
  return stdout.trim();
}

const stepOf = (timeMs: number) => Math.floor(timeMs / STEP_MS);

/** Waits (bounded) for a new mail of `kind` in the outbox; its text. */
async function waitForMail(outbox: string, kind: string, seen: Set<string>): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const files = await readdir(outbox).catch(() => [] as string[]);
    const fresh = files.find((file) => file.includes(kind) && !seen.has(file));
    if (fresh) {
      seen.add(fresh);
      return readFile(join(outbox, fresh), 'utf8');
    }
    await sleep(50);
  }
  throw new Error(`no "${kind}" mail arrived`);
}

async function browserTest(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-browser-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await rm(ARTIFACTS, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  const outbox = join(dir, 'outbox');
  const dataDir = join(dir, 'data');
  const port = await freePort();
  // The app's address as users see it: PUBLIC_URL's default, http://localhost:PORT (the links in the
  // mails name it; security keys work only there). Node's own requests go to the listening address.
  const baseUrl = `http://localhost:${port}`;
  const serverUrl = `http://127.0.0.1:${port}`;

  const app = await startExample({
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    TWOFOLD_OUTBOX: outbox,
    LOG_LEVEL: 'info',
  });
  t.teardown(() => app.stop());

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 900, height: 1200 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  let shot = 0;
  const screenshot = async (name: string) => {
    const file = join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  t.comment(`screenshots: ${ARTIFACTS}`);

  const secrets: string[] = [PASSWORD];
  const mails = new Set<string>();

  /** Enrolls from the enable page: reads the QR code from a screenshot, confirms, returns what it saw. */
  async function enable(t: Test, label: string) {
    await page.goto(`${baseUrl}/enable.html`);
    await page.click('#start-enroll');
    await page.locator('#qr').waitFor({ state: 'visible' });
    // The page runs in the browser: its expressions are strings here (no DOM types in this project).
    // Polled from here: page.waitForFunction with a string evals in the page once it has to poll,
    // which the page's CSP forbids (no 'unsafe-eval'); page.evaluate does not.
    for (let tries = 0; tries < 100; tries++) {
      const loaded = await page.evaluate(
        "document.querySelector('#qr')?.complete && document.querySelector('#qr').naturalWidth > 0",
      );
      if (loaded) break;
      await sleep(50);
    }
    const file = await screenshot(`${label}-qr`);
    const { stdout } = await run('zbarimg', ['--raw', '-q', file]);
    const uri = stdout.trim();
    t.match(uri, /^otpauth:\/\/totp\//, 'zbarimg reads an otpauth URI from the screenshot');
    const parsed = new URL(uri);
    t.match(decodeURIComponent(parsed.pathname), /:ada$/, 'the account name is the username');
    t.equal(parsed.searchParams.get('issuer'), 'twofold Fastify example');
    const secret = parsed.searchParams.get('secret')!;
    secrets.push(secret);
    const shown = (await page.textContent('#secret'))!.replace(/\s+/g, '');
    t.equal(shown, secret, 'the key for manual entry is the secret in the QR code');

    const confirmedAt = Date.now();
    const code = await codeAt(secret, confirmedAt);
    secrets.push(code);
    await page.fill('#code', code);
    await page.click('#confirm-form button[type="submit"]');
    await page.locator('#recovery-codes-section').waitFor({ state: 'visible' });
    const recoveryCodes = (await page.locator('#recovery-codes li').allTextContents()).map((text) =>
      text.trim(),
    );
    t.equal(recoveryCodes.length, 10, 'ten recovery codes are shown');
    t.equal(await page.getAttribute('#qr', 'src'), null, 'the QR code is gone once confirmed');
    secrets.push(...recoveryCodes);
    await screenshot(`${label}-recovery-codes`);
    return { secret, code, confirmedStep: stepOf(confirmedAt), recoveryCodes };
  }

  async function tokensInPage(): Promise<{ accessToken: string; refreshToken: string } | null> {
    return page.evaluate("JSON.parse(sessionStorage.getItem('twofold-example.tokens') ?? 'null')");
  }

  async function logOut(t: Test) {
    const tokens = await tokensInPage();
    t.ok(tokens, 'signed in before logging out');
    secrets.push(tokens!.accessToken, tokens!.refreshToken);
    await page.click('#logout');
    await page.waitForURL('**/login.html');
    t.equal(await tokensInPage(), null, 'the tokens are gone from the page');
    const refresh = await fetch(`${serverUrl}/2fa/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: tokens!.refreshToken }),
    });
    t.equal(refresh.status, 401, 'the session was revoked on the server');
  }

  async function passwordStep() {
    await page.goto(`${baseUrl}/login.html`);
    await page.fill('#username', 'ada');
    await page.fill('#password', PASSWORD);
    await page.click('#login-form button[type="submit"]');
  }

  async function expectHome(t: Test) {
    await page.waitForURL(`${baseUrl}/`);
    await page.locator('#who').filter({ hasText: 'ada' }).waitFor();
    t.equal(await page.textContent('#who'), 'ada', 'the home page shows the signed-in user');
  }

  let first: Awaited<ReturnType<typeof enable>>;

  let signupNotice = '';
  await t.test('sign up: check your mail, open the link, create the account, log in', async (t) => {
    await page.goto(`${baseUrl}/signup.html`);
    await screenshot('signup');
    await page.fill('#username', 'ada');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('#signup-form button[type="submit"]');
    await page.locator('#signup-done').waitFor({ state: 'visible' });
    signupNotice = (await page.textContent('#signup-done'))!;
    t.match(signupNotice, /Check your mail/, 'the page says to check the mail');
    t.equal(await tokensInPage(), null, 'not signed in: there is no account yet');
    await screenshot('signup-check-mail');

    const mail = await waitForMail(outbox, 'signup-confirm', mails);
    const link = /(http\S+\/confirm-signup\.html#token=\S+)/.exec(mail)?.[1];
    t.ok(link?.startsWith(`${baseUrl}/confirm-signup.html#token=`), 'the mail links to this app');
    secrets.push(new URLSearchParams(new URL(link!).hash.slice(1)).get('token')!);
    await page.goto(link!);
    await page.locator('#confirm-signup-form').waitFor({ state: 'visible' });
    t.equal(page.url(), `${baseUrl}/confirm-signup.html`, 'the token is taken off the address bar');
    await screenshot('confirm-signup');
    await page.click('#confirm-signup-form button[type="submit"]');
    await page.locator('#confirm-signup-done').waitFor({ state: 'visible' });
    t.equal(await page.textContent('#new-username'), 'ada');
    await screenshot('signup-confirmed');

    await passwordStep();
    await expectHome(t);
    t.ok(await tokensInPage(), 'signed in with the new account');
    t.match(await page.textContent('#status-summary'), /off/);
    t.match(app.output(), /DEVELOPMENT KEYRING GENERATED/, 'the development keyring was generated, loudly');
    t.ok(existsSync(join(dataDir, '.twofold-dev-keys')), 'into DATA_DIR/.twofold-dev-keys');
    await logOut(t);
  });

  await t.test('sign up with a taken address: the same page, a warning mail, no account', async (t) => {
    await page.goto(`${baseUrl}/signup.html`);
    await page.fill('#username', 'mallory');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'mallory password');
    await page.click('#signup-form button[type="submit"]');
    await page.locator('#signup-done').waitFor({ state: 'visible' });
    t.equal(await page.textContent('#signup-done'), signupNotice, 'exactly what a new address gets');
    await screenshot('signup-taken-address');
    const warning = await waitForMail(outbox, 'signup-attempt', mails);
    t.match(warning, /^To: ada@example\.com$/m);
    t.ok(warning.includes(`log in as "ada" at ${baseUrl}/login.html`), 'the mail says how to log in');

    await page.goto(`${baseUrl}/login.html`);
    await page.fill('#username', 'mallory');
    await page.fill('#password', 'mallory password');
    await page.click('#login-form button[type="submit"]');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    t.pass('no account "mallory" was created');
  });

  await t.test('enable 2FA: QR code scanned from the screenshot, code from oathtool', async (t) => {
    await passwordStep();
    await expectHome(t);
    first = await enable(t, 'enable');
    await page.click('#done');
    await page.waitForURL('**/settings.html');
    await page.locator('#status-enabled').filter({ hasText: 'on' }).waitFor();
    t.equal(await page.textContent('#status-remaining'), '10');
    await screenshot('settings-on');
  });

  await t.test('log out', async (t) => {
    await logOut(t);
  });

  await t.test('log in: a replayed code is refused, a fresh one is accepted', async (t) => {
    await passwordStep();
    await page.locator('#verify-form').waitFor({ state: 'visible' });
    await screenshot('login-second-step');

    await page.fill('#code', first.code);
    await page.click('#verify-form button[type="submit"]');
    await page.locator('#verify-error').waitFor({ state: 'visible' });
    t.match(
      await page.textContent('#verify-error'),
      /code/i,
      'the code that confirmed enrollment is refused',
    );
    await screenshot('login-replay-refused');

    // The next step after the one spent (the +1 step window accepts it), or the current one if later.
    const step = Math.max(first.confirmedStep + 1, stepOf(Date.now()));
    const fresh = await codeAt(first.secret, step * STEP_MS);
    secrets.push(fresh);
    await page.fill('#code', fresh);
    await page.click('#verify-form button[type="submit"]');
    await expectHome(t);
    t.match(await page.textContent('#status-summary'), /on; 10 recovery codes left/);
    await screenshot('home-after-code');
    await logOut(t);
  });

  await t.test('log in with a recovery code', async (t) => {
    await passwordStep();
    await page.locator('#verify-form').waitFor({ state: 'visible' });
    await page.click('#use-recovery');
    await page.fill('#recovery-code', first.recoveryCodes[0]!);
    await page.click('#verify-form button[type="submit"]');
    await expectHome(t);
    await page.locator('#status-summary').filter({ hasText: '9 recovery codes left' }).waitFor();
    t.pass('one recovery code is spent');
    await screenshot('home-after-recovery-code');
  });

  await t.test('disable 2FA from the settings, with another recovery code', async (t) => {
    await page.goto(`${baseUrl}/settings.html`);
    await page.locator('#manage').waitFor({ state: 'visible' });
    await page.fill('#disable-recovery-code', first.recoveryCodes[1]!);
    await page.click('#disable-form button[type="submit"]');
    await page.locator('#disabled-notice').waitFor({ state: 'visible' });
    await page.locator('#status-enabled').filter({ hasText: 'off' }).waitFor();
    t.ok(await page.locator('#not-enabled').isVisible(), 'the page offers to turn it on again');
    await screenshot('settings-off');
  });

  await t.test(
    'lost device: enable again, then recover by email with the link and the password',
    async (t) => {
      const second = await enable(t, 're-enable');
      await page.click('#done');
      await page.waitForURL('**/settings.html');

      // New recovery codes, with the code of the step after the one that confirmed.
      const code = await codeAt(
        second.secret,
        Math.max(second.confirmedStep + 1, stepOf(Date.now())) * STEP_MS,
      );
      secrets.push(code);
      await page.fill('#rotate-code', code);
      await page.click('#rotate-form button[type="submit"]');
      await page.locator('#new-codes-section').waitFor({ state: 'visible' });
      const rotated = (await page.locator('#new-recovery-codes li').allTextContents()).map((text) =>
        text.trim(),
      );
      secrets.push(...rotated);
      t.equal(rotated.length, 10, 'ten new recovery codes');
      t.notOk(
        rotated.some((entry) => second.recoveryCodes.includes(entry)),
        'none of them is an old one',
      );
      await screenshot('settings-rotated');
      await logOut(t);

      await page.goto(`${baseUrl}/lost-device.html`);
      await page.fill('#email', 'ada@example.com');
      await page.click('#lost-form button[type="submit"]');
      await page.locator('#lost-done').waitFor({ state: 'visible' });
      await screenshot('lost-device-sent');

      const mail = await waitForMail(outbox, 'recovery-link', mails);
      const link = /(http\S+\/recover\.html#uid=\S+)/.exec(mail)?.[1];
      t.ok(link?.startsWith(`${baseUrl}/recover.html#uid=`), 'the mail links to this app');
      secrets.push(new URLSearchParams(new URL(link!).hash.slice(1)).get('token')!);

      await page.goto(link!);
      await page.locator('#recover-form').waitFor({ state: 'visible' });
      t.equal(page.url(), `${baseUrl}/recover.html`, 'the token is taken off the address bar');
      await page.fill('#password', PASSWORD);
      await page.click('#recover-form button[type="submit"]');
      await page.locator('#recover-done').waitFor({ state: 'visible' });
      await screenshot('recovered');
      t.match(
        await waitForMail(outbox, 'recovery-completed', mails),
        /turned off/,
        'a confirmation mail is sent',
      );

      await passwordStep();
      await expectHome(t);
      t.match(await page.textContent('#status-summary'), /off/, 'the password alone logs in now');
      await screenshot('home-2fa-off');
    },
  );

  await t.test('nothing secret reached the log, and the pages raised no script error', async (t) => {
    const output = app.output();
    t.match(output, /mail written to .*recovery-link/, 'the log names the mail file');
    for (const secret of secrets) {
      // A code is digits: look for it as a whole number, not inside a timestamp.
      const found = /^\d+$/.test(secret)
        ? new RegExp(`(?<!\\d)${secret}(?!\\d)`).test(output)
        : output.includes(secret);
      t.notOk(found, `a secret of ${secret.length} characters is not in the output`);
    }
    t.same(pageErrors, []);
  });

  await t.test('every file the app wrote is mode 600, every folder it made 700', async (t) => {
    const seen = await checkPrivate(t, [dataDir, outbox]);
    for (const name of [join('pglite', 'PG_VERSION'), '.twofold-dev-keys']) {
      t.ok(seen.includes(join(dataDir, name)), `${name} was checked`);
    }
    t.ok(
      seen.some((path) => path.startsWith(join(dataDir, 'pglite', 'base', '/'))),
      "and PGlite's table files",
    );
  });
}

if (missing.length > 0) {
  reportMissing(t, `the browser test needs ${missing.join(', ')}`);
} else {
  await browserTest();
}
