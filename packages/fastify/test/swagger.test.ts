/**
 * The routes document themselves: @fastify/swagger lists every kit route with its summary, tag,
 * operationId, security, the JSON Schema of its body (the same zod schemas that validate it) and
 * every status it answers, the errors with their shape; a path parameter (`:id`) as OpenAPI's `{id}`.
 * The same operations as `openApiDocument`; with OpenAPI 3.1 (the JSON Schema of the bodies is
 * 2020-12), the document @fastify/swagger makes passes `@redocly/cli lint --extends=recommended`
 * without an error or a warning.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import swagger from '@fastify/swagger';
import {
  bodyJsonSchema,
  ERROR_BODY_JSON_SCHEMA,
  HTTP_STATUS_BY_CODE,
  routeErrorCodes,
} from '@twofold/core/http';
import Fastify from 'fastify';
import t from 'tap';
import twofold, { openApiSecuritySchemes } from '../src/index.js';
import { kitOptions } from './helpers.js';

const REDOCLY = fileURLToPath(new URL('../../../node_modules/.bin/redocly', import.meta.url));

t.test('the OpenAPI document lists every route with its body schema', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'host', version: '1.0.0', license: { name: 'MIT', identifier: 'MIT' } },
      servers: [{ url: 'https://api.example.test' }],
      components: { securitySchemes: { ...openApiSecuritySchemes } },
    },
  });
  await app.register(
    twofold,
    kitOptions(undefined, {
      webauthn: { rpId: 'app.example.test', origins: ['https://app.example.test'] },
      recovery: {
        findUserByEmail: async () => null,
        getUserEmail: async () => null,
        verifyPassword: async () => false,
        sendMail: async () => {},
        linkUrl: 'https://app.example.test/recover',
      },
    }),
  );
  await app.ready();
  const document = app.swagger() as {
    paths: Record<
      string,
      Record<
        string,
        {
          summary?: string;
          operationId?: string;
          tags?: string[];
          security?: Record<string, string[]>[];
          parameters?: { name: string; in: string; required?: boolean; schema?: { type?: string } }[];
          requestBody?: { content: Record<string, { schema: unknown }> };
          responses?: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
        }
      >
    >;
  };
  const routes = app.twofold.http.routes;
  const ids = routes.map((route) => route.id);
  for (const id of [
    'login',
    'login.options',
    'recovery.confirm',
    'status',
    'authenticators.list',
    'authenticators.rename',
    'authenticators.remove',
    'webauthn.register.options',
    'webauthn.register.verify',
    'webauthn.authenticate.options',
  ]) {
    t.ok(ids.includes(id), `${id} is a route (${ids.length} routes)`);
  }
  for (const route of routes) {
    // OpenAPI spells a path parameter `{id}` where the route table (and Fastify) say `:id`.
    const path = `/2fa${route.path.replace(/:([A-Za-z]\w*)/g, '{$1}')}`;
    const operation = document.paths[path]?.[route.method.toLowerCase()];
    t.ok(operation, `${route.method} ${path} is documented`);
    if (!operation) continue;
    const names = [...route.path.matchAll(/:([A-Za-z]\w*)/g)].map((match) => match[1]);
    t.strictSame(
      (operation.parameters ?? []).filter((parameter) => parameter.in === 'path').map((p) => p.name),
      names,
      `${route.id}: path parameters ${names.join(', ') || 'none'}`,
    );
    for (const parameter of operation.parameters ?? []) {
      t.match(
        parameter,
        { in: 'path', required: true, schema: { type: 'string' } },
        `${route.id}: ${parameter.name} is a required string`,
      );
    }
    t.equal(operation.summary, route.summary, `${route.id}: summary`);
    t.equal(operation.operationId, route.operationId, `${route.id}: operationId`);
    t.strictSame(operation.tags, [route.tag], `${route.id}: tag`);
    t.strictSame(
      operation.security,
      route.auth === 'none' ? [] : [{ bearerAuth: [] }],
      `${route.id}: bearer security where a user is needed`,
    );
    for (const [status, success] of Object.entries(route.responses)) {
      const response = operation.responses?.[status];
      t.ok(response, `${route.id}: ${status} documented`);
      if (success.body)
        t.ok(response?.content?.['application/json']?.schema, `${route.id}: ${status} schema`);
      else t.equal(response?.content, undefined, `${route.id}: ${status} has no body`);
    }
    for (const code of routeErrorCodes(app.twofold.http, route)) {
      const response = operation.responses?.[String(HTTP_STATUS_BY_CODE[code])];
      t.match(response?.description, code, `${route.id}: ${code} documented`);
    }
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (Number(status) < 400) continue;
      t.match(
        response.content?.['application/json']?.schema,
        { properties: { code: { type: 'string' } }, required: ERROR_BODY_JSON_SCHEMA.required },
        `${route.id}: ${status} has the error shape`,
      );
    }
    t.ok(operation.responses?.['500'] && operation.responses['503'], `${route.id}: 500 and 503`);
    if (route.body === null || route.body === 'empty') {
      t.equal(operation.requestBody, undefined, `${route.id}: no body`);
      continue;
    }
    const schema = operation.requestBody?.content['application/json']?.schema as Record<string, unknown>;
    const expected = bodyJsonSchema(route.body) as { properties: Record<string, unknown> };
    t.strictSame(
      Object.keys(schema.properties as object).sort(),
      Object.keys(expected.properties).sort(),
      `${route.id}: fields`,
    );
    t.equal(schema.additionalProperties, false, `${route.id}: unknown fields refused`);
  }
  const login = document.paths['/2fa/login']?.post?.requestBody?.content['application/json']?.schema as {
    required: string[];
  };
  t.strictSame([...login.required].sort(), ['password', 'username'], 'required fields documented');

  const dir = await mkdtemp(join(tmpdir(), 'twofold-swagger-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'openapi.json');
  await writeFile(file, JSON.stringify(document));
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
  const { stdout } = await promisify(execFile)(
    REDOCLY,
    ['lint', '--extends=recommended', '--format=json', file],
    { env, maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    if (!error.stdout) throw new Error(`redocly did not run: ${error.stderr ?? String(error)}`);
    return { stdout: error.stdout };
  });
  const report = JSON.parse(stdout) as {
    totals: { errors: number; warnings: number };
    problems: { ruleId: string; severity: string; message: string }[];
  };
  t.equal(report.totals.errors, 0, 'redocly: no error', {
    problems: report.problems.filter((problem) => problem.severity === 'error').slice(0, 10),
  });
  const warnings = report.problems.filter((problem) => problem.severity !== 'error');
  t.equal(report.totals.warnings, 0, 'redocly: no warning', { problems: warnings.slice(0, 10) });
  t.comment(`redocly: ${report.totals.errors} errors, ${report.totals.warnings} warnings`);
});

t.test(
  'Fastify does not validate the body itself: a number code reaches the engine as a wrong code',
  async (t) => {
    const app = Fastify();
    t.teardown(() => app.close());
    await app.register(twofold, kitOptions());
    await app.ready();
    // The JSON Schema says `code` is a string; Fastify would answer a 400 FST_ERR_VALIDATION if it
    // validated it. The zod layer lets it through to the engine, which counts it as a failure.
    const login = await app.inject({
      method: 'POST',
      url: '/2fa/login/verify',
      payload: { challengeToken: 'not-a-token', code: 123456 },
    });
    t.equal(login.json().code, 'TWOFOLD_INVALID_CHALLENGE');
  },
);
