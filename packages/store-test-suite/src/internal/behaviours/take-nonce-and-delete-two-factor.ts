import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import {
  type ActiveSetup,
  activate,
  COUNTER_TTL_MS,
  enroll,
  issueNonce,
  NONCE_LIFETIME_MS as LIFETIME_MS,
  nonceValue,
  register,
} from '../fixtures.js';
import { expectOneWinner, race, raceOneAmong, spread, winners } from '../race.js';
import { readAuthenticator, readCounter, readList, readNonce } from '../reads.js';

/** Activates an authenticator and puts a recovery nonce for the user; resolves both. */
async function setUp(env: BehaviourEnv, userId: string): Promise<ActiveSetup & { value: string }> {
  const setup = await activate(env, userId);
  return { ...setup, value: await issueNonce(env, userId, 'recovery') };
}

/** Asserts that the user's active authenticator and every one of its recovery codes are as set up. */
async function expectTwoFactor(
  t: Test,
  env: BehaviourEnv,
  userId: string,
  setup: ActiveSetup,
  label: string,
) {
  t.strictSame(await readAuthenticator(env, userId), setup.record, `${label}: authenticator unchanged`);
  t.equal(await env.store.countRecoveryCodes(userId), setup.codes.length, `${label}: recovery codes kept`);
}

/** Asserts that the user has no authenticator and no recovery code left. */
async function expectNoTwoFactor(t: Test, env: BehaviourEnv, userId: string, label: string) {
  t.equal(await readAuthenticator(env, userId), null, `${label}: authenticator gone`);
  t.equal(await env.store.countRecoveryCodes(userId), 0, `${label}: recovery codes gone`);
}

