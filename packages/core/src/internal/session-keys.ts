/**
 * Store keys of the kit's sessions that the engine writes too (an operator's reset signs the user
 * out everywhere without the HTTP layer).
 */

/**
 * The nonce holding the time (ms) before which every session of the user started is refused
 * (`revokeAll`). Kept as long as a token issued before it could still be presented.
 */
export const SESSIONS_REVOKED_BEFORE_KEY = 'sessions-revoked-before';

/**
 * The longest a session token can live: the HTTP layer's largest `refreshTtlSeconds` (90 days),
 * plus a day. A revocation written by the engine is kept this long.
 */
export const MAX_SESSION_LIFETIME_MS = 91 * 86_400_000;
