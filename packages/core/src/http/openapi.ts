/**
 * The OpenAPI 3.1 document of the kit's routes, made from the one route table (`service.ts`): each
 * route's summary, tag, operationId, body schema, success answers and the codes of its own refusals
 * are there; the refusals of the plumbing (body, access token, rate limit, server, store) follow
 * here from the route's other fields and the options. Both plugins serve the same routes, so one
 * document fits both; a host adds its own routes with `paths`.
 */
import { HTTP_STATUS_BY_CODE, httpError, RateLimitedError, type TwofoldHttpErrorCode } from './errors.js';
import type { ResolvedHttpOptions } from './options.js';
import {
  type BodySchemaName,
  bodyJsonSchema,
  ERROR_BODY_JSON_SCHEMA,
  type ResponseSchemaName,
  responseJsonSchemas,
} from './schemas.js';
import { type HttpRoute, ROUTE_TAGS, type RouteTag } from './service.js';

/** A JSON object of the document (OpenAPI objects are plain JSON). */
export type OpenApiObject = Record<string, unknown>;

/** An OpenAPI security requirement: scheme name to scopes. */
export type SecurityRequirement = Record<string, string[]>;

/** The name of the kit's bearer scheme in `components.securitySchemes`. */
export const BEARER_SCHEME = 'bearerAuth';

/** The security of the routes that take the kit's access token: `[{ bearerAuth: [] }]`. */
export const BEARER_SECURITY: readonly SecurityRequirement[] = Object.freeze([{ [BEARER_SCHEME]: [] }]);

/**
 * The kit's security scheme, for `components.securitySchemes`: the access token of `POST /login`
 * (or `/login/verify`) as `Authorization: Bearer <accessToken>`. A host that documents the kit's
 * routes through @fastify/swagger adds this to its own `components.securitySchemes`.
 */
export const openApiSecuritySchemes = Object.freeze({
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The `accessToken` of POST /login (or POST /login/verify when the account has 2FA)',
  },
} as const);

/** The name of the error body's schema in `components.schemas`: `{ statusCode, code, error, message }`. */
export const ERROR_SCHEMA = 'Error';

/** A `$ref` to a schema of `components.schemas`. */
export const schemaRef = (name: string): OpenApiObject => ({ $ref: `#/components/schemas/${name}` });

/**
 * An error response in the kit's shape, for a host's own routes in `paths`:
 * `{ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }`.
 */
export function openApiErrorResponse(description: string): OpenApiObject {
  return { description, content: { 'application/json': { schema: schemaRef(ERROR_SCHEMA) } } };
}

/** What each code means, for the descriptions of the error responses. */
const CODE_MEANINGS: Readonly<Record<TwofoldHttpErrorCode, string>> = {
  TWOFOLD_INVALID_INPUT: 'the body is not valid; the message names the field',
  TWOFOLD_INVALID_CODE: 'the code, recovery code or security key answer is wrong, malformed or already used',
  TWOFOLD_INVALID_REGISTRATION:
    'the security key answer does not verify, its options expired or were used, or the key is registered already',
  TWOFOLD_AUTHENTICATOR_LIMIT: 'the account has as many authenticators as allowed: remove one first',
  TWOFOLD_INVALID_RECOVERY_TOKEN: 'the recovery link (or the password) is not valid',
  TWOFOLD_INVALID_CREDENTIALS: 'the username or the password is wrong (at POST /step-up: the password)',
  TWOFOLD_UNAUTHORIZED: 'no valid access token (`Authorization: Bearer <accessToken>`), or no signed-in user',
  TWOFOLD_INVALID_TOKEN: 'the token is not valid, has expired, or its session has ended',
  TWOFOLD_INVALID_CHALLENGE:
    'the challenge token is not valid, has expired, was used, or has no attempts left',
  TWOFOLD_STEP_UP_REQUIRED: 'the second factor is too old: get a fresh token from POST /step-up',
  TWOFOLD_ENROLLMENT_REQUIRED:
    'this account must use 2FA and its grace period is over: the session may only set it up (POST /totp/enroll...)',
  TWOFOLD_NOT_FOUND: 'no such route, or no authenticator of this user with that id',
  TWOFOLD_ALREADY_ENABLED: '2FA is on already',
  TWOFOLD_NOT_PENDING: 'no pending enrollment (none was started, or it expired)',
  TWOFOLD_NOT_ENABLED: '2FA is off',
  TWOFOLD_PAYLOAD_TOO_LARGE: 'the body is too large',
  TWOFOLD_UNSUPPORTED_MEDIA_TYPE:
    'the body is not JSON (`Content-Type: application/json`) in UTF-8, uncompressed',
  TWOFOLD_LOCKED: 'too many wrong codes: the account is locked for a while (`Retry-After`)',
  TWOFOLD_RATE_LIMITED: 'too many requests from this address to this route (`Retry-After`)',
  TWOFOLD_INTERNAL: 'an unexpected failure, logged on the server',
  TWOFOLD_UNKNOWN_KEY: 'a secret is sealed with a key the keyring no longer has',
  TWOFOLD_SEAL_BROKEN: 'a sealed secret does not open',
  TWOFOLD_STORE_UNAVAILABLE: 'the store (or the shared rate-limit store) failed: nothing changed, try again',
};

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Whole seconds to wait before trying again',
    schema: { type: 'integer', minimum: 1 },
  },
};

