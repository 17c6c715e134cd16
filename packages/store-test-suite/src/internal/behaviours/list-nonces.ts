import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { issueNonce, NONCE_LIFETIME_MS as LIFETIME_MS, nonceValue } from '../fixtures.js';

/** The user's nonces under `prefix`, as listNonces reads them now. */
function list(env: BehaviourEnv, userId: string, prefix: string) {
  return env.store.listNonces(userId, prefix, env.clock.now());
}

/** The keys listNonces resolves for `prefix` now. */
async function listKeys(env: BehaviourEnv, userId: string, prefix: string): Promise<string[]> {
  return (await list(env, userId, prefix)).map((entry) => entry.key);
}

/** Puts a fresh nonce under each of `keys` for the user, in that order, all live for the suite's lifetime. */
async function issueAll(env: BehaviourEnv, userId: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) await issueNonce(env, userId, key);
}

/**
 * Keys with the characters that patterns treat specially (LIKE `%` and `_`, glob `*`, `?`, `[...]`
 * and `\`), and the keys each would wrongly match as a pattern: listing each prefix must resolve
 * exactly the keys that start with it, character for character.
 */
const PATTERN_KEYS: readonly string[] = [
  'a%b:1',
  'a_b:1',
  'a*b:1',
  'a?b:1',
  'a[b]:1',
  'a\\b:1',
  'axb:1',
  'ab:1',
  'b:1',
];

