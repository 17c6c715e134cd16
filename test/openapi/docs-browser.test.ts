/**
 * Swagger UI at `/docs` of both example apps, in a real browser: the page loads under its
 * Content-Security-Policy with no violation, "Authorize" takes an access token obtained through
 * the API (signup, the mailed link, POST /2fa/login), and "Try it out" on GET /2fa/status then
 * answers 200 in the page. Without the token the same call answers 401 there. A route with a path
 * parameter, POST /2fa/authenticators/{id}/rename, takes the id from its field: an unknown one
 * answers the kit's 404 TWOFOLD_NOT_FOUND in the page (the route was reached, not a missing one).
 *
 * Each app runs in-process on a free port with a temporary data folder; Chromium
 * (/usr/bin/chromium, driven by playwright-core) is the browser. Under CI a missing Chromium fails.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingSkip } from '@twofold/test-support';
import { type Browser, chromium, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { buildApp as buildExpressApp } from '../../examples/express-app/src/app.js';
import { buildApp as buildFastifyApp } from '../../examples/fastify-app/src/app.js';
import type { ExampleConfig } from '../../examples/web/src/index.js';
import { signupToken, waitForMail } from '../../examples/web/test/http-scenario.js';
import { exampleConfig } from './example-apps.js';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';

const skip = existsSync(CHROMIUM)
  ? false
  : missingSkip(t, `${CHROMIUM} not found (apt-get install chromium)`);

const dir = await mkdtemp(join(tmpdir(), 'twofold-docs-browser-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const configOf = (name: string) => exampleConfig(dir, name);

async function post(baseUrl: string, path: string, body: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** An account made through the API (signup, the mailed link) and its access token from POST /2fa/login. */
async function accessToken(t: Test, baseUrl: string, config: ExampleConfig): Promise<string> {
  const signup = await post(baseUrl, '/signup', {
    username: 'docs',
    email: 'docs@example.test',
    password: PASSWORD,
  });
  t.equal(signup.status, 202, 'signed up');
  const token = signupToken(await waitForMail(config.outboxDir, 'signup-confirm', new Set()));
  t.equal((await post(baseUrl, '/signup/confirm', { token })).status, 201, 'account created');
  const login = await post(baseUrl, '/2fa/login', { username: 'docs', password: PASSWORD });
  t.equal(login.status, 200, 'logged in');
  t.equal(login.body.twoFactorRequired, false);
  return login.body.accessToken as string;
}

/** Opens GET /2fa/status, "Try it out", "Execute"; the status and body the page shows. */
async function tryStatus(page: Page): Promise<{ status: string; body: string }> {
  const operation = page.locator('.opblock-get', { has: page.locator('[data-path="/2fa/status"]') });
  if (!(await operation.locator('.try-out').isVisible())) {
    await operation.locator('.opblock-summary-control').click();
  }
  const tryOut = operation.locator('button.try-out__btn');
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click();
  await operation.locator('button.execute').click();
  const row = operation.locator('.live-responses-table tbody tr').first();
  await row.waitFor();
  const status = (await row.locator('.response-col_status').textContent())?.trim() ?? '';
  const body = (await row.locator('.response-col_description').textContent()) ?? '';
  await operation.locator('button.btn-clear').click();
  return { status, body };
}

/** Opens POST /2fa/authenticators/{id}/rename, fills the id and the body, "Execute": status and body. */
async function tryRename(page: Page, id: string): Promise<{ status: string; body: string }> {
  const operation = page.locator('.opblock-post', {
    has: page.locator('[data-path="/2fa/authenticators/{id}/rename"]'),
  });
  await operation.locator('.opblock-summary-control').click();
  await operation.locator('button.try-out__btn').click();
  await operation.locator('tr[data-param-name="id"] input').fill(id);
  await operation.locator('textarea.body-param__text').fill('{"name":"Work phone"}');
  await operation.locator('button.execute').click();
  const row = operation.locator('.live-responses-table tbody tr').first();
  await row.waitFor();
  const status = (await row.locator('.response-col_status').textContent())?.trim() ?? '';
  const body = (await row.locator('.response-col_description').textContent()) ?? '';
  return { status, body };
}

async function driveDocs(t: Test, browser: Browser, baseUrl: string, token: string) {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  const external: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(baseUrl)) external.push(request.url());
  });

  const response = await page.goto(`${baseUrl}/docs`);
  t.equal(response?.status(), 200, '/docs answers');
  t.match(response?.headers()['content-security-policy'], /script-src|default-src 'self'/, 'with a CSP');
  await page.locator('.swagger-ui .info .title').waitFor();
  t.match(await page.locator('.swagger-ui .info .title').textContent(), /twofold (Fastify|Express) example/);
  await page.locator('[data-path="/2fa/status"]').first().waitFor();

  const refused = await tryStatus(page);
  t.match(refused.status, /^401/, 'without a token: 401');
  t.match(refused.body, /TWOFOLD_UNAUTHORIZED/);

  await page.locator('.auth-wrapper button.authorize').click();
  const dialog = page.locator('.modal-ux');
  await dialog.locator('input[type="text"], input[type="password"]').first().fill(token);
  await dialog.locator('button.authorize').click();
  await dialog.locator('button.btn-done, button.close-modal').first().click();

  const answer = await tryStatus(page);
  t.match(answer.status, /^200/, 'authorized: GET /2fa/status answers 200 in the page');
  t.match(answer.body, /"enabled": false/, 'with the 2FA state of the account');

  const renamed = await tryRename(page, 't_no-such-id');
  t.match(renamed.status, /^404/, 'POST /2fa/authenticators/{id}/rename with an unknown id: 404');
  t.match(renamed.body, /TWOFOLD_NOT_FOUND/);
  t.match(renamed.body, /No authenticator/, "the route's own answer: the id reached it");

  t.strictSame(
    // The browser reports the refused calls above (401, then 404) as failed loads.
    problems.filter((problem) => !problem.includes('401') && !/status of 404/.test(problem)),
    [],
    'no page error and no CSP violation',
  );
  t.strictSame(external, [], 'nothing is fetched from elsewhere');
}

t.test('Swagger UI authorizes and calls an authenticated route', { skip }, async (t) => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());

  t.test('the Fastify example', async (t) => {
    const config = configOf('fastify');
    const { app } = await buildFastifyApp(config, {
      logStream: { write: () => true } as unknown as NodeJS.WritableStream,
    });
    t.teardown(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    await driveDocs(t, browser, baseUrl, await accessToken(t, baseUrl, config));
  });

  t.test('the Express example', async (t) => {
    const config = configOf('express');
    const { app, example } = await buildExpressApp(config, () => {});
    t.teardown(() => example.close());
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await driveDocs(t, browser, baseUrl, await accessToken(t, baseUrl, config));
  });
});
