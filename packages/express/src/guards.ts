/**
 * Middleware for the host's own routes: "a valid access token" and "a second factor within N
 * seconds" (step-up). Both answer their errors themselves, in the kit's shape, so the host's error
 * handler never sees them.
 */
import {
  type AccessClaims,
  checkStepUpGuardOptions,
  type StepUpGuardOptions,
  type TwofoldHttp,
} from '@twofold/core/http';
import type { Request, RequestHandler } from 'express';
import { answerError } from './errors.js';
import type { TwofoldLog } from './options.js';

const DAY_SECONDS = 86_400;
const MIN_STEP_UP_SECONDS = 30;

export interface Guards {
  requireAuth: RequestHandler;
  requireStepUp(maxAgeSeconds?: number, options?: StepUpGuardOptions): RequestHandler;
}

export function createGuards(http: TwofoldHttp, log: TwofoldLog): Guards {
  const context = { log, bodyLimit: http.options.bodyLimit };

  /** The claims of the request's access token, verified once per request. */
  async function claimsOf(request: Request): Promise<AccessClaims> {
    const known = request.twofold?.claims;
    if (known) return known;
    const claims = await http.authorize(request.headers.authorization);
    request.twofold = { userId: claims.userId, claims };
    return claims;
  }

  const requireAuth: RequestHandler = (request, response, next) => {
    claimsOf(request).then(
      () => next(),
      (error: unknown) => answerError(request, response, error, context),
    );
  };

  function requireStepUp(
    maxAgeSeconds: number = http.options.stepUp.maxAgeSeconds,
    options?: StepUpGuardOptions,
  ): RequestHandler {
    if (
      !Number.isInteger(maxAgeSeconds) ||
      maxAgeSeconds < MIN_STEP_UP_SECONDS ||
      maxAgeSeconds > DAY_SECONDS
    ) {
      throw new TypeError(
        `requireStepUp: "maxAgeSeconds" must be an integer from ${MIN_STEP_UP_SECONDS} to ${DAY_SECONDS}`,
      );
    }
    const guardOptions = checkStepUpGuardOptions(options, 'requireStepUp');
    return (request, response, next) => {
      claimsOf(request).then(
        (claims) => {
          try {
            http.requireStepUp(claims, maxAgeSeconds, guardOptions);
          } catch (error) {
            answerError(request, response, error, context);
            return;
          }
          next();
        },
        (error: unknown) => answerError(request, response, error, context),
      );
    };
  }

  return { requireAuth, requireStepUp };
}
