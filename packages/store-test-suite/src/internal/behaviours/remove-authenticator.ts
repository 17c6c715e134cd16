import type { Test } from 'tap';
import type { BehaviourEnv, BehaviourGroup } from '../behaviour.js';
import { expectCodes, expectExactCodes, tally } from '../checks.js';
import {
  activate,
  COUNTER_TTL_MS,
  copyCredential,
  enroll,
  issueNonce,
  recoveryHashes,
  register,
  registration,
  webAuthnRecord,
} from '../fixtures.js';
import { authenticatorRaceSize, race } from '../race.js';
import { readAuthenticator, readCounter, readList, readNonce } from '../reads.js';

/** Asserts that the user has no authenticator (of either type, pending or active) and no recovery code. */
async function expectNoTwoFactor(t: Test, env: BehaviourEnv, userId: string, label: string) {
  t.strictSame(await readList(env, userId), [], `${label}: no authenticator left`);
  t.equal(await env.store.countRecoveryCodes(userId), 0, `${label}: no recovery code left`);
}

export const removeAuthenticator: BehaviourGroup = {
  name: 'removeAuthenticator',
  behaviours: [
    {
      name: 'removeAuthenticator of one of several active ones resolves removed; the others, the enrollment and the codes stay',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone, codes } = await activate(env, userId, { id: 'phone', counter: 100 });
        const { record: key } = await register(env, userId);
        const pending = await enroll(env, userId, { id: 'tablet' });
        t.equal(
          await env.store.removeAuthenticator(userId, key.id, env.clock.now()),
          'removed',
          'credential removed',
        );
        t.strictSame(await readList(env, userId), [phone, pending], 'the TOTP one and the enrollment stay');
        t.equal(
          await env.store.useWebAuthnCredential(userId, key.id, {
            counter: 1,
            backupState: false,
            now: env.clock.now(),
          }),
          false,
          'the credential is gone',
        );
        t.equal(
          await env.store.consumeCounter(userId, 'phone', 101, env.clock.now()),
          true,
          'the TOTP one still accepts a code',
        );
        const { record: other } = await register(env, userId, { createdAt: env.clock.now() + 999 });
        t.equal(
          await env.store.removeAuthenticator(userId, 'phone', env.clock.now()),
          'removed',
          'TOTP removed',
        );
        t.strictSame(
          await readList(env, userId),
          [pending, other],
          'the other credential and the enrollment stay',
        );
        t.equal(await readAuthenticator(env, userId, 'phone'), null, 'the TOTP one is gone');
        await expectCodes(t, env, userId, codes, 'recovery codes untouched');
      },
    },
    {
      name: 'removeAuthenticator of the last active one resolves disabled, and the codes and the enrollment go too',
      async run(t, env) {
        for (const type of ['totp', 'webauthn'] as const) {
          const userId = env.userId();
          const { id, codes } =
            type === 'totp'
              ? { id: 'phone', codes: (await activate(env, userId, { id: 'phone' })).codes }
              : await register(env, userId).then(({ record, codes }) => ({ id: record.id, codes }));
          await enroll(env, userId, { id: 'tablet' });
          const counter = await env.store.incrementCounter(
            userId,
            'failures',
            COUNTER_TTL_MS,
            env.clock.now(),
          );
          const nonce = await issueNonce(env, userId, 'recovery');
          t.equal(
            await env.store.removeAuthenticator(userId, id, env.clock.now()),
            'disabled',
            `${type}: disabled`,
          );
          await expectNoTwoFactor(t, env, userId, type);
          t.equal(
            await env.store.consumeRecoveryCode(userId, codes[0]!),
            false,
            `${type}: a recovery code is gone`,
          );
          t.equal(await env.store.deleteTwoFactor(userId), false, `${type}: nothing active is left`);
          t.strictSame(await readCounter(env, userId), counter, `${type}: the failure counter is kept`);
          t.equal(await readNonce(env, userId, 'recovery'), nonce, `${type}: the nonce is kept`);
        }
      },
    },
    {
      name: "removeAuthenticator resolves missing for a pending, expired, unknown or another user's id and changes nothing",
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { record: phone, codes } = await activate(env, alice, { id: 'phone' });
        const pending = await enroll(env, alice, { id: 'tablet' });
        const { record: bobKey } = await register(env, bob);
        const now = env.clock.now();
        t.equal(await env.store.removeAuthenticator(alice, 'tablet', now), 'missing', 'a pending one');
        t.equal(await env.store.removeAuthenticator(alice, 'other', now), 'missing', 'an unknown id');
        t.equal(await env.store.removeAuthenticator(alice, bobKey.id, now), 'missing', "bob's credential");
        t.equal(
          await env.store.removeAuthenticator(env.userId(), 'phone', now),
          'missing',
          'an unknown user',
        );
        t.strictSame(await readList(env, alice), [phone, pending], "alice's authenticators unchanged");
        t.strictSame(await readList(env, bob), [bobKey], "bob's too");
        env.clock.advance(pending.expiresAt - env.clock.now());
        t.equal(
          await env.store.removeAuthenticator(alice, 'tablet', env.clock.now()),
          'missing',
          'an expired one',
        );
        t.strictSame(await readList(env, alice), [phone], 'the active one stays');
        await expectCodes(t, env, alice, codes, 'recovery codes untouched');
      },
    },
    {
      name: 'after removeAuthenticator disabled two-factor, the next authenticator turns it on with its own codes',
      async run(t, env) {
        const userId = env.userId();
        const { record: key } = await register(env, userId);
        t.equal(await env.store.removeAuthenticator(userId, key.id, env.clock.now()), 'disabled', 'disabled');
        const codes = recoveryHashes(6);
        const { outcome, record } = await register(
          env,
          userId,
          { credentialId: key.credentialId },
          { codes },
        );
        t.equal(outcome, 'enabled', 'the same credential can be added again, and turns two-factor on');
        t.strictSame(await readList(env, userId), [record], 'only it');
        await expectExactCodes(t, env, userId, codes, 'its codes');
      },
    },
    {
      name: 'removing the last two active authenticators at once: one removed, one disabled, nothing left',
      async run(t, env) {
        // Two calls per round: more rounds, so that both orders and many interleavings occur.
        for (let round = 1; round <= 2 * env.rounds; round++) {
          const userId = env.userId();
          await activate(env, userId, { id: 'phone' });
          const { record: key } = await register(env, userId);
          await enroll(env, userId, { id: 'tablet' });
          const ids = round % 2 === 1 ? ['phone', key.id] : [key.id, 'phone'];
          const outcomes = await Promise.all(
            ids.map((id) => env.store.removeAuthenticator(userId, id, env.clock.now())),
          );
          t.strictSame(
            [...outcomes].sort(),
            ['disabled', 'removed'],
            `round ${round}: one removed, one disabled`,
          );
          await expectNoTwoFactor(t, env, userId, `round ${round}`);
        }
      },
    },
    {
      name: 'of concurrent removals of one authenticator exactly one resolves removed',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { record: phone, codes } = await activate(env, userId, { id: 'phone' });
          const { record: key } = await register(env, userId);
          const outcomes = await race(calls, () =>
            env.store.removeAuthenticator(userId, key.id, env.clock.now()),
          );
          t.strictSame(
            tally(outcomes),
            { removed: 1, missing: calls - 1 },
            `round ${round}: one removed, the others missing`,
          );
          t.strictSame(await readList(env, userId), [phone], `round ${round}: the TOTP one stays`);
          await expectCodes(t, env, userId, codes, `round ${round}: recovery codes untouched`);
        }
      },
    },
    {
      name: 'addWebAuthnCredential racing the removal of the last authenticator never leaves one without recovery codes',
      async run(t, env) {
        for (let round = 1; round <= 2 * env.rounds; round++) {
          const userId = env.userId();
          const { codes: old } = await activate(env, userId, { id: 'phone' });
          const record = webAuthnRecord(userId, env.clock.now());
          const fresh = recoveryHashes(4);
          const remove = () => env.store.removeAuthenticator(userId, 'phone', env.clock.now());
          const add = () =>
            env.store.addWebAuthnCredential(copyCredential(record), registration(env, { codes: fresh }));
          // Alternate which call starts first, so both orders reach the store.
          const [removed, added] =
            round % 2 === 1
              ? await Promise.all([remove(), add()])
              : await Promise.all([add(), remove()]).then(([a, r]) => [r, a] as const);
          const pair = `${removed}/${added}`;
          t.ok(
            pair === 'disabled/enabled' || pair === 'removed/added',
            `round ${round}: disabled then enabled, or added then removed (got ${pair})`,
          );
          t.strictSame(await readList(env, userId), [record], `round ${round}: the credential is left`);
          const codes = added === 'enabled' ? fresh : old;
          await expectExactCodes(
            t,
            env,
            userId,
            codes,
            `round ${round}: with the codes of whichever came first`,
          );
        }
      },
    },
  ],
};
