import { randomUUID } from 'node:crypto';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { issueNonce, NONCE_LIFETIME_MS as LIFETIME_MS, nonceValue } from '../fixtures.js';

// findNonces looks across every user of the store, and a database may be shared with other runs of
// the suite: each behaviour uses a nonce key of its own, so that only its users can hold it.

/** A nonce key no other behaviour or run uses: `due:<uuid>` followed by `suffix`. */
function freshKey(suffix = ''): string {
  return `due:${randomUUID()}${suffix}`;
}

/** What findNonces resolves for `key` now, with `page` (default: the first 1,000). */
function find(env: BehaviourEnv, key: string, page: { after?: string; limit: number } = { limit: 1_000 }) {
  return env.store.findNonces(key, env.clock.now(), page);
}

/** The user ids findNonces resolves for `key` now. */
async function findUsers(
  env: BehaviourEnv,
  key: string,
  page: { after?: string; limit: number } = { limit: 1_000 },
): Promise<string[]> {
  return (await find(env, key, page)).map((entry) => entry.userId);
}

/** Sorts user ids by UTF-16 code units (a copy). */
function byCodeUnits(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * User ids that share a fresh base and end in characters whose code-unit order differs from what a
 * locale collation gives (punctuation, upper and lower case, digits).
 */
function orderedUsers(env: BehaviourEnv): string[] {
  const base = env.userId();
  return ['-b', '-B', '-a', '-_', '-%', '-10', '-9', '-A'].map((suffix) => `${base}${suffix}`);
}

export const findNonces: BehaviourGroup = {
  name: 'findNonces',
  behaviours: [
    {
      name: 'findNonces resolves an empty list when no user has the key',
      async run(t, env) {
        const key = freshKey();
        t.strictSame(await find(env, key), [], 'nobody');
        await issueNonce(env, env.userId(), `${key}x`);
        t.strictSame(await find(env, key), [], 'a longer key is another key');
      },
    },
    {
      name: 'findNonces resolves every user with a live nonce named key, with value and expiry, sorted by user id',
      async run(t, env) {
        const key = freshKey();
        const now = env.clock.now();
        const users = orderedUsers(env);
        const written = new Map<string, { value: string; expiresAt: number }>();
        for (const [index, userId] of users.entries()) {
          const value = nonceValue();
          const expiresAt = now + LIFETIME_MS + index * 1_001;
          await env.store.putNonce(userId, key, value, expiresAt, now);
          await issueNonce(env, userId, `${key}:other`);
          written.set(userId, { value, expiresAt });
        }
        await issueNonce(env, env.userId(), 'recovery-due');
        const sorted = byCodeUnits(users);
        t.strictSame(
          sorted.map((userId) => userId.slice(userId.lastIndexOf('-'))),
          ['-%', '-10', '-9', '-A', '-B', '-_', '-a', '-b'],
          'the expected order (a check of the suite itself)',
        );
        t.strictSame(
          await find(env, key),
          sorted.map((userId) => ({ userId, key, ...written.get(userId)! })),
          'each user once, value and expiry exact, in code-unit order of user ids',
        );
      },
    },
    {
      name: 'findNonces matches the key exactly: never as a prefix, a pattern, or by case',
      async run(t, env) {
        const key = freshKey(':%_*?[x]\\');
        const exact = env.userId('-exact');
        await issueNonce(env, exact, key);
        const lookAlikes = [
          `${key}:1`,
          key.slice(0, -1),
          key.toUpperCase(),
          key.replace('%', 'x'),
          key.replace('_', 'x'),
          key.replace('*', 'xx'),
          key.replace('?', 'x'),
          key.replace('[x]', 'x'),
          `${key} `,
        ];
        const others: string[] = [];
        for (const lookAlike of lookAlikes) {
          const userId = env.userId('-other');
          others.push(userId);
          await issueNonce(env, userId, lookAlike);
        }
        t.strictSame(await findUsers(env, key), [exact], 'only the exact key');
        t.strictSame(
          await findUsers(env, lookAlikes[0]!),
          [others[0]],
          'and a longer key finds only its own',
        );
      },
    },
    {
      name: 'findNonces leaves out a nonce at exactly its expiresAt',
      async run(t, env) {
        const key = freshKey();
        const [early, late] = byCodeUnits([env.userId(), env.userId()]) as [string, string];
        const now = env.clock.now();
        await env.store.putNonce(early, key, nonceValue(), now + LIFETIME_MS, now);
        await env.store.putNonce(late, key, nonceValue(), now + 2 * LIFETIME_MS, now);
        env.clock.advance(LIFETIME_MS - 1);
        t.strictSame(await findUsers(env, key), [early, late], 'both at expiresAt - 1');
        env.clock.advance(1);
        t.strictSame(await findUsers(env, key), [late], 'the first gone at its expiresAt');
        t.strictSame(await findUsers(env, key, { limit: 1 }), [late], 'and not counted against the limit');
        env.clock.advance(LIFETIME_MS);
        t.strictSame(await find(env, key), [], 'both gone');
      },
    },
    {
      name: 'findNonces pages with after and limit: every user exactly once, in order, across several pages',
      async run(t, env) {
        const key = freshKey();
        const users = orderedUsers(env);
        for (const userId of users) await issueNonce(env, userId, key);
        const sorted = byCodeUnits(users);

        const pages: string[][] = [];
        let after: string | undefined;
        for (let round = 0; round < 10; round++) {
          const page = await findUsers(env, key, after === undefined ? { limit: 3 } : { after, limit: 3 });
          pages.push(page);
          if (page.length < 3) break;
          after = page.at(-1);
        }
        t.strictSame(pages, [sorted.slice(0, 3), sorted.slice(3, 6), sorted.slice(6)], 'pages of 3, 3 and 2');

        t.strictSame(
          await findUsers(env, key, { after: sorted.at(-1)!, limit: 3 }),
          [],
          'nothing after the last user',
        );
        t.strictSame(await findUsers(env, key, { limit: 1 }), sorted.slice(0, 1), 'limit 1');
        t.strictSame(
          await findUsers(env, key, { after: sorted[4]!, limit: 1_000 }),
          sorted.slice(5),
          'after is exclusive',
        );
        t.strictSame(
          await findUsers(env, key, { after: `${sorted[1]!} `, limit: 2 }),
          sorted.slice(2, 4),
          'after need not be a user id that has the key',
        );
        t.strictSame(
          await findUsers(env, key, { after: '', limit: 1_000 }),
          sorted,
          'after the empty string: all',
        );
      },
    },
    {
      name: 'findNonces shows what the nonce writes left: a swapped value and expiry, nothing taken or deleted',
      async run(t, env) {
        const key = freshKey();
        const [swapped, taken, deleted] = byCodeUnits([env.userId(), env.userId(), env.userId()]) as [
          string,
          string,
          string,
        ];
        const first = await issueNonce(env, swapped, key);
        const takenValue = await issueNonce(env, taken, key);
        await issueNonce(env, deleted, key);
        const next = nonceValue();
        const expiresAt = env.clock.now() + 3 * LIFETIME_MS + 1;
        t.equal(
          await env.store.swapNonce(swapped, key, first, next, expiresAt, env.clock.now()),
          true,
          'swapped',
        );
        t.equal(await env.store.takeNonce(taken, key, takenValue, env.clock.now()), true, 'taken');
        await env.store.deleteNonce(deleted, key);
        t.strictSame(
          await find(env, key),
          [{ userId: swapped, key, value: next, expiresAt }],
          'the swapped value with its new expiry only',
        );
      },
    },
  ],
};