/** What the document needs of the HTTP layer: its routes and options (`app.twofold.http`, `router.http`). */
export interface OpenApiSource {
  readonly routes: readonly HttpRoute[];
  readonly options: Pick<ResolvedHttpOptions, 'getUserId' | 'rateLimit' | 'bodyLimit'> & {
    /** With a mandatory-2FA policy, routes that do not enroll can answer 403 TWOFOLD_ENROLLMENT_REQUIRED. */
    readonly policy?: unknown;
    readonly prefix?: string | undefined;
  };
}

export interface OpenApiDocumentOptions {
  /** The document's `info`: `title` and `version` at least; a `license` keeps linters quiet. */
  info: { title: string; version: string } & OpenApiObject;
  /** Where the API is (default `[{ url: '/' }]`: the origin that serves the document). */
  servers?: readonly ({ url: string } & OpenApiObject)[];
  /**
   * Where the kit's routes are: the Fastify plugin's `prefix` (its default, `/2fa`, when the options
   * have one); on Express, where the router is mounted (`app.use('/2fa', router)`: `'/2fa'`).
   */
  prefix?: string;
  /**
   * The host's own routes, as OpenAPI path items, added as they are. They may use
   * `openApiErrorResponse(...)`, `schemaRef('Error')` and `BEARER_SECURITY`.
   */
  paths?: Readonly<Record<string, OpenApiObject>>;
  /** The host's own tags (with their descriptions), listed before the kit's. */
  tags?: readonly ({ name: string } & OpenApiObject)[];
  /** The host's own schemas, added to `components.schemas`. */
  schemas?: Readonly<Record<string, OpenApiObject>>;
  /** The host's own security schemes, added to `components.securitySchemes`. */
  securitySchemes?: Readonly<Record<string, OpenApiObject>>;
  /**
   * The security of the routes that need a signed-in user, when the host's `getUserId` finds the
   * user (its own session: a cookie, say; add its scheme with `securitySchemes`). Default: none
   * listed with `getUserId`, the kit's bearer token without it.
   */
  userSecurity?: readonly SecurityRequirement[];
}

/** The name of a body's schema in the document: `login` → `LoginBody`. */
export const bodySchemaComponent = (name: BodySchemaName): string => `${pascal(name)}Body`;

/** The name of a success body's schema in the document: `tokenPair` → `TokenPair`. */
export const responseSchemaComponent = (name: ResponseSchemaName): string => pascal(name);

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** How an operation refers to the schemas: by `$ref` (the document), or inline (@fastify/swagger). */
export type SchemaStyle = 'ref' | 'inline';

