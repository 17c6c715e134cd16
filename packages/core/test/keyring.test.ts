import { createHash } from 'node:crypto';
import t from 'tap';
import { SealBrokenError, UnknownKeyError } from '../src/errors.js';
import { createKeyring, generateKey, type Keyring, parseKeyring } from '../src/keyring.js';

/** Deterministic key bytes: 32 bytes derived from a label. */
function keyOf(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

const KEY_A = Buffer.from(keyOf('a')).toString('base64url');
const KEY_B = Buffer.from(keyOf('b')).toString('base64url');
const SECRET = new TextEncoder().encode('12345678901234567890');

function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5)
    out += alphabet[Number.parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}

function twoKeyring(current: 'a' | 'b'): Keyring {
  return createKeyring({ keys: { a: keyOf('a'), b: keyOf('b') }, current });
}

function flipBit(text: string, bit: number): string {
  const bytes = Buffer.from(text, 'latin1');
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return bytes.toString('latin1');
}

t.test('seal then open returns the plaintext', async (t) => {
  const keyring = twoKeyring('a');
  for (const plaintext of [SECRET, new Uint8Array(0), new Uint8Array(64).fill(7)]) {
    const { plaintext: opened } = keyring.open(keyring.seal(plaintext, 'user-1'), 'user-1');
    t.same(Buffer.from(opened), Buffer.from(plaintext), `${plaintext.byteLength} bytes`);
  }
});

t.test('the envelope is ASCII tf1.<tag>.<base64url(nonce|ciphertext|tag)>', async (t) => {
  const envelope = twoKeyring('a').seal(SECRET, 'user-1');
  t.match(envelope, /^tf1\.a\.[A-Za-z0-9_-]+$/);
  const body = Buffer.from(envelope.split('.')[2]!, 'base64url');
  t.equal(body.byteLength, 12 + SECRET.byteLength + 16);
});

t.test('each seal uses a fresh random nonce', async (t) => {
  const keyring = twoKeyring('a');
  const envelopes = new Set(Array.from({ length: 50 }, () => keyring.seal(SECRET, 'user-1')));
  t.equal(envelopes.size, 50);
  const nonces = new Set(
    [...envelopes].map((e) => Buffer.from(e.split('.')[2]!, 'base64url').subarray(0, 12).toString('hex')),
  );
  t.equal(nonces.size, 50);
});

t.test('the nonce comes from the random option', async (t) => {
  const calls: number[] = [];
  const keyring = createKeyring({
    keys: { a: keyOf('a') },
    current: 'a',
    random: (n) => {
      calls.push(n);
      return new Uint8Array(n).fill(9);
    },
  });
  const envelope = keyring.seal(SECRET, 'u');
  t.same(calls, [12]);
  t.same(Buffer.from(envelope.split('.')[2]!, 'base64url').subarray(0, 12), Buffer.alloc(12, 9));
  t.equal(keyring.seal(SECRET, 'u'), envelope, 'same nonce, same key, same input: same envelope');
});

t.test('a random source that returns the wrong size is refused', async (t) => {
  const keyring = createKeyring({
    keys: { a: keyOf('a') },
    current: 'a',
    random: (n) => new Uint8Array(n - 1),
  });
  t.throws(() => keyring.seal(SECRET, 'u'), TypeError);
});

t.test('the envelope contains no plaintext secret in base32, hex or base64', async (t) => {
  const envelope = twoKeyring('a').seal(SECRET, 'user-1');
  const forms = [
    base32(SECRET),
    Buffer.from(SECRET).toString('hex'),
    Buffer.from(SECRET).toString('base64url'),
    Buffer.from(SECRET).toString('latin1'),
  ];
  for (const form of forms) {
    t.notOk(envelope.toUpperCase().includes(form.toUpperCase().slice(0, 12)), `no ${form.slice(0, 4)}...`);
  }
});

t.test('needsReseal is false under the current key', async (t) => {
  const keyring = twoKeyring('a');
  t.equal(keyring.open(keyring.seal(SECRET, 'u'), 'u').needsReseal, false);
});

