import { createHash, createHmac } from 'node:crypto';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from 'jose';
import t from 'tap';
import {
  CHALLENGE_TOKEN_AUDIENCE,
  CHALLENGE_TOKEN_TYPE,
  createChallengeTokens,
} from '../src/challenge-token.js';
import { InvalidChallengeError, type TokenRefusalReason } from '../src/errors.js';
import { createKeyring, type Keyring } from '../src/keyring.js';

function keyOf(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const TTL = 120_000;
const CODE = InvalidChallengeError.code;
const keyringA = createKeyring({ keys: { a: keyOf('a') }, current: 'a' });

function challenges(keyring: Keyring = keyringA, issuer = 'Acme', ttlMs = TTL) {
  return createChallengeTokens({ keyring, issuer, ttlMs });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A signature of the right length that matches nothing: passes every check of the shape. */
const FAKE_SIGNATURE = 'A'.repeat(43);

/** `headerPart.payloadPart` with its right HS256 signature under `key`: any bytes as the payload. */
function signParts(key: Uint8Array, headerPart: string, payloadPart: string): string {
  const input = `${headerPart}.${payloadPart}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/**
 * Verifies `token` at `at` and resolves the reason it was refused for (the umbrella code checked
 * on the way), or null when it verifies.
 */
async function refusal(
  tokens: ReturnType<typeof challenges>,
  token: unknown,
  at = NOW,
): Promise<TokenRefusalReason | null | undefined> {
  try {
    await tokens.verify(token, at);
    return null;
  } catch (error) {
    if (!(error instanceof InvalidChallengeError) || error.code !== CODE) throw error;
    return error.reason;
  }
}

/** Claims and header of a genuine challenge token, for forging variants of it. */
function genuine(overrides: { header?: Record<string, unknown>; claims?: JWTPayload } = {}) {
  return {
    header: { alg: 'HS256', typ: CHALLENGE_TOKEN_TYPE, kid: 'a', ...overrides.header },
    claims: {
      iss: 'Acme',
      aud: CHALLENGE_TOKEN_AUDIENCE,
      sub: 'user-1',
      jti: 'abcdefghijklmnopqrstuv',
      iat: Math.floor(NOW / 1000),
      exp: Math.floor(NOW / 1000) + 120,
      tf: 'challenge',
      ...overrides.claims,
    },
  };
}

/** Signs header and claims as given with `key`: jose checks nothing on our behalf here. */
async function forge(
  key: Parameters<SignJWT['sign']>[0],
  overrides: { header?: Record<string, unknown>; claims?: JWTPayload } = {},
): Promise<string> {
  const { header, claims } = genuine(overrides);
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
}

const challengeKeyA = keyringA.deriveKey('challenge-token', 'a');

t.test('a signed token verifies and gives back user, jti and expiry', async (t) => {
  const tokens = challenges();
  const signed = await tokens.sign('user-1', NOW);
  t.same(await tokens.verify(signed.token, NOW), {
    userId: 'user-1',
    jti: signed.jti,
    expiresAt: signed.expiresAt,
  });
  t.equal(signed.expiresAt, NOW + TTL);
});

t.test('the token has header alg HS256, typ and kid, and the documented claims', async (t) => {
  const signed = await challenges().sign('user-1', NOW + 400);
  t.same(decodeProtectedHeader(signed.token), { alg: 'HS256', typ: CHALLENGE_TOKEN_TYPE, kid: 'a' });
  const claims = decodeJwt(signed.token);
  t.same(claims, {
    tf: 'challenge',
    iss: 'Acme',
    aud: 'twofold:challenge',
    sub: 'user-1',
    jti: signed.jti,
    iat: NOW / 1000,
    exp: NOW / 1000 + 120,
  });
  t.match(signed.jti, /^[A-Za-z0-9_-]{22}$/, '128-bit base64url jti');
});

t.test('the jti is random per token and comes from the random option', async (t) => {
  const tokens = challenges();
  const jtis = new Set<string>();
  for (let i = 0; i < 20; i++) jtis.add((await tokens.sign('user-1', NOW)).jti);
  t.equal(jtis.size, 20);
  const sizes: number[] = [];
  const seeded = createChallengeTokens({
    keyring: keyringA,
    issuer: 'Acme',
    ttlMs: TTL,
    random: (n) => {
      sizes.push(n);
      return new Uint8Array(n).fill(1);
    },
  });
  t.equal((await seeded.sign('u', NOW)).jti, Buffer.alloc(16, 1).toString('base64url'));
  t.same(sizes, [16]);
});

t.test('ttlMs is rounded up to whole seconds', async (t) => {
  for (const [ttlMs, seconds] of [
    [1, 1],
    [1000, 1],
    [1001, 2],
    [1500, 2],
    [300_000, 300],
  ] as const) {
    const { token, expiresAt } = await challenges(keyringA, 'Acme', ttlMs).sign('u', NOW);
    const claims = decodeJwt(token);
    t.equal(claims.exp! - claims.iat!, seconds, `${ttlMs} ms`);
    t.equal(expiresAt, claims.exp! * 1000);
  }
});

t.test(
  'a token verifies until just before exp and is refused from exp on (no clock tolerance)',
  async (t) => {
    const tokens = challenges();
    const { token, expiresAt } = await tokens.sign('user-1', NOW);
    t.equal((await tokens.verify(token, expiresAt - 1)).userId, 'user-1');
    for (const at of [expiresAt, expiresAt + 1, expiresAt + 3_600_000]) {
      t.equal(await refusal(tokens, token, at), 'expired', `at exp + ${at - expiresAt} ms`);
    }
  },
);

t.test('a token from another keyring is refused, even with the same tag', async (t) => {
  const { token } = await challenges(createKeyring({ keys: { a: keyOf('other') }, current: 'a' })).sign(
    'u',
    NOW,
  );
  t.equal(await refusal(challenges(), token), 'signature');
});

t.test('a token of another issuer is refused', async (t) => {
  const { token } = await challenges(keyringA, 'Other').sign('u', NOW);
  t.equal(await refusal(challenges(keyringA, 'Acme'), token), 'issuer');
});

t.test('alg none is refused in every spelling', async (t) => {
  const tokens = challenges();
  const { claims } = genuine();
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    const header = b64({ alg, typ: CHALLENGE_TOKEN_TYPE, kid: 'a' });
    // The unsigned form, and signatures of any length: the algorithm is refused before any key is used.
    for (const signature of ['', 'AAAA', FAKE_SIGNATURE]) {
      t.equal(
        await refusal(tokens, `${header}.${b64(claims)}.${signature}`),
        'algorithm',
        `${alg} "${signature}"`,
      );
    }
  }
});

t.test('a token signed with the right key but another type or audience is refused', async (t) => {
  const tokens = challenges();
  t.equal((await tokens.verify(await forge(challengeKeyA), NOW)).userId, 'user-1', 'the forge helper works');
  const cases: [string, Parameters<typeof forge>[1], TokenRefusalReason][] = [
    ['typ of an access token', { header: { typ: 'twofold-access+jwt' } }, 'type'],
    ['typ JWT', { header: { typ: 'JWT' } }, 'type'],
    ['no typ', { header: { typ: undefined } }, 'type'],
    ['another audience', { claims: { aud: 'twofold:access' } }, 'audience'],
    ['no audience', { claims: { aud: undefined } }, 'claims'],
    ['kind claim of another token', { claims: { tf: 'access' } }, 'kind'],
    ['no kind claim', { claims: { tf: undefined } }, 'kind'],
  ];
  for (const [name, overrides, reason] of cases) {
    t.equal(await refusal(tokens, await forge(challengeKeyA, overrides)), reason, name);
  }
});

t.test('a token with missing or malformed claims is refused', async (t) => {
  const tokens = challenges();
  const cases: [string, JWTPayload, TokenRefusalReason][] = [
    ['no sub', { sub: undefined }, 'claims'],
    ['empty sub', { sub: '' }, 'claims'],
    ['sub a number', { sub: 7 as unknown as string }, 'claims'],
    ['no jti', { jti: undefined }, 'claims'],
    ['empty jti', { jti: '' }, 'claims'],
    ['no exp', { exp: undefined }, 'claims'],
    ['no iat', { iat: undefined }, 'claims'],
    ['exp as a string', { exp: String(Math.floor(NOW / 1000) + 120) as unknown as number }, 'claims'],
    ['exp not a whole second', { exp: Math.floor(NOW / 1000) + 120.5 }, 'claims'],
    ['no issuer', { iss: undefined }, 'claims'],
    ['issuer in another case', { iss: 'acme' }, 'issuer'],
    ['issuer a number', { iss: 7 as unknown as string }, 'claims'],
    ['audience a list', { aud: [CHALLENGE_TOKEN_AUDIENCE] }, 'claims'],
  ];
  for (const [name, claims, reason] of cases) {
    t.equal(await refusal(tokens, await forge(challengeKeyA, { claims })), reason, name);
  }
});

t.test('a tampered payload is refused', async (t) => {
  const tokens = challenges();
  const { token } = await tokens.sign('user-1', NOW);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const tampered: [string, Record<string, unknown>][] = [
    ['sub changed', { ...claims, sub: 'admin' }],
    ['exp extended', { ...claims, exp: claims.exp + 3600 }],
  ];
  for (const [name, changed] of tampered) {
    t.equal(await refusal(tokens, `${header}.${b64(changed)}.${signature}`), 'signature', name);
  }
  // The same fields in another order: a header as valid as the original, but not the one signed.
  const otherHeader = b64({ kid: 'a', typ: CHALLENGE_TOKEN_TYPE, alg: 'HS256' });
  t.equal(await refusal(tokens, `${otherHeader}.${payload}.${signature}`), 'signature', 'header swapped');
});

t.test('RS256 and ES256 tokens are refused', async (t) => {
  const tokens = challenges();
  for (const alg of ['RS256', 'ES256', 'PS256', 'EdDSA']) {
    const { privateKey } = await generateKeyPair(alg);
    t.equal(await refusal(tokens, await forge(privateKey, { header: { alg } })), 'algorithm', alg);
  }
});

t.test('an HS256 token keyed with a public key PEM is refused (CVE-2022-23540 style)', async (t) => {
  const tokens = challenges();
  const { publicKey } = await generateKeyPair('RS256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  const token = await forge(new TextEncoder().encode(pem), { header: { kid: 'a' } });
  t.equal(await refusal(tokens, token), 'signature');
});

t.test('a token keyed with another purpose of the same keyring is refused', async (t) => {
  const token = await forge(keyringA.deriveKey('recovery-code', 'a'));
  t.equal(await refusal(challenges(), token), 'signature');
});

t.test('malformed input is refused with the code, never a crash', async (t) => {
  const tokens = challenges();
  const { token } = await tokens.sign('user-1', NOW);
  const [header, , signature] = token.split('.') as [string, string, string];
  const raw = (text: string) => Buffer.from(text).toString('base64url');
  // Each input passes every check before the one it names (a canonical signature, a known kid).
  const inputs: [string, unknown, TokenRefusalReason][] = [
    ['number', 42, 'malformed'],
    ['object', { token }, 'malformed'],
    ['array', [token], 'malformed'],
    ['null', null, 'malformed'],
    ['undefined', undefined, 'malformed'],
    ['empty', '', 'malformed'],
    ['two parts', 'a.b', 'malformed'],
    ['four parts', `${token}.x`, 'malformed'],
    ['not base64url', 'a+b.c/d.e=f', 'malformed'],
    ['surrounding spaces', ` ${token} `, 'malformed'],
    ['Bearer prefix', `Bearer ${token}`, 'malformed'],
    ['huge string', 'a'.repeat(10_000_000), 'malformed'],
    ['huge well-formed token', `${header}.${'A'.repeat(1_000_000)}.${signature}`, 'malformed'],
    ['Buffer of the token', Buffer.from(token), 'malformed'],
    ['header not JSON', `${raw('{nope')}.e30.${FAKE_SIGNATURE}`, 'header'],
    ['header an array', `${b64([])}.e30.${FAKE_SIGNATURE}`, 'header'],
    ['header a string', `${b64('HS256')}.e30.${FAKE_SIGNATURE}`, 'header'],
    // Correctly signed: the payload is read only once the signature matched.
    ['payload not JSON', signParts(challengeKeyA, header, raw('nope')), 'payload'],
    ['payload an array', signParts(challengeKeyA, header, b64([genuine().claims])), 'payload'],
    ['payload null', signParts(challengeKeyA, header, b64(null)), 'payload'],
    ['payload not JSON, forged', `${header}.${raw('nope')}.${FAKE_SIGNATURE}`, 'signature'],
  ];
  for (const [name, input, reason] of inputs) {
    t.equal(await refusal(tokens, input), reason, name);
  }
});

t.test('a token without kid or with an unknown kid is refused', async (t) => {
  const tokens = challenges();
  for (const kid of [undefined, 'zz', 7, '__proto__', 'A', 'a.']) {
    t.equal(await refusal(tokens, await forge(challengeKeyA, { header: { kid } })), 'key', String(kid));
  }
});

t.test('a token signed under an old tag still in the keyring verifies after rotation', async (t) => {
  const { token } = await challenges(keyringA).sign('user-1', NOW);
  const rotated = createKeyring({ keys: { b: keyOf('b'), a: keyOf('a') }, current: 'b' });
  t.equal((await challenges(rotated).verify(token, NOW)).userId, 'user-1');
  const fresh = await challenges(rotated).sign('user-1', NOW);
  t.equal(decodeProtectedHeader(fresh.token).kid, 'b', 'new tokens use the current tag');
});

t.test('a token signed under a tag removed from the keyring is refused', async (t) => {
  const { token } = await challenges(keyringA).sign('user-1', NOW);
  const removed = createKeyring({ keys: { b: keyOf('b') }, current: 'b' });
  t.equal(await refusal(challenges(removed), token), 'key');
  await t.rejects(challenges(removed).verify(token, NOW), { message: /names no key/ });
});

t.test('refusals carry a cause, and neither message nor cause contain the token', async (t) => {
  const tokens = challenges();
  const { token, expiresAt } = await tokens.sign('user-1', NOW);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bad: [string, TokenRefusalReason][] = [
    [token, 'expired'],
    [`${header}.${payload}.${signature.slice(0, -1)}${signature.endsWith('A') ? 'Q' : 'A'}`, 'signature'],
    [await forge(challengeKeyA, { header: { typ: 'JWT' } }), 'type'],
    [signParts(challengeKeyA, header, Buffer.from('{"sub":"user-1",').toString('base64url')), 'payload'],
  ];
  for (const [index, [input, reason]] of bad.entries()) {
    const error = await tokens.verify(input, index === 0 ? expiresAt : NOW).then(
      () => null,
      (e: unknown) => e as InvalidChallengeError,
    );
    t.ok(error instanceof InvalidChallengeError);
    t.equal(error?.reason, reason);
    t.match(error?.cause, { reason }, 'has a cause with the reason');
    const shown = JSON.stringify({
      message: error?.message,
      cause: error?.cause,
      ...(error?.cause as object),
    });
    for (const part of [token, header, payload, signature, 'user-1']) {
      t.notOk(shown.includes(part) || String(error?.cause).includes(part), `no ${part.slice(0, 6)}...`);
    }
  }
});

t.test('options are checked at creation', async (t) => {
  const cases: [string, unknown, typeof TypeError | typeof RangeError][] = [
    ['no options', undefined, TypeError],
    ['no keyring', { issuer: 'Acme', ttlMs: TTL }, TypeError],
    ['empty issuer', { keyring: keyringA, issuer: '', ttlMs: TTL }, TypeError],
    ['issuer not a string', { keyring: keyringA, issuer: 1, ttlMs: TTL }, TypeError],
    ['ttl zero', { keyring: keyringA, issuer: 'Acme', ttlMs: 0 }, RangeError],
    ['ttl negative', { keyring: keyringA, issuer: 'Acme', ttlMs: -1 }, RangeError],
    ['ttl over 5 minutes', { keyring: keyringA, issuer: 'Acme', ttlMs: 300_001 }, RangeError],
    ['ttl NaN', { keyring: keyringA, issuer: 'Acme', ttlMs: Number.NaN }, RangeError],
    ['ttl as a string', { keyring: keyringA, issuer: 'Acme', ttlMs: '120000' }, RangeError],
    ['random not a function', { keyring: keyringA, issuer: 'Acme', ttlMs: TTL, random: 1 }, TypeError],
  ];
  for (const [name, options, type] of cases) {
    t.throws(() => createChallengeTokens(options as Parameters<typeof createChallengeTokens>[0]), type, name);
  }
});

t.test('sign and verify refuse caller mistakes with a TypeError', async (t) => {
  const tokens = challenges();
  await t.rejects(tokens.sign('', NOW), TypeError);
  await t.rejects(tokens.sign(7 as unknown as string, NOW), TypeError);
  await t.rejects(tokens.sign('u', Number.NaN), TypeError);
  const { token } = await tokens.sign('u', NOW);
  await t.rejects(tokens.verify(token, undefined as unknown as number), TypeError);
});