/** The security of `route` (`[]`: none needed). */
export function routeSecurity(
  source: OpenApiSource,
  route: HttpRoute,
  userSecurity?: readonly SecurityRequirement[],
): SecurityRequirement[] {
  if (route.auth === 'none') return [];
  if (route.auth === 'token') return BEARER_SECURITY.map((requirement) => ({ ...requirement }));
  const security = userSecurity ?? (source.options.getUserId ? [] : BEARER_SECURITY);
  return security.map((requirement) => ({ ...requirement }));
}

/**
 * Every code `route` can answer: its own (the route table's `errors`), and the plumbing's: 400, 413
 * and 415 for a body, 401 for a user (and 403 for a session that may only enroll, under a
 * mandatory-2FA policy), 429 for the rate limit, 500, and 503 for the store.
 */
export function routeErrorCodes(source: OpenApiSource, route: HttpRoute): TwofoldHttpErrorCode[] {
  const codes: TwofoldHttpErrorCode[] = [];
  if (route.body !== null) codes.push('TWOFOLD_INVALID_INPUT');
  if (route.auth !== 'none') codes.push('TWOFOLD_UNAUTHORIZED');
  if (route.auth !== 'none' && !route.enrollment && source.options.policy)
    codes.push('TWOFOLD_ENROLLMENT_REQUIRED');
  codes.push(...route.errors);
  if (route.body !== null) codes.push('TWOFOLD_PAYLOAD_TOO_LARGE', 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE');
  if (source.options.rateLimit) codes.push(RateLimitedError.code);
  codes.push('TWOFOLD_INTERNAL', 'TWOFOLD_STORE_UNAVAILABLE');
  return [...new Set(codes)];
}

/** The error responses of `route` by status: every code of that status in its description. */
export function routeErrorResponses(
  source: OpenApiSource,
  route: HttpRoute,
  style: SchemaStyle = 'ref',
): Record<string, OpenApiObject> {
  const byStatus = new Map<number, TwofoldHttpErrorCode[]>();
  for (const code of routeErrorCodes(source, route)) {
    const status = HTTP_STATUS_BY_CODE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, OpenApiObject> = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const codes = byStatus.get(status)!;
    const meaning = (code: TwofoldHttpErrorCode) =>
      code === 'TWOFOLD_PAYLOAD_TOO_LARGE'
        ? `the body is over ${source.options.bodyLimit} bytes`
        : CODE_MEANINGS[code];
    const reason = httpError(codes[0]!, '').body.error;
    const description = [`${reason}:`, ...codes.map((code) => `- \`${code}\`: ${meaning(code)}`)].join('\n');
    const schema = style === 'ref' ? schemaRef(ERROR_SCHEMA) : { ...ERROR_BODY_JSON_SCHEMA };
    responses[String(status)] = {
      description,
      ...(status === 429 ? { headers: RETRY_AFTER } : {}),
      content: { 'application/json': { schema } },
    };
  }
  return responses;
}

/** The success responses of `route`, by status. */
export function routeSuccessResponses(
  route: HttpRoute,
  style: SchemaStyle = 'ref',
): Record<string, OpenApiObject> {
  const responses: Record<string, OpenApiObject> = {};
  for (const [status, success] of Object.entries(route.responses)) {
    const body = success.body;
    const schema =
      body === undefined
        ? undefined
        : style === 'ref'
          ? schemaRef(responseSchemaComponent(body))
          : structuredClone(responseJsonSchemas[body]);
    responses[status] = {
      description: success.description,
      ...(schema ? { content: { 'application/json': { schema } } } : {}),
    };
  }
  return responses;
}

/** Whether a route's body may be left out: no body at all is the same as `{}`. */
const optionalBody = (name: BodySchemaName) =>
  name === 'empty' ||
  name === 'optionalSecondFactor' ||
  name === 'enroll' ||
  name === 'webauthnRegisterOptions';

/** The path parameters of a route path (`/authenticators/:id/rename` has `id`). */
export function routePathParameters(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z]\w*)/g)].map((match) => match[1]!);
}