t.test(
  'an envelope sealed under an older key opens with needsReseal, and re-sealing uses the current key',
  async (t) => {
    const oldEnvelope = twoKeyring('a').seal(SECRET, 'u');
    const rotated = twoKeyring('b');
    const opened = rotated.open(oldEnvelope, 'u');
    t.equal(opened.needsReseal, true);
    t.same(Buffer.from(opened.plaintext), Buffer.from(SECRET));
    const resealed = rotated.seal(opened.plaintext, 'u');
    t.match(resealed, /^tf1\.b\./);
    t.equal(rotated.open(resealed, 'u').needsReseal, false);
  },
);

t.test('an envelope copied to another user does not open', async (t) => {
  const keyring = twoKeyring('a');
  const envelope = keyring.seal(SECRET, 'alice');
  for (const other of ['bob', 'alice ', 'Alice', '', 'alice\0']) {
    t.throws(() => keyring.open(envelope, other), { code: SealBrokenError.code }, JSON.stringify(other));
  }
});

t.test('relabelling an envelope with another known tag does not open it', async (t) => {
  const keyring = twoKeyring('a');
  const envelope = keyring.seal(SECRET, 'u');
  t.throws(() => keyring.open(envelope.replace(/^tf1\.a\./, 'tf1.b.'), 'u'), { code: SealBrokenError.code });
});

t.test('every single flipped bit of an envelope fails to open', async (t) => {
  // Tags "a" and "c" differ in one bit, so flips in the tag can land on another key of the keyring.
  // Plaintexts of 20, 21 and 22 bytes leave 0, 4 and 2 unused bits in the last base64url character.
  const keyring = createKeyring({ keys: { a: keyOf('a'), c: keyOf('c') }, current: 'a' });
  const bodyStart = 'tf1.a.'.length;
  for (const size of [20, 21, 22]) {
    const envelope = keyring.seal(new Uint8Array(size).fill(0x5a), 'u');
    let refused = 0;
    for (let bit = 0; bit < envelope.length * 8; bit++) {
      const wanted =
        bit >> 3 >= bodyStart ? [SealBrokenError.code] : [SealBrokenError.code, UnknownKeyError.code];
      try {
        keyring.open(flipBit(envelope, bit), 'u');
        t.fail(`${size} bytes, bit ${bit} opened`);
      } catch (error) {
        if (wanted.includes((error as { code?: string }).code ?? '')) refused++;
        else t.fail(`${size} bytes, bit ${bit}: unexpected ${String(error)}`);
      }
    }
    t.equal(refused, envelope.length * 8, `${size} bytes: all ${envelope.length * 8} flips refused`);
  }
});

t.test('truncated, extended and garbage envelopes fail as SEAL_BROKEN', async (t) => {
  const keyring = twoKeyring('a');
  const envelope = keyring.seal(SECRET, 'u');
  const cases: [string, unknown][] = [
    ['empty', ''],
    ['prefix only', 'tf1.a.'],
    ['one char short', envelope.slice(0, -1)],
    ['half', envelope.slice(0, envelope.length / 2)],
    ['shorter than nonce + tag', `tf1.a.${Buffer.alloc(27).toString('base64url')}`],
    ['one char more', `${envelope}A`],
    ['trailing newline', `${envelope}\n`],
    ['padding', `${envelope}=`],
    ['other version', envelope.replace(/^tf1/, 'tf2')],
    ['missing part', envelope.replace(/^tf1\.a\./, 'tf1.')],
    ['extra part', `${envelope}.x`],
    ['standard base64 chars', envelope.replace(/[-_]/g, '+').replace(/^(tf1\.a\.)(.)/, '$1/')],
    ['not a string', 42],
    ['null', null],
    ['garbage', 'hello world'],
    ['json', '{"tag":"a"}'],
  ];
  for (const [name, input] of cases) {
    t.throws(() => keyring.open(input as string, 'u'), { code: SealBrokenError.code }, name);
  }
});

