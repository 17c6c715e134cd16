/**
 * The signed tokens against jose, the test oracle: tokens travel both ways,
 * and the header and signature forms jose would accept but this narrow verifier refuses are refused,
 * each for the reason it names. The attack tests per kind are in challenge-token.test.ts.
 */
import { createHmac } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import t from 'tap';
import { InvalidTokenError, type TokenRefusalReason } from '../src/errors.js';
import { cryptoRandom } from '../src/internal/random.js';
import { createSignedTokens, type TokenKind } from '../src/internal/signed-tokens.js';
import { testKeyring } from './helpers.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const keyring = testKeyring('k1', 3);
const kind: TokenKind = {
  purpose: 'test-token',
  type: 'twofold-test+jwt',
  audience: 'twofold:test',
  kind: 'test',
  noun: 'test token',
  invalid: (message, options) => new InvalidTokenError(message, options),
};
const tokens = createSignedTokens(keyring, 'Acme', kind, cryptoRandom);
const key = keyring.deriveKey('test-token', 'k1');
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function claims(extra: Record<string, unknown> = {}) {
  return {
    tf: 'test',
    iss: 'Acme',
    aud: 'twofold:test',
    sub: 'user-1',
    jti: 'j1',
    iat: Math.floor(NOW / 1000),
    exp: Math.floor(NOW / 1000) + 60,
    ...extra,
  };
}

/** Any header and claims, signed with HMAC-SHA-256 under `key`: for headers jose will not sign. */
function signByHand(header: Record<string, unknown>, payload: Record<string, unknown> = claims()): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** The reason `token` is refused for at `at`, or null if it verifies. */
function refusal(token: unknown, at = NOW): TokenRefusalReason | null | undefined {
  try {
    tokens.verify(token, at);
    return null;
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) throw error;
    return error.reason;
  }
}

t.test('a token we sign verifies in jose with every check pinned', async (t) => {
  const { token } = tokens.sign('user-1', { amr: ['pwd'] }, NOW, 60);
  const { payload, protectedHeader } = await jwtVerify(token, key, {
    algorithms: ['HS256'],
    typ: 'twofold-test+jwt',
    audience: 'twofold:test',
    issuer: 'Acme',
    currentDate: new Date(NOW),
  });
  t.same(protectedHeader, { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' });
  t.equal(payload.sub, 'user-1');
  t.same(payload.amr, ['pwd']);
});

t.test('a token jose signs with the same key and claims verifies here', async (t) => {
  const token = await new SignJWT(claims())
    .setProtectedHeader({ alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' })
    .sign(key);
  const verified = tokens.verify(token, NOW);
  t.equal(verified.sub, 'user-1');
  t.equal(verified.jti, 'j1');
});

t.test('typ and aud are exact: spellings jose would accept are refused', async (t) => {
  // jose compares typ as a media type (case and `application/` ignored) and accepts aud as a list.
  for (const typ of ['TWOFOLD-TEST+JWT', 'application/twofold-test+jwt']) {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ, kid: 'k1' }).sign(key);
    await t.resolves(
      jwtVerify(token, key, { typ: 'twofold-test+jwt', currentDate: new Date(NOW) }),
      `jose: ${typ}`,
    );
    t.equal(refusal(token), 'type', typ);
  }
  const listed = signByHand(
    { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' },
    claims({ aud: ['other', 'twofold:test'] }),
  );
  await t.resolves(
    jwtVerify(listed, key, { audience: 'twofold:test', currentDate: new Date(NOW) }),
    'jose: aud list',
  );
  t.equal(refusal(listed), 'claims', 'aud as a list');
});

t.test('header forms outside the narrow shape are refused, each for its reason', async (t) => {
  const cases: [string, Record<string, unknown>, TokenRefusalReason][] = [
    ['lowercase alg', { alg: 'hs256', typ: 'twofold-test+jwt', kid: 'k1' }, 'algorithm'],
    ['HS512', { alg: 'HS512', typ: 'twofold-test+jwt', kid: 'k1' }, 'algorithm'],
    ['crit', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', crit: ['exp'] }, 'header'],
    ['b64 false', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', b64: false }, 'header'],
    ['jku', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', jku: 'https://evil.example/jwks' }, 'header'],
    ['typ JWT', { alg: 'HS256', typ: 'JWT', kid: 'k1' }, 'type'],
  ];
  for (const [name, header, reason] of cases) {
    // Signed with the right key, so that nothing but the header is wrong.
    t.equal(refusal(signByHand(header)), reason, name);
  }
  t.equal(
    refusal(signByHand({ alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' })),
    null,
    'the helper works',
  );
});

t.test('a signature in a non-canonical base64url spelling is refused', async (t) => {
  const { token } = tokens.sign('user-1', {}, NOW, 60);
  const signature = token.slice(token.lastIndexOf('.') + 1);
  const last = signature.at(-1)!;
  // The last of 43 characters carries 4 bits and 2 padding bits: flip a padding bit.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
  t.same(Buffer.from(signature, 'base64url'), Buffer.from(signature.slice(0, -1) + twin, 'base64url'));
  t.equal(refusal(token.slice(0, -1) + twin), 'malformed');
});

t.test('expiry and not-before are exact, in whole seconds', async (t) => {
  const { token, expiresAt } = tokens.sign('user-1', {}, NOW, 60);
  t.equal(refusal(token, expiresAt - 1), null);
  t.equal(refusal(token, expiresAt), 'expired');
  t.throws(() => tokens.verify(token, expiresAt), { message: /expired/ });
  const future = await new SignJWT(claims({ nbf: Math.floor(NOW / 1000) + 10 }))
    .setProtectedHeader({ alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' })
    .sign(key);
  t.equal(refusal(future, NOW + 9_999), 'not-yet-valid');
  t.equal(refusal(future, NOW + 10_000), null);
  const fractional = signByHand(
    { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' },
    claims({ nbf: Math.floor(NOW / 1000) - 0.5 }),
  );
  t.equal(refusal(fractional), 'claims', 'nbf not a whole second');
});

t.test('claims given to sign cannot replace the registered ones', async (t) => {
  const { token, jti } = tokens.sign(
    'user-1',
    { iss: 'Evil', aud: 'twofold:access', sub: 'admin', tf: 'x' },
    NOW,
    60,
  );
  const verified = tokens.verify(token, NOW);
  t.match(verified, { iss: 'Acme', aud: 'twofold:test', sub: 'user-1', tf: 'test', jti });
});
