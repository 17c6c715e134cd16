/**
 * The Express example over real HTTP, in-process on a free port with a temporary data folder: the
 * shared scenario (signup that never tells whether an address has an account, pages, /2fa end to
 * end, private files) and a log without secrets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '@twofold/core';
import { loadConfig } from '@twofold/example-web';
import { runHttpScenario } from '@twofold/example-web/http-scenario';
import t from 'tap';
import { buildApp } from '../src/app.js';

const dir = await mkdtemp(join(tmpdir(), 'twofold-express-example-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const logLines: string[] = [];
const config = loadConfig(
  { DATA_DIR: 'data', TWOFOLD_OUTBOX: 'outbox', PORT: '0', TWOFOLD_KEYS: generateKey() },
  dir,
  { issuer: 'twofold Express example' },
);
const { app, example } = await buildApp(config, (level, message, fields) =>
  logLines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
);
const server = createServer(app);
t.teardown(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await example.close();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const secrets = await runHttpScenario(t, {
  baseUrl,
  outboxDir: config.outboxDir,
  dataDir: config.dataDir,
});

t.test('unknown paths answer a JSON 404', async (t) => {
  const response = await fetch(`${baseUrl}/no-such-page`);
  t.equal(response.status, 404);
  t.match(await response.json(), { statusCode: 404, code: 'NOT_FOUND' });
});

t.test('the log holds no password, code, recovery code or token, and names the mail files', async (t) => {
  const log = logLines.join('\n');
  t.match(log, /mail written to .*recovery-link/);
  for (const secret of secrets.values) {
    if (!secret || secret === 'undefined') continue;
    t.notOk(log.includes(secret), `a secret of ${secret.length} characters is not in the log`);
  }
});