t.test('an unknown tag is UNKNOWN_KEY naming the tag', async (t) => {
  const envelope = createKeyring({ keys: { gone: keyOf('gone') }, current: 'gone' }).seal(SECRET, 'u');
  const error = t.throws(() => twoKeyring('a').open(envelope, 'u'), { code: UnknownKeyError.code });
  t.equal((error as UnknownKeyError).tag, 'gone');
});

t.test('errors from open reveal no key, plaintext or envelope', async (t) => {
  const keyring = twoKeyring('a');
  const envelope = keyring.seal(SECRET, 'u');
  const error = t.throws(() => keyring.open(flipBit(envelope, envelope.length * 8 - 1), 'u')) as Error;
  const text = `${error.message} ${String(error.cause ?? '')}`;
  for (const secret of [
    KEY_A,
    KEY_B,
    envelope.split('.')[2]!,
    base32(SECRET),
    Buffer.from(SECRET).toString(),
  ]) {
    t.notOk(text.includes(secret.slice(0, 8)));
  }
});

t.test('seal and open refuse caller mistakes with TypeError', async (t) => {
  const keyring = twoKeyring('a');
  t.throws(() => keyring.seal('text' as unknown as Uint8Array, 'u'), TypeError);
  t.throws(() => keyring.seal(SECRET, 42 as unknown as string), TypeError);
  t.throws(() => keyring.open(keyring.seal(SECRET, 'u'), undefined as unknown as string), TypeError);
});

t.test('tags lists the current tag first; currentTag names it', async (t) => {
  const keyring = createKeyring({ keys: { a: keyOf('a'), b: keyOf('b'), c: keyOf('c') }, current: 'b' });
  t.equal(keyring.currentTag, 'b');
  t.same(keyring.tags, ['b', 'a', 'c']);
  t.ok(Object.isFrozen(keyring.tags));
});

t.test(
  'createKeyring accepts keys as bytes, base64url with or without padding, and standard base64',
  async (t) => {
    const bytes = keyOf('x');
    const forms: [string, Uint8Array | string][] = [
      ['bytes', bytes],
      ['base64url', Buffer.from(bytes).toString('base64url')],
      ['base64url padded', `${Buffer.from(bytes).toString('base64url')}=`],
      ['base64', Buffer.from(bytes).toString('base64')],
    ];
    const reference = createKeyring({ keys: { x: bytes }, current: 'x' }).deriveKey('p');
    for (const [name, key] of forms) {
      t.same(createKeyring({ keys: { x: key }, current: 'x' }).deriveKey('p'), reference, name);
    }
  },
);

t.test('createKeyring copies key bytes, so later changes to the array do not matter', async (t) => {
  const bytes = keyOf('x');
  const keyring = createKeyring({ keys: { x: bytes }, current: 'x' });
  const envelope = keyring.seal(SECRET, 'u');
  bytes.fill(0);
  t.same(Buffer.from(keyring.open(envelope, 'u').plaintext), Buffer.from(SECRET));
});

t.test('createKeyring refuses bad options with a TypeError that shows no key material', async (t) => {
  const long = Buffer.concat([keyOf('l'), Buffer.from([1])]).toString('base64url');
  const short = Buffer.from(keyOf('s')).subarray(0, 16).toString('base64url');
  const cases: [string, unknown, string[]][] = [
    ['no options', undefined, []],
    ['keys missing', { current: 'a' }, []],
    ['empty keyring', { keys: {}, current: 'a' }, []],
    ['current not in keys', { keys: { a: KEY_A }, current: 'b' }, [KEY_A]],
    ['current missing', { keys: { a: KEY_A } }, [KEY_A]],
    ['key missing', { keys: { a: KEY_A, b: undefined }, current: 'a' }, [KEY_A]],
    ['key empty', { keys: { a: '' }, current: 'a' }, []],
    ['short key', { keys: { a: short }, current: 'a' }, [short]],
    ['long key', { keys: { a: long }, current: 'a' }, [long]],
    ['short bytes', { keys: { a: keyOf('a').subarray(0, 31) }, current: 'a' }, []],
    ['key not base64', { keys: { a: `${KEY_A.slice(0, 40)}!!!` }, current: 'a' }, [KEY_A.slice(0, 40)]],
    ['key a number', { keys: { a: 42 }, current: 'a' }, []],
    ['tag with a dot', { keys: { 'a.b': KEY_A }, current: 'a.b' }, [KEY_A]],
    ['tag too long', { keys: { ['t'.repeat(33)]: KEY_A }, current: 't'.repeat(33) }, [KEY_A]],
    ['same key under two tags', { keys: { a: KEY_A, b: KEY_A }, current: 'a' }, [KEY_A]],
    ['random not a function', { keys: { a: KEY_A }, current: 'a', random: 1 }, [KEY_A]],
  ];
  for (const [name, options, secrets] of cases) {
    const error = t.throws(
      () => createKeyring(options as Parameters<typeof createKeyring>[0]),
      TypeError,
      name,
    );
    for (const secret of secrets)
      t.notOk((error as Error).message.includes(secret.slice(0, 10)), `${name}: no key`);
  }
});

