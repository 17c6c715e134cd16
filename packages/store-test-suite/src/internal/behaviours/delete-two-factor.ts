import type { BehaviourGroup } from '../behaviour.js';
import {
  activate,
  COUNTER_TTL_MS,
  confirmation,
  enroll,
  issueNonce,
  recoveryHashes,
  register,
} from '../fixtures.js';
import { readAuthenticator, readCounter, readList, readNonce } from '../reads.js';

export const deleteTwoFactor: BehaviourGroup = {
  name: 'deleteTwoFactor',
  behaviours: [
    {
      name: 'deleteTwoFactor removes the active authenticator and the recovery codes and resolves true',
      async run(t, env) {
        const userId = env.userId();
        const { codes } = await activate(env, userId);
        t.equal(await env.store.deleteTwoFactor(userId), true, 'an active one existed');
        t.equal(await readAuthenticator(env, userId), null, 'authenticator gone');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'no recovery codes counted');
        t.equal(await env.store.consumeRecoveryCode(userId, codes[0]!), false, 'a recovery code is gone');
        t.equal(await env.store.deleteTwoFactor(userId), false, 'a second delete finds nothing active');
      },
    },
    {
      name: 'deleteTwoFactor removes a pending authenticator and resolves false',
      async run(t, env) {
        const userId = env.userId();
        await enroll(env, userId);
        t.equal(await env.store.deleteTwoFactor(userId), false, 'no active one existed');
        t.equal(await readAuthenticator(env, userId), null, 'pending one gone');
      },
    },
    {
      name: 'deleteTwoFactor removes every authenticator of the user',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { id: 'phone' });
        await enroll(env, userId, { id: 'tablet' });
        t.equal(await env.store.deleteTwoFactor(userId), true, 'an active one existed');
        t.equal(await readAuthenticator(env, userId, 'phone'), null, 'active one gone');
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'pending one gone');
      },
    },
    {
      name: 'deleteTwoFactor removes WebAuthn credentials too, and resolves true for a user with only credentials',
      async run(t, env) {
        const mixed = env.userId();
        await activate(env, mixed, { id: 'phone' });
        await register(env, mixed);
        await enroll(env, mixed, { id: 'tablet' });
        t.equal(await env.store.deleteTwoFactor(mixed), true, 'both types: an active one existed');
        t.strictSame(await readList(env, mixed), [], 'both types: none left');
        t.equal(await env.store.countRecoveryCodes(mixed), 0, 'both types: no recovery codes');
        const keysOnly = env.userId();
        const { record } = await register(env, keysOnly);
        await register(env, keysOnly);
        t.equal(await env.store.deleteTwoFactor(keysOnly), true, 'credentials only: an active one existed');
        t.strictSame(await readList(env, keysOnly), [], 'credentials only: none left');
        t.equal(await env.store.countRecoveryCodes(keysOnly), 0, 'credentials only: no recovery codes');
        t.equal(
          await env.store.useWebAuthnCredential(keysOnly, record.id, {
            counter: 1,
            backupState: false,
            now: env.clock.now(),
          }),
          false,
          'a deleted credential is not usable',
        );
      },
    },
    {
      name: 'deleteTwoFactor resolves false for a user without two-factor state',
      async run(t, env) {
        const userId = env.userId();
        t.equal(await env.store.deleteTwoFactor(userId), false, 'nothing existed');
        t.equal(await readAuthenticator(env, userId), null, 'still nothing');
      },
    },
    {
      name: 'deleteTwoFactor leaves other users untouched',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        await activate(env, alice);
        const { record, codes } = await activate(env, bob);
        const bobPending = await enroll(env, bob, { id: 'tablet' });
        t.equal(await env.store.deleteTwoFactor(alice), true, 'alice deleted');
        t.strictSame(await readAuthenticator(env, bob), record, 'bob active kept');
        t.strictSame(await readAuthenticator(env, bob, 'tablet'), bobPending, 'bob pending kept');
        t.equal(await env.store.countRecoveryCodes(bob), codes.length, 'bob codes kept');
      },
    },
    {
      name: "deleteTwoFactor leaves the user's failure counters and nonces",
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId);
        const counter = await env.store.incrementCounter(userId, 'failures', COUNTER_TTL_MS, env.clock.now());
        const value = await issueNonce(env, userId, 'recovery');
        await env.store.deleteTwoFactor(userId);
        t.strictSame(
          await readCounter(env, userId),
          counter,
          'failure counter kept (disabling must not clear a lockout)',
        );
        t.equal(await readNonce(env, userId, 'recovery'), value, 'nonce kept');
      },
    },
    {
      name: 'after deleteTwoFactor a new enrollment starts clean',
      async run(t, env) {
        const userId = env.userId();
        await activate(env, userId, { counter: 5_000 });
        await env.store.deleteTwoFactor(userId);
        const pending = await enroll(env, userId);
        t.strictSame(await readAuthenticator(env, userId), pending, 'a new pending one');
        const input = confirmation(env, pending.sealedSecret, { counter: 10, codes: recoveryHashes(4) });
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'enabled', 'enabled again');
        t.equal(await env.store.countRecoveryCodes(userId), 4, 'only the new codes');
        t.equal(
          await env.store.consumeCounter(userId, 'totp', 11, env.clock.now()),
          true,
          'the old lastCounter is gone',
        );
      },
    },
  ],
};
