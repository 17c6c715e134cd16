import type { BehaviourGroup } from '../behaviour.js';
import { activate, enroll, NAMES, register } from '../fixtures.js';
import { readList } from '../reads.js';

export const renameAuthenticator: BehaviourGroup = {
  name: 'renameAuthenticator',
  behaviours: [
    {
      name: 'renameAuthenticator renames an active TOTP authenticator and a WebAuthn credential, and nothing else',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone } = await activate(env, userId, { id: 'phone', name: null });
        const { record: key } = await register(env, userId);
        const [first, second, third] = NAMES;
        env.clock.advance(1_001);
        t.equal(
          await env.store.renameAuthenticator(userId, 'phone', first!, env.clock.now()),
          true,
          'a TOTP authenticator without a name is named',
        );
        t.equal(
          await env.store.renameAuthenticator(userId, key.id, second!, env.clock.now()),
          true,
          'a credential is renamed',
        );
        t.strictSame(
          await readList(env, userId),
          [
            { ...phone, name: first },
            { ...key, name: second },
          ],
          'only the names changed',
        );
        t.equal(
          await env.store.renameAuthenticator(userId, 'phone', third!, env.clock.now()),
          true,
          'renamed again',
        );
        t.equal(
          await env.store.renameAuthenticator(userId, key.id, 'x', env.clock.now()),
          true,
          'a name of one character',
        );
        t.strictSame(
          await readList(env, userId),
          [
            { ...phone, name: third },
            { ...key, name: 'x' },
          ],
          'the latest names',
        );
      },
    },
    {
      name: "renameAuthenticator refuses a pending, expired, missing or another user's authenticator and changes nothing",
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { record: phone } = await activate(env, alice, { id: 'phone' });
        const { record: key } = await register(env, alice);
        const pending = await enroll(env, alice, { id: 'tablet' });
        const expiring = await enroll(env, bob, { id: 'watch' });
        const now = env.clock.now();
        t.equal(await env.store.renameAuthenticator(alice, 'tablet', 'New', now), false, 'a pending one');
        t.equal(await env.store.renameAuthenticator(alice, 'other', 'New', now), false, 'an unknown id');
        t.equal(
          await env.store.renameAuthenticator(bob, key.id, 'New', now),
          false,
          "alice's credential for bob",
        );
        t.equal(await env.store.renameAuthenticator(bob, 'phone', 'New', now), false, "alice's TOTP for bob");
        t.strictSame(await readList(env, alice), [phone, pending, key], "alice's authenticators unchanged");
        env.clock.advance(expiring.expiresAt - env.clock.now());
        t.equal(
          await env.store.renameAuthenticator(bob, 'watch', 'New', env.clock.now()),
          false,
          'an expired one',
        );
        t.strictSame(await readList(env, bob), [], 'nothing created or revived for bob');
      },
    },
  ],
};