t.test('parseKeyring reads comma-separated tag:key entries, the first one current', async (t) => {
  const cases: [string, string, string[]][] = [
    ['one entry', `a:${KEY_A}`, ['a']],
    ['two entries', `b:${KEY_B},a:${KEY_A}`, ['b', 'a']],
    ['first is current, whatever the order', `a:${KEY_A},b:${KEY_B}`, ['a', 'b']],
    ['whitespace around entries', `  b:${KEY_B} ,\n a:${KEY_A}\n`, ['b', 'a']],
    ['whitespace around the colon', `b : ${KEY_B}`, ['b']],
    ['padded and standard base64', `a:${Buffer.from(keyOf('a')).toString('base64')}`, ['a']],
    ['dashes and underscores in tags', `k20261123-ab_1:${KEY_A}`, ['k20261123-ab_1']],
  ];
  for (const [name, text, tags] of cases) {
    const keyring = parseKeyring(text);
    t.same(keyring.tags, tags, name);
    t.equal(keyring.currentTag, tags[0], name);
  }
});

t.test('parseKeyring keys match the same keys given to createKeyring', async (t) => {
  const parsed = parseKeyring(`b:${KEY_B},a:${KEY_A}`);
  const created = createKeyring({ keys: { a: KEY_A, b: KEY_B }, current: 'b' });
  t.same(parsed.deriveKey('p', 'a'), created.deriveKey('p', 'a'));
  t.same(parsed.deriveKey('p', 'b'), created.deriveKey('p', 'b'));
  t.same(Buffer.from(created.open(parsed.seal(SECRET, 'u'), 'u').plaintext), Buffer.from(SECRET));
});

t.test('parseKeyring refuses malformed text with a TypeError that shows no key material', async (t) => {
  const short = Buffer.from(keyOf('s')).subarray(0, 31).toString('base64url');
  const cases: [string, unknown, string[]][] = [
    ['undefined (unset variable)', undefined, []],
    ['empty', '', []],
    ['blank', '   ', []],
    ['no colon', KEY_A, [KEY_A]],
    ['missing key', 'a:', []],
    ['missing tag', `:${KEY_A}`, [KEY_A]],
    ['short key', `a:${short}`, [short]],
    ['long key', `a:${KEY_A}${KEY_A}`, [KEY_A]],
    ['bad characters in key', `a:${KEY_A.slice(0, 42)}*`, [KEY_A.slice(0, 40)]],
    ['space inside key', `a:${KEY_A.slice(0, 20)} ${KEY_A.slice(20)}`, [KEY_A.slice(0, 20)]],
    ['duplicate tag', `a:${KEY_A},a:${KEY_B}`, [KEY_A, KEY_B]],
    ['same key twice', `a:${KEY_A},b:${KEY_A}`, [KEY_A]],
    ['empty entry', `a:${KEY_A},,b:${KEY_B}`, [KEY_A, KEY_B]],
    ['trailing comma', `a:${KEY_A},`, [KEY_A]],
    ['bad tag', `a b:${KEY_A}`, [KEY_A]],
    ['key pasted as tag', `${KEY_A}:${KEY_B}`, [KEY_A, KEY_B]],
    ['semicolon separator', `a:${KEY_A};b:${KEY_B}`, [KEY_A, KEY_B]],
  ];
  for (const [name, text, secrets] of cases) {
    const error = t.throws(() => parseKeyring(text as string), TypeError, name);
    for (const secret of secrets) {
      t.notOk((error as Error).message.includes(secret.slice(0, 10)), `${name}: no key in message`);
    }
  }
});

