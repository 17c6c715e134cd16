import type { StoredAuthenticator } from '@twofold/core';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import {
  activate,
  confirmation,
  copyCredential,
  enroll,
  issueNonce,
  nonceValue,
  pendingRecord,
  recoveryHashes,
  register,
  registration,
  sealedSecret,
  webAuthnRecord,
} from '../fixtures.js';
import { readAuthenticator, readCounter, readList, readNonce } from '../reads.js';

/**
 * Strings that break stores which build keys by concatenation, escape badly, match patterns, or
 * compare with a collation: each is used as a user id suffix, an authenticator id and a key.
 */
const TRICKY: ReadonlyArray<{ label: string; text: string }> = [
  { label: 'Redis hash-tag braces', text: '{tag}' },
  { label: 'unbalanced braces', text: '}{' },
  { label: 'colons', text: ':totp:1:' },
  { label: 'quotes and backslashes', text: `'"\\'` },
  { label: 'percent signs and underscores', text: '%_%25' },
  { label: 'glob and regex characters', text: '*?[a-z]^$.+()|' },
  { label: 'SQL', text: "'); DROP TABLE users;--" },
  { label: 'unicode', text: 'Zoë-東京-😀-\u0301' },
  { label: 'spaces', text: ' a  b ' },
  { label: 'JSON', text: '{"a":[1,null]}' },
];

/** Strings a case-, accent-, width-, normalization- or space-insensitive collation would merge. */
const LOOK_ALIKES: ReadonlyArray<{ label: string; texts: readonly string[] }> = [
  { label: 'letter case', texts: ['-alice', '-Alice', '-ALICE'] },
  { label: 'trailing spaces', texts: ['-a', '-a ', '-a  '] },
  { label: 'Unicode normalization (NFC, NFD)', texts: ['-\u00e9', '-e\u0301'] },
  { label: 'accents', texts: ['-e', '-\u00e9'] },
  { label: 'full-width letters', texts: ['-a', '-\uff41'] },
  { label: 'German sharp s', texts: ['-ss', '-\u00df'] },
];

/** Pairs where one id matches the other under LIKE, glob or prefix matching. */
const PATTERN_PAIRS: ReadonlyArray<{ label: string; deleted: string; kept: string }> = [
  { label: 'glob *', deleted: '*', kept: 'x' },
  { label: 'glob ?', deleted: '?', kept: 'y' },
  { label: 'glob [..]', deleted: '[xy]', kept: 'x' },
  { label: 'LIKE %', deleted: '%', kept: 'abc' },
  { label: 'LIKE _', deleted: '_', kept: 'z' },
  { label: 'prefix', deleted: '', kept: ':totp' },
  { label: 'regex .', deleted: '.', kept: 'q' },
];

/**
 * A string of exactly `length` UTF-16 code units: `start` padded with `fill` (one or two units),
 * always ending in one or two ASCII `x` so that its last character can be swapped safely.
 */
function padTo(start: string, fill: string, length: number): string {
  let text = start;
  while (text.length + fill.length < length) text += fill;
  return text.padEnd(length, 'x');
}

/** Writes one of each kind of record for (userId, id/key) and returns what each read should see. */
async function writeEverything(env: BehaviourEnv, userId: string, key: string) {
  const { record, codes } = await activate(env, userId, { id: key });
  const nonce = await issueNonce(env, userId, key, 60_000);
  await env.store.incrementCounter(userId, key, 60_000, env.clock.now());
  return { record, codes, nonce };
}

/** Writes everything for one user per text, each id a fresh base id followed by the text. */
async function writeLookAlikeUsers(env: BehaviourEnv, texts: readonly string[]) {
  const base = env.userId();
  const written = [];
  for (const text of texts) {
    const userId = `${base}${text}`;
    written.push({ userId, ...(await writeEverything(env, userId, 'totp')) });
  }
  return written;
}

async function readEverything(env: BehaviourEnv, userId: string, key: string) {
  return {
    record: await readAuthenticator(env, userId, key),
    count: await env.store.countRecoveryCodes(userId),
    nonce: await readNonce(env, userId, key),
    counter: (await readCounter(env, userId, key))?.count ?? null,
  };
}

