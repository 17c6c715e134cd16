/**
 * The Fastify example over real HTTP, in-process on a free port with a temporary data folder: the
 * shared scenario (signup that never tells whether an address has an account, pages, /2fa end to
 * end, private files), the OpenAPI document and the docs page, and a log that holds none of the
 * passwords, codes or tokens the scenario used.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { generateKey } from '@twofold/core';
import { loadConfig } from '@twofold/example-web';
import { runHttpScenario } from '@twofold/example-web/http-scenario';
import t from 'tap';
import { buildApp } from '../src/app.js';

const dir = await mkdtemp(join(tmpdir(), 'twofold-fastify-example-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const logLines: string[] = [];
const logStream = new Writable({
  write(chunk, _encoding, callback) {
    logLines.push(String(chunk));
    callback();
  },
});
const config = loadConfig(
  { DATA_DIR: 'data', TWOFOLD_OUTBOX: 'outbox', PORT: '0', LOG_LEVEL: 'info', TWOFOLD_KEYS: generateKey() },
  dir,
  { issuer: 'twofold Fastify example' },
);
const { app } = await buildApp(config, { logStream });
t.teardown(() => app.close());
await app.listen({ host: '127.0.0.1', port: 0 });
const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

const secrets = await runHttpScenario(t, {
  baseUrl,
  outboxDir: config.outboxDir,
  dataDir: config.dataDir,
});

t.test('the OpenAPI document lists the /2fa routes and the example routes', async (t) => {
  const response = await fetch(`${baseUrl}/openapi.json`);
  t.equal(response.status, 200);
  const document = (await response.json()) as {
    openapi: string;
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
    components: { schemas: Record<string, unknown> };
  };
  t.match(document.openapi, /^3\./);
  for (const [path, method] of [
    ['/2fa/login', 'post'],
    ['/2fa/login/verify', 'post'],
    ['/2fa/token/refresh', 'post'],
    ['/2fa/token/revoke', 'post'],
    ['/2fa/totp/enroll', 'post'],
    ['/2fa/totp/confirm', 'post'],
    ['/2fa/totp/disable', 'post'],
    ['/2fa/recovery-codes/rotate', 'post'],
    ['/2fa/status', 'get'],
    ['/2fa/recovery/request', 'post'],
    ['/2fa/recovery/confirm', 'post'],
    ['/signup', 'post'],
    ['/signup/confirm', 'post'],
    ['/me', 'get'],
  ] as const) {
    t.ok(document.paths[path]?.[method], `${method.toUpperCase()} ${path}`);
  }
  const loginBody = document.paths['/2fa/login']?.post?.requestBody?.content['application/json']?.schema as {
    $ref: string;
  };
  t.match(
    document.components.schemas[loginBody.$ref.replace('#/components/schemas/', '')],
    { properties: { username: { type: 'string' }, password: { type: 'string' } } },
    'bodies are documented from the zod schemas',
  );
  t.notOk(document.paths['/openapi.json'], 'the document itself is hidden');

  const docs = await fetch(`${baseUrl}/docs`);
  t.equal(docs.status, 200, 'the docs page');
  t.match(await docs.text(), /swagger/i);
});

t.test('the log holds no password, code, recovery code or token, and names the mail files', async (t) => {
  const log = logLines.join('');
  t.match(log, /mail written to .*recovery-link/);
  for (const secret of secrets.values) {
    if (!secret || secret === 'undefined') continue;
    t.notOk(log.includes(secret), `a secret of ${secret.length} characters is not in the log`);
  }
});