t.test('generateKey makes an entry that parses into a one-key keyring', async (t) => {
  const entry = generateKey();
  t.match(entry, /^k\d{8}-[0-9a-f]{4}:[A-Za-z0-9_-]{43}$/);
  const keyring = parseKeyring(entry);
  t.equal(keyring.currentTag, entry.split(':')[0]);
});

t.test('generateKey dates the default tag in UTC from the now option', async (t) => {
  const entry = generateKey(undefined, {
    now: Date.UTC(2026, 10, 23, 23, 59),
    random: (n) => new Uint8Array(n).fill(0xab),
  });
  t.equal(entry, `k20261123-abab:${Buffer.alloc(32, 0xab).toString('base64url')}`);
});

t.test('generateKey keys differ, also on the same day', async (t) => {
  const entries = Array.from({ length: 20 }, () => generateKey());
  t.equal(new Set(entries.map((e) => e.split(':')[1])).size, 20, 'keys differ');
  t.equal(new Set(entries.map((e) => e.split(':')[0])).size > 1, true, 'tags differ');
  t.doesNotThrow(() => parseKeyring(entries.slice(0, 5).join(',')));
});

t.test('generateKey takes an explicit tag and refuses a bad one', async (t) => {
  t.match(generateKey('primary'), /^primary:[A-Za-z0-9_-]{43}$/);
  t.throws(() => generateKey('no spaces'), TypeError);
  t.throws(() => generateKey(''), TypeError);
});

t.test('deriveKey gives 32 bytes, stable per (tag, purpose)', async (t) => {
  const keyring = twoKeyring('a');
  const first = keyring.deriveKey('challenge-token');
  t.equal(first.byteLength, 32);
  t.same(keyring.deriveKey('challenge-token'), first);
  t.same(keyring.deriveKey('challenge-token', 'a'), first, 'default tag is the current one');
  t.same(twoKeyring('a').deriveKey('challenge-token', 'a'), first, 'another instance, same keys');
});

t.test('deriveKey differs per purpose and per tag, and never equals a raw key', async (t) => {
  const keyring = twoKeyring('a');
  const derived = [
    keyring.deriveKey('challenge-token', 'a'),
    keyring.deriveKey('recovery-code', 'a'),
    keyring.deriveKey('challenge-token', 'b'),
    keyring.deriveKey('recovery-code', 'b'),
  ].map((k) => Buffer.from(k).toString('hex'));
  t.equal(
    new Set([...derived, Buffer.from(keyOf('a')).toString('hex'), Buffer.from(keyOf('b')).toString('hex')])
      .size,
    6,
  );
});

t.test('deriveKey returns a copy the caller cannot use to change the cache', async (t) => {
  const keyring = twoKeyring('a');
  keyring.deriveKey('p').fill(0);
  t.notSame(keyring.deriveKey('p'), new Uint8Array(32));
});

t.test('deriveKey with an unknown tag is UNKNOWN_KEY; a bad purpose is a TypeError', async (t) => {
  const keyring = twoKeyring('a');
  t.throws(() => keyring.deriveKey('p', 'zz'), { code: UnknownKeyError.code });
  t.throws(() => keyring.deriveKey(''), TypeError);
  t.throws(() => keyring.deriveKey(1 as unknown as string), TypeError);
});

t.test('the keyring object exposes no key material', async (t) => {
  const keyring = twoKeyring('a');
  const shown = `${JSON.stringify(keyring)} ${(await import('node:util')).inspect(keyring, { depth: 5, showHidden: true })}`;
  t.notOk(shown.includes(KEY_A.slice(0, 10)));
  t.notOk(shown.includes(Buffer.from(keyOf('a')).toString('hex').slice(0, 10)));
  t.ok(Object.isFrozen(keyring));
});
