import tap from 'tap';
import { decodeUserTag } from '../src/index.js';
import { encodeUserTag, KeyLayout } from '../src/internal/keys.js';

tap.test('user tags round-trip and never contain a brace or a colon', async (t) => {
  const ids = [
    'alice',
    '{alice}',
    'a}b{c',
    ':',
    '}{',
    'ü@example.com',
    '😀',
    '\uD800',
    '\uFFFD',
    'x'.repeat(255),
  ];
  for (const id of ids) {
    const tag = encodeUserTag(id);
    t.match(tag, /^[A-Za-z0-9_-]+$/, `${JSON.stringify(id)} -> base64url`);
    t.equal(decodeUserTag(tag), id, `${JSON.stringify(id)} round-trips`);
  }
});

tap.test('distinct user ids get distinct tags, even ids UTF-8 would merge', async (t) => {
  // A lone surrogate becomes U+FFFD in UTF-8; UTF-16 code units keep the two apart.
  const ids = ['a', 'A', '{a}', 'a}', '{a', '\uD800', '\uFFFD', '\uDC00', 'a\u0000', 'a\u0000\u0000'];
  t.equal(new Set(ids.map(encodeUserTag)).size, ids.length);
});

tap.test('every key of a user starts with the prefix and the user tag, kinds apart', async (t) => {
  const keys = new KeyLayout('app:');
  const base = `app:{${encodeUserTag('u')}}:`;
  const cases: [string, string][] = [
    [keys.authenticator('u', 'totp'), `${base}a:totp`],
    [keys.authenticatorIndex('u'), `${base}ai`],
    [keys.recoveryCodes('u'), `${base}rc`],
    [keys.counter('u', 'x'), `${base}c:x`],
    [keys.nonce('u', 'x'), `${base}n:x`],
    [keys.nonceIndex('u'), `${base}ni`],
  ];
  for (const [actual, expected] of cases) t.equal(actual, expected);
});
