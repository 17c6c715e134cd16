/**
 * What the router and the guards put on `request.twofold`, typed for every Express request of an
 * app that imports @twofold/express.
 */
import type { AccessClaims } from '@twofold/core/http';

/** The user of a verified access token of the kit. */
export interface TwofoldRequestAuth {
  /** The user id of the token. */
  userId: string;
  /** The verified access token: `amr` (RFC 8176), `authTime` and `expiresAt` in ms. */
  claims: AccessClaims;
}

declare global {
  namespace Express {
    interface Request {
      /**
       * Set by the twofold guards (`requireAuth`, `requireStepUp`), and on the kit's own routes when
       * the kit's access token identified the user (never from `getUserId`: that user is your own).
       */
      twofold?: TwofoldRequestAuth;
    }
  }
}
