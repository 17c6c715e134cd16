import type { BehaviourGroup } from '../behaviour.js';
import { activate, confirmation, enroll, sealedSecret } from '../fixtures.js';
import { expectOneWinner, race } from '../race.js';
import { readAuthenticator } from '../reads.js';

export const replaceSealedSecret: BehaviourGroup = {
  name: 'replaceSealedSecret',
  behaviours: [
    {
      name: 'replaceSealedSecret replaces the secret of an active authenticator when it equals expected',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId);
        const next = sealedSecret();
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, next),
          true,
          'replaced',
        );
        t.strictSame(
          await readAuthenticator(env, userId),
          { ...record, sealedSecret: next },
          'only the sealed secret changed',
        );
      },
    },
    {
      name: 'replaceSealedSecret replaces the secret of a pending authenticator, which stays pending',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        const next = sealedSecret();
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', pending.sealedSecret, next),
          true,
          'replaced',
        );
        t.strictSame(
          await readAuthenticator(env, userId),
          { ...pending, sealedSecret: next },
          'only the sealed secret changed',
        );
      },
    },
    {
      name: 'replaceSealedSecret refuses when the secret differs from expected and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId);
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', sealedSecret(), sealedSecret()),
          false,
          'a wrong expected is refused',
        );
        t.strictSame(await readAuthenticator(env, userId), record, 'unchanged');
        const next = sealedSecret();
        await env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, next);
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, sealedSecret()),
          false,
          'a stale expected is refused',
        );
        t.match(await readAuthenticator(env, userId), { sealedSecret: next }, 'the current secret stays');
      },
    },
    {
      name: 'replaceSealedSecret refuses a missing authenticator and creates nothing',
      async run(t, env) {
        const userId = env.userId();
        t.equal(await env.store.replaceSealedSecret(userId, 'totp', 'a', 'b'), false, 'refused');
        t.equal(await readAuthenticator(env, userId), null, 'nothing created');
      },
    },
    {
      name: 'replaceSealedSecret after deleteTwoFactor does not resurrect the authenticator',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId);
        await env.store.deleteTwoFactor(userId);
        t.equal(
          await env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, sealedSecret()),
          false,
          'refused',
        );
        t.equal(await readAuthenticator(env, userId), null, 'still deleted');
        t.equal(await env.store.deleteTwoFactor(userId), false, 'nothing active came back');
      },
    },
    {
      name: 'replaceSealedSecret does not revive an expired pending authenticator',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        env.clock.advance(pending.expiresAt - env.clock.now());
        const next = sealedSecret();
        await env.store.replaceSealedSecret(userId, 'totp', pending.sealedSecret, next);
        t.equal(await readAuthenticator(env, userId), null, 'still expired');
        // With either secret, so that the refusal is for the expiry, not for a secret that differs.
        for (const secret of [next, pending.sealedSecret]) {
          const input = confirmation(env, secret, { counter: 1, codes: [] });
          t.equal(
            await env.store.confirmAuthenticator(userId, 'totp', input),
            'missing',
            'cannot be confirmed',
          );
        }
      },
    },
    {
      name: 'of concurrent replaceSealedSecret calls with the same expected exactly one wins',
      async run(t, env) {
        const userId = env.userId();
        let { record } = await activate(env, userId);
        for (let round = 1; round <= env.rounds; round++) {
          const nexts = Array.from({ length: env.concurrency }, () => sealedSecret());
          const results = await race(env.concurrency, (index) =>
            env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, nexts[index]!),
          );
          const winner = expectOneWinner(
            t,
            results,
            `round ${round}: exactly one of ${env.concurrency} replaced it`,
          );
          const stored = await readAuthenticator(env, userId);
          t.strictSame(
            stored,
            { ...record, sealedSecret: nexts[winner] },
            `round ${round}: the winner's secret is stored`,
          );
          if (stored) record = stored;
        }
      },
    },
    {
      name: 'replaceSealedSecret racing deleteTwoFactor never leaves an authenticator behind',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { record } = await activate(env, userId);
          const reseal = () =>
            env.store.replaceSealedSecret(userId, 'totp', record.sealedSecret, sealedSecret());
          const remove = () => env.store.deleteTwoFactor(userId);
          // Alternate which call starts first, so both orders reach the store.
          const deleted =
            round % 2 === 1
              ? (await Promise.all([reseal(), remove()]))[1]
              : (await Promise.all([remove(), reseal()]))[0];
          t.equal(deleted, true, `round ${round}: delete saw the active authenticator`);
          t.equal(await readAuthenticator(env, userId), null, `round ${round}: nothing left`);
        }
      },
    },
  ],
};
