/**
 * @twofold/express: two-factor authentication for Express 5 apps.
 * `app.use('/2fa', twofold(options))` serves the whole HTTP contract of twofold; the returned router
 * also carries the guards for the host's own routes (`requireAuth`, `requireStepUp(n)`).
 */
/**
 * The OpenAPI 3.1 document of the kit's routes (and the host's own, with `paths`), from the same
 * route table the router serves: `openApiDocument(router.http, { prefix: '/2fa', info })`, with the
 * prefix where the router is mounted.
 */
export {
  BEARER_SECURITY,
  type OpenApiDocumentOptions,
  openApiDocument,
  openApiErrorResponse,
  openApiSecuritySchemes,
  REDACT_PATHS,
  type StepUpGuardOptions,
  schemaRef,
} from '@twofold/core/http';
export type { TwofoldExpressOptions, TwofoldLog, TwofoldLogLevel } from './options.js';
export { REDIS_PREFIX } from './rate-limit.js';
export type { TwofoldRequestAuth } from './request.js';
export { type TwofoldRouter, twofold, twofold as default } from './router.js';
