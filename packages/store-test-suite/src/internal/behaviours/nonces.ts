import type { BehaviourGroup } from '../behaviour.js';
import { issueNonce, NONCE_LIFETIME_MS as LIFETIME_MS, nonceValue } from '../fixtures.js';
import { expectOneWinner, race } from '../race.js';
import { readNonce } from '../reads.js';

export const nonces: BehaviourGroup = {
  name: 'nonces',
  behaviours: [
    {
      name: 'getNonce resolves null for an absent nonce',
      async run(t, env) {
        t.equal(await readNonce(env, env.userId(), 'recovery'), null, 'null');
      },
    },
    {
      name: 'putNonce stores a value that is live until the millisecond before expiresAt',
      async run(t, env) {
        const userId = env.userId();
        const value = nonceValue();
        await env.store.putNonce(userId, 'recovery', value, env.clock.now() + LIFETIME_MS, env.clock.now());
        t.equal(await readNonce(env, userId, 'recovery'), value, 'readable');
        env.clock.advance(LIFETIME_MS - 1);
        t.equal(await readNonce(env, userId, 'recovery'), value, 'live at expiresAt - 1');
        env.clock.advance(1);
        t.equal(await readNonce(env, userId, 'recovery'), null, 'gone at expiresAt');
      },
    },
    {
      name: 'putNonce replaces the previous value and its expiry',
      async run(t, env) {
        const userId = env.userId();
        const first = await issueNonce(env, userId, 'recovery', 3_600_000);
        const second = await issueNonce(env, userId, 'recovery');
        t.equal(await readNonce(env, userId, 'recovery'), second, 'the new value');
        t.equal(
          await env.store.takeNonce(userId, 'recovery', first, env.clock.now()),
          false,
          'the old value is revoked',
        );
        env.clock.advance(LIFETIME_MS);
        t.equal(await readNonce(env, userId, 'recovery'), null, 'gone at the new expiry');
      },
    },
    {
      name: 'claimNonce creates an absent nonce',
      async run(t, env) {
        const userId = env.userId();
        const value = nonceValue();
        const expiresAt = env.clock.now() + LIFETIME_MS;
        t.equal(
          await env.store.claimNonce(userId, 'jti', value, expiresAt, env.clock.now()),
          true,
          'claimed',
        );
        t.equal(await readNonce(env, userId, 'jti'), value, 'stored');
        env.clock.advance(LIFETIME_MS);
        t.equal(await readNonce(env, userId, 'jti'), null, 'expires at expiresAt');
      },
    },
    {
      name: 'claimNonce refuses while the nonce is live and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const value = nonceValue();
        await env.store.claimNonce(userId, 'jti', value, env.clock.now() + LIFETIME_MS, env.clock.now());
        env.clock.advance(LIFETIME_MS - 1);
        const later = env.clock.now() + LIFETIME_MS;
        t.equal(
          await env.store.claimNonce(userId, 'jti', nonceValue(), later, env.clock.now()),
          false,
          'second claim refused',
        );
        t.equal(await readNonce(env, userId, 'jti'), value, 'first value kept');
        env.clock.advance(1);
        t.equal(await readNonce(env, userId, 'jti'), null, 'first expiry kept');
      },
    },
    {
      name: 'claimNonce succeeds again once the nonce has expired',
      async run(t, env) {
        const userId = env.userId();
        const first = nonceValue();
        await env.store.claimNonce(userId, 'jti', first, env.clock.now() + LIFETIME_MS, env.clock.now());
        env.clock.advance(LIFETIME_MS);
        const value = nonceValue();
        t.equal(
          await env.store.claimNonce(userId, 'jti', value, env.clock.now() + LIFETIME_MS, env.clock.now()),
          true,
          'claimed at the old expiry',
        );
        t.equal(await readNonce(env, userId, 'jti'), value, 'the new value');
        env.clock.advance(LIFETIME_MS - 1);
        t.equal(await readNonce(env, userId, 'jti'), value, 'live until its new expiry');
      },
    },
    {
      name: 'takeNonce deletes a live nonce with the same value, once',
      async run(t, env) {
        const userId = env.userId();
        const value = await issueNonce(env, userId, 'recovery');
        env.clock.advance(LIFETIME_MS - 1);
        t.equal(await env.store.takeNonce(userId, 'recovery', value, env.clock.now()), true, 'taken');
        t.equal(await readNonce(env, userId, 'recovery'), null, 'gone');
        t.equal(
          await env.store.takeNonce(userId, 'recovery', value, env.clock.now()),
          false,
          'second take refused',
        );
      },
    },
    {
      name: 'takeNonce with a different value leaves the nonce in place',
      async run(t, env) {
        const userId = env.userId();
        const value = await issueNonce(env, userId, 'recovery');
        for (let attempt = 1; attempt <= 3; attempt++) {
          t.equal(
            await env.store.takeNonce(userId, 'recovery', nonceValue(), env.clock.now()),
            false,
            `wrong value ${attempt} refused`,
          );
        }
        t.equal(await readNonce(env, userId, 'recovery'), value, 'still there');
        t.equal(
          await env.store.takeNonce(userId, 'recovery', value, env.clock.now()),
          true,
          'the right one works',
        );
      },
    },
    {
      name: 'takeNonce refuses an expired or missing nonce',
      async run(t, env) {
        const userId = env.userId();
        const value = await issueNonce(env, userId, 'recovery');
        env.clock.advance(LIFETIME_MS);
        t.equal(
          await env.store.takeNonce(userId, 'recovery', value, env.clock.now()),
          false,
          'expired refused',
        );
        t.equal(await env.store.takeNonce(userId, 'other', value, env.clock.now()), false, 'missing refused');
        t.equal(await readNonce(env, userId, 'recovery'), null, 'nothing live');
      },
    },
    {
      name: 'swapNonce replaces a live nonce equal to expected, with the new expiry',
      async run(t, env) {
        const userId = env.userId();
        const first = await issueNonce(env, userId, 'family');
        const next = nonceValue();
        env.clock.advance(LIFETIME_MS - 1);
        const expiresAt = env.clock.now() + LIFETIME_MS;
        t.equal(
          await env.store.swapNonce(userId, 'family', first, next, expiresAt, env.clock.now()),
          true,
          'swapped',
        );
        t.equal(await readNonce(env, userId, 'family'), next, 'the next value');
        env.clock.advance(LIFETIME_MS - 1);
        t.equal(await readNonce(env, userId, 'family'), next, 'live until the new expiry');
        env.clock.advance(1);
        t.equal(await readNonce(env, userId, 'family'), null, 'gone at the new expiry');
      },
    },
    {
      name: 'swapNonce refuses a different expected and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const value = await issueNonce(env, userId, 'family');
        const later = env.clock.now() + 10 * LIFETIME_MS;
        t.equal(
          await env.store.swapNonce(userId, 'family', nonceValue(), nonceValue(), later, env.clock.now()),
          false,
          'refused',
        );
        t.equal(await readNonce(env, userId, 'family'), value, 'value kept');
        env.clock.advance(LIFETIME_MS);
        t.equal(await readNonce(env, userId, 'family'), null, 'expiry kept');
      },
    },
    {
      name: 'swapNonce refuses an expired or missing nonce and creates nothing',
      async run(t, env) {
        const userId = env.userId();
        const value = await issueNonce(env, userId, 'family');
        env.clock.advance(LIFETIME_MS);
        const later = env.clock.now() + LIFETIME_MS;
        t.equal(
          await env.store.swapNonce(userId, 'family', value, nonceValue(), later, env.clock.now()),
          false,
          'expired refused',
        );
        t.equal(await readNonce(env, userId, 'family'), null, 'nothing created');
        t.equal(
          await env.store.swapNonce(userId, 'other', value, nonceValue(), later, env.clock.now()),
          false,
          'missing refused',
        );
        t.equal(await readNonce(env, userId, 'other'), null, 'nothing created');
      },
    },
    {
      name: 'deleteNonce deletes the nonce whatever its value',
      async run(t, env) {
        const userId = env.userId();
        await issueNonce(env, userId, 'recovery');
        await env.store.deleteNonce(userId, 'recovery');
        t.equal(await readNonce(env, userId, 'recovery'), null, 'gone');
        const soon = env.clock.now() + 1_000;
        t.equal(
          await env.store.claimNonce(userId, 'recovery', nonceValue(), soon, env.clock.now()),
          true,
          'claimable again',
        );
        await env.store.deleteNonce(env.userId(), 'recovery');
        t.pass('deleting an absent nonce resolves');
      },
    },
    {
      name: 'nonces of different keys and users are independent',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const values = {
          aliceA: await issueNonce(env, alice, 'a'),
          aliceB: await issueNonce(env, alice, 'b'),
          bobA: await issueNonce(env, bob, 'a'),
        };
        t.equal(
          await env.store.takeNonce(alice, 'a', values.bobA, env.clock.now()),
          false,
          "bob's value on alice",
        );
        t.equal(await env.store.takeNonce(alice, 'a', values.aliceA, env.clock.now()), true, 'alice a taken');
        t.equal(await readNonce(env, alice, 'b'), values.aliceB, 'alice b kept');
        t.equal(await readNonce(env, bob, 'a'), values.bobA, 'bob a kept');
        await env.store.deleteNonce(alice, 'b');
        t.equal(await readNonce(env, bob, 'a'), values.bobA, 'bob a kept after a delete');
      },
    },
    {
      name: 'a counter and a nonce with the same key are independent',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const value = await issueNonce(env, userId, 'challenge:1');
        const state = await env.store.incrementCounter(userId, 'challenge:1', 60_000, now);
        t.strictSame(state, { count: 1, expiresAt: now + 60_000 }, 'the counter starts at 1');
        t.equal(await env.store.getNonce(userId, 'challenge:1', now), value, 'the nonce is kept');
        await env.store.resetCounter(userId, 'challenge:1');
        t.equal(
          await env.store.getNonce(userId, 'challenge:1', now),
          value,
          'resetting the counter keeps it',
        );
        await env.store.incrementCounter(userId, 'challenge:1', 60_000, now);
        await env.store.deleteNonce(userId, 'challenge:1');
        t.match(
          await env.store.getCounter(userId, 'challenge:1', now),
          { count: 1 },
          'deleting the nonce keeps it',
        );
      },
    },
    {
      name: 'of concurrent claims exactly one succeeds, and its value is stored',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const values = Array.from({ length: env.concurrency }, () => nonceValue());
          const expiresAt = env.clock.now() + LIFETIME_MS;
          const results = await race(env.concurrency, (index) =>
            env.store.claimNonce(userId, 'jti', values[index]!, expiresAt, env.clock.now()),
          );
          const winner = expectOneWinner(
            t,
            results,
            `round ${round}: exactly one of ${env.concurrency} claimed it`,
          );
          t.equal(await readNonce(env, userId, 'jti'), values[winner], `round ${round}: the winner's value`);
        }
      },
    },
    {
      name: 'of concurrent takes exactly one succeeds',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const value = await issueNonce(env, userId, 'recovery');
          const results = await race(env.concurrency, () =>
            env.store.takeNonce(userId, 'recovery', value, env.clock.now()),
          );
          expectOneWinner(t, results, `round ${round}: exactly one of ${env.concurrency} took it`);
          t.equal(await readNonce(env, userId, 'recovery'), null, `round ${round}: gone`);
        }
      },
    },
    {
      name: 'of concurrent swaps with the same expected exactly one succeeds, and its value is stored',
      async run(t, env) {
        const userId = env.userId();
        let current = await issueNonce(env, userId, 'family');
        for (let round = 1; round <= env.rounds; round++) {
          const nexts = Array.from({ length: env.concurrency }, () => nonceValue());
          const expected = current;
          const expiresAt = env.clock.now() + LIFETIME_MS;
          const results = await race(env.concurrency, (index) =>
            env.store.swapNonce(userId, 'family', expected, nexts[index]!, expiresAt, env.clock.now()),
          );
          const winner = expectOneWinner(
            t,
            results,
            `round ${round}: exactly one of ${env.concurrency} swapped it`,
          );
          current = nexts[winner]!;
          t.equal(await readNonce(env, userId, 'family'), current, `round ${round}: the winner's value`);
        }
      },
    },
  ],
};
