import type { BehaviourGroup } from '../behaviour.js';
import { activate, confirmation, enroll, recoveryHashes, register } from '../fixtures.js';
import { expectOneWinner, race, spread } from '../race.js';

export const recoveryCodes: BehaviourGroup = {
  name: 'recovery codes',
  behaviours: [
    {
      name: 'countRecoveryCodes is 0 for a user without codes',
      async run(t, env) {
        t.equal(await env.store.countRecoveryCodes(env.userId()), 0, 'zero');
      },
    },
    {
      name: 'replaceRecoveryCodes refuses a user without an authenticator and stores nothing',
      async run(t, env) {
        const userId = env.userId();
        const codes = recoveryHashes(5);
        t.equal(await env.store.replaceRecoveryCodes(userId, codes, env.clock.now()), false, 'refused');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'none counted');
        t.equal(await env.store.consumeRecoveryCode(userId, codes[0]!), false, 'none consumable');
      },
    },
    {
      name: 'replaceRecoveryCodes refuses a user with only a pending authenticator and stores nothing',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        const refused = recoveryHashes(5);
        t.equal(await env.store.replaceRecoveryCodes(userId, refused, env.clock.now()), false, 'refused');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'none counted');
        const input = confirmation(env, pending.sealedSecret, { counter: 1 });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'enabled', 'enabled later');
        t.equal(await env.store.countRecoveryCodes(userId), 3, 'only the confirmed codes');
        t.equal(
          await env.store.consumeRecoveryCode(userId, refused[0]!),
          false,
          'a refused code was not kept',
        );
      },
    },
    {
      name: 'replaceRecoveryCodes replaces the codes of a user whose only active authenticator is a WebAuthn credential',
      async run(t, env) {
        const userId = env.userId();
        await enroll(env, userId);
        const { codes: old } = await register(env, userId);
        const fresh = recoveryHashes(7);
        t.equal(await env.store.replaceRecoveryCodes(userId, fresh, env.clock.now()), true, 'replaced');
        t.equal(await env.store.countRecoveryCodes(userId), 7, 'the new count');
        t.equal(await env.store.consumeRecoveryCode(userId, old[0]!), false, 'an old code is gone');
        t.equal(await env.store.consumeRecoveryCode(userId, fresh[0]!), true, 'a new code is consumable');
      },
    },
    {
      name: 'replaceRecoveryCodes replaces the whole set',
      async run(t, env) {
        const userId = env.userId();
        const { codes: old } = await activate(env, userId);
        const fresh = recoveryHashes(8);
        t.equal(await env.store.replaceRecoveryCodes(userId, fresh, env.clock.now()), true, 'replaced');
        t.equal(await env.store.countRecoveryCodes(userId), 8, 'the new count');
        for (const code of old) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), false, 'an old code is gone');
        }
        for (const code of fresh) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), true, 'a new code is consumable');
        }
      },
    },
    {
      name: 'replaceRecoveryCodes with an empty set leaves none',
      async run(t, env) {
        const userId = env.userId();
        const { codes } = await activate(env, userId);
        t.equal(await env.store.replaceRecoveryCodes(userId, [], env.clock.now()), true, 'replaced');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'none counted');
        t.equal(await env.store.consumeRecoveryCode(userId, codes[0]!), false, 'an old code is gone');
      },
    },
    {
      name: 'replaceRecoveryCodes keeps no reference to the input array',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId);
        const fresh = recoveryHashes(6);
        await env.store.replaceRecoveryCodes(userId, fresh, env.clock.now());
        fresh.length = 0;
        t.equal(await env.store.countRecoveryCodes(userId), 6, 'still six');
      },
    },
    {
      name: 'a recovery code is consumed exactly once',
      async run(t, env) {
        const userId = env.userId();
        const { codes } = await activate(env, userId);
        t.equal(await env.store.consumeRecoveryCode(userId, codes[3]!), true, 'first use');
        t.equal(await env.store.countRecoveryCodes(userId), 9, 'one fewer');
        t.equal(await env.store.consumeRecoveryCode(userId, codes[3]!), false, 'second use refused');
        t.equal(await env.store.countRecoveryCodes(userId), 9, 'count unchanged');
      },
    },
    {
      name: 'an unknown hash is not consumable and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { codes } = await activate(env, userId);
        const [unknown] = recoveryHashes(1);
        t.equal(await env.store.consumeRecoveryCode(userId, unknown!), false, 'refused');
        t.equal(await env.store.countRecoveryCodes(userId), codes.length, 'count unchanged');
        t.equal(await env.store.consumeRecoveryCode(env.userId(), unknown!), false, 'unknown user refused');
      },
    },
    {
      name: "another user's recovery code is not consumable",
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { codes } = await activate(env, alice);
        await activate(env, bob);
        t.equal(await env.store.consumeRecoveryCode(bob, codes[0]!), false, 'bob cannot use it');
        t.equal(await env.store.countRecoveryCodes(alice), codes.length, 'alice still has all');
        t.equal(await env.store.consumeRecoveryCode(alice, codes[0]!), true, 'alice can');
      },
    },
    {
      name: 'of concurrent consumes of one recovery code exactly one succeeds',
      async run(t, env) {
        const userId = env.userId();
        const codes = recoveryHashes(env.rounds + 1);
        await activate(env, userId, { codes });
        for (let round = 1; round <= env.rounds; round++) {
          const results = await race(env.concurrency, () =>
            env.store.consumeRecoveryCode(userId, codes[round]!),
          );
          expectOneWinner(t, results, `round ${round}: exactly one of ${env.concurrency} succeeded`);
          t.equal(
            await env.store.countRecoveryCodes(userId),
            codes.length - round,
            `round ${round}: one code fewer`,
          );
        }
      },
    },
    {
      name: 'concurrent consumes of ten different codes each succeed exactly once',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { codes } = await activate(env, userId);
          const attempts = Math.max(env.concurrency, codes.length);
          const results = await race(attempts, (index) =>
            env.store.consumeRecoveryCode(userId, codes[index % codes.length]!),
          );
          const perCode = codes.map((_, code) =>
            results.filter((won, index) => won && index % codes.length === code),
          );
          t.strictSame(
            perCode.map((won) => won.length),
            codes.map(() => 1),
            `round ${round}: every code succeeded exactly once`,
          );
          t.equal(await env.store.countRecoveryCodes(userId), 0, `round ${round}: none left`);
        }
      },
    },
    {
      name: 'concurrent replaceRecoveryCodes calls never mix two sets',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          await activate(env, userId);
          const sets = Array.from({ length: env.concurrency }, () => recoveryHashes(5));
          const results = await race(env.concurrency, (index) =>
            env.store.replaceRecoveryCodes(userId, sets[index]!, env.clock.now()),
          );
          t.ok(
            results.every((replaced) => replaced),
            `round ${round}: every replace resolved true`,
          );
          t.equal(await env.store.countRecoveryCodes(userId), 5, `round ${round}: one set of five`);
          const consumed = await Promise.all(
            sets.map((set) => Promise.all(set.map((code) => env.store.consumeRecoveryCode(userId, code)))),
          );
          const setsPresent = consumed.filter((set) => set.some((won) => won));
          t.strictSame(
            setsPresent,
            [[true, true, true, true, true]],
            `round ${round}: exactly one whole set`,
          );
        }
      },
    },
    {
      name: 'countRecoveryCodes never sees a partial set while codes are replaced',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          await activate(env, userId);
          const half = Math.ceil(env.concurrency / 2);
          const countsBefore = race(half, () => env.store.countRecoveryCodes(userId));
          const replaced = env.store.replaceRecoveryCodes(userId, recoveryHashes(10), env.clock.now());
          const countsDuring = spread(half, () => env.store.countRecoveryCodes(userId));
          const [before, ok, during] = await Promise.all([countsBefore, replaced, countsDuring]);
          t.equal(ok, true, `round ${round}: replaced`);
          const counts = [...before, ...during];
          t.ok(
            counts.every((count) => count === 10),
            `round ${round}: every count saw a whole set of ten`,
          );
        }
      },
    },
  ],
};
