/**
 * The contender of `pnpm bench tokens`: twofold's signed tokens ported to fast-jwt (the engine of
 * @fastify/jwt), with the interface of core's `internal/signed-tokens.ts`. It passed core's token
 * tests (jose both ways, every attack) when it stood in core's place; it lost on the measured cost
 * (BENCHMARKS.md, "Signed tokens") and stays here so the measurement can be repeated:
 * tokens-swap.ts loads it in place of core's in the HTTP server. It refuses what core's refuses,
 * naming a few reasons differently (fast-jwt's order of checks), and it accepts two spellings core's
 * does not, as jose does: `typ` as a media type (`application/` and case ignored), and `aud` as a
 * list holding the audience.
 */
import { createSigner, createVerifier } from 'fast-jwt';
// Internal, not part of the package API: imported from source, as the bench's other baselines.
import type { TokenRefusalReason, TwofoldError } from '../../core/src/errors.js';
import { decodeBase64url, encodeBase64url } from '../../core/src/internal/base64url.js';
import { type RandomBytes, takeRandom } from '../../core/src/internal/random.js';
import type { SignedTokens, TokenKind, VerifiedClaims } from '../../core/src/internal/signed-tokens.js';
import type { Keyring } from '../../core/src/keyring.js';

const ALGORITHM = 'HS256';
const JTI_BYTES = 16;
/** Far above any real token (a 255-character user id included); longer input is refused unread. */
const MAX_TOKEN_LENGTH = 4096;
/** Three base64url parts: header, payload, signature (empty for `alg: none`, which fast-jwt refuses). */
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]*)$/;
/** Header fields a token may carry; anything else (`crit`, `jku`, `b64` ...) is refused. */
const HEADER_FIELDS: ReadonlySet<string> = new Set(['alg', 'typ', 'kid']);
/** fast-jwt checks these are present; their types and `tf` are checked after it. */
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'jti', 'iat', 'exp'];

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

/**
 * fast-jwt's refusals in our terms. Its time checks are off (see `verify`), so `FAST_JWT_EXPIRED`
 * and `FAST_JWT_INACTIVE` cannot occur; the codes for keys, options and async key fetching cannot
 * either with a fixed HS256 secret. An unlisted code is a bug and is thrown as it is.
 */
const FAST_JWT_REASONS: ReadonlyMap<string, TokenRefusalReason | 'claim'> = new Map([
  // The shape and the header are checked before fast-jwt runs: what it finds malformed is the payload.
  ['FAST_JWT_MALFORMED', 'payload'],
  ['FAST_JWT_INVALID_PAYLOAD', 'payload'],
  ['FAST_JWT_INVALID_ALGORITHM', 'algorithm'],
  ['FAST_JWT_MISSING_SIGNATURE', 'signature'],
  ['FAST_JWT_INVALID_SIGNATURE', 'signature'],
  ['FAST_JWT_INVALID_TYPE', 'type'],
  ['FAST_JWT_INVALID_CRIT_HEADER', 'header'],
  ['FAST_JWT_MISSING_REQUIRED_CLAIM', 'claims'],
  // aud or iss: fast-jwt does not say which (see `refusedClaim`).
  ['FAST_JWT_INVALID_CLAIM_TYPE', 'claim'],
  ['FAST_JWT_INVALID_CLAIM_VALUE', 'claim'],
]);

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
 * The signer and verifier of one kind of token, on fast-jwt. fast-jwt signs and checks the algorithm,
 * signature, `typ`, `iss`, `aud` and the presence of the registered claims; around it, this reads
 * `kid` to pick the key of that keyring tag (so tokens signed before a rotation verify while their
 * tag stays), keeps the header and signature to one narrow shape, and checks `tf`, the claim types
 * and the time against the injected clock.
 */
