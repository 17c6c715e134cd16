import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { countFailures, issueNonce, COUNTER_TTL_MS as TTL_MS } from '../fixtures.js';
import { race, range } from '../race.js';
import { readCounter } from '../reads.js';

/**
 * Counts `start` attempts, then starts `env.concurrency` takeAttempt calls with `limit` at once
 * (a second later), and checks that exactly the attempts left below the limit were taken.
 */
async function parallelTakes(t: Test, env: BehaviourEnv, limit: number, start: number): Promise<void> {
  for (let round = 1; round <= env.rounds; round++) {
    const userId = env.userId();
    await countFailures(env, userId, start);
    env.clock.advance(1_000);
    const now = env.clock.now();
    const states = await race(env.concurrency, () =>
      env.store.takeAttempt(userId, 'failures', limit, TTL_MS, now),
    );
    const expected = Math.min(limit - start, env.concurrency);
    const taken = states.filter((state) => state.taken);
    t.equal(taken.length, expected, `round ${round}: exactly ${expected} of ${env.concurrency} were taken`);
    t.strictSame(
      taken.map((state) => state.count).sort((a, b) => a - b),
      range(start + 1, start + expected),
      `round ${round}: the taken ones resolved ${start + 1}..${start + expected}, each once`,
    );
    t.ok(
      taken.every((state) => state.expiresAt === now + TTL_MS),
      `round ${round}: the taken ones resolved the expiry now + ttl`,
    );
    const refused = states.filter((state) => !state.taken);
    t.strictSame(
      refused.filter((state) => state.count !== limit || state.expiresAt !== now + TTL_MS),
      [],
      `round ${round}: the ${refused.length} refused ones resolved the counter at the limit, ${limit}`,
    );
    t.strictSame(
      await env.store.getCounter(userId, 'failures', now),
      { count: start + expected, expiresAt: now + TTL_MS },
      `round ${round}: the counter is ${start + expected}`,
    );
  }
}

