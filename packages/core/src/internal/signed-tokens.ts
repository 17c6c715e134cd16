/**
 * The one implementation behind every token twofold signs (challenge, access, refresh): compact JWS,
 * HS256 only, a `typ` header and an audience per kind, a `tf` claim naming the kind, the keyring tag
 * as `kid`, and an HMAC key derived per kind from the keyring. A token of one kind therefore fails as
 * any other kind on four independent checks (key, typ, aud, tf).
 *
 * Written on node:crypto rather than on a JWT library after measuring fast-jwt (the engine of
 * @fastify/jwt) in its place: it cost 10-15% of the throughput of `POST /2fa/login/verify`, above the
 * 10% the project set for keeping own code (BENCHMARKS.md, "Signed tokens"; `pnpm bench tokens`).
 * jose is the oracle: the tests verify these tokens with jose both ways and replay the known JWT
 * attacks, each asserting the reason it is refused for.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { TokenRefusalReason, TwofoldError } from '../errors.js';
import type { Keyring } from '../keyring.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';
import { type RandomBytes, takeRandom } from './random.js';

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
  /** Builds the error this kind throws for a refused token; the message never holds the token. */
  invalid: (message: string, options: { cause: Error; reason: TokenRefusalReason }) => TwofoldError;
  /** The noun used in messages ("challenge token", "access token"). */
  noun: string;
}

/** Signs and verifies the tokens of one kind. Made by {@link createSignedTokens}. */
export interface SignedTokens {
  /** Signs `claims` for `subject`, valid for `ttlSeconds` from `now` (ms), under the current key tag. */
  sign(
    subject: string,
    claims: Record<string, unknown>,
    now: number,
    ttlSeconds: number,
  ): { token: string; jti: string; issuedAt: number; expiresAt: number };
  /** Verifies a presented token at `now` (ms); throws the kind's error, with its reason, for anything wrong. */
  verify(token: unknown, now: number): VerifiedClaims;
}

const ALGORITHM = 'HS256';
const JTI_BYTES = 16;
/** Far above any real token (a 255-character user id included); longer input is refused unread. */
const MAX_TOKEN_LENGTH = 4096;
/** Three base64url parts: header, payload and signature (any length: a wrong one fails as such). */
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;
/** Header fields a token may carry; anything else (`crit`, `jku`, `b64` ...) is refused. */
const HEADER_FIELDS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid']);

/** What each refusal means, for the log (the error's cause). Never holds the token or its claims. */
const DETAILS: Record<TokenRefusalReason, string> = {
  malformed: 'not a compact JWS of a sane length with a canonical signature',
  header: 'the header is not a JSON object of alg, typ and kid only',
  key: 'the key id is not a tag of the keyring',
  payload: 'the payload is not a JSON object',
  algorithm: 'the algorithm is not HS256',
  signature: 'the signature does not match',
  type: 'the token type is not this kind',
  claims: 'a registered claim is missing or not of its type',
  audience: 'the audience is not this kind',
  issuer: 'the issuer differs',
  kind: 'the token kind (tf) differs',
  'not-yet-valid': 'nbf is after now',
  expired: 'exp has passed',
};

/** Why a token was refused: the cause of the kind's error. */
class TokenRefusal extends Error {
  readonly reason: TokenRefusalReason;
  constructor(reason: TokenRefusalReason) {
    super(DETAILS[reason]);
    this.name = 'TokenRefusal';
    this.reason = reason;
  }
}

/**
 * Creates the signer and verifier of one kind of token. Deliberately narrow: one algorithm, a fixed
 * header shape, the signature compared in constant time on its canonical encoding, every claim
 * checked. The checks run in the order of {@link TokenRefusalReason}: the header and its algorithm
 * before any key is used, the signature before anything the payload says is read.
 */
export function createSignedTokens(
  keyring: Keyring,
  issuer: string,
  kind: TokenKind,
  random: RandomBytes,
): SignedTokens {
  /** The HMAC key of each keyring tag, and the encoded header of tokens signed under it: made once. */
  const keys = new Map<string, KeyObject>();
  const headers = new Map<string, string>();

  function keyFor(tag: string): KeyObject {
    let key = keys.get(tag);
    if (!key) {
      key = createSecretKey(keyring.deriveKey(kind.purpose, tag));
      keys.set(tag, key);
    }
    return key;
  }

  function headerFor(tag: string): string {
    let header = headers.get(tag);
    if (header === undefined) {
      header = encodeJson({ alg: ALGORITHM, typ: kind.type, kid: tag });
      headers.set(tag, header);
    }
    return header;
  }

  function refuse(reason: TokenRefusalReason): TwofoldError {
    const message =
      reason === 'expired'
        ? `The ${kind.noun} has expired`
        : reason === 'key'
          ? `The ${kind.noun} names no key of this keyring`
          : `The ${kind.noun} is not valid`;
    return kind.invalid(message, { cause: new TokenRefusal(reason), reason });
  }

  return {
    sign(subject, claims, now, ttlSeconds) {
      const kid = keyring.currentTag;
      const jti = encodeBase64url(takeRandom(random, JTI_BYTES));
      const issuedAt = Math.floor(now / 1000);
      const expiresAt = issuedAt + ttlSeconds;
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
      const signingInput = `${headerFor(kid)}.${payload}`;
      const signature = createHmac('sha256', keyFor(kid)).update(signingInput).digest('base64url');
      return {
        token: `${signingInput}.${signature}`,
        jti,
        issuedAt: issuedAt * 1000,
        expiresAt: expiresAt * 1000,
      };
    },

    verify(token, now) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw refuse('malformed');
      const parts = COMPACT_JWS.exec(token);
      // Buffer decodes base64url leniently: a twin spelling of a signature (a padding bit of its
      // last character flipped) would compare equal. Only the canonical one passes.
      const signature = parts && decodeBase64url(parts[3]!);
      if (!parts || !signature) throw refuse('malformed');
      const [, headerPart, payloadPart] = parts as unknown as [string, string, string];

      const header = readJson(headerPart);
      if (!header || Object.keys(header).some((field) => !HEADER_FIELDS.has(field))) {
        throw refuse('header');
      }
      if (header.alg !== ALGORITHM) throw refuse('algorithm');
      const { kid } = header;
      if (typeof kid !== 'string' || !keyring.tags.includes(kid)) throw refuse('key');
      const expected = createHmac('sha256', keyFor(kid)).update(`${headerPart}.${payloadPart}`).digest();
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        throw refuse('signature');
      }
      if (header.typ !== kind.type) throw refuse('type');

      const claims = readJson(payloadPart);
      if (!claims) throw refuse('payload');
      const { iss, aud, sub, jti, iat, exp, nbf, tf } = claims;
      if (
        typeof iss !== 'string' ||
        typeof aud !== 'string' ||
        typeof sub !== 'string' ||
        sub === '' ||
        typeof jti !== 'string' ||
        jti === '' ||
        !isSeconds(iat) ||
        !isSeconds(exp) ||
        (nbf !== undefined && !isSeconds(nbf))
      ) {
        throw refuse('claims');
      }
      if (iss !== issuer) throw refuse('issuer');
      if (aud !== kind.audience) throw refuse('audience');
      if (tf !== kind.kind) throw refuse('kind');
      const nowSeconds = Math.floor(now / 1000);
      if (nbf !== undefined && nbf > nowSeconds) throw refuse('not-yet-valid');
      if (exp <= nowSeconds) throw refuse('expired');
      return claims as VerifiedClaims;
    },
  };
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A base64url part as a JSON object, or null for anything else. */
function readJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