export function createSignedTokens(
  keyring: Keyring,
  issuer: string,
  kind: TokenKind,
  random: RandomBytes,
): SignedTokens {
  /** Per keyring tag, made on first use: derived keys, and fast-jwt's option checks, run once. */
  const signers = new Map<string, (payload: Record<string, unknown>) => string>();
  const verifiers = new Map<string, (token: string) => Record<string, unknown>>();

  const secretOf = (tag: string) => Buffer.from(keyring.deriveKey(kind.purpose, tag));

  function signerFor(tag: string) {
    let signer = signers.get(tag);
    if (!signer) {
      signer = createSigner({
        key: secretOf(tag),
        algorithm: ALGORITHM,
        kid: tag,
        // The documented way to set `typ` (the header is then alg, typ, kid).
        header: { alg: ALGORITHM, typ: kind.type },
        iss: issuer,
        aud: kind.audience,
      });
      signers.set(tag, signer);
    }
    return signer;
  }

  /** The verifier of a tag of the keyring, or undefined for any other value. */
  function verifierFor(tag: unknown) {
    if (typeof tag !== 'string') return undefined;
    let verifier = verifiers.get(tag);
    if (!verifier && keyring.tags.includes(tag)) {
      verifier = createVerifier({
        key: secretOf(tag),
        algorithms: [ALGORITHM],
        checkTyp: kind.type,
        allowedIss: issuer,
        allowedAud: kind.audience,
        requiredClaims: REQUIRED_CLAIMS,
        // fast-jwt reads the clock once, when the verifier is made (`clockTimestamp`), and accepts a
        // token in the very ms of its `exp`: time is checked below, against `now`, per RFC 7519.
        ignoreExpiration: true,
        ignoreNotBefore: true,
      });
      verifiers.set(tag, verifier);
    }
    return verifier;
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

  /** The one translation of fast-jwt's errors; `payloadPart` names the claim it refused. */
  function translate(error: unknown, payloadPart: string): TwofoldError {
    const code = (error as { code?: unknown } | null)?.code;
    const reason = typeof code === 'string' ? FAST_JWT_REASONS.get(code) : undefined;
    if (reason === undefined) throw error;
    return refuse(reason === 'claim' ? refusedClaim(payloadPart) : reason);
  }

  /**
   * fast-jwt checks `aud`, then `iss`, and refuses either with the same code: the claim is `iss` when
   * `aud` would have passed. Read only on that refusal, from a payload fast-jwt has already parsed.
   */
  function refusedClaim(payloadPart: string): 'audience' | 'issuer' {
    const aud = readJson(payloadPart)?.aud;
    const audiences: unknown[] = Array.isArray(aud) ? aud : [aud];
    return audiences.includes(kind.audience) ? 'issuer' : 'audience';
  }

  return {
    sign(subject, claims, now, ttlSeconds) {
      const jti = encodeBase64url(takeRandom(random, JTI_BYTES));
      const issuedAt = Math.floor(now / 1000);
      const expiresAt = issuedAt + ttlSeconds;
      // fast-jwt adds `iss` and `aud` (over any in `claims`) and keeps the given `iat` and `exp`.
      const token = signerFor(keyring.currentTag)({
        ...claims,
        tf: kind.kind,
        sub: subject,
        jti,
        iat: issuedAt,
        exp: expiresAt,
      });
      return { token, jti, issuedAt: issuedAt * 1000, expiresAt: expiresAt * 1000 };
    },

    verify(token, now) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw refuse('malformed');
      const parts = COMPACT_JWS.exec(token);
      // fast-jwt decodes the signature leniently: a twin spelling of it (a padding bit of the last
      // character flipped) would verify too. Only the canonical one passes here.
      if (!parts || decodeBase64url(parts[2]!) === null) throw refuse('malformed');
      const headerPart = parts[1]!;
      const header = readJson(headerPart);
      if (!header || Object.keys(header).some((field) => !HEADER_FIELDS.has(field))) {
        throw refuse('header');
      }
      const verifier = verifierFor(header.kid);
      if (!verifier) throw refuse('key');

      let claims: Record<string, unknown>;
      try {
        claims = verifier(token);
      } catch (error) {
        throw translate(error, token.slice(headerPart.length + 1, token.lastIndexOf('.')));
      }
      const { sub, jti, iat, exp, nbf, tf } = claims;
      if (tf !== kind.kind) throw refuse('kind');
      if (
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
      const nowSeconds = Math.floor(now / 1000);
      if (nbf !== undefined && nbf > nowSeconds) throw refuse('not-yet-valid');
      if (exp <= nowSeconds) throw refuse('expired');
      return claims as VerifiedClaims;
    },
  };
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
