/**
 * The OpenAPI documents the two example apps serve at `/openapi.json`, and the kit's own document
 * with every route (security keys included), pass `@redocly/cli lint` with the recommended rules:
 * no error and no warning. The routes with a path parameter are there as `/authenticators/{id}/...`
 * with `id` a required path parameter. Both apps run in-process on a free port with a temporary
 * data folder; the documents are fetched over HTTP, written to a temporary file and linted by the
 * binary in node_modules/.bin.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createKeyring, memoryStore } from '@twofold/core';
import { createTwofoldHttp, openApiDocument } from '@twofold/core/http';
import t, { type Test } from 'tap';
import { buildApp as buildExpressApp } from '../../examples/express-app/src/app.js';
import { buildApp as buildFastifyApp } from '../../examples/fastify-app/src/app.js';
import { exampleConfig } from './example-apps.js';

const run = promisify(execFile);
const REDOCLY = fileURLToPath(new URL('../../node_modules/.bin/redocly', import.meta.url));

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location?: { pointer?: string }[] }[];
}

/** `redocly lint --extends=recommended` on `document`; its JSON report (it exits 1 on errors). */
async function lint(dir: string, name: string, document: unknown): Promise<LintReport> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(document, null, 2));
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  const result = await run(REDOCLY, ['lint', '--extends=recommended', '--format=json', file], {
    env,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string }) => {
    if (!error.stdout) throw new Error(`redocly did not run: ${error.stderr ?? String(error)}`);
    return { stdout: error.stdout };
  });
  return JSON.parse(result.stdout) as LintReport;
}

function check(t: Test, report: LintReport) {
  const warnings: LintReport['problems'] = [];
  for (const problem of report.problems) {
    const where = problem.location?.[0]?.pointer ?? '';
    const line = `${problem.severity} ${problem.ruleId} ${where}: ${problem.message}`;
    if (problem.severity === 'error') t.fail(line);
    else {
      t.comment(line);
      warnings.push(problem);
    }
  }
  t.equal(report.totals.errors, 0, 'no error');
  t.equal(report.totals.warnings, 0, 'no warning', { warnings: warnings.slice(0, 10) });
  t.comment(`redocly: ${report.totals.errors} errors, ${report.totals.warnings} warnings`);
}

type Paths = Record<
  string,
  Record<string, { parameters?: { name: string; in: string; required?: boolean }[] }>
>;

/** The authenticator routes are documented under `{id}`, `id` a required path parameter. */
function checkPathParameters(t: Test, document: { paths: Paths }) {
  const paths = Object.keys(document.paths);
  t.strictSame(
    paths.filter((path) => path.includes(':')),
    [],
    'no path in the Fastify/Express spelling (:id)',
  );
  for (const action of ['rename', 'remove']) {
    const operation = document.paths[`/2fa/authenticators/{id}/${action}`]?.post;
    t.ok(operation, `POST /2fa/authenticators/{id}/${action} is documented`);
    t.match(
      operation?.parameters,
      [{ name: 'id', in: 'path', required: true }],
      `${action}: id is a required path parameter`,
    );
  }
  t.ok(document.paths['/2fa/authenticators']?.get, 'GET /2fa/authenticators is documented');
}

const dir = await mkdtemp(join(tmpdir(), 'twofold-openapi-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const configOf = (name: string) => exampleConfig(dir, name);

t.test('the Fastify example', async (t) => {
  const { app } = await buildFastifyApp(configOf('fastify'), {
    logStream: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  t.teardown(() => app.close());
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(response.statusCode, 200);
  checkPathParameters(t, response.json());
  check(t, await lint(dir, 'fastify', response.json()));
});

t.test('the Express example', async (t) => {
  const { app, example } = await buildExpressApp(configOf('express'), () => {});
  t.teardown(() => example.close());
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/openapi.json`);
  t.equal(response.status, 200);
  const document = (await response.json()) as { paths: Paths };
  checkPathParameters(t, document);
  check(t, await lint(dir, 'express', document));
});

t.test("the kit's document with every route: security keys, recovery, login", async (t) => {
  const http = createTwofoldHttp({
    store: memoryStore(),
    keyring: createKeyring({ keys: { k1: new Uint8Array(32).fill(3) }, current: 'k1' }),
    issuer: 'OpenAPI lint',
    authenticate: async () => null,
    webauthn: { rpId: 'app.example.test', origins: ['https://app.example.test'] },
    recovery: {
      findUserByEmail: async () => null,
      getUserEmail: async () => null,
      verifyPassword: async () => false,
      sendMail: async () => {},
      linkUrl: 'https://app.example.test/recover',
    },
  });
  const document = openApiDocument(http, {
    info: { title: 'twofold', version: '1.0.0', license: { name: 'MIT', identifier: 'MIT' } },
    prefix: '/2fa',
  }) as { paths: Paths };
  for (const path of [
    '/2fa/webauthn/register/options',
    '/2fa/webauthn/register/verify',
    '/2fa/webauthn/authenticate/options',
    '/2fa/login/options',
  ]) {
    t.ok(document.paths[path]?.post, `POST ${path} is documented`);
  }
  t.equal(
    Object.values(document.paths).reduce((count, item) => count + Object.keys(item).length, 0),
    http.routes.length,
    'one operation per route',
  );
  checkPathParameters(t, document);
  check(t, await lint(dir, 'kit', document));
});
