/**
 * The OpenAPI document made from the route table: every route under its prefix, bearer security
 * where a user is needed, every status with its schema (the error shape for every error), unique
 * operationIds, declared tags, and the host's own paths.
 */
import t from 'tap';
import { HTTP_STATUS_BY_CODE, httpError } from '../src/http/errors.js';
import {
  ERROR_SCHEMA,
  type OpenApiObject,
  openApiDocument,
  openApiErrorResponse,
  openApiPath,
  routeErrorCodes,
} from '../src/http/openapi.js';
import { ERROR_BODY_JSON_SCHEMA } from '../src/http/schemas.js';
import { createTwofoldHttp, type HttpRoute, ROUTE_TAGS } from '../src/http/service.js';
import { memoryStore } from '../src/index.js';
import { testKeyring } from './helpers.js';

const recovery = {
  findUserByEmail: async () => null,
  getUserEmail: async () => null,
  verifyPassword: async () => false,
  sendMail: async () => {},
  linkUrl: 'https://app.example.test/recover',
};
const base = { store: memoryStore(), keyring: testKeyring(), issuer: 'Acme' };
const webauthn = { rpId: 'app.example.test', origins: ['https://app.example.test'] };
/** Bodies that may be left out: every field in them is optional. */
const OPTIONAL_BODIES: readonly (string | null)[] = [
  'optionalSecondFactor',
  'enroll',
  'webauthnRegisterOptions',
];
const info = { title: 'Acme', version: '1.0.0' };

interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  security: Record<string, string[]>[];
  parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { $ref: string } }> };
  responses: Record<
    string,
    {
      description: string;
      headers?: Record<string, unknown>;
      content?: Record<string, { schema: { $ref: string } }>;
    }
  >;
}
interface Document {
  openapi: string;
  info: Record<string, unknown>;
  servers: { url: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, OpenApiObject>; securitySchemes: Record<string, OpenApiObject> };
}

/** Every `$ref` anywhere in `value`. */
function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refs(item, found);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') found.push(item);
      else refs(item, found);
    }
  }
  return found;
}