export const values: BehaviourGroup = {
  name: 'values',
  behaviours: [
    {
      name: 'user ids with tricky characters each keep their own records',
      async run(t, env) {
        const written = [];
        for (const { label, text } of TRICKY) {
          const userId = env.userId(text);
          written.push({ label, userId, ...(await writeEverything(env, userId, 'totp')) });
        }
        for (const { label, userId, record, codes, nonce } of written) {
          t.strictSame(
            await readEverything(env, userId, 'totp'),
            { record, count: codes.length, nonce, counter: 1 },
            label,
          );
        }
      },
    },
    {
      name: 'authenticator ids and keys with tricky characters each keep their own records',
      async run(t, env) {
        const userId = env.userId();
        const written: Array<{ label: string; text: string; record: StoredAuthenticator; nonce: string }> =
          [];
        for (const [index, { label, text }] of TRICKY.entries()) {
          // TOTP authenticators and WebAuthn credentials in turn, each created later than the last.
          env.clock.advance(1_000);
          const record =
            index % 2 === 0
              ? (await activate(env, userId, { id: text })).record
              : (await register(env, userId, { id: text })).record;
          const nonce = await issueNonce(env, userId, text, 60_000);
          await env.store.incrementCounter(userId, text, 60_000, env.clock.now());
          written.push({ label, text, record, nonce });
        }
        for (const { label, text, record, nonce } of written) {
          t.strictSame(
            {
              record: await readAuthenticator(env, userId, text),
              nonce: await readNonce(env, userId, text),
              counter: (await readCounter(env, userId, text))?.count,
            },
            { record: record.type === 'totp' ? record : null, nonce, counter: 1 },
            label,
          );
        }
        t.strictSame(
          await readList(env, userId),
          written.map(({ record }) => record),
          'every one listed, in the order written',
        );
        const now = env.clock.now();
        const renamed = [];
        for (const { label, text, record } of written) {
          t.equal(await env.store.renameAuthenticator(userId, text, label, now), true, `${label}: renamed`);
          if (record.type === 'webauthn') {
            const use = { counter: 1, backupState: false, now };
            t.equal(await env.store.useWebAuthnCredential(userId, text, use), true, `${label}: used`);
            renamed.push({ ...record, name: label, counter: 1, lastUsedAt: now });
          } else {
            renamed.push({ ...record, name: label });
          }
        }
        t.strictSame(await readList(env, userId), renamed, 'each renamed (and used) by its own id');
        const outcomes = [];
        for (const { text } of written) outcomes.push(await env.store.removeAuthenticator(userId, text, now));
        t.strictSame(
          outcomes,
          [...written.slice(1).map(() => 'removed'), 'disabled'],
          'each removed by its own id, the last one disabling',
        );
      },
    },
    {
      name: 'user ids that differ only by case, spaces, accents or normalization are different users',
      async run(t, env) {
        for (const { label, texts } of LOOK_ALIKES) {
          const written = await writeLookAlikeUsers(env, texts);
          for (const [index, { userId, record, codes, nonce }] of written.entries()) {
            t.strictSame(
              await readEverything(env, userId, 'totp'),
              { record, count: codes.length, nonce, counter: 1 },
              `${label}: variant ${index}`,
            );
          }
          const [first, ...others] = written;
          await env.store.deleteTwoFactor(first!.userId);
          for (const [index, { userId, record }] of others.entries()) {
            t.strictSame(
              await readAuthenticator(env, userId),
              record,
              `${label}: variant ${index + 1} survives deleting variant 0`,
            );
          }
        }
      },
    },
    {
      name: 'keys that differ only by case, spaces, accents or normalization are different keys',
      async run(t, env) {
        for (const { label, texts } of LOOK_ALIKES) {
          const userId = env.userId();
          const written = [];
          for (const text of texts) {
            const key = `k${text}`;
            const nonce = await issueNonce(env, userId, key, 60_000);
            written.push({ key, nonce, record: (await activate(env, userId, { id: key })).record });
          }
          for (const [index, { key, nonce, record }] of written.entries()) {
            t.equal(await readNonce(env, userId, key), nonce, `${label}: nonce ${index}`);
            t.strictSame(
              await readAuthenticator(env, userId, key),
              record,
              `${label}: authenticator ${index}`,
            );
          }
        }
      },
    },
    {
      name: 'WebAuthn credentials whose ids differ only by case, spaces, accents or normalization are different',
      async run(t, env) {
        for (const { label, texts } of LOOK_ALIKES) {
          const userId = env.userId();
          const records = [];
          for (const [index, text] of texts.entries()) {
            const record = webAuthnRecord(userId, env.clock.now(), {
              id: `k${text}`,
              createdAt: env.clock.now() + index,
            });
            t.equal(
              await env.store.addWebAuthnCredential(copyCredential(record), registration(env)),
              index === 0 ? 'enabled' : 'added',
              `${label}: credential ${index} added`,
            );
            records.push(record);
          }
          const [first, ...others] = records;
          const now = env.clock.now();
          t.equal(
            await env.store.renameAuthenticator(userId, first!.id, 'Renamed', now),
            true,
            `${label}: renamed`,
          );
          t.equal(
            await env.store.useWebAuthnCredential(userId, first!.id, { counter: 9, backupState: false, now }),
            true,
            `${label}: used`,
          );
          t.strictSame(
            await readList(env, userId),
            [{ ...first!, name: 'Renamed', counter: 9, lastUsedAt: now }, ...others],
            `${label}: only credential 0 changed`,
          );
          t.equal(
            await env.store.removeAuthenticator(userId, first!.id, now),
            'removed',
            `${label}: removed`,
          );
          t.strictSame(await readList(env, userId), others, `${label}: the others stay`);
        }
      },
    },
    {
      name: 'deleteTwoFactor matches the user id exactly, never as a pattern or prefix',
      async run(t, env) {
        for (const { label, deleted, kept } of PATTERN_PAIRS) {
          const base = env.userId();
          const victim = `${base}${kept}`;
          const { record, codes } = await activate(env, victim);
          await activate(env, `${base}${deleted}`);
          t.equal(await env.store.deleteTwoFactor(`${base}${deleted}`), true, `${label}: deleted`);
          t.strictSame(
            await readAuthenticator(env, victim),
            record,
            `${label}: the other user's authenticator is kept`,
          );
          t.equal(await env.store.countRecoveryCodes(victim), codes.length, `${label}: and its codes`);
        }
      },
    },
    {
      name: 'user ids and keys joined with a separator never collide',
      async run(t, env) {
        const base = env.userId();
        const pairs = [
          { userId: base, key: 'a:b' },
          { userId: `${base}:a`, key: 'b' },
        ];
        const written = [];
        for (const { userId, key } of pairs) {
          const nonce = await issueNonce(env, userId, key, 60_000);
          const record = await enroll(env, userId, { id: key });
          written.push({ userId, key, nonce, record });
        }
        await env.store.incrementCounter(pairs[0]!.userId, pairs[0]!.key, 60_000, env.clock.now());
        for (const [index, { userId, key, nonce, record }] of written.entries()) {
          t.equal(await readNonce(env, userId, key), nonce, `pair ${index}: nonce`);
          t.strictSame(await readAuthenticator(env, userId, key), record, `pair ${index}: authenticator`);
        }
        t.equal(
          await readCounter(env, pairs[1]!.userId, pairs[1]!.key),
          null,
          'a counter of one pair is not visible under the other',
        );
      },
    },
    {
      name: 'user ids of 255 characters work, in ASCII and in multi-byte characters',
      async run(t, env) {
        const fills = [
          { label: 'ASCII', fill: 'x' },
          { label: 'two-byte UTF-8', fill: '\u00e9' },
          { label: 'three-byte UTF-8', fill: '\u20ac' },
          { label: 'four-byte UTF-8 (surrogate pairs)', fill: '😀' },
        ];
        for (const { label, fill } of fills) {
          const userId = padTo(env.userId(), fill, 255);
          t.equal(userId.length, 255, `${label}: the id has 255 characters`);
          const { record, codes, nonce } = await writeEverything(env, userId, 'totp');
          t.strictSame(
            await readEverything(env, userId, 'totp'),
            { record, count: codes.length, nonce, counter: 1 },
            `${label}: records read back`,
          );
          const sibling = `${userId.slice(0, 254)}y`;
          t.equal(
            await readAuthenticator(env, sibling),
            null,
            `${label}: an id differing in the last character is another user`,
          );
          t.equal(await env.store.deleteTwoFactor(userId), true, `${label}: deleted`);
        }
      },
    },
    {
      name: 'authenticator ids, keys, nonce values and recovery code hashes of 255 characters work',
      async run(t, env) {
        const userId = env.userId();
        const id = padTo('phone-', '\u00e9', 255);
        const key = padTo('challenge:', '😀', 255);
        const value = padTo(nonceValue(), 'v', 255);
        const hashes = recoveryHashes(3).map((hash) => padTo(hash, 'h', 255));
        const { record } = await activate(env, userId, { id, codes: hashes });
        t.equal(record.id, id, 'authenticator id');
        await env.store.putNonce(userId, key, value, env.clock.now() + 60_000, env.clock.now());
        t.equal(await readNonce(env, userId, key), value, 'nonce key and value');
        t.match(
          await env.store.incrementCounter(userId, key, 60_000, env.clock.now()),
          { count: 1 },
          'counter key',
        );
        t.equal(await env.store.consumeRecoveryCode(userId, hashes[1]!), true, 'recovery code hash');
        t.equal(
          await env.store.consumeRecoveryCode(userId, hashes[1]!.slice(0, 254)),
          false,
          'exact match only',
        );
      },
    },
    {
      name: 'sealed secrets of 1,000 characters round-trip and compare-and-set exactly',
      async run(t, env) {
        const userId = env.userId();
        const long = sealedSecret(1_000);
        const record = pendingRecord(userId, env.clock.now(), { sealedSecret: long });
        t.equal(await env.store.savePendingAuthenticator(record, env.clock.now()), true, 'saved');
        t.strictSame(await readAuthenticator(env, userId), record, 'read back');
        const next = sealedSecret(1_000);
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', `${long.slice(0, 999)}!`, next),
          false,
          'a secret differing in the last character is not expected',
        );
        t.equal(await env.store.replaceSealedSecret(userId, 'totp', long, next), true, 'replaced');
        t.match(await readAuthenticator(env, userId), { sealedSecret: next }, 'the new secret reads back');
        const codes = recoveryHashes(1);
        const almost = confirmation(env, `${next.slice(0, 999)}!`, { counter: 1, codes });
        t.equal(
          await env.store.confirmAuthenticator(userId, 'totp', almost),
          'missing',
          'confirm refuses a secret differing in the last character',
        );
        t.equal(
          await env.store.confirmAuthenticator(
            userId,
            'totp',
            confirmation(env, next, { counter: 1, codes }),
          ),
          'enabled',
          'and accepts the exact one',
        );
      },
    },
    {
      name: 'takeAttempt, resetCounterIfUnchanged and takeNonceAndDeleteTwoFactor use tricky ids and keys exactly',
      async run(t, env) {
        for (const { label, text } of TRICKY) {
          const userId = env.userId(text);
          const { nonce } = await writeEverything(env, userId, text);
          const state = await env.store.takeAttempt(userId, text, 5, 60_000, env.clock.now());
          t.match(state, { taken: true, count: 2 }, `${label}: takeAttempt counts on the counter`);
          t.equal(
            await env.store.resetCounterIfUnchanged(userId, text, state),
            true,
            `${label}: resetCounterIfUnchanged finds it`,
          );
          t.equal(
            await env.store.takeNonceAndDeleteTwoFactor(userId, text, nonce, env.clock.now()),
            true,
            `${label}: takeNonceAndDeleteTwoFactor finds the nonce`,
          );
          t.strictSame(
            await readEverything(env, userId, text),
            { record: null, count: 0, nonce: null, counter: null },
            `${label}: and everything is gone`,
          );
        }
        for (const { label, texts } of LOOK_ALIKES) {
          const written = await writeLookAlikeUsers(env, texts);
          const [first, ...others] = written;
          const now = env.clock.now();
          t.match(
            await env.store.takeAttempt(first!.userId, 'totp', 1, 60_000, now),
            { taken: false, count: 1 },
            `${label}: variant 0 is at its limit`,
          );
          t.equal(
            await env.store.takeNonceAndDeleteTwoFactor(first!.userId, 'totp', first!.nonce, now),
            true,
            `${label}: variant 0 recovered`,
          );
          for (const [index, { userId, record, codes, nonce }] of others.entries()) {
            t.strictSame(
              await readEverything(env, userId, 'totp'),
              { record, count: codes.length, nonce, counter: 1 },
              `${label}: variant ${index + 1} untouched`,
            );
          }
        }
      },
    },
  ],
};
