/**
 * The public types of @twofold/fastify, and the declaration merging that types the decorators on
 * every Fastify instance and request once the package is imported.
 */
import type { TwoFactor } from '@twofold/core';
import type { AccessClaims, StepUpGuardOptions, TwofoldHttp, TwofoldHttpOptions } from '@twofold/core/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The plugin options: the engine (`twoFactor`) or its options (`store`, `keyring`, `issuer`, ...),
 * plus `prefix`, the host callbacks, tokens, step-up, email recovery, rate limits and `bodyLimit`.
 * Every option and its default is in the README.
 */
export type TwofoldFastifyOptions = TwofoldHttpOptions<FastifyRequest>;

/** `app.twofold`: the engine's flows, plus the HTTP layer the routes are built from. */
export type TwofoldEngine = TwoFactor & {
  /** The framework-free HTTP layer: routes, validated options, tokens. */
  readonly http: TwofoldHttp<FastifyRequest>;
};

/**
 * `request.twofoldUser`: the user of a verified access token of the kit, set by the guards and by the
 * kit's own routes when the token identified the user (never from `getUserId`).
 */
export interface TwofoldUser {
  userId: string;
  /** The verified access token: `amr` (RFC 8176), `authTime` and `expiresAt` in ms. */
  claims: AccessClaims;
}

/** A preHandler (or onRequest/preValidation hook) that answers 401 in the kit's error shape. */
export type TwofoldGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The twofold engine (enroll, verify, status, ...) and its HTTP layer (`.http`). */
    twofold: TwofoldEngine;
    /**
     * A preHandler that requires a valid access token of the kit (`Authorization: Bearer ...`) and
     * sets `request.twofoldUser`. Anything else answers 401 `TWOFOLD_UNAUTHORIZED`.
     * @example app.get('/me', { preHandler: app.twofoldAuthenticate }, (request) => request.twofoldUser)
     */
    twofoldAuthenticate: TwofoldGuard;
    /**
     * A preHandler that requires a recent authentication: within `maxAgeSeconds` (default: the
     * `stepUp` option, 300 s), a second factor for a user with 2FA, the password (login or step-up)
     * for a user without; `{ secondFactor: true }` demands a second factor from everyone. Otherwise
     * 401 `TWOFOLD_STEP_UP_REQUIRED`, answered by `POST /2fa/step-up`. Use after
     * `twofoldAuthenticate` (it authenticates on its own when that did not run).
     * @throws TypeError for a bad `maxAgeSeconds` or options, when called
     * @example app.post('/account/delete', { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp(120)] }, handler)
     * @example app.post('/admin/keys', { preHandler: app.twofoldStepUp(120, { secondFactor: true }) }, handler)
     */
    twofoldStepUp(maxAgeSeconds?: number, options?: StepUpGuardOptions): TwofoldGuard;
  }

  interface FastifyContextConfig {
    /** @internal Set by @twofold/fastify on its own routes: the route's id (its rate-limit bucket). */
    twofoldRouteId?: string;
    /** @internal Set by @twofold/fastify on its own routes: the stricter rate limit applies. */
    twofoldSensitive?: boolean;
    /** @internal Set by @twofold/fastify on its own routes: the route takes a JSON body. */
    twofoldBody?: boolean;
  }

  interface FastifyRequest {
    /**
     * The user of a valid access token of the kit, once a guard ran or a kit route checked the token;
     * otherwise null.
     */
    twofoldUser: TwofoldUser | null;
  }
}
