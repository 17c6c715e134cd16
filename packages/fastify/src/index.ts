/**
 * @twofold/fastify: the twofold 2FA routes, guards and engine in a Fastify 5 app with one
 * `app.register(twofold, options)`.
 */
import { REDACT_PATHS } from '@twofold/core/http';
import { twofold } from './plugin.js';

/**
 * The OpenAPI 3.1 document of the kit's routes (and the host's own, with `paths`), from the same
 * route table the plugin registers: serve it with `openApiDocument(app.twofold.http, { info })`.
 * `openApiSecuritySchemes` is the kit's `bearerAuth` scheme, for a host that documents the routes
 * through @fastify/swagger's own collection instead.
 */
export {
  BEARER_SECURITY,
  type OpenApiDocumentOptions,
  openApiDocument,
  openApiErrorResponse,
  openApiSecuritySchemes,
  type StepUpGuardOptions,
  schemaRef,
} from '@twofold/core/http';

export type { TwofoldEngine, TwofoldFastifyOptions, TwofoldGuard, TwofoldUser } from './types.js';
export { twofold };

/**
 * Paths for pino's `redact` (Fastify's `logger` option): the Authorization header and every body
 * field that can hold a code, recovery code, password, secret or token.
 * @example const app = Fastify({ logger: { level: 'info', redact } });
 */
export const redact: string[] = [...REDACT_PATHS];

export default twofold;
