import type { BehaviourGroup } from '../behaviour.js';
import { activate, enroll, pendingRecord, register } from '../fixtures.js';
import { readList } from '../reads.js';

export const listAuthenticators: BehaviourGroup = {
  name: 'listAuthenticators',
  behaviours: [
    {
      name: 'listAuthenticators resolves an empty list for a user without authenticators',
      async run(t, env) {
        const userId = env.userId();
        t.strictSame(await readList(env, userId), [], 'unknown user');
        await env.store.incrementCounter(userId, 'failures', 60_000, env.clock.now());
        await env.store.putNonce(userId, 'recovery', 'value', env.clock.now() + 60_000, env.clock.now());
        t.strictSame(await readList(env, userId), [], 'a user with only a counter and a nonce');
      },
    },
    {
      name: 'listAuthenticators resolves every live authenticator of both types, pending included, in full',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        const { record: phone } = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId, { createdAt: now + 1_001 });
        const { record: passkey } = await register(env, userId, {
          createdAt: now + 2_002,
          transports: ['internal', 'hybrid'],
          backupEligible: true,
          backupState: true,
        });
        const tablet = await enroll(env, userId, { id: 'tablet', createdAt: now + 3_003 });
        t.strictSame(
          await readList(env, userId),
          [phone, key, passkey, tablet],
          'all four, each field exact',
        );
      },
    },
    {
      name: 'listAuthenticators orders by createdAt, then by id',
      async run(t, env) {
        const userId = env.userId();
        const now = env.clock.now();
        // Written neither in createdAt order nor in id order; ties on createdAt are ordered by id.
        const { record: d } = await register(env, userId, { id: 'd-key', createdAt: now + 500 });
        const { record: a } = await register(env, userId, { id: 'a-key', createdAt: now + 901 });
        const { record: c } = await register(env, userId, { id: 'c-key', createdAt: now + 500 });
        const { record: b } = await activate(env, userId, { id: 'b-phone' }); // createdAt now + 123
        const { record: e } = await register(env, userId, { id: 'e-key', createdAt: now + 123 });
        const pending = await enroll(env, userId, { id: 'f-tablet', createdAt: now + 10 });
        t.strictSame(await readList(env, userId), [pending, b, e, c, d, a], 'oldest first, then by id');
      },
    },
    {
      name: 'a pending authenticator is listed until the millisecond before expiresAt, and not from then on',
      async run(t, env) {
        const userId = env.userId();
        const { record: key } = await register(env, userId);
        const pending = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(pending.expiresAt - 1 - env.clock.now());
        t.strictSame(await readList(env, userId), [pending, key], 'listed at expiresAt - 1');
        env.clock.advance(1);
        t.strictSame(await readList(env, userId), [key], 'gone at expiresAt; the credential stays');
        env.clock.advance(10 * 366 * 24 * 3600 * 1000);
        t.strictSame(await readList(env, userId), [key], 'the credential is still there ten years later');
      },
    },
    {
      name: 'an expired pending authenticator is not listed, even when it was the only one',
      async run(t, env) {
        const userId = env.userId();
        const pending = pendingRecord(userId, env.clock.now(), { expiresAt: env.clock.now() + 1_001 });
        await env.store.savePendingAuthenticator({ ...pending }, env.clock.now());
        env.clock.advance(1_001);
        t.strictSame(await readList(env, userId), [], 'nothing listed');
      },
    },
    {
      name: 'listAuthenticators of two users are independent',
      async run(t, env) {
        const alice = env.userId();
        // An id that alice's starts, so that a prefix or pattern match would reach it.
        const bob = `${alice}-other`;
        const { record: aliceKey } = await register(env, alice);
        const { record: bobPhone } = await activate(env, bob);
        const { record: bobKey } = await register(env, bob, { credentialId: aliceKey.credentialId });
        t.strictSame(await readList(env, alice), [aliceKey], "alice's");
        t.strictSame(await readList(env, bob), [bobPhone, bobKey], "bob's");
      },
    },
    {
      name: 'listAuthenticators resolves copies: changing them changes nothing stored',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone } = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId, { transports: ['usb'] });
        const listed = await readList(env, userId);
        for (const record of listed) {
          record.name = 'changed';
          record.createdAt = 0;
          if (record.type === 'webauthn') {
            record.counter = 99;
            record.transports.push('ble');
          } else {
            record.lastCounter = 2 ** 50;
          }
        }
        t.strictSame(await readList(env, userId), [phone, key], 'stored records unchanged');
      },
    },
  ],
};
