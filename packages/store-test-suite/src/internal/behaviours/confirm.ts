import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { activate, enroll, must, pendingRecord, recoveryHashes } from '../fixtures.js';
import { placement, race, winners } from '../race.js';

/** Asserts that exactly `codes` are the user's recovery codes, by counting and consuming one. */
async function expectCodes(t: Test, env: BehaviourEnv, userId: string, codes: string[], label: string) {
  t.equal(await env.store.countRecoveryCodes(userId), codes.length, `${label}: count`);
  const [first] = codes;
  if (first !== undefined) {
    t.equal(await env.store.consumeRecoveryCode(userId, first), true, `${label}: a code is consumable`);
  }
}

export const confirm: BehaviourGroup = {
  name: 'confirmAuthenticator',
  behaviours: [
    {
      name: 'confirm activates the pending authenticator',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        env.clock.advance(12_345);
        const now = env.clock.now();
        const input = {
          sealedSecret: pending.sealedSecret,
          counter: 58_000_001,
          recoveryCodeHashes: recoveryHashes(10),
          now,
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), true, 'confirmed');
        t.strictSame(
          await env.store.getAuthenticator(userId, 'totp', now),
          {
            ...pending,
            status: 'active',
            confirmedAt: now,
            lastUsedAt: now,
            lastCounter: 58_000_001,
            expiresAt: null,
          },
          'active, with confirmedAt = lastUsedAt = now, lastCounter = counter, expiresAt null',
        );
      },
    },
    {
      name: 'confirm stores exactly the given recovery code hashes',
      async run(t, env) {
        const userId = env.userId();
        const { sealedSecret } = await enroll(env, userId);
        const codes = recoveryHashes(10);
        const input = { sealedSecret, counter: 7, recoveryCodeHashes: codes, now: env.clock.now() };
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), true, 'confirmed');
        t.equal(await env.store.countRecoveryCodes(userId), 10, 'ten codes');
        for (const [index, code] of codes.entries()) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), true, `code ${index} consumable`);
        }
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'all consumed');
      },
    },
    {
      name: 'confirm replaces the recovery codes the user already had',
      async run(t, env) {
        const userId = env.userId();
        const { codes: old } = await activate(env, userId, { id: 'phone' });
        const { sealedSecret } = await enroll(env, userId, { id: 'tablet' });
        const fresh = recoveryHashes(8);
        const input = { sealedSecret, counter: 9, recoveryCodeHashes: fresh, now: env.clock.now() };
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), true, 'confirmed');
        t.equal(await env.store.countRecoveryCodes(userId), 8, 'only the new set is counted');
        for (const code of old) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), false, 'an old code is gone');
        }
        for (const code of fresh) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), true, 'a new code is consumable');
        }
      },
    },
    {
      name: 'confirm keeps no reference to the recovery code array',
      async run(t, env) {
        const userId = env.userId();
        const { sealedSecret } = await enroll(env, userId);
        const codes = recoveryHashes(10);
        const input = { sealedSecret, counter: 7, recoveryCodeHashes: codes, now: env.clock.now() };
        must(await env.store.confirmAuthenticator(userId, 'totp', input), 'confirmAuthenticator');
        codes.length = 0;
        t.equal(await env.store.countRecoveryCodes(userId), 10, 'still ten codes');
      },
    },
    {
      name: 'confirm succeeds one millisecond before expiresAt',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        env.clock.advance(pending.expiresAt - 1 - env.clock.now());
        const input = {
          sealedSecret: pending.sealedSecret,
          counter: 3,
          recoveryCodeHashes: recoveryHashes(2),
          now: env.clock.now(),
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), true, 'confirmed');
        t.match(
          await env.store.getAuthenticator(userId, 'totp', env.clock.now()),
          { status: 'active', expiresAt: null },
          'active',
        );
      },
    },
    {
      name: 'confirm refuses a missing authenticator and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await activate(env, userId, { id: 'phone' });
        const input = {
          sealedSecret: record.sealedSecret,
          counter: 5,
          recoveryCodeHashes: recoveryHashes(3),
          now: env.clock.now(),
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), false, 'refused');
        t.equal(await env.store.getAuthenticator(userId, 'tablet', env.clock.now()), null, 'nothing created');
        t.strictSame(
          await env.store.getAuthenticator(userId, 'phone', env.clock.now()),
          record,
          'active one unchanged',
        );
        await expectCodes(t, env, userId, codes, 'old recovery codes untouched');
        const stranger = env.userId();
        t.equal(await env.store.confirmAuthenticator(stranger, 'totp', input), false, 'unknown user refused');
        t.equal(await env.store.countRecoveryCodes(stranger), 0, 'unknown user got no codes');
      },
    },
    {
      name: 'confirm at expiresAt is refused and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await activate(env, userId, { id: 'phone' });
        const pending = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(pending.expiresAt - env.clock.now());
        const input = {
          sealedSecret: pending.sealedSecret,
          counter: 5,
          recoveryCodeHashes: recoveryHashes(3),
          now: env.clock.now(),
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), false, 'refused');
        t.equal(await env.store.getAuthenticator(userId, 'tablet', env.clock.now()), null, 'still absent');
        t.strictSame(
          await env.store.getAuthenticator(userId, 'phone', env.clock.now()),
          record,
          'active one unchanged',
        );
        await expectCodes(t, env, userId, codes, 'old recovery codes untouched');
      },
    },
    {
      name: 'confirm refuses an active authenticator and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await activate(env, userId);
        env.clock.advance(1_000);
        const input = {
          sealedSecret: record.sealedSecret,
          counter: record.lastCounter + 10,
          recoveryCodeHashes: recoveryHashes(3),
          now: env.clock.now(),
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), false, 'refused');
        t.strictSame(
          await env.store.getAuthenticator(userId, 'totp', env.clock.now()),
          record,
          'record unchanged',
        );
        await expectCodes(t, env, userId, codes, 'old recovery codes untouched');
        const [unused] = input.recoveryCodeHashes;
        t.equal(
          await env.store.consumeRecoveryCode(userId, unused!),
          false,
          'the refused codes were not stored',
        );
      },
    },
    {
      name: 'of concurrent confirms exactly one wins, and only its counter and recovery codes are stored',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { sealedSecret } = await enroll(env, userId);
          const sets = Array.from({ length: env.concurrency }, () => recoveryHashes(3));
          const results = await race(env.concurrency, (index) =>
            env.store.confirmAuthenticator(userId, 'totp', {
              sealedSecret,
              counter: 1000 + index,
              recoveryCodeHashes: sets[index]!,
              now: env.clock.now(),
            }),
          );
          const won = winners(results);
          t.equal(won.length, 1, `round ${round}: exactly one confirm resolved true`);
          const winner = won[0] ?? 0;
          t.match(
            await env.store.getAuthenticator(userId, 'totp', env.clock.now()),
            { status: 'active', lastCounter: 1000 + winner },
            `round ${round}: the winner's counter is stored`,
          );
          t.equal(await env.store.countRecoveryCodes(userId), 3, `round ${round}: one set of codes`);
          const loser = (winner + 1) % env.concurrency;
          t.equal(
            await env.store.consumeRecoveryCode(userId, sets[loser]![0]!),
            false,
            `round ${round}: a loser's code is not stored`,
          );
          const consumed = await Promise.all(
            sets[winner]!.map((code) => env.store.consumeRecoveryCode(userId, code)),
          );
          t.strictSame(consumed, [true, true, true], `round ${round}: the winner's codes are stored`);
        }
      },
    },
    {
      name: 'confirm with a different sealedSecret is refused and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await activate(env, userId, { id: 'phone' });
        const pending = await enroll(env, userId, { id: 'tablet' });
        const secret = pending.sealedSecret;
        // Another secret, and the ones a collation or a prefix match would take for this one.
        const wrong = [
          pendingRecord(userId, env.clock.now()).sealedSecret,
          secret.toUpperCase(),
          `${secret} `,
          secret.slice(0, -1),
          '',
        ];
        for (const [index, sealedSecret] of wrong.entries()) {
          const input = {
            sealedSecret,
            counter: 5,
            recoveryCodeHashes: recoveryHashes(3),
            now: env.clock.now(),
          };
          t.equal(
            await env.store.confirmAuthenticator(userId, 'tablet', input),
            false,
            `wrong secret ${index} refused`,
          );
          t.equal(
            await env.store.consumeRecoveryCode(userId, input.recoveryCodeHashes[0]!),
            false,
            `wrong secret ${index}: its codes were not stored`,
          );
        }
        t.strictSame(
          await env.store.getAuthenticator(userId, 'tablet', env.clock.now()),
          pending,
          'still pending, with the same secret',
        );
        t.strictSame(
          await env.store.getAuthenticator(userId, 'phone', env.clock.now()),
          record,
          'active one unchanged',
        );
        await expectCodes(t, env, userId, codes, 'old recovery codes untouched');
        const input = {
          sealedSecret: secret,
          counter: 5,
          recoveryCodeHashes: recoveryHashes(3),
          now: env.clock.now(),
        };
        t.equal(
          await env.store.confirmAuthenticator(userId, 'tablet', input),
          true,
          'the right secret works',
        );
      },
    },
    {
      name: 'confirm with the sealedSecret of a replaced enrollment is refused, and the new one stays pending',
      async run(t, env) {
        const userId = env.userId();
        const first = await enroll(env, userId);
        env.clock.advance(1_000);
        const second = await enroll(env, userId);
        const input = {
          sealedSecret: first.sealedSecret,
          counter: 5,
          recoveryCodeHashes: recoveryHashes(3),
          now: env.clock.now(),
        };
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), false, 'refused');
        t.strictSame(
          await env.store.getAuthenticator(userId, 'totp', env.clock.now()),
          second,
          'the new enrollment is pending, unchanged',
        );
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'no recovery codes stored');
        t.equal(
          await env.store.confirmAuthenticator(userId, 'totp', {
            ...input,
            sealedSecret: second.sealedSecret,
          }),
          true,
          "the new enrollment's secret confirms it",
        );
      },
    },
    {
      name: 'confirm racing new enrollments never activates a secret it did not carry',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const first = await enroll(env, userId);
          const now = env.clock.now();
          const at = placement(round, env.concurrency);
          // One confirm of the first enrollment among new enrollments replacing it.
          const others = Array.from({ length: env.concurrency }, () => pendingRecord(userId, now));
          const codes = recoveryHashes(3);
          const results = await race(env.concurrency, (index) =>
            index === at
              ? env.store.confirmAuthenticator(userId, 'totp', {
                  sealedSecret: first.sealedSecret,
                  counter: 1000,
                  recoveryCodeHashes: codes,
                  now,
                })
              : env.store.savePendingAuthenticator({ ...others[index]! }, now),
          );
          const confirmed = results[at]!;
          const saved = winners(results).filter((index) => index !== at);
          const enrollments = env.concurrency - 1;
          const stored = await env.store.getAuthenticator(userId, 'totp', now);
          if (confirmed) {
            // It came first: every enrollment after it met an active authenticator.
            t.match(
              stored,
              { status: 'active', sealedSecret: first.sealedSecret, lastCounter: 1000 },
              `round ${round}: the confirmed secret is the active one`,
            );
            t.strictSame(saved, [], `round ${round}: every enrollment after the confirm was refused`);
            t.equal(await env.store.countRecoveryCodes(userId), 3, `round ${round}: its codes are stored`);
          } else {
            // An enrollment came first: nothing was ever active, so every enrollment succeeded.
            t.equal(saved.length, enrollments, `round ${round}: every enrollment succeeded`);
            t.match(stored, { status: 'pending' }, `round ${round}: still pending`);
            t.ok(
              saved.some((index) => others[index]!.sealedSecret === stored?.sealedSecret),
              `round ${round}: with the secret of an enrollment`,
            );
            t.equal(
              await env.store.countRecoveryCodes(userId),
              0,
              `round ${round}: no recovery codes stored`,
            );
          }
        }
      },
    },
  ],
};
