import { isDeepStrictEqual } from 'node:util';
import type { CounterState, NonceWrite } from '@twofold/core';
import type { BehaviourEnv } from '../behaviour.js';
import {
  activate,
  counterOf,
  issueNonce,
  NONCE_LIFETIME_MS as LIFETIME_MS,
  nonceValue,
  refusedSteps,
  COUNTER_TTL_MS as TTL_MS,
} from '../fixtures.js';
import { implementation, optionalGroup } from '../optional.js';
import { expectOneWinner, race, raceOneAmong, range } from '../race.js';
import { readAuthenticator, readCounter, readNonce } from '../reads.js';

// finishSecondFactor stands for consumeCounter and, when it succeeds, resetCounterIfUnchanged and
// putNonces: the end of a sign-in's second step, with the session it starts.

/** Calls the store's finishSecondFactor now, resetting the user's counter `'failures'`. */
function finish(
  env: BehaviourEnv,
  userId: string,
  authenticatorId: string,
  counter: number,
  expected: CounterState,
  nonces: readonly NonceWrite[],
) {
  return implementation(env.store, 'finishSecondFactor')(userId, {
    authenticatorId,
    counter,
    reset: { key: 'failures', expected: { ...expected } },
    nonces: nonces.map((nonce) => ({ ...nonce })),
    now: env.clock.now(),
  });
}

/** A session's two nonces, as a login writes them: `<name>:meta` and `<name>:family`, fresh values. */
function sessionNonces(env: BehaviourEnv, name: string): NonceWrite[] {
  const expiresAt = env.clock.now() + LIFETIME_MS;
  return [
    { key: `${name}:meta`, value: nonceValue(), expiresAt },
    { key: `${name}:family`, value: nonceValue(), expiresAt },
  ];
}

/** The value of each of `nonces`' keys as the store reads it now (null when absent). */
async function readAll(env: BehaviourEnv, userId: string, nonces: readonly NonceWrite[]) {
  return Promise.all(nonces.map((nonce) => readNonce(env, userId, nonce.key)));
}

