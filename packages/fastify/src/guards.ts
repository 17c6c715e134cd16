/**
 * The guards a host puts on its own routes: a valid access token of the kit, and a recent second
 * factor (step-up). They answer in the kit's error shape themselves, so the host's error handler
 * never sees a twofold error it does not know.
 */
import {
  checkStepUpGuardOptions,
  type StepUpGuardOptions,
  type TwofoldHttp,
  toHttpError,
} from '@twofold/core/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors.js';
import type { TwofoldGuard } from './types.js';

export interface Guards {
  authenticate: TwofoldGuard;
  stepUp(maxAgeSeconds?: number, options?: StepUpGuardOptions): TwofoldGuard;
}

export function createGuards(http: TwofoldHttp): Guards {
  /**
   * Sets `request.twofoldUser` from the bearer token, or answers the error and returns false. The
   * answer is awaited (a reply resolves once the response has ended), so Fastify runs nothing after
   * the hook: `reply.sent` is true by then.
   */
  async function authenticated(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (request.twofoldUser) return true;
    try {
      const claims = await http.authorize(request.headers.authorization);
      request.twofoldUser = { userId: claims.userId, claims };
      return true;
    } catch (error) {
      await sendError(request, reply, toHttpError(error), error);
      return false;
    }
  }

  return {
    async authenticate(request, reply) {
      await authenticated(request, reply);
    },

    stepUp(maxAgeSeconds, options) {
      if (
        maxAgeSeconds !== undefined &&
        (typeof maxAgeSeconds !== 'number' || !Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 1)
      ) {
        throw new TypeError(
          'twofoldStepUp(maxAgeSeconds): "maxAgeSeconds" must be a positive whole number of seconds',
        );
      }
      const guardOptions = checkStepUpGuardOptions(options, 'twofoldStepUp(maxAgeSeconds, options)');
      return async (request, reply) => {
        if (!(await authenticated(request, reply))) return;
        try {
          http.requireStepUp(request.twofoldUser!.claims, maxAgeSeconds, guardOptions);
        } catch (error) {
          await sendError(request, reply, toHttpError(error), error);
        }
      };
    },
  };
}