/** A route path in OpenAPI's spelling: `:id` becomes `{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z]\w*)/g, '{$1}');
}

/** The OpenAPI operation of `route`. */
export function openApiOperation(
  source: OpenApiSource,
  route: HttpRoute,
  options: { style?: SchemaStyle; userSecurity?: readonly SecurityRequirement[] } = {},
): OpenApiObject {
  const style = options.style ?? 'ref';
  const operation: OpenApiObject = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: routeSecurity(source, route, options.userSecurity),
  };
  const parameters = routePathParameters(route.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    description: name === 'id' ? 'The id of one of your authenticators (GET /authenticators)' : name,
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  }));
  if (parameters.length > 0) operation.parameters = parameters;
  // `empty` (POST /totp/enroll) takes no body worth documenting: `{}` or none at all.
  if (route.body !== null && route.body !== 'empty') {
    const schema = style === 'ref' ? schemaRef(bodySchemaComponent(route.body)) : bodyJsonSchema(route.body);
    operation.requestBody = {
      required: !optionalBody(route.body),
      content: { 'application/json': { schema } },
    };
  }
  operation.responses = {
    ...routeSuccessResponses(route, style),
    ...routeErrorResponses(source, route, style),
  };
  return operation;
}

/**
 * The OpenAPI 3.1 document of the kit's routes under `prefix`, plus the host's `paths`: bearer
 * security on the routes that need a user, every status with its schema (errors included),
 * operationIds and tags.
 * @example app.get('/openapi.json', () => openApiDocument(app.twofold.http, { info: { title: 'Acme', version: '1.0.0' } }));
 * @throws TypeError when a path or an operationId is there twice (a host path over a kit route, say)
 */
export function openApiDocument(source: OpenApiSource, options: OpenApiDocumentOptions): OpenApiObject {
  const prefix = options.prefix ?? source.options.prefix ?? '';
  const paths: Record<string, Record<string, OpenApiObject>> = {};
  const bodies = new Set<BodySchemaName>();
  const answers = new Set<ResponseSchemaName>();
  const usedTags = new Set<RouteTag>();
  for (const route of source.routes) {
    const path = `${prefix}${openApiPath(route.path)}`;
    const method = route.method.toLowerCase();
    const item = paths[path] ?? {};
    paths[path] = item;
    if (item[method]) throw new TypeError(`openApiDocument: ${route.method} ${path} is there twice`);
    item[method] = openApiOperation(source, route, {
      style: 'ref',
      ...(options.userSecurity ? { userSecurity: options.userSecurity } : {}),
    });
    if (route.body !== null && route.body !== 'empty') bodies.add(route.body);
    for (const success of Object.values(route.responses)) if (success.body) answers.add(success.body);
    usedTags.add(route.tag);
  }
  for (const [path, item] of Object.entries(options.paths ?? {})) {
    if (paths[path]) throw new TypeError(`openApiDocument: the path ${path} is one of the kit's`);
    paths[path] = item as Record<string, OpenApiObject>;
  }
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(paths)) {
    for (const operation of Object.values(item)) {
      const id = (operation as { operationId?: unknown } | null)?.operationId;
      if (typeof id !== 'string') continue;
      if (operationIds.has(id))
        throw new TypeError(`openApiDocument: operationId "${id}" (${path}) is there twice`);
      operationIds.add(id);
    }
  }

  const schemas: Record<string, OpenApiObject> = { [ERROR_SCHEMA]: { ...ERROR_BODY_JSON_SCHEMA } };
  for (const name of bodies) schemas[bodySchemaComponent(name)] = bodyJsonSchema(name);
  for (const name of answers)
    schemas[responseSchemaComponent(name)] = structuredClone(responseJsonSchemas[name]);
  Object.assign(schemas, options.schemas);

  return {
    openapi: '3.1.0',
    info: { ...options.info },
    servers: (options.servers ?? [{ url: '/', description: 'The server of this document' }]).map(
      (server) => ({
        ...server,
      }),
    ),
    tags: [
      ...(options.tags ?? []).map((tag) => ({ ...tag })),
      ...[...usedTags].map((name) => ({ name, description: ROUTE_TAGS[name] })),
    ],
    paths,
    components: {
      schemas,
      securitySchemes: { ...openApiSecuritySchemes, ...options.securitySchemes },
    },
  };
}