export const listNonces: BehaviourGroup = {
  name: 'listNonces',
  behaviours: [
    {
      name: 'listNonces resolves an empty list for a user without nonces or without one under the prefix',
      async run(t, env) {
        t.strictSame(await list(env, env.userId(), 'refresh:'), [], 'a user without nonces');
        const userId = env.userId();
        await issueAll(env, userId, ['recovery', 'refres', 'refresh', 'Refresh:1', 'x:refresh:1']);
        t.strictSame(await list(env, userId, 'refresh:'), [], 'none under the prefix');
      },
    },
    {
      name: 'listNonces lists the live nonces under the prefix with their value and expiry, sorted by key',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        // Written out of order; the expected order is by UTF-16 code units, which a locale collation
        // would not give ('B' before 'a', '10' before '9', 'a-c' before 'ab', a key equal to the prefix first).
        const keys = [
          'refresh:b',
          'refresh:a-c',
          'refresh:10',
          'refresh:',
          'refresh:B',
          'refresh:ab',
          'refresh:9',
        ];
        const written = new Map<string, { value: string; expiresAt: number }>();
        for (const [index, key] of keys.entries()) {
          const value = nonceValue();
          const expiresAt = now + LIFETIME_MS + index * 1_001;
          await env.store.putNonce(userId, key, value, expiresAt, now);
          written.set(key, { value, expiresAt });
        }
        await issueAll(env, userId, ['refresh', 'family:refresh:1', 'recovery']);
        const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        t.strictSame(
          sorted,
          ['refresh:', 'refresh:10', 'refresh:9', 'refresh:B', 'refresh:a-c', 'refresh:ab', 'refresh:b'],
          'the expected order (a check of the suite itself)',
        );
        t.strictSame(
          await list(env, userId, 'refresh:'),
          sorted.map((key) => ({ key, ...written.get(key)! })),
          'every nonce under the prefix, each value and expiry exact, in code-unit order',
        );
        t.strictSame(
          await list(env, userId, 'refresh:a'),
          ['refresh:a-c', 'refresh:ab'].map((key) => ({ key, ...written.get(key)! })),
          'a longer prefix narrows the list',
        );
        t.strictSame(
          await listKeys(env, userId, 'refresh:ab'),
          ['refresh:ab'],
          'a prefix equal to a whole key lists it',
        );
      },
    },
    {
      name: 'listNonces matches the prefix literally: % _ * ? [ ] and backslash are plain characters',
      async run(t, env) {
        const userId = env.userId();
        await issueAll(env, userId, PATTERN_KEYS);
        const expectations: ReadonlyArray<[string, string[]]> = [
          ['a%b', ['a%b:1']],
          ['a_b', ['a_b:1']],
          ['a*', ['a*b:1']],
          ['a?b', ['a?b:1']],
          ['a[b]', ['a[b]:1']],
          ['a[', ['a[b]:1']],
          ['a\\b', ['a\\b:1']],
          ['%', []],
          ['_', []],
          ['*', []],
          ['?', []],
          ['a', ['a%b:1', 'a*b:1', 'a?b:1', 'a[b]:1', 'a\\b:1', 'a_b:1', 'ab:1', 'axb:1']],
        ];
        for (const [prefix, keys] of expectations) {
          t.strictSame(await listKeys(env, userId, prefix), keys, `prefix ${JSON.stringify(prefix)}`);
        }
      },
    },
    {
      name: 'listNonces compares exactly: case, accents, width and normalization matter',
      async run(t, env) {
        const userId = env.userId();
        await issueAll(env, userId, [
          'ab:1',
          'AB:1',
          'Ab:1',
          '\u00e1b:1',
          '\uff41b:1',
          'e\u0301:1',
          '\u00e9:1',
          'ss:1',
          '\u00df:1',
        ]);
        const expectations: ReadonlyArray<[string, string[]]> = [
          ['ab', ['ab:1']],
          ['AB', ['AB:1']],
          ['A', ['AB:1', 'Ab:1']],
          ['\u00e1', ['\u00e1b:1']],
          ['\uff41', ['\uff41b:1']],
          ['\u00e9', ['\u00e9:1']],
          ['e\u0301', ['e\u0301:1']],
          ['e', ['e\u0301:1']],
          ['ss', ['ss:1']],
          ['\u00df', ['\u00df:1']],
          ['ab ', []],
        ];
        for (const [prefix, keys] of expectations) {
          t.strictSame(await listKeys(env, userId, prefix), keys, `prefix ${JSON.stringify(prefix)}`);
        }
      },
    },
    {
      name: 'listNonces lists a nonce until the millisecond before its expiresAt, and not at it',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const short = nonceValue();
        const long = nonceValue();
        await env.store.putNonce(userId, 'device:1', short, now + LIFETIME_MS, now);
        await env.store.putNonce(userId, 'device:2', long, now + 2 * LIFETIME_MS, now);
        env.clock.advance(LIFETIME_MS - 1);
        t.strictSame(
          await listKeys(env, userId, 'device:'),
          ['device:1', 'device:2'],
          'both live at expiresAt - 1',
        );
        env.clock.advance(1);
        t.strictSame(
          await list(env, userId, 'device:'),
          [{ key: 'device:2', value: long, expiresAt: now + 2 * LIFETIME_MS }],
          'the first is gone at its expiresAt',
        );
        env.clock.advance(LIFETIME_MS);
        t.strictSame(await list(env, userId, 'device:'), [], 'both gone');
      },
    },
    {
      name: "listNonces lists only the user's own nonces, not those of a user whose id starts with it",
      async run(t, env) {
        const base = env.userId();
        const alice = `${base}-a`;
        const others = [`${alice}x`, `${alice}:`, `${base}-`, `${base}-A`, env.userId()];
        for (const other of others) await issueAll(env, other, ['refresh:other']);
        const value = await issueNonce(env, alice, 'refresh:mine');
        t.strictSame(await listKeys(env, alice, 'refresh:'), ['refresh:mine'], 'only her own');
        t.equal((await list(env, alice, 'refresh:'))[0]?.value, value, 'with her value');
        t.strictSame(await listKeys(env, others[0]!, 'refresh:'), ['refresh:other'], 'and theirs to them');
      },
    },
    {
      name: 'listNonces shows what the nonce writes left: a swapped value and expiry, nothing taken or deleted',
      async run(t, env) {
        const userId = env.userId();
        const first = await issueNonce(env, userId, 'refresh:1');
        const taken = await issueNonce(env, userId, 'refresh:2');
        await issueNonce(env, userId, 'refresh:3');
        const next = nonceValue();
        const expiresAt = env.clock.now() + 3 * LIFETIME_MS + 1;
        t.equal(
          await env.store.swapNonce(userId, 'refresh:1', first, next, expiresAt, env.clock.now()),
          true,
          'swapped',
        );
        t.equal(await env.store.takeNonce(userId, 'refresh:2', taken, env.clock.now()), true, 'taken');
        await env.store.deleteNonce(userId, 'refresh:3');
        const claimed = nonceValue();
        const claimedExpiry = env.clock.now() + LIFETIME_MS;
        t.equal(
          await env.store.claimNonce(userId, 'refresh:4', claimed, claimedExpiry, env.clock.now()),
          true,
          'claimed',
        );
        t.strictSame(
          await list(env, userId, 'refresh:'),
          [
            { key: 'refresh:1', value: next, expiresAt },
            { key: 'refresh:4', value: claimed, expiresAt: claimedExpiry },
          ],
          'the swapped value with its new expiry, and the claimed one',
        );
        env.clock.advance(2 * LIFETIME_MS);
        t.strictSame(await listKeys(env, userId, 'refresh:'), ['refresh:1'], 'the swap moved the expiry');
      },
    },
  ],
};
