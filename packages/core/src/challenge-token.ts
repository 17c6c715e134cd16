/**
 * Challenge tokens: the short-lived proof, between the two steps of a login, that the password
 * step succeeded for a user. A compact JWT, HS256 only, typed `twofold-challenge+jwt` with audience
 * `twofold:challenge`, so it can never pass for an access or refresh token and vice versa.
 *
 * The HMAC key is `keyring.deriveKey('challenge-token', kid)` and the header `kid` names the keyring
 * tag, so tokens signed just before a key rotation still verify while the old tag stays. The `jti`
 * is for the engine to spend server-side; this module does not store anything.
 */
import { InvalidChallengeError } from './errors.js';
import { randomOption } from './internal/random.js';
import { createSignedTokens } from './internal/signed-tokens.js';
import type { Keyring } from './keyring.js';

/** The `typ` header of every challenge token. */
export const CHALLENGE_TOKEN_TYPE = 'twofold-challenge+jwt';
/** The `aud` claim of every challenge token. */
export const CHALLENGE_TOKEN_AUDIENCE = 'twofold:challenge';

/** What a verified challenge token says. */
export interface ChallengeClaims {
  /** The user who passed the password step (`sub`). */
  userId: string;
  /** The token's unique id (`jti`, 128 random bits): spend it server-side to make the token single use. */
  jti: string;
  /** When the token expires, in ms since the epoch (`exp` x 1000). */
  expiresAt: number;
}

/** Options of {@link createChallengeTokens}. */
export interface ChallengeTokenOptions {
  /** Supplies the signing keys (subkey `challenge-token` of each tag). */
  keyring: Keyring;
  /** The `iss` claim: the app's name or URL. Tokens of another issuer are refused. */
  issuer: string;
  /** Lifetime in ms, rounded up to whole seconds; at most 5 minutes (SECURITY.md §22). */
  ttlMs: number;
  /** Random source for `jti` (default: node:crypto). For tests. */
  random?: (size: number) => Uint8Array;
}

/** Signs and verifies challenge tokens. Made by {@link createChallengeTokens}. */
export interface ChallengeTokens {
  /**
   * Issues a challenge token for `userId`, at `now` (ms). Use `jti` and `expiresAt` to track it.
   * @example const { token, jti, expiresAt } = await challenges.sign('user-1', Date.now());
   */
  sign(userId: string, now: number): Promise<{ token: string; jti: string; expiresAt: number }>;
  /**
   * Checks a presented token at `now` (ms) and returns its claims.
   * @throws {InvalidChallengeError} for anything wrong: not a string, malformed, another algorithm,
   * type, audience or issuer, a bad signature, an unknown key tag, expired (no clock tolerance); its
   * `reason` says which (for logs: the HTTP answer is the same for all).
   */
  verify(token: unknown, now: number): Promise<ChallengeClaims>;
}

const MAX_TTL_MS = 5 * 60 * 1000;

/**
 * Creates the signer and verifier of challenge tokens.
 * @param options.keyring signing keys
 * @param options.issuer the `iss` claim
 * @param options.ttlMs lifetime in ms (1 to 300000, rounded up to whole seconds)
 * @param options.random `jti` source (default: node:crypto)
 * @example
 * const challenges = createChallengeTokens({ keyring, issuer: 'Acme', ttlMs: 120_000 });
 * const { token } = await challenges.sign(userId, Date.now());
 * const { userId, jti } = await challenges.verify(token, Date.now());
 */
export function createChallengeTokens(options: ChallengeTokenOptions): ChallengeTokens {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createChallengeTokens: options must be an object with keyring, issuer and ttlMs');
  }
  const { keyring, issuer, ttlMs } = options;
  if (typeof keyring !== 'object' || keyring === null || typeof keyring.deriveKey !== 'function') {
    throw new TypeError('createChallengeTokens: keyring must be a Keyring (see createKeyring)');
  }
  if (typeof issuer !== 'string' || issuer === '') {
    throw new TypeError('createChallengeTokens: issuer must be a non-empty string');
  }
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new RangeError(
      `createChallengeTokens: ttlMs must be a number of ms above 0 and at most ${MAX_TTL_MS}`,
    );
  }
  const random = randomOption('createChallengeTokens', options.random);
  const ttlSeconds = Math.ceil(ttlMs / 1000);
  const jwt = createSignedTokens(
    keyring,
    issuer,
    {
      purpose: 'challenge-token',
      type: CHALLENGE_TOKEN_TYPE,
      audience: CHALLENGE_TOKEN_AUDIENCE,
      kind: 'challenge',
      noun: 'challenge token',
      invalid: (message, errorOptions) => new InvalidChallengeError(message, errorOptions),
    },
    random,
  );

  return {
    async sign(userId, now) {
      if (typeof userId !== 'string' || userId === '') {
        throw new TypeError('challenge sign: userId must be a non-empty string');
      }
      checkNow(now, 'challenge sign');
      const { token, jti, expiresAt } = jwt.sign(userId, {}, now, ttlSeconds);
      return { token, jti, expiresAt };
    },

    async verify(token, now) {
      checkNow(now, 'challenge verify');
      const { sub, jti, exp } = jwt.verify(token, now);
      return { userId: sub, jti, expiresAt: exp * 1000 };
    },
  };
}

function checkNow(now: unknown, where: string): void {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new TypeError(`${where}: now must be a time in ms since the epoch`);
  }
}
