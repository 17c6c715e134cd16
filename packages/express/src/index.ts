/**
 * @twofold/express: two-factor authentication for Express 5 apps.
 * `app.use('/2fa', twofold(options))` serves the whole HTTP contract of twofold; the returned router
 * also carries the guards for the host's own routes (`requireAuth`, `requireStepUp(n)`).
 */
export { REDACT_PATHS } from '@twofold/core/http';
export type { TwofoldExpressOptions, TwofoldLog, TwofoldLogLevel } from './options.js';
export { REDIS_PREFIX } from './rate-limit.js';
export type { TwofoldRequestAuth } from './request.js';
export { type TwofoldRouter, twofold, twofold as default } from './router.js';