export const takeAttempt: BehaviourGroup = {
  name: 'takeAttempt',
  behaviours: [
    {
      name: 'takeAttempt counts an absent counter as 1 expiring at now + ttl',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now),
          { taken: true, count: 1, expiresAt: now + TTL_MS },
          'resolved',
        );
        t.strictSame(
          await env.store.getCounter(userId, 'failures', now),
          { count: 1, expiresAt: now + TTL_MS },
          'stored',
        );
      },
    },
    {
      name: 'each taken attempt adds one and moves the expiry to now + ttl',
      async run(t, env) {
        const userId = env.userId();
        await env.store.takeAttempt(userId, 'failures', 10, TTL_MS, env.clock.now());
        for (const count of [2, 3, 4]) {
          env.clock.advance(TTL_MS - 1);
          const expiresAt = env.clock.now() + TTL_MS;
          t.strictSame(
            await env.store.takeAttempt(userId, 'failures', 10, TTL_MS, env.clock.now()),
            { taken: true, count, expiresAt },
            `attempt ${count} resolved`,
          );
          t.strictSame(await readCounter(env, userId), { count, expiresAt }, `attempt ${count} stored`);
        }
      },
    },
    {
      name: 'at the limit takeAttempt refuses with the standing count and expiry and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const start = env.clock.now();
        for (let i = 0; i < 3; i++) await env.store.takeAttempt(userId, 'failures', 3, TTL_MS, start);
        const standing = { count: 3, expiresAt: start + TTL_MS };
        env.clock.advance(1_000);
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 3, TTL_MS, env.clock.now()),
          { taken: false, ...standing },
          'refused at the limit',
        );
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 2, 2 * TTL_MS, env.clock.now()),
          { taken: false, ...standing },
          'refused above the limit',
        );
        t.strictSame(await readCounter(env, userId), standing, 'count and expiry unchanged');
        env.clock.advance(standing.expiresAt - 1 - env.clock.now());
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 3, TTL_MS, env.clock.now()),
          { taken: false, ...standing },
          'still refused a millisecond before the expiry',
        );
        env.clock.advance(1);
        t.equal(
          await readCounter(env, userId),
          null,
          'gone at the expiry of the last taken attempt: refusals never moved it',
        );
      },
    },
    {
      name: 'takeAttempt restarts an expired counter at 1, even one at the limit',
      async run(t, env) {
        const userId = env.userId();
        await env.store.takeAttempt(userId, 'failures', 2, TTL_MS, env.clock.now());
        await env.store.takeAttempt(userId, 'failures', 2, TTL_MS, env.clock.now());
        env.clock.advance(TTL_MS);
        const now = env.clock.now();
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 2, TTL_MS, now),
          { taken: true, count: 1, expiresAt: now + TTL_MS },
          'taken, restarted at 1',
        );
        t.strictSame(
          await env.store.getCounter(userId, 'failures', now),
          { count: 1, expiresAt: now + TTL_MS },
          'stored',
        );
      },
    },
    {
      name: 'takeAttempt with limit 1 takes exactly one attempt',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const state = { count: 1, expiresAt: now + TTL_MS };
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 1, TTL_MS, now),
          { taken: true, ...state },
          'the first is taken',
        );
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 1, TTL_MS, now),
          { taken: false, ...state },
          'the second is refused',
        );
        t.strictSame(await env.store.getCounter(userId, 'failures', now), state, 'the counter is 1');
      },
    },
    {
      name: 'takeAttempt counts on the counter of incrementCounter, getCounter and resetCounter',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const expiresAt = now + TTL_MS;
        await env.store.incrementCounter(userId, 'failures', TTL_MS, now);
        await env.store.incrementCounter(userId, 'failures', TTL_MS, now);
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now),
          { taken: true, count: 3, expiresAt },
          'continues from the increments',
        );
        t.strictSame(await env.store.getCounter(userId, 'failures', now), { count: 3, expiresAt }, 'read');
        t.strictSame(
          await env.store.incrementCounter(userId, 'failures', TTL_MS, now),
          { count: 4, expiresAt },
          'an increment continues from it',
        );
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 4, TTL_MS, now),
          { taken: false, count: 4, expiresAt },
          'the increments count toward the limit',
        );
        await env.store.resetCounter(userId, 'failures');
        t.strictSame(
          await env.store.takeAttempt(userId, 'failures', 4, TTL_MS, now),
          { taken: true, count: 1, expiresAt },
          'resetCounter resets it',
        );
      },
    },
    {
      name: 'takeAttempt counters of different keys and users are independent',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const now = env.clock.now();
        const value = await issueNonce(env, alice, 'failures', TTL_MS);
        t.match(await env.store.takeAttempt(alice, 'failures', 1, TTL_MS, now), { taken: true, count: 1 });
        t.match(
          await env.store.takeAttempt(alice, 'challenge:1', 1, 60_000, now),
          { taken: true, count: 1 },
          "another key of alice's is taken",
        );
        t.match(
          await env.store.takeAttempt(bob, 'failures', 1, 5_000, now),
          { taken: true, count: 1 },
          "bob's counter of the same key is taken",
        );
        t.match(
          await env.store.takeAttempt(alice, 'failures', 1, TTL_MS, now),
          { taken: false, count: 1 },
          'alice is at her limit',
        );
        t.equal(await env.store.getNonce(alice, 'failures', now), value, 'a nonce of the same key is kept');
        await env.store.resetCounter(alice, 'failures');
        t.match(
          await env.store.takeAttempt(bob, 'failures', 1, 5_000, now),
          { taken: false, count: 1 },
          "resetting alice's leaves bob's",
        );
        t.match(
          await env.store.takeAttempt(alice, 'challenge:1', 1, 60_000, now),
          { taken: false, count: 1 },
          "resetting one key of alice's leaves the other",
        );
      },
    },
    {
      name: 'of concurrent takeAttempt calls on a fresh counter with limit 10 exactly 10 are taken, as 1..10',
      async run(t, env) {
        await parallelTakes(t, env, 10, 0);
      },
    },
    {
      name: 'of concurrent takeAttempt calls with limit 1 exactly one is taken',
      async run(t, env) {
        await parallelTakes(t, env, 1, 0);
      },
    },
    {
      name: 'of concurrent takeAttempt calls on a counter at 7 with limit 10 exactly 3 are taken, as 8..10',
      async run(t, env) {
        await parallelTakes(t, env, 10, 7);
      },
    },
  ],
};
