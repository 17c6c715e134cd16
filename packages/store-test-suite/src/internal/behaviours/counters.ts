import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { countFailures, COUNTER_TTL_MS as TTL_MS } from '../fixtures.js';
import { race, range } from '../race.js';
import { readCounter } from '../reads.js';

/** Starts `count` increments of one counter at once and checks none was lost. */
async function parallelIncrements(t: Test, env: BehaviourEnv, count: number): Promise<void> {
  for (let round = 1; round <= env.rounds; round++) {
    const userId = env.userId();
    const now = env.clock.now();
    const states = await race(count, () => env.store.incrementCounter(userId, 'failures', TTL_MS, now));
    t.strictSame(
      states.map((state) => state.count).sort((a, b) => a - b),
      range(1, count),
      `round ${round}: the increments resolved 1..${count}, each once`,
    );
    t.strictSame(
      await env.store.getCounter(userId, 'failures', now),
      { count, expiresAt: now + TTL_MS },
      `round ${round}: the counter is ${count}`,
    );
  }
}

export const counters: BehaviourGroup = {
  name: 'counters',
  behaviours: [
    {
      name: 'getCounter resolves null for an absent counter',
      async run(t, env) {
        t.equal(await readCounter(env, env.userId()), null, 'null');
      },
    },
    {
      name: 'incrementCounter creates an absent counter at 1 expiring at now + ttl',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const expected = { count: 1, expiresAt: now + TTL_MS };
        t.strictSame(await env.store.incrementCounter(userId, 'failures', TTL_MS, now), expected, 'resolved');
        t.strictSame(await env.store.getCounter(userId, 'failures', now), expected, 'stored');
      },
    },
    {
      name: 'each increment adds one and moves the expiry to now + ttl',
      async run(t, env) {
        const userId = env.userId();
        await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now());
        for (const count of [2, 3, 4]) {
          env.clock.advance(TTL_MS - 1);
          const expected = { count, expiresAt: env.clock.now() + TTL_MS };
          t.strictSame(
            await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now()),
            expected,
            `increment ${count} resolved`,
          );
          t.strictSame(await readCounter(env, userId), expected, `increment ${count} stored`);
        }
      },
    },
    {
      name: 'the expiry follows the latest ttl, even a shorter one',
      async run(t, env) {
        const userId = env.userId();
        await env.store.incrementCounter(userId, 'failures', 3_600_000, env.clock.now());
        env.clock.advance(10);
        const expected = { count: 2, expiresAt: env.clock.now() + 1_001 };
        t.strictSame(
          await env.store.incrementCounter(userId, 'failures', 1_001, env.clock.now()),
          expected,
          'resolved with the shorter expiry',
        );
        env.clock.advance(1_001);
        t.equal(await readCounter(env, userId), null, 'gone at it');
      },
    },
    {
      name: 'a counter is live until the millisecond before expiresAt and gone at it',
      async run(t, env) {
        const userId = env.userId();
        const state = await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now());
        env.clock.advance(TTL_MS - 1);
        t.strictSame(await readCounter(env, userId), state, 'live');
        env.clock.advance(1);
        t.equal(await readCounter(env, userId), null, 'gone');
      },
    },
    {
      name: 'an expired counter restarts at 1',
      async run(t, env) {
        const userId = env.userId();
        await countFailures(env, userId, 2);
        env.clock.advance(TTL_MS);
        const expected = { count: 1, expiresAt: env.clock.now() + TTL_MS };
        t.strictSame(
          await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now()),
          expected,
          'restarted',
        );
        t.strictSame(await readCounter(env, userId), expected, 'stored');
      },
    },
    {
      name: 'resetCounter deletes the counter, and the next increment starts at 1',
      async run(t, env) {
        const userId = env.userId();
        await countFailures(env, userId, 2);
        await env.store.resetCounter(userId, 'failures');
        t.equal(await readCounter(env, userId), null, 'gone');
        t.match(
          await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now()),
          { count: 1 },
          'starts at 1',
        );
        await env.store.resetCounter(env.userId(), 'failures');
        t.pass('resetting an absent counter resolves');
      },
    },
    {
      name: 'counters of different keys and users are independent',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const now = env.clock.now();
        await countFailures(env, alice, 3);
        await env.store.incrementCounter(alice, 'challenge:1', 60_000, now);
        await env.store.incrementCounter(bob, 'failures', 5_000, now);
        t.strictSame(await env.store.getCounter(alice, 'failures', now), {
          count: 3,
          expiresAt: now + TTL_MS,
        });
        t.strictSame(await env.store.getCounter(alice, 'challenge:1', now), {
          count: 1,
          expiresAt: now + 60_000,
        });
        t.strictSame(await env.store.getCounter(bob, 'failures', now), { count: 1, expiresAt: now + 5_000 });
        await env.store.resetCounter(alice, 'failures');
        t.equal(await env.store.getCounter(alice, 'failures', now), null, 'reset one key');
        t.match(await env.store.getCounter(alice, 'challenge:1', now), { count: 1 }, 'other key kept');
        t.match(await env.store.getCounter(bob, 'failures', now), { count: 1 }, 'other user kept');
      },
    },
    {
      name: '20 parallel increments count exactly 20',
      async run(t, env) {
        await parallelIncrements(t, env, 20);
      },
    },
    {
      name: 'parallel increments at the configured concurrency never lose a count',
      async run(t, env) {
        await parallelIncrements(t, env, env.concurrency);
      },
    },
  ],
};
