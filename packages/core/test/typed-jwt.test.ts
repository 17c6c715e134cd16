/**
 * The compact-JWS code against jose, the reference implementation: tokens travel both ways, and
 * the header and signature forms jose would accept but this narrow verifier refuses are refused.
 */
import { jwtVerify, SignJWT } from 'jose';
import t from 'tap';
import { InvalidTokenError } from '../src/errors.js';
import { cryptoRandom } from '../src/internal/random.js';
import { createTypedJwt, type TokenKind } from '../src/internal/typed-jwt.js';
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
const jwt = createTypedJwt(keyring, 'Acme', kind, cryptoRandom);
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

t.test('a token we sign verifies in jose with every check pinned', async (t) => {
  const { token } = await jwt.sign('user-1', { amr: ['pwd'] }, NOW, 60);
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
  const verified = await jwt.verify(token, NOW);
  t.equal(verified.sub, 'user-1');
  t.equal(verified.jti, 'j1');
});

t.test('header forms outside the narrow shape are refused', async (t) => {
  const headers: [string, Record<string, unknown>][] = [
    ['lowercase alg', { alg: 'hs256', typ: 'twofold-test+jwt', kid: 'k1' }],
    ['HS512', { alg: 'HS512', typ: 'twofold-test+jwt', kid: 'k1' }],
    ['crit', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', crit: ['exp'] }],
    ['b64 false', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', b64: false }],
    ['jku', { alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1', jku: 'https://evil.example/jwks' }],
    ['typ JWT', { alg: 'HS256', typ: 'JWT', kid: 'k1' }],
  ];
  for (const [name, header] of headers) {
    const token = await new SignJWT(claims())
      .setProtectedHeader(header as { alg: string })
      .sign(key)
      .catch(() => null);
    // jose refuses to sign some of these itself; build those by hand.
    const raw = token ?? `${b64(header)}.${b64(claims())}.${'A'.repeat(43)}`;
    await t.rejects(jwt.verify(raw, NOW), { code: 'TWOFOLD_INVALID_TOKEN' }, name);
  }
});

t.test('a signature in a non-canonical base64url spelling is refused', async (t) => {
  const { token } = await jwt.sign('user-1', {}, NOW, 60);
  const signature = token.slice(token.lastIndexOf('.') + 1);
  const last = signature.at(-1)!;
  // The last of 43 characters carries 4 bits and 2 padding bits: flip a padding bit.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
  t.same(Buffer.from(signature, 'base64url'), Buffer.from(signature.slice(0, -1) + twin, 'base64url'));
  await t.rejects(jwt.verify(token.slice(0, -1) + twin, NOW), { code: 'TWOFOLD_INVALID_TOKEN' });
});

t.test('expiry and not-before are exact, in whole seconds', async (t) => {
  const { token, expiresAt } = await jwt.sign('user-1', {}, NOW, 60);
  t.ok(await jwt.verify(token, expiresAt - 1));
  await t.rejects(jwt.verify(token, expiresAt), { message: /expired/ });
  const future = await new SignJWT(claims({ nbf: Math.floor(NOW / 1000) + 10 }))
    .setProtectedHeader({ alg: 'HS256', typ: 'twofold-test+jwt', kid: 'k1' })
    .sign(key);
  await t.rejects(jwt.verify(future, NOW), { code: 'TWOFOLD_INVALID_TOKEN' });
  t.ok(await jwt.verify(future, NOW + 10_000));
});