export const finishSecondFactor = optionalGroup('finishSecondFactor', [
  {
    name: 'finishSecondFactor consumes a higher step, resets the unchanged counter and writes the nonces',
    async run(t, env) {
      const userId = env.userId();
      const bob = env.userId();
      const { record } = await activate(env, userId, { counter: 100 });
      const kept = await issueNonce(env, userId, 'other', LIFETIME_MS);
      env.clock.advance(30_001);
      const now = env.clock.now();
      // As the engine passes it: the state takeAttempt resolved, `taken` and all.
      const expected = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      const other = await env.store.incrementCounter(userId, 'other', TTL_MS, now);
      const bobs = await env.store.incrementCounter(bob, 'failures', TTL_MS, now);
      const session = sessionNonces(env, 'session');
      t.equal(await finish(env, userId, 'totp', 101, expected, session), true, 'consumed');
      t.strictSame(
        await readAuthenticator(env, userId),
        { ...record, lastCounter: 101, lastUsedAt: now },
        'lastCounter and lastUsedAt moved, nothing else',
      );
      t.equal(await readCounter(env, userId), null, 'the counter is reset');
      t.strictSame(await readCounter(env, userId, 'other'), other, "the user's other counter kept");
      t.strictSame(await readCounter(env, bob), bobs, "another user's counter of the same key kept");
      t.strictSame(
        await readAll(env, userId, session),
        session.map((nonce) => nonce.value),
        'every nonce written',
      );
      t.strictSame(
        await env.store.listNonces(userId, 'session:', now),
        [...session].sort((a, b) => (a.key < b.key ? -1 : 1)),
        'listNonces lists them with their value and expiry',
      );
      t.equal(await readNonce(env, userId, 'other'), kept, "the user's other nonce kept");
      t.strictSame(await readAll(env, bob, session), [null, null], 'nothing written for another user');
      t.equal(await env.store.consumeCounter(userId, 'totp', 101, now), false, 'the step is spent');
      env.clock.advance(LIFETIME_MS);
      t.strictSame(await readAll(env, userId, session), [null, null], 'the nonces expire at their expiresAt');
    },
  },
  {
    name: 'finishSecondFactor with no nonces consumes and resets as consumeCounterAndReset does',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { counter: 100 });
      const expected = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, env.clock.now());
      t.equal(await finish(env, userId, 'totp', 101, expected, []), true, 'consumed');
      t.match(await readAuthenticator(env, userId), { lastCounter: 101 }, 'the step recorded');
      t.equal(await readCounter(env, userId), null, 'the counter is reset');
      t.equal(await finish(env, userId, 'totp', 101, expected, []), false, 'the same step again: refused');
    },
  },
  {
    name: 'finishSecondFactor refuses what consumeCounter refuses (an equal or lower step, a pending, missing or WebAuthn authenticator) and writes nothing',
    async run(t, env) {
      const { cases, unchanged } = await refusedSteps(env);
      const now = env.clock.now();
      for (const [user, id, counter, label] of cases) {
        const expected = await env.store.takeAttempt(user, 'failures', 100, TTL_MS, now);
        const session = sessionNonces(env, `refused-${counter}`);
        t.equal(await finish(env, user, id, counter, expected, session), false, `${label}: refused`);
        t.strictSame(await readCounter(env, user), counterOf(expected), `${label}: the counter kept`);
        t.strictSame(await readAll(env, user, session), [null, null], `${label}: no nonce written`);
      }
      await unchanged(t);
    },
  },
  {
    name: 'finishSecondFactor replaces a nonce of the same key, and keeps a counter that changed since',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { counter: 100 });
      await issueNonce(env, userId, 'session:meta', 10 * LIFETIME_MS);
      const now = env.clock.now();
      const first = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      const second = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, now);
      const session = sessionNonces(env, 'session');
      t.equal(await finish(env, userId, 'totp', 101, first, session), true, 'consumed');
      t.strictSame(
        await readCounter(env, userId),
        counterOf(second),
        'a counter counted again since is kept',
      );
      t.strictSame(
        await env.store.listNonces(userId, 'session:meta', now),
        [session[0]],
        'the nonce of that key has the new value and expiry',
      );
    },
  },
  {
    name: 'of concurrent finishSecondFactor calls with the same step exactly one succeeds, and only its nonces are written',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { counter: 100 });
      for (let round = 1; round <= env.rounds; round++) {
        const counter = 100 + round;
        const expected = await env.store.takeAttempt(userId, 'failures', 5, TTL_MS, env.clock.now());
        const sessions = range(1, env.concurrency).map((i) => sessionNonces(env, `r${round}-${i}`));
        const results = await race(env.concurrency, (i) =>
          finish(env, userId, 'totp', counter, expected, sessions[i]!),
        );
        const winner = expectOneWinner(
          t,
          results,
          `round ${round}: exactly one of ${env.concurrency} succeeded`,
        );
        t.match(
          await readAuthenticator(env, userId),
          { lastCounter: counter },
          `round ${round}: counter recorded`,
        );
        t.equal(await readCounter(env, userId), null, `round ${round}: the counter is reset`);
        const written = await Promise.all(sessions.map((session) => readAll(env, userId, session)));
        t.ok(
          written.every((values, i) =>
            i === winner
              ? isDeepStrictEqual(
                  values,
                  sessions[i]!.map((nonce) => nonce.value),
                )
              : values.every((value) => value === null),
          ),
          `round ${round}: the winner's nonces are written, no loser's`,
        );
      }
    },
  },
  {
    name: 'finishSecondFactor racing takeAttempt calls never erases an attempt counted after the expected state',
    async run(t, env) {
      const takes = env.concurrency - 1;
      for (let round = 1; round <= env.rounds; round++) {
        const userId = env.userId();
        await activate(env, userId, { counter: 100 });
        const now = env.clock.now();
        const expected = await env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now);
        const session = sessionNonces(env, 'session');
        const { one: consumed, others: attempts } = await raceOneAmong(
          env.concurrency,
          round,
          () => finish(env, userId, 'totp', 101, expected, session),
          () => env.store.takeAttempt(userId, 'failures', takes + 1, TTL_MS, now),
        );
        t.equal(consumed, true, `round ${round}: the step was consumed`);
        t.ok(
          attempts.every((state) => state.taken),
          `round ${round}: all ${takes} attempts were taken`,
        );
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
        t.strictSame(
          await readAll(env, userId, session),
          session.map((nonce) => nonce.value),
          `round ${round}: the nonces written`,
        );
      }
    },
  },
]);
