import type { BehaviourGroup } from '../behaviour.js';
import { activate, enroll } from '../fixtures.js';
import { expectOneWinner, race, zigzag } from '../race.js';
import { readAuthenticator } from '../reads.js';

export const consumeCounter: BehaviourGroup = {
  name: 'consumeCounter',
  behaviours: [
    {
      name: 'consumeCounter accepts a higher counter and records it with lastUsedAt',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId, { counter: 100 });
        env.clock.advance(30_001);
        t.equal(await env.store.consumeCounter(userId, 'totp', 101, env.clock.now()), true, 'accepted');
        t.strictSame(
          await readAuthenticator(env, userId),
          { ...record, lastCounter: 101, lastUsedAt: env.clock.now() },
          'lastCounter and lastUsedAt moved, nothing else',
        );
      },
    },
    {
      name: 'consumeCounter refuses the same counter again and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { counter: 100 });
        t.equal(await env.store.consumeCounter(userId, 'totp', 101, env.clock.now()), true, 'first use');
        const after = await readAuthenticator(env, userId);
        env.clock.advance(1_000);
        t.equal(
          await env.store.consumeCounter(userId, 'totp', 101, env.clock.now()),
          false,
          'replay refused',
        );
        t.strictSame(await readAuthenticator(env, userId), after, 'unchanged');
      },
    },
    {
      name: 'consumeCounter refuses lower counters and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId, { counter: 100 });
        env.clock.advance(1_000);
        for (const counter of [100, 99, 50, 0, -1]) {
          t.equal(
            await env.store.consumeCounter(userId, 'totp', counter, env.clock.now()),
            false,
            `${counter} refused`,
          );
        }
        t.strictSame(await readAuthenticator(env, userId), record, 'unchanged');
      },
    },
    {
      name: 'consumeCounter accepts large jumps and counters beyond 2^32',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { counter: 100 });
        for (const counter of [2 ** 32 + 5, 2 ** 40, 2 ** 40 + 1]) {
          t.equal(
            await env.store.consumeCounter(userId, 'totp', counter, env.clock.now()),
            true,
            `${counter} accepted`,
          );
          t.match(await readAuthenticator(env, userId), { lastCounter: counter }, `${counter} recorded`);
        }
        t.equal(
          await env.store.consumeCounter(userId, 'totp', 2 ** 40, env.clock.now()),
          false,
          '2^40 refused after 2^40 + 1',
        );
      },
    },
    {
      name: 'consumeCounter refuses a pending authenticator and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        t.equal(await env.store.consumeCounter(userId, 'totp', 5, env.clock.now()), false, 'refused');
        t.strictSame(await readAuthenticator(env, userId), pending, 'unchanged');
      },
    },
    {
      name: 'consumeCounter refuses a missing authenticator and creates nothing',
      async run(t, env) {
        const userId = env.userId();
        t.equal(await env.store.consumeCounter(userId, 'totp', 5, env.clock.now()), false, 'unknown user');
        t.equal(await readAuthenticator(env, userId), null, 'nothing created');
        await activate(env, userId, { id: 'phone' });
        t.equal(
          await env.store.consumeCounter(userId, 'tablet', 5_000, env.clock.now()),
          false,
          'unknown id',
        );
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'nothing created');
      },
    },
    {
      name: 'of concurrent consumeCounter calls with the same counter exactly one succeeds',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { counter: 100 });
        for (let round = 1; round <= env.rounds; round++) {
          const counter = 100 + round;
          const results = await race(env.concurrency, () =>
            env.store.consumeCounter(userId, 'totp', counter, env.clock.now()),
          );
          expectOneWinner(t, results, `round ${round}: exactly one of ${env.concurrency} succeeded`);
          t.match(
            await readAuthenticator(env, userId),
            { lastCounter: counter },
            `round ${round}: counter recorded`,
          );
        }
      },
    },
    {
      name: 'concurrent consumeCounter calls with increasing counters leave the highest recorded',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          await activate(env, userId, { counter: 0 });
          const counters = zigzag(env.concurrency);
          const results = await race(counters.length, (index) =>
            env.store.consumeCounter(userId, 'totp', counters[index]!, env.clock.now()),
          );
          t.equal(
            results[counters.indexOf(env.concurrency)],
            true,
            `round ${round}: the highest counter was accepted`,
          );
          t.match(
            await readAuthenticator(env, userId),
            { lastCounter: env.concurrency },
            `round ${round}: the highest counter is recorded`,
          );
          t.equal(
            await env.store.consumeCounter(userId, 'totp', env.concurrency, env.clock.now()),
            false,
            `round ${round}: the highest counter is spent`,
          );
        }
      },
    },
  ],
};
