import type { BehaviourGroup } from '../behaviour.js';
import { activate, register } from '../fixtures.js';
import { authenticatorRaceSize, expectOneWinner, race, zigzag } from '../race.js';
import { readAuthenticator, readList } from '../reads.js';

export const useWebAuthnCredential: BehaviourGroup = {
  name: 'useWebAuthnCredential',
  behaviours: [
    {
      name: 'useWebAuthnCredential accepts a higher counter and records it with backupState and lastUsedAt, nothing else',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await register(env, userId, { counter: 5, backupEligible: true });
        env.clock.advance(30_001);
        const first = { counter: 6, backupState: true, now: env.clock.now() };
        t.equal(await env.store.useWebAuthnCredential(userId, record.id, first), true, 'accepted');
        const used = { ...record, counter: 6, backupState: true, lastUsedAt: first.now };
        t.strictSame(await readList(env, userId), [used], 'counter, backupState and lastUsedAt moved');
        env.clock.advance(1_234);
        const second = { counter: 2 ** 32 - 1, backupState: false, now: env.clock.now() };
        t.equal(await env.store.useWebAuthnCredential(userId, record.id, second), true, '2^32 - 1 accepted');
        t.strictSame(
          await readList(env, userId),
          [{ ...record, counter: 2 ** 32 - 1, backupState: false, lastUsedAt: second.now }],
          'recorded, backupState back to false',
        );
      },
    },
    {
      name: 'useWebAuthnCredential refuses an equal or lower counter and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await register(env, userId, { counter: 2 ** 31 + 100 });
        env.clock.advance(1_000);
        for (const counter of [2 ** 31 + 100, 2 ** 31 + 99, 100, 1, 0]) {
          t.equal(
            await env.store.useWebAuthnCredential(userId, record.id, {
              counter,
              backupState: true,
              now: env.clock.now(),
            }),
            false,
            `${counter} refused`,
          );
        }
        t.strictSame(await readList(env, userId), [record], 'unchanged');
      },
    },
    {
      name: 'a credential without a counter: 0 is accepted while the stored counter is 0, and refused once it is not',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await register(env, userId, { counter: 0, backupEligible: true });
        for (const backupState of [true, false]) {
          env.clock.advance(1_001);
          const now = env.clock.now();
          t.equal(
            await env.store.useWebAuthnCredential(userId, record.id, { counter: 0, backupState, now }),
            true,
            `0 accepted after 0 (backupState ${backupState})`,
          );
          t.strictSame(
            await readList(env, userId),
            [{ ...record, backupState, lastUsedAt: now }],
            'backupState and lastUsedAt recorded',
          );
        }
        env.clock.advance(1_001);
        const now = env.clock.now();
        t.equal(
          await env.store.useWebAuthnCredential(userId, record.id, { counter: 3, backupState: true, now }),
          true,
          'a counter that starts counting is accepted',
        );
        const used = { ...record, counter: 3, backupState: true, lastUsedAt: now };
        env.clock.advance(1_001);
        t.equal(
          await env.store.useWebAuthnCredential(userId, record.id, {
            counter: 0,
            backupState: false,
            now: env.clock.now(),
          }),
          false,
          '0 refused after 3 (a cloned authenticator)',
        );
        t.strictSame(await readList(env, userId), [used], 'unchanged by the refusal');
      },
    },
    {
      name: "useWebAuthnCredential refuses a missing credential, a TOTP authenticator and another user's credential",
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { record: phone } = await activate(env, alice, { id: 'phone', counter: 100 });
        const { record: key } = await register(env, alice, { counter: 5 });
        const use = { counter: 1_000, backupState: true, now: env.clock.now() + 1 };
        t.equal(await env.store.useWebAuthnCredential(alice, 'other', use), false, 'unknown id');
        t.equal(await env.store.useWebAuthnCredential(alice, 'phone', use), false, 'a TOTP authenticator');
        t.equal(await env.store.useWebAuthnCredential(bob, key.id, use), false, "alice's credential for bob");
        t.equal(await env.store.useWebAuthnCredential(env.userId(), key.id, use), false, 'an unknown user');
        t.strictSame(await readList(env, alice), [phone, key], "alice's authenticators unchanged");
        t.strictSame(await readAuthenticator(env, alice, 'phone'), phone, 'the TOTP one too');
        t.strictSame(await readList(env, bob), [], 'nothing created for bob');
      },
    },
    {
      name: 'of concurrent useWebAuthnCredential calls with the same counter exactly one succeeds',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        const userId = env.userId();
        let { record } = await register(env, userId, { counter: 7, backupEligible: true });
        for (let round = 1; round <= env.rounds; round++) {
          env.clock.advance(1_001);
          const now = env.clock.now();
          const counter = 7 + round;
          const results = await race(calls, (index) =>
            env.store.useWebAuthnCredential(userId, record.id, {
              counter,
              backupState: index % 2 === 0,
              now,
            }),
          );
          const winner = expectOneWinner(t, results, `round ${round}: exactly one of ${calls} succeeded`);
          record = { ...record, counter, backupState: winner % 2 === 0, lastUsedAt: now };
          t.strictSame(
            await readList(env, userId),
            [record],
            `round ${round}: the counter, and the backup state of the one that succeeded`,
          );
        }
      },
    },
    {
      name: 'concurrent useWebAuthnCredential calls with increasing counters leave the highest recorded',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { record } = await register(env, userId, { counter: 0 });
          const counters = zigzag(calls);
          const now = env.clock.now();
          const results = await race(counters.length, (index) =>
            env.store.useWebAuthnCredential(userId, record.id, {
              counter: counters[index]!,
              backupState: false,
              now,
            }),
          );
          t.equal(results[counters.indexOf(calls)], true, `round ${round}: the highest counter was accepted`);
          t.match(
            await readList(env, userId),
            [{ counter: calls }],
            `round ${round}: the highest is recorded`,
          );
          t.equal(
            await env.store.useWebAuthnCredential(userId, record.id, {
              counter: calls,
              backupState: false,
              now,
            }),
            false,
            `round ${round}: the highest counter is spent`,
          );
        }
      },
    },
  ],
};
