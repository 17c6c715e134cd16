import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { expectCodes, expectExactCodes, expectNoneOf, tally } from '../checks.js';
import {
  type ActiveSetup,
  activate,
  confirmation,
  enroll,
  mustAdd,
  pendingRecord,
  recoveryHashes,
  register,
} from '../fixtures.js';
import { expectOneWinner, race, raceOneAmong, winners } from '../race.js';
import { readAuthenticator, readList } from '../reads.js';

/** Asserts that the user's active authenticator and its recovery codes are as `active` set them up. */
async function expectActiveKept(t: Test, env: BehaviourEnv, userId: string, active: ActiveSetup) {
  t.strictSame(await readAuthenticator(env, userId, active.record.id), active.record, 'active one unchanged');
  await expectCodes(t, env, userId, active.codes, 'old recovery codes untouched');
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
        const input = confirmation(env, pending.sealedSecret, {
          counter: 58_000_001,
          codes: recoveryHashes(10),
        });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'enabled', 'enabled');
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
        const input = confirmation(env, sealedSecret, { counter: 7, codes });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'enabled', 'enabled');
        t.equal(await env.store.countRecoveryCodes(userId), 10, 'ten codes');
        for (const [index, code] of codes.entries()) {
          t.equal(await env.store.consumeRecoveryCode(userId, code), true, `code ${index} consumable`);
        }
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'all consumed');
      },
    },
    {
      name: 'confirm of a further authenticator resolves added and leaves the recovery codes as they are',
      async run(t, env) {
        const userId = env.userId();
        const { codes: old } = await activate(env, userId, { id: 'phone' });
        const { sealedSecret } = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(2_001);
        const now = env.clock.now();
        const input = confirmation(env, sealedSecret, { counter: 9, codes: recoveryHashes(8) });
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), 'added', 'added');
        t.match(
          await readAuthenticator(env, userId, 'tablet'),
          { status: 'active', confirmedAt: now, lastUsedAt: now, lastCounter: 9, expiresAt: null },
          'active',
        );
        await expectNoneOf(t, env, userId, input.recoveryCodeHashes, 'the codes given');
        await expectExactCodes(t, env, userId, old, 'the old codes');
      },
    },
    {
      name: 'confirm beside an active WebAuthn credential resolves added and leaves the recovery codes',
      async run(t, env) {
        const userId = env.userId();
        const { codes: old } = await register(env, userId);
        const { sealedSecret } = await enroll(env, userId);
        const input = confirmation(env, sealedSecret, { counter: 9, codes: recoveryHashes(8) });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'added', 'added');
        t.match(await readAuthenticator(env, userId), { status: 'active', lastCounter: 9 }, 'active');
        await expectNoneOf(t, env, userId, input.recoveryCodeHashes, 'the codes given');
        await expectExactCodes(t, env, userId, old, 'the old codes');
      },
    },
    {
      name: 'confirm at maxActive resolves full and changes nothing; pending ones do not count',
      async run(t, env) {
        const userId = env.userId();
        const phone = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId);
        const pending = await enroll(env, userId, { id: 'tablet' });
        for (const maxActive of [2, 1]) {
          const input = confirmation(env, pending.sealedSecret, { maxActive });
          t.equal(
            await env.store.confirmAuthenticator(userId, 'tablet', input),
            'full',
            `full with 2 active and maxActive ${maxActive}`,
          );
          await expectNoneOf(t, env, userId, input.recoveryCodeHashes, `maxActive ${maxActive}: its codes`);
        }
        t.strictSame(await readAuthenticator(env, userId, 'tablet'), pending, 'still pending, unchanged');
        t.strictSame(
          (await readList(env, userId)).map((record) => record.id).sort(),
          ['phone', 'tablet', key.id].sort(),
          'no authenticator added or removed',
        );
        await expectActiveKept(t, env, userId, phone);
        const input = confirmation(env, pending.sealedSecret, { counter: 77, maxActive: 3 });
        t.equal(
          await env.store.confirmAuthenticator(userId, 'tablet', input),
          'added',
          'added with maxActive 3',
        );
        const other = env.userId();
        const first = await enroll(env, other);
        const codes = recoveryHashes(4);
        t.equal(
          await env.store.confirmAuthenticator(
            other,
            'totp',
            confirmation(env, first.sealedSecret, { codes, maxActive: 1 }),
          ),
          'enabled',
          'maxActive 1 lets a user without 2FA turn it on',
        );
        await expectExactCodes(t, env, other, codes, 'its codes');
      },
    },
    {
      name: 'confirm keeps no reference to the recovery code array',
      async run(t, env) {
        const userId = env.userId();
        const { sealedSecret } = await enroll(env, userId);
        const codes = recoveryHashes(10);
        const input = confirmation(env, sealedSecret, { counter: 7, codes });
        mustAdd(await env.store.confirmAuthenticator(userId, 'totp', input), 'confirmAuthenticator');
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
        const input = confirmation(env, pending.sealedSecret, { counter: 3, codes: recoveryHashes(2) });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'enabled', 'enabled');
        t.match(await readAuthenticator(env, userId), { status: 'active', expiresAt: null }, 'active');
      },
    },
    {
      name: 'confirm refuses a missing authenticator and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const active = await activate(env, userId, { id: 'phone' });
        const input = confirmation(env, active.record.sealedSecret);
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), 'missing', 'missing');
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'nothing created');
        await expectActiveKept(t, env, userId, active);
        const stranger = env.userId();
        t.equal(
          await env.store.confirmAuthenticator(stranger, 'totp', input),
          'missing',
          'unknown user: missing',
        );
        t.equal(await env.store.countRecoveryCodes(stranger), 0, 'unknown user got no codes');
      },
    },
    {
      name: 'confirm at expiresAt is refused and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const active = await activate(env, userId, { id: 'phone' });
        const pending = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(pending.expiresAt - env.clock.now());
        const input = confirmation(env, pending.sealedSecret);
        t.equal(await env.store.confirmAuthenticator(userId, 'tablet', input), 'missing', 'missing');
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'still absent');
        await expectActiveKept(t, env, userId, active);
      },
    },
    {
      name: 'confirm refuses the id of a WebAuthn credential and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await register(env, userId);
        const input = confirmation(env, 'v1.k1.any');
        t.equal(await env.store.confirmAuthenticator(userId, record.id, input), 'missing', 'missing');
        t.strictSame(await readList(env, userId), [record], 'the credential is unchanged, and alone');
        await expectCodes(t, env, userId, codes, 'its recovery codes untouched');
      },
    },
    {
      name: 'confirm refuses an active authenticator and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record, codes } = await activate(env, userId);
        env.clock.advance(1_000);
        const input = confirmation(env, record.sealedSecret, { counter: record.lastCounter + 10 });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'missing', 'missing');
        t.strictSame(await readAuthenticator(env, userId), record, 'record unchanged');
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
          const outcomes = await race(env.concurrency, (index) =>
            env.store.confirmAuthenticator(
              userId,
              'totp',
              confirmation(env, sealedSecret, { counter: 1000 + index, codes: sets[index]! }),
            ),
          );
          t.strictSame(
            tally(outcomes),
            { enabled: 1, missing: env.concurrency - 1 },
            `round ${round}: one enabled, the others missing`,
          );
          const winner = expectOneWinner(
            t,
            outcomes.map((outcome) => outcome === 'enabled'),
            `round ${round}: exactly one confirm won`,
          );
          t.match(
            await readAuthenticator(env, userId),
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
        const active = await activate(env, userId, { id: 'phone' });
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
          const input = confirmation(env, sealedSecret);
          t.equal(
            await env.store.confirmAuthenticator(userId, 'tablet', input),
            'missing',
            `wrong secret ${index}: missing`,
          );
          t.equal(
            await env.store.consumeRecoveryCode(userId, input.recoveryCodeHashes[0]!),
            false,
            `wrong secret ${index}: its codes were not stored`,
          );
        }
        t.strictSame(
          await readAuthenticator(env, userId, 'tablet'),
          pending,
          'still pending, with the same secret',
        );
        await expectActiveKept(t, env, userId, active);
        t.equal(
          await env.store.confirmAuthenticator(userId, 'tablet', confirmation(env, secret)),
          'added',
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
        const input = confirmation(env, first.sealedSecret);
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'missing', 'missing');
        t.strictSame(
          await readAuthenticator(env, userId),
          second,
          'the new enrollment is pending, unchanged',
        );
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'no recovery codes stored');
        t.equal(
          await env.store.confirmAuthenticator(userId, 'totp', {
            ...input,
            sealedSecret: second.sealedSecret,
          }),
          'enabled',
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
          // One confirm of the first enrollment among new enrollments replacing it.
          const enrollments = env.concurrency - 1;
          const others = Array.from({ length: enrollments }, () => pendingRecord(userId, now));
          const input = confirmation(env, first.sealedSecret, { counter: 1000 });
          const outcome = await raceOneAmong(
            env.concurrency,
            round,
            () => env.store.confirmAuthenticator(userId, 'totp', input),
            (index) => env.store.savePendingAuthenticator({ ...others[index]! }, now),
          );
          const saved = winners(outcome.others);
          const stored = await env.store.getAuthenticator(userId, 'totp', now);
          if (outcome.one === 'enabled') {
            // It came first: every enrollment after it met an active authenticator.
            t.match(
              stored,
              { status: 'active', sealedSecret: first.sealedSecret, lastCounter: 1000 },
              `round ${round}: the confirmed secret is the active one`,
            );
            t.strictSame(saved, [], `round ${round}: every enrollment after the confirm was refused`);
            t.equal(await env.store.countRecoveryCodes(userId), 3, `round ${round}: its codes are stored`);
          } else {
            t.equal(outcome.one, 'missing', `round ${round}: the confirm lost: missing`);
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