t.test('every route, with its security, statuses, schemas, operationId and tag', async (t) => {
  const http = createTwofoldHttp({ ...base, authenticate: async () => null, recovery, webauthn });
  const document = openApiDocument(http, { info }) as unknown as Document;
  t.equal(document.openapi, '3.1.0');
  t.strictSame(document.servers, [{ url: '/', description: 'The server of this document' }]);
  t.equal(
    http.routes.length,
    24,
    'every route of the table (authenticators, security keys, login, tokens and recovery included)',
  );
  const withoutKeys = createTwofoldHttp({ ...base, authenticate: async () => null, recovery });
  t.strictSame(
    http.routes.filter((route) => !route.path.startsWith('/webauthn/')).map((route) => route.id),
    withoutKeys.routes.map((route) => route.id),
    'without the webauthn option: the same routes but the three security key ones',
  );

  const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
  t.equal(operations.length, http.routes.length, 'no operation that is not a route');
  const operationIds = new Set<string>();
  for (const route of http.routes) {
    const operation = document.paths[`/2fa${openApiPath(route.path)}`]?.[route.method.toLowerCase()];
    if (!t.ok(operation, `${route.method} /2fa${route.path}`) || !operation) continue;
    if (route.path.includes(':id')) {
      t.match(
        operation.parameters,
        [
          {
            name: 'id',
            in: 'path',
            required: true,
            schema: { type: 'string', minLength: 1, maxLength: 255 },
          },
        ],
        `${route.id}: the path parameter`,
      );
      t.equal(operation.parameters?.length, 1, `${route.id}: one parameter`);
    } else t.notOk(operation.parameters, `${route.id}: no parameter`);
    t.equal(operation.operationId, route.operationId, `${route.id}: operationId`);
    t.notOk(operationIds.has(route.operationId), `${route.id}: operationId unique`);
    operationIds.add(route.operationId);
    t.strictSame(operation.tags, [route.tag], `${route.id}: tag`);
    t.equal(operation.summary, route.summary, `${route.id}: summary`);
    t.strictSame(
      operation.security,
      route.auth === 'none' ? [] : [{ bearerAuth: [] }],
      `${route.id}: bearer security exactly where a user is needed`,
    );

    if (route.body === null || route.body === 'empty') t.notOk(operation.requestBody, `${route.id}: no body`);
    else {
      t.equal(
        operation.requestBody?.content['application/json']?.schema.$ref,
        `#/components/schemas/${route.body.charAt(0).toUpperCase()}${route.body.slice(1)}Body`,
        `${route.id}: body schema`,
      );
      t.equal(
        operation.requestBody?.required,
        !OPTIONAL_BODIES.includes(route.body),
        `${route.id}: required`,
      );
    }

    for (const [status, response] of Object.entries(operation.responses)) {
      t.ok(response.description, `${route.id} ${status}: description`);
      if (status === '204') {
        t.notOk(response.content, `${route.id} 204: no body`);
        continue;
      }
      const schema = response.content?.['application/json']?.schema;
      t.ok(schema?.$ref, `${route.id} ${status}: a schema`);
      if (Number(status) >= 400) {
        t.equal(
          schema?.$ref,
          `#/components/schemas/${ERROR_SCHEMA}`,
          `${route.id} ${status}: the error shape`,
        );
      }
    }
    for (const status of Object.keys(route.responses)) {
      t.ok(operation.responses[status], `${route.id}: success ${status}`);
    }
    for (const code of routeErrorCodes(http, route)) {
      const response = operation.responses[String(HTTP_STATUS_BY_CODE[code])];
      t.match(response?.description, `\`${code}\``, `${route.id}: ${code} under its status`);
    }
    t.ok(operation.responses['429']?.headers?.['Retry-After'], `${route.id}: 429 with Retry-After`);
    t.ok(operation.responses['500'] && operation.responses['503'], `${route.id}: 500 and 503`);
    if (route.auth !== 'none') t.ok(operation.responses['401'], `${route.id}: 401`);
    if (route.body !== null) {
      t.ok(operation.responses['400'] && operation.responses['413'] && operation.responses['415']);
    }
  }

  for (const ref of refs(document)) {
    const name = ref.replace('#/components/schemas/', '');
    t.ok(document.components.schemas[name], `${ref} resolves`);
  }
  const used = new Set(refs(document.paths).map((ref) => ref.replace('#/components/schemas/', '')));
  t.strictSame(Object.keys(document.components.schemas).sort(), [...used].sort(), 'no unused schema');
  t.strictSame(Object.keys(document.components.securitySchemes), ['bearerAuth']);
  t.match(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' });
  t.strictSame(
    document.tags.map((tag) => tag.name).sort(),
    Object.keys(ROUTE_TAGS).sort(),
    'every tag declared with its description',
  );
  for (const tag of document.tags) t.ok(tag.description, `${tag.name}: description`);
});

t.test('the error schema is the body the plugins send', async (t) => {
  const body = httpError('TWOFOLD_INVALID_CODE', 'The code is not valid').body as unknown as Record<
    string,
    unknown
  >;
  t.strictSame(Object.keys(body).sort(), [...ERROR_BODY_JSON_SCHEMA.required].sort());
  for (const [field, schema] of Object.entries(ERROR_BODY_JSON_SCHEMA.properties)) {
    t.equal(typeof body[field], schema.type === 'integer' ? 'number' : schema.type, field);
  }
});

t.test('options: prefix, servers, host paths and tags, getUserId, no rate limit', async (t) => {
  const getUserId = () => 'u1';
  const http = createTwofoldHttp({ ...base, getUserId, rateLimit: false });
  t.equal(http.routes.length, 8, 'without authenticate and recovery: the 2FA routes only');
  const me = {
    get: {
      operationId: 'getMe',
      tags: ['Accounts'],
      summary: 'The signed-in account',
      security: [{ cookieAuth: [] }],
      responses: { '200': { description: 'The account' }, '401': openApiErrorResponse('Unauthorized') },
    },
  };
  const document = openApiDocument(http, {
    info,
    prefix: '/auth/2fa',
    servers: [{ url: 'https://api.example.test' }],
    paths: { '/me': me },
    tags: [{ name: 'Accounts', description: 'The host' }],
    securitySchemes: { cookieAuth: { type: 'apiKey', in: 'cookie', name: 'sid' } },
  }) as unknown as Document;
  t.strictSame(document.servers, [{ url: 'https://api.example.test' }]);
  t.strictSame(Object.keys(document.paths).sort(), [
    '/auth/2fa/authenticators',
    '/auth/2fa/authenticators/{id}/remove',
    '/auth/2fa/authenticators/{id}/rename',
    '/auth/2fa/recovery-codes/rotate',
    '/auth/2fa/status',
    '/auth/2fa/totp/confirm',
    '/auth/2fa/totp/disable',
    '/auth/2fa/totp/enroll',
    '/me',
  ]);
  t.strictSame(document.paths['/me'], me, "the host's path as it is");
  t.equal(document.tags[0]?.name, 'Accounts', "the host's tags first");
  t.ok(document.components.securitySchemes.cookieAuth);
  const status = document.paths['/auth/2fa/status']!.get!;
  t.strictSame(status.security, [], "with getUserId, the host's session: no bearer by default");
  t.notOk(status.responses['429'], 'no rate limit, no 429');
  t.match(document.paths['/auth/2fa/totp/confirm']!.post!.responses['429']?.description, 'TWOFOLD_LOCKED');
  t.notMatch(document.paths['/auth/2fa/totp/confirm']!.post!.responses['429']?.description, 'RATE_LIMITED');

  const withCookie = openApiDocument(http, {
    info,
    userSecurity: [{ cookieAuth: [] }],
  }) as unknown as Document;
  t.strictSame(withCookie.paths['/2fa/status']!.get!.security, [{ cookieAuth: [] }], 'userSecurity');
});

t.test('a path or an operationId twice is refused', async (t) => {
  const http = createTwofoldHttp({ ...base, authenticate: async () => null });
  t.throws(() => openApiDocument(http, { info, paths: { '/2fa/status': {} } }), {
    name: 'TypeError',
    message: /\/2fa\/status is one of the kit's/,
  });
  t.throws(
    () =>
      openApiDocument(http, {
        info,
        paths: { '/me': { get: { operationId: 'login', responses: {} } } },
      }),
    { name: 'TypeError', message: /operationId "login"/ },
  );
  const twice = { routes: [...http.routes, http.routes[0] as HttpRoute], options: http.options };
  t.throws(() => openApiDocument(twice, { info }), { message: /POST \/2fa\/totp\/enroll is there twice/ });
});
