/**
 * What the router and the guards put on `request.twofold`, typed for every Express request of an
 * app that imports @twofold/express.
 */
import type { AccessClaims } from '@twofold/core/http';

/** The signed-in user of a request, as the kit found it. */
export interface TwofoldRequestAuth {
  /** The user id (from the access token, or from the host's `getUserId`). */
  userId: string;
  /** The verified access token, or null when the user came from the host's `getUserId`. */
  claims: AccessClaims | null;
}

declare global {
  namespace Express {
    interface Request {
      /** Set by the twofold guards (`requireAuth`, `requireStepUp`) and on the kit's own routes. */
      twofold?: TwofoldRequestAuth;
    }
  }
}
