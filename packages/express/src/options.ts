/**
 * Options of `twofold()`: the options of the shared HTTP layer (@twofold/core/http) without
 * `prefix`, plus the one option that only Express has, the `log` hook. One zod schema, the HTTP
 * layer's extended, validated once by createTwofoldHttp.
 */
import { type TwofoldHttpOptions, twofoldHttpOptionsSchema } from '@twofold/core/http';
import type { Request } from 'express';
import { z } from 'zod';

/** Severity of a log call. `error`: a 5xx answer or failed background work; `warn`: a misconfiguration. */
export type TwofoldLogLevel = 'error' | 'warn';

/**
 * Where the router reports what the host should know about: 5xx answers (with the error, never
 * the request body or a header), failed background work (recovery mail), and rate-limit store or
 * configuration problems. Without it the router writes nothing anywhere.
 *
 * @example log: (level, message, fields) => logger[level]({ ...fields }, message) // pino
 */
export type TwofoldLog = (level: TwofoldLogLevel, message: string, fields: Record<string, unknown>) => void;

const expressOwnShape = {
  /** Receives 5xx errors, background failures and rate-limit warnings (default: none). */
  log: z
    .custom<TwofoldLog>(
      (value) => typeof value === 'function',
      'must be a function ((level, message, fields) => void)',
    )
    .optional(),
  prefix: z
    .undefined({
      error:
        'does not apply to Express: mount the router where the routes belong, app.use("/2fa", twofold(options))',
    })
    .optional(),
};

/** The options of {@link twofold}: the HTTP layer's without `prefix`, and `log`. */
export const expressOptionsSchema = twofoldHttpOptionsSchema.omit({ prefix: true }).extend(expressOwnShape);

/**
 * Options of {@link twofold}: the engine (`twoFactor`) or its options (`store`, `keyring`,
 * `issuer`, ...), the host callbacks, tokens, step-up, recovery, rate limits and body limit (all
 * as in @twofold/core/http), plus `log`. No `prefix`: the host mounts the router where it wants.
 */
export type TwofoldExpressOptions = WithoutPrefix<TwofoldHttpOptions<Request>> &
  Pick<z.input<z.ZodObject<typeof expressOwnShape>>, 'log'>;

/** Omit over each member of a union (the engine-or-options choice stays a choice). */
type WithoutPrefix<T> = T extends unknown ? Omit<T, 'prefix'> : never;
