import type { BehaviourGroup } from '../behaviour.js';
import { COUNTER_TTL_MS as TTL_MS } from '../fixtures.js';
import { raceOneAmong, range } from '../race.js';
import { readCounter } from '../reads.js';

export const resetCounterIfUnchanged: BehaviourGroup = {
  name: 'resetCounterIfUnchanged',
  behaviours: [
    {
      name: 'resetCounterIfUnchanged deletes a counter that still holds the expected state',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        // As the engine passes it: the state takeAttempt resolved, `taken` and all.
        const taken = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
        t.equal(await env.store.resetCounterIfUnchanged(userId, 'failures', taken), true, 'deleted');
        t.equal(await env.store.getCounter(userId, 'failures', now), null, 'gone');
        t.match(
          await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now),
          { taken: true, count: 1 },
          'the next attempt starts at 1',
        );
        await env.store.incrementCounter(userId, 'failures', TTL_MS, now);
        const read = await env.store.getCounter(userId, 'failures', now);
        t.strictSame(read, { count: 2, expiresAt: now + TTL_MS }, 'counted again');
        t.equal(
          await env.store.resetCounterIfUnchanged(userId, 'failures', read!),
          true,
          'deleted with the state getCounter read',
        );
        t.equal(await env.store.getCounter(userId, 'failures', now), null, 'gone again');
      },
    },
    {
      name: 'resetCounterIfUnchanged keeps a counter counted again since, and resolves false',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const first = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
        const second = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
        t.equal(
          await env.store.resetCounterIfUnchanged(userId, 'failures', first),
          false,
          'refused after another takeAttempt',
        );
        t.strictSame(
          await env.store.getCounter(userId, 'failures', now),
          { count: 2, expiresAt: now + TTL_MS },
          'kept at 2',
        );
        await env.store.incrementCounter(userId, 'failures', TTL_MS, now);
        t.equal(
          await env.store.resetCounterIfUnchanged(userId, 'failures', second),
          false,
          'refused after an incrementCounter',
        );
        t.strictSame(
          await env.store.getCounter(userId, 'failures', now),
          { count: 3, expiresAt: now + TTL_MS },
          'kept at 3',
        );
      },
    },
    {
      name: 'resetCounterIfUnchanged keeps a counter whose expiry differs from the expected one',
      async run(t, env) {
        const userId = env.userId();
        const state = await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now());
        for (const delta of [1, -1, 1_000]) {
          t.equal(
            await env.store.resetCounterIfUnchanged(userId, 'failures', {
              count: state.count,
              expiresAt: state.expiresAt + delta,
            }),
            false,
            `refused with the expiry ${delta > 0 ? '+' : ''}${delta} ms`,
          );
        }
        t.strictSame(await readCounter(env, userId), state, 'kept');
        // Reset and counted again a millisecond later: the same count, a different counter.
        await env.store.resetCounter(userId, 'failures');
        env.clock.advance(1);
        const again = await env.store.incrementCounter(userId, 'failures', TTL_MS, env.clock.now());
        t.equal(
          await env.store.resetCounterIfUnchanged(userId, 'failures', state),
          false,
          'refused for a counter that restarted at the same count',
        );
        t.strictSame(await readCounter(env, userId), again, 'kept');
      },
    },
    {
      name: 'resetCounterIfUnchanged resolves false for an absent counter, another key or another user',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const now = env.clock.now();
        const state = await env.store.incrementCounter(alice, 'failures', TTL_MS, now);
        t.equal(await env.store.resetCounterIfUnchanged(alice, 'other', state), false, 'another key');
        t.equal(await env.store.resetCounterIfUnchanged(bob, 'failures', state), false, 'another user');
        t.equal(await env.store.getCounter(alice, 'other', now), null, 'nothing created under the key');
        t.equal(await env.store.getCounter(bob, 'failures', now), null, 'nothing created for the user');
        t.strictSame(await env.store.getCounter(alice, 'failures', now), state, 'alice kept');
        await env.store.resetCounter(alice, 'failures');
        t.equal(
          await env.store.resetCounterIfUnchanged(alice, 'failures', state),
          false,
          'a deleted counter',
        );
      },
    },
    {
      name: 'resetCounterIfUnchanged racing takeAttempt calls never erases an attempt counted after the expected state',
      async run(t, env) {
        const takes = env.concurrency - 1;
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const now = env.clock.now();
          const expected = await env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now);
          // One reset of the state just read, among attempts the limit leaves room for.
          const { one: reset, others: attempts } = await raceOneAmong(
            env.concurrency,
            round,
            () => env.store.resetCounterIfUnchanged(userId, 'failures', expected),
            () => env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now),
          );
          t.ok(
            attempts.every((state) => state.taken),
            `round ${round}: all ${takes} attempts were taken`,
          );
          // A reset that won came before every attempt (after any of them the count differs), so the
          // attempts counted 1..takes afresh; one that lost deleted nothing, so they counted on from 1.
          const counts = reset ? range(1, takes) : range(2, takes + 1);
          t.strictSame(
            attempts.map((state) => state.count).sort((a, b) => a - b),
            counts,
            `round ${round}: the reset ${reset ? 'won' : 'lost'}, and the attempts resolved ${counts[0]}..${counts.at(-1)}`,
          );
          t.strictSame(
            await env.store.getCounter(userId, 'failures', now),
            { count: counts.at(-1), expiresAt: now + TTL_MS },
            `round ${round}: no attempt was erased`,
          );
        }
      },
    },
  ],
};
