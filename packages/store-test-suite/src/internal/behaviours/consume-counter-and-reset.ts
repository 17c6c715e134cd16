import { isDeepStrictEqual } from 'node:util';
import type { CounterState } from '@twofold/core';
import type { BehaviourEnv } from '../behaviour.js';
import { activate, counterOf, refusedSteps, COUNTER_TTL_MS as TTL_MS } from '../fixtures.js';
import { implementation, optionalGroup } from '../optional.js';
import { expectOneWinner, race, raceOneAmong, range } from '../race.js';
import { readAuthenticator, readCounter } from '../reads.js';

// consumeCounterAndReset stands for consumeCounter and, when it succeeds, resetCounterIfUnchanged.

/** Calls the store's consumeCounterAndReset now, resetting the user's counter `'failures'`. */
function consumeAndReset(
  env: BehaviourEnv,
  userId: string,
  authenticatorId: string,
  counter: number,
  expected: CounterState,
) {
  return implementation(env.store, 'consumeCounterAndReset')(
    userId,
    authenticatorId,
    counter,
    env.clock.now(),
    {
      key: 'failures',
      expected: { ...expected },
    },
  );
}

export const consumeCounterAndReset = optionalGroup('consumeCounterAndReset', [
  {
    name: 'consumeCounterAndReset consumes a higher step as consumeCounter does and resets the unchanged counter',
    async run(t, env) {
      const userId = env.userId();
      const bob = env.userId();
      const { record } = await activate(env, userId, { counter: 100 });
      env.clock.advance(30_001);
      const now = env.clock.now();
      // As the engine passes it: the state takeAttempt resolved, `taken` and all.
      const expected = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      const other = await env.store.incrementCounter(userId, 'other', TTL_MS, now);
      const bobs = await env.store.incrementCounter(bob, 'failures', TTL_MS, now);
      t.equal(await consumeAndReset(env, userId, 'totp', 101, expected), true, 'consumed');
      t.strictSame(
        await readAuthenticator(env, userId),
        { ...record, lastCounter: 101, lastUsedAt: now },
        'lastCounter and lastUsedAt moved, nothing else',
      );
      t.equal(await readCounter(env, userId), null, 'the counter is reset');
      t.strictSame(await readCounter(env, userId, 'other'), other, "the user's other counter kept");
      t.strictSame(await readCounter(env, bob), bobs, "another user's counter of the same key kept");
      t.equal(await env.store.consumeCounter(userId, 'totp', 101, now), false, 'the step is spent');
    },
  },
  {
    name: 'consumeCounterAndReset refuses what consumeCounter refuses (an equal or lower step, a pending, missing or WebAuthn authenticator) and resets nothing',
    async run(t, env) {
      const { cases, unchanged } = await refusedSteps(env);
      const now = env.clock.now();
      for (const [user, id, counter, label] of cases) {
        const expected = await env.store.takeAttempt(user, 'failures', 100, TTL_MS, now);
        t.equal(await consumeAndReset(env, user, id, counter, expected), false, `${label}: refused`);
        t.strictSame(await readCounter(env, user), counterOf(expected), `${label}: the counter kept`);
      }
      await unchanged(t);
    },
  },
  {
    name: 'consumeCounterAndReset consumes the step but keeps a counter that changed since: counted again, another expiry, or absent',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { counter: 100 });
      const now = env.clock.now();
      const first = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      const second = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      t.equal(await consumeAndReset(env, userId, 'totp', 101, first), true, 'consumed');
      t.strictSame(
        await readCounter(env, userId),
        counterOf(second),
        'a counter counted again since is kept',
      );
      t.equal(
        await consumeAndReset(env, userId, 'totp', 102, { ...second, expiresAt: second.expiresAt + 1 }),
        true,
        'consumed',
      );
      t.strictSame(
        await readCounter(env, userId),
        counterOf(second),
        'a counter with another expiry is kept',
      );
      await env.store.resetCounter(userId, 'failures');
      t.equal(await consumeAndReset(env, userId, 'totp', 103, second), true, 'consumed');
      t.equal(await readCounter(env, userId), null, 'an absent counter is not created');
      t.match(await readAuthenticator(env, userId), { lastCounter: 103 }, 'every step recorded');
    },
  },
  {
    name: 'of concurrent consumeCounterAndReset calls with the same step exactly one succeeds, and the counter is reset',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { counter: 100 });
      for (let round = 1; round <= env.rounds; round++) {
        const counter = 100 + round;
        const expected = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, env.clock.now());
        const results = await race(env.concurrency, () =>
          consumeAndReset(env, userId, 'totp', counter, expected),
        );
        expectOneWinner(t, results, `round ${round}: exactly one of ${env.concurrency} succeeded`);
        t.match(
          await readAuthenticator(env, userId),
          { lastCounter: counter },
          `round ${round}: counter recorded`,
        );
        t.equal(await readCounter(env, userId), null, `round ${round}: the counter is reset`);
      }
    },
  },
  {
    name: 'consumeCounterAndReset racing takeAttempt calls never erases an attempt counted after the expected state',
    async run(t, env) {
      const takes = env.concurrency - 1;
      for (let round = 1; round <= env.rounds; round++) {
        const userId = env.userId();
        await activate(env, userId, { counter: 100 });
        const now = env.clock.now();
        const expected = await env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now);
        // One consume of a fresh step with a reset of the state just read, among attempts the limit
        // leaves room for.
        const { one: consumed, others: attempts } = await raceOneAmong(
          env.concurrency,
          round,
          () => consumeAndReset(env, userId, 'totp', 101, expected),
          () => env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now),
        );
        t.equal(consumed, true, `round ${round}: the step was consumed`);
        t.ok(
          attempts.every((state) => state.taken),
          `round ${round}: all ${takes} attempts were taken`,
        );
        // A reset that happened came before every attempt (after any of them the count differs), so
        // the attempts counted 1..takes afresh; without it they counted on from 1.
        const counts = attempts.map((state) => state.count).sort((a, b) => a - b);
        t.ok(
          isDeepStrictEqual(counts, range(1, takes)) || isDeepStrictEqual(counts, range(2, takes + 1)),
          `round ${round}: the attempts resolved 1..${takes} (after the reset) or 2..${takes + 1} (without it)`,
        );
        t.strictSame(
          await readCounter(env, userId),
          { count: counts.at(-1), expiresAt: now + TTL_MS },
          `round ${round}: no attempt was erased`,
        );
      }
    },
  },
]);
