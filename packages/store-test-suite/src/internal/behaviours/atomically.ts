import type { Store } from '@twofold/core';
import { COUNTER_TTL_MS, NONCE_LIFETIME_MS, nonceValue } from '../fixtures.js';
import { implementation, optionalGroup } from '../optional.js';
import { readCounter, readNonce } from '../reads.js';

// atomically runs work with a store whose calls form one transaction: kept when work settles,
// resolved or rejected; meanwhile the store's own calls wait.

export const atomically = optionalGroup('atomically', [
  {
    name: "atomically: work's calls see each other's writes, and they stay once it resolves with its value",
    async run(t, env) {
      const userId = env.userId();
      const value = nonceValue();
      const result = await implementation(
        env.store,
        'atomically',
      )(async (store: Store) => {
        const now = env.clock.now();
        await store.putNonce(userId, 'batch', value, now + NONCE_LIFETIME_MS, now);
        t.equal(await store.getNonce(userId, 'batch', now), value, 'read inside: the write before it');
        const attempt = await store.takeAttempt(userId, 'failures', 5, COUNTER_TTL_MS, now);
        t.equal(attempt.count, 1, 'a counter taken inside');
        return 'work done';
      });
      t.equal(result, 'work done', "atomically resolves with work's value");
      t.equal(await readNonce(env, userId, 'batch'), value, 'the nonce stays');
      t.equal((await readCounter(env, userId))?.count, 1, 'the counted attempt stays');
    },
  },
  {
    name: "atomically: when work rejects, what its calls did stays, and the rejection is work's",
    async run(t, env) {
      const userId = env.userId();
      const refusal = new Error('the code is not valid');
      let caught: unknown;
      try {
        await implementation(
          env.store,
          'atomically',
        )(async (store: Store) => {
          const now = env.clock.now();
          await store.takeAttempt(userId, 'failures', 5, COUNTER_TTL_MS, now);
          await store.putNonce(userId, 'claim', 'spent', now + NONCE_LIFETIME_MS, now);
          await store.deleteNonce(userId, 'claim');
          throw refusal;
        });
      } catch (error) {
        caught = error;
      }
      t.equal(caught, refusal, "atomically rejects with work's own error");
      t.equal((await readCounter(env, userId))?.count, 1, 'the attempt counted inside stays counted');
      t.equal(await readNonce(env, userId, 'claim'), null, 'a nonce written then deleted inside is gone');
    },
  },
  {
    name: 'atomically: a call on the store itself, made meanwhile, waits until work has settled',
    async run(t, env) {
      const userId = env.userId();
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inside!: () => void;
      const started = new Promise<void>((resolve) => {
        inside = resolve;
      });
      const batch = implementation(
        env.store,
        'atomically',
      )(async (store: Store) => {
        const now = env.clock.now();
        await store.putNonce(userId, 'order', 'inside', now + NONCE_LIFETIME_MS, now);
        inside();
        await gate;
        order.push('work settled');
      });
      await started;
      const now = env.clock.now();
      const outside = env.store
        .putNonce(userId, 'order', 'outside', now + NONCE_LIFETIME_MS, now)
        .then(() => {
          order.push('outer call resolved');
        });
      // Time for the outer call to finish if it did not wait (timers come after I/O and microtasks).
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('released');
      release();
      await Promise.all([batch, outside]);
      t.strictSame(order, ['released', 'work settled', 'outer call resolved'], order.join(', '));
      t.equal(await readNonce(env, userId, 'order'), 'outside', 'the outer write came last');
    },
  },
]);
