/**
 * The one JWT implementation behind every token twofold issues (challenge, access, refresh): HS256
 * only, a `typ` header and an audience per kind, a `tf` claim naming the kind, the keyring tag as
 * `kid`, and an HMAC key derived per kind from the keyring. A token of one kind therefore fails as
 * any other kind on four independent checks (typ, aud, tf, key).
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { TwofoldError } from '../errors.js';
import type { Keyring } from '../keyring.js';
import { encodeBase64url } from './base64url.js';
import { takeRandom } from './random.js';

/** The claims every verified token has. */
export interface VerifiedClaims {
  [claim: string]: unknown;
  sub: string;
  jti: string;
  iat: number;
  exp: number;
}

/** What distinguishes one kind of token from every other. */
export interface TokenKind {
  /** Keyring subkey purpose (the HMAC key). */
  purpose: string;
  /** The `typ` header, e.g. `twofold-access+jwt`. */
  type: string;
  /** The `aud` claim, e.g. `twofold:access`. */
  audience: string;
  /** The `tf` claim. */
  kind: string;
  /** Builds the error this kind throws for any invalid token; the message never holds the token. */
  invalid: (message: string, options?: { cause?: unknown }) => TwofoldError;
  /** The noun used in messages ("challenge token", "access token"). */
  noun: string;
}

export interface TypedJwt {
  /** Signs `claims` for `subject`, valid for `ttlSeconds` from `now` (ms). */
  sign(
    subject: string,
    claims: Record<string, unknown>,
    now: number,
    ttlSeconds: number,
  ): Promise<{ token: string; jti: string; issuedAt: number; expiresAt: number }>;
  /** Verifies a presented token at `now` (ms); throws the kind's error for anything wrong. */
  verify(token: unknown, now: number): Promise<VerifiedClaims>;
}

const ALGORITHM = 'HS256';
const JTI_BYTES = 16;
/** Far above any real token (a 255-character user id included); longer input is refused unread. */
const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;
/** Header fields a token may carry; anything else (`crit`, `jku`, `b64` ...) is refused. */
const HEADER_FIELDS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid']);

/** Why a token was refused: the cause of the kind's error. Never holds the token or its claims. */
class TokenRefusal extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TokenRefusal';
    this.code = code;
  }
}

/**
 * Compact JWS with HS256 over node:crypto's HMAC (WebCrypto's asynchronous HMAC costs about ten
 * times as much per call, on every login). Deliberately narrow: one algorithm, a fixed header
 * shape, the signature compared in constant time on its canonical encoding, every claim checked.
 * The tests verify tokens with jose both ways and replay the known JWT attacks against it.
 */
export function createTypedJwt(
  keyring: Keyring,
  issuer: string,
  kind: TokenKind,
  random: (size: number) => Uint8Array,
): TypedJwt {
  const keys = new Map<string, KeyObject>();
  /** The encoded header of a keyring tag: the same for every token signed under it. */
  const headers = new Map<string, string>();

  /** The HMAC key of a keyring tag, made once. The tag must be in the keyring. */
  function keyFor(tag: string): KeyObject {
    let key = keys.get(tag);
    if (!key) {
      key = createSecretKey(keyring.deriveKey(kind.purpose, tag));
      keys.set(tag, key);
    }
    return key;
  }

  const refuse = (code: string, message: string, userMessage = `The ${kind.noun} is not valid`) =>
    kind.invalid(userMessage, { cause: new TokenRefusal(code, message) });

  function readJson(part: string, what: string): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    } catch {
      throw refuse('TOKEN_MALFORMED', `the ${what} is not JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw refuse('TOKEN_MALFORMED', `the ${what} is not a JSON object`);
    }
    return value as Record<string, unknown>;
  }

  return {
    async sign(subject, claims, now, ttlSeconds) {
      const kid = keyring.currentTag;
      const jti = encodeBase64url(takeRandom(random, JTI_BYTES));
      const issuedAt = Math.floor(now / 1000);
      const expiresAt = issuedAt + ttlSeconds;
      let header = headers.get(kid);
      if (header === undefined) {
        header = encodeJson({ alg: ALGORITHM, typ: kind.type, kid });
        headers.set(kid, header);
      }
      const payload = encodeJson({
        ...claims,
        tf: kind.kind,
        iss: issuer,
        aud: kind.audience,
        sub: subject,
        jti,
        iat: issuedAt,
        exp: expiresAt,
      });
      const signingInput = `${header}.${payload}`;
      const signature = createHmac('sha256', keyFor(kid)).update(signingInput).digest('base64url');
      return {
        token: `${signingInput}.${signature}`,
        jti,
        issuedAt: issuedAt * 1000,
        expiresAt: expiresAt * 1000,
      };
    },

    async verify(token, now) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
        throw refuse('TOKEN_MALFORMED', 'not a compact JWS of a sane length');
      }
      const parts = COMPACT_JWS.exec(token);
      if (!parts) throw refuse('TOKEN_MALFORMED', 'not a compact JWS');
      const [, headerPart, payloadPart, signaturePart] = parts as unknown as [string, string, string, string];

      const header = readJson(headerPart, 'header');
      if (header.alg !== ALGORITHM) throw refuse('ALG_REFUSED', 'the algorithm is not HS256');
      if (header.typ !== kind.type) throw refuse('TYPE_MISMATCH', 'the token type is not this kind');
      if (Object.keys(header).some((field) => !HEADER_FIELDS.has(field))) {
        throw refuse('HEADER_REFUSED', 'the header has fields this verifier does not accept');
      }
      const kid = header.kid;
      if (typeof kid !== 'string' || !keyring.tags.includes(kid)) {
        throw refuse(
          'UNKNOWN_KEY',
          'the key id is not in the keyring',
          `The ${kind.noun} names no key of this keyring`,
        );
      }
      const expected = createHmac('sha256', keyFor(kid))
        .update(`${headerPart}.${payloadPart}`)
        .digest('base64url');
      if (!timingSafeEqual(Buffer.from(signaturePart), Buffer.from(expected))) {
        throw refuse('SIGNATURE_MISMATCH', 'the signature does not match');
      }

      const claims = readJson(payloadPart, 'payload');
      const { iss, aud, sub, jti, iat, exp, nbf, tf } = claims;
      if (iss !== issuer) throw refuse('CLAIM_MISMATCH', 'the issuer differs');
      if (aud !== kind.audience) throw refuse('CLAIM_MISMATCH', 'the audience differs');
      if (tf !== kind.kind) throw refuse('CLAIM_MISMATCH', 'the token kind differs');
      if (typeof sub !== 'string' || sub === '' || typeof jti !== 'string' || jti === '') {
        throw refuse('CLAIM_MISSING', 'sub or jti is missing');
      }
      if (!isSeconds(iat) || !isSeconds(exp))
        throw refuse('CLAIM_MISSING', 'iat or exp is missing or not a time');
      const nowSeconds = Math.floor(now / 1000);
      if (nbf !== undefined && (!isSeconds(nbf) || nbf > nowSeconds)) {
        throw refuse('NOT_YET_VALID', 'nbf is in the future or not a time');
      }
      if (exp <= nowSeconds) throw refuse('EXPIRED', 'exp has passed', `The ${kind.noun} has expired`);
      return claims as VerifiedClaims;
    },
  };
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