export const takeNonceAndDeleteTwoFactor: BehaviourGroup = {
  name: 'takeNonceAndDeleteTwoFactor',
  behaviours: [
    {
      name: 'takeNonceAndDeleteTwoFactor takes the nonce, removes every authenticator and recovery code, and resolves true',
      async run(t, env) {
        const userId = env.userId();
        const { codes } = await activate(env, userId, { id: 'phone' });
        await enroll(env, userId, { id: 'tablet' });
        const value = await issueNonce(env, userId, 'recovery');
        env.clock.advance(LIFETIME_MS - 1);
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', value, env.clock.now()),
          true,
          'taken a millisecond before the expiry',
        );
        t.equal(await readNonce(env, userId, 'recovery'), null, 'nonce gone');
        t.equal(await readAuthenticator(env, userId, 'phone'), null, 'active one gone');
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'pending one gone');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'no recovery codes counted');
        t.equal(await env.store.consumeRecoveryCode(userId, codes[0]!), false, 'a recovery code is gone');
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', value, env.clock.now()),
          false,
          'a second call finds no nonce',
        );
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor removes WebAuthn credentials too',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { id: 'phone' });
        await register(env, userId);
        const keysOnly = env.userId();
        await register(env, keysOnly);
        for (const user of [userId, keysOnly]) {
          const value = await issueNonce(env, user, 'recovery');
          t.equal(
            await env.store.takeNonceAndDeleteTwoFactor(user, 'recovery', value, env.clock.now()),
            true,
            'taken',
          );
          t.strictSame(await readList(env, user), [], 'no authenticator left');
          t.equal(await env.store.countRecoveryCodes(user), 0, 'no recovery code left');
        }
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor succeeds for a user with only a pending authenticator, or none',
      async run(t, env) {
        const pendingOnly = env.userId();
        await enroll(env, pendingOnly);
        const none = env.userId();
        for (const userId of [pendingOnly, none]) {
          const value = await issueNonce(env, userId, 'recovery');
          t.equal(
            await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', value, env.clock.now()),
            true,
            userId === none ? 'taken without any authenticator' : 'taken with a pending authenticator',
          );
          t.equal(await readNonce(env, userId, 'recovery'), null, 'nonce gone');
          t.equal(await readAuthenticator(env, userId), null, 'none left');
        }
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor with a different value resolves false and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const setup = await setUp(env, userId);
        for (const wrong of [nonceValue(), setup.value.toUpperCase(), setup.value.slice(0, -1), '']) {
          t.equal(
            await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', wrong, env.clock.now()),
            false,
            'refused',
          );
        }
        t.equal(await readNonce(env, userId, 'recovery'), setup.value, 'nonce kept');
        await expectTwoFactor(t, env, userId, setup, 'after the refusals');
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', setup.value, env.clock.now()),
          true,
          'the right value works',
        );
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor refuses an expired or missing nonce and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const setup = await setUp(env, userId);
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(userId, 'other', setup.value, env.clock.now()),
          false,
          'missing key refused',
        );
        await expectTwoFactor(t, env, userId, setup, 'after a missing nonce');
        env.clock.advance(LIFETIME_MS);
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', setup.value, env.clock.now()),
          false,
          'refused at the expiry',
        );
        await expectTwoFactor(t, env, userId, setup, 'after an expired nonce');
        t.equal(await readNonce(env, userId, 'recovery'), null, 'nothing live');
        const stranger = env.userId();
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(stranger, 'recovery', setup.value, env.clock.now()),
          false,
          'a user without nonces refused',
        );
      },
    },
    {
      name: "takeNonceAndDeleteTwoFactor leaves other users, the user's other nonces and their counters",
      async run(t, env) {
        const alice = env.userId();
        // An id that alice's starts, so that a prefix or pattern match would reach it.
        const bob = `${alice}-other`;
        const aliceSetup = await setUp(env, alice);
        const bobSetup = await setUp(env, bob);
        const family = await issueNonce(env, alice, 'family');
        const counter = await env.store.incrementCounter(alice, 'failures', COUNTER_TTL_MS, env.clock.now());
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(alice, 'recovery', bobSetup.value, env.clock.now()),
          false,
          "bob's value refused on alice",
        );
        t.equal(
          await env.store.takeNonceAndDeleteTwoFactor(alice, 'recovery', aliceSetup.value, env.clock.now()),
          true,
          'alice taken',
        );
        await expectNoTwoFactor(t, env, alice, 'alice');
        t.equal(await readNonce(env, alice, 'family'), family, "alice's other nonce kept");
        t.strictSame(
          await readCounter(env, alice),
          counter,
          "alice's failure counter kept (recovery must not clear a lockout)",
        );
        await expectTwoFactor(t, env, bob, bobSetup, 'bob');
        t.equal(await readNonce(env, bob, 'recovery'), bobSetup.value, "bob's nonce kept");
      },
    },
    {
      name: 'of concurrent takeNonceAndDeleteTwoFactor calls with the same value exactly one succeeds',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { value } = await setUp(env, userId);
          const results = await race(env.concurrency, () =>
            env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', value, env.clock.now()),
          );
          expectOneWinner(t, results, `round ${round}: exactly one of ${env.concurrency} took it`);
          t.equal(await readNonce(env, userId, 'recovery'), null, `round ${round}: nonce gone`);
          await expectNoTwoFactor(t, env, userId, `round ${round}`);
        }
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor racing takeNonce: exactly one wins, and two-factor is deleted only by it',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const setup = await setUp(env, userId);
          const { one: recovered, others: taken } = await raceOneAmong(
            env.concurrency,
            round,
            () => env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', setup.value, env.clock.now()),
            () => env.store.takeNonce(userId, 'recovery', setup.value, env.clock.now()),
          );
          expectOneWinner(
            t,
            [recovered, ...taken],
            `round ${round}: exactly one of ${env.concurrency} took it`,
          );
          if (recovered) await expectNoTwoFactor(t, env, userId, `round ${round}: recovery won`);
          else await expectTwoFactor(t, env, userId, setup, `round ${round}: a takeNonce won`);
        }
      },
    },
    {
      name: 'takeNonceAndDeleteTwoFactor is one step: no reader sees the nonce taken and two-factor state left, or the reverse',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { value } = await setUp(env, userId);
          const now = env.clock.now();
          const call = env.store.takeNonceAndDeleteTwoFactor(userId, 'recovery', value, now);
          call.catch(() => {});
          // Each reader reads the three twice, starting at a different one. Nothing else changes them,
          // so once a reader has seen one gone, every later read must find it gone too.
          const reads = [
            async () => (await env.store.getNonce(userId, 'recovery', now)) === null,
            async () => (await env.store.getAuthenticator(userId, 'totp', now)) === null,
            async () => (await env.store.countRecoveryCodes(userId)) === 0,
          ];
          const torn = await spread(env.concurrency, async (index) => {
            let seenGone = false;
            for (let step = 0; step < 2 * reads.length; step++) {
              const gone = await reads[(index + step) % reads.length]!();
              if (seenGone && !gone) return true;
              seenGone ||= gone;
            }
            return false;
          });
          t.equal(await call, true, `round ${round}: taken`);
          t.strictSame(winners(torn), [], `round ${round}: no reader saw one step without the other`);
        }
      },
    },
  ],
};
