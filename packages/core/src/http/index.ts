/**
 * `@twofold/core/http`: the HTTP contract of DESIGN.md without a web framework. The Fastify and
 * Express packages adapt it; a host on another framework can too.
 */
export { clientKey, RATE_LIMIT_REDIS_PREFIX, rateLimitKey } from './client-key.js';
export {
  describeError,
  HTTP_STATUS_BY_CODE,
  type HttpErrorBody,
  type HttpErrorResponse,
  httpError,
  isServerError,
  PayloadTooLargeError,
  RateLimitedError,
  RouteNotFoundError,
  rateLimitStoreUnavailable,
  type TwofoldHttpErrorCode,
  toHttpError,
  UnsupportedMediaTypeError,
} from './errors.js';
export { BODY_MESSAGES, bodyHeaderProblem, hasBody, parseJsonText } from './json-body.js';
export {
  BEARER_SCHEME,
  BEARER_SECURITY,
  bodySchemaComponent,
  ERROR_SCHEMA,
  type OpenApiDocumentOptions,
  type OpenApiObject,
  type OpenApiSource,
  openApiDocument,
  openApiErrorResponse,
  openApiOperation,
  openApiSecuritySchemes,
  responseSchemaComponent,
  routeErrorCodes,
  routeErrorResponses,
  routeSecurity,
  routeSuccessResponses,
  type SchemaStyle,
  type SecurityRequirement,
  schemaRef,
} from './openapi.js';
export {
  type AuthenticateResult,
  type RateLimitRedisClient,
  type RecoveryOptions,
  type ResolvedHttpOptions,
  rateLimitRedisSchema,
  resolveHttpOptions,
  type TwofoldHttpOptions,
  type TwofoldMail,
  twofoldHttpOptionsSchema,
} from './options.js';
export {
  type BodySchemaName,
  bodyJsonSchema,
  bodySchemas,
  ERROR_BODY_JSON_SCHEMA,
  parseBody,
  type ResponseSchemaName,
  responseJsonSchemas,
} from './schemas.js';
export {
  createTwofoldHttp,
  type FinishingResponse,
  type HttpResult,
  type HttpRoute,
  ROUTE_TAGS,
  type RouteInput,
  type RouteRequest,
  type RouteSuccess,
  type RouteTag,
  runAfterResponse,
  type TwofoldHttp,
} from './service.js';
export {
  ACCESS_TOKEN_AUDIENCE,
  ACCESS_TOKEN_TYPE,
  type AccessClaims,
  type AuthenticationMethod,
  checkStepUpGuardOptions,
  REFRESH_TOKEN_AUDIENCE,
  REFRESH_TOKEN_TYPE,
  type SessionTokens,
  type StepUpGuardOptions,
  type TokenPair,
} from './session-tokens.js';
/** Redaction paths for pino (Fastify's logger): every body field that can hold a secret. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.body.code',
  'req.body.recoveryCode',
  'req.body.password',
  'req.body.token',
  'req.body.challengeToken',
  'req.body.refreshToken',
  'req.body.secret',
  'res.body',
];
