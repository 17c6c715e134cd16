import type { PendingAuthenticator } from '@twofold/core';
import type { BehaviourGroup } from '../behaviour.js';
import { expectCodes } from '../checks.js';
import {
  activate,
  confirmation,
  enroll,
  NAMES,
  PENDING_TTL_MS,
  pendingRecord,
  register,
  sealedSecret,
} from '../fixtures.js';
import { race } from '../race.js';
import { readAuthenticator, readList } from '../reads.js';

/** Field values that must survive a round trip exactly (types, big numbers, odd milliseconds). */
const ROUND_TRIP_CASES: ReadonlyArray<{ label: string; fields: Partial<PendingAuthenticator> }> = [
  { label: 'SHA1, 6 digits, 30 s, lastCounter -1', fields: {} },
  {
    label: 'SHA256, 8 digits, 60 s, lastCounter 0, no name',
    fields: { algorithm: 'SHA256', digits: 8, period: 60, lastCounter: 0, name: null },
  },
  {
    label: 'SHA512, lastCounter 2^40, a name with emoji and CJK',
    fields: {
      id: 'tablet',
      algorithm: 'SHA512',
      digits: 7,
      period: 45,
      lastCounter: 2 ** 40,
      name: NAMES[0]!,
    },
  },
  {
    label: 'lastCounter just below 2^53, a name of 64 two-byte characters',
    fields: { id: 'backup', lastCounter: Number.MAX_SAFE_INTEGER - 1, name: NAMES[1]! },
  },
  { label: 'a name of 32 emoji', fields: { id: 'watch', name: NAMES[2]! } },
];

export const authenticators: BehaviourGroup = {
  name: 'authenticators',
  behaviours: [
    {
      name: 'getAuthenticator resolves null for an unknown user or authenticator id',
      async run(t, env) {
        const userId = env.userId();
        t.equal(await readAuthenticator(env, userId), null, 'unknown user');
        await enroll(env, userId);
        t.equal(await readAuthenticator(env, userId, 'other'), null, 'unknown id');
      },
    },
    {
      name: 'a pending authenticator round-trips every field exactly',
      async run(t, env) {
        for (const { label, fields } of ROUND_TRIP_CASES) {
          const userId = env.userId();
          const record = pendingRecord(userId, env.clock.now(), {
            ...fields,
            createdAt: env.clock.now() - 4321,
            expiresAt: env.clock.now() + PENDING_TTL_MS,
          });
          t.equal(await env.store.savePendingAuthenticator(record, env.clock.now()), true, `${label}: saved`);
          t.strictSame(await readAuthenticator(env, userId, record.id), record, `${label}: read back`);
        }
      },
    },
    {
      name: 'savePendingAuthenticator replaces a pending authenticator with the same ids',
      async run(t, env) {
        const userId = env.userId();
        await enroll(env, userId);
        env.clock.advance(5_000);
        const next = pendingRecord(userId, env.clock.now(), { digits: 8 });
        t.equal(await env.store.savePendingAuthenticator(next, env.clock.now()), true, 'saved');
        t.strictSame(await readAuthenticator(env, userId), next, 'the new one');
      },
    },
    {
      name: 'savePendingAuthenticator replaces every pending authenticator of the user, whatever its id',
      async run(t, env) {
        const userId = env.userId();
        const phone = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId);
        await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(1_000);
        await enroll(env, userId, { id: 'watch' });
        env.clock.advance(1_000);
        const next = pendingRecord(userId, env.clock.now(), { id: 'laptop' });
        t.equal(await env.store.savePendingAuthenticator({ ...next }, env.clock.now()), true, 'saved');
        t.equal(await readAuthenticator(env, userId, 'tablet'), null, 'the first enrollment is gone');
        t.equal(await readAuthenticator(env, userId, 'watch'), null, 'the second enrollment is gone');
        t.strictSame(await readAuthenticator(env, userId, 'laptop'), next, 'the new one is pending');
        t.strictSame(
          await readAuthenticator(env, userId, 'phone'),
          phone.record,
          'the active TOTP one is kept',
        );
        t.strictSame(
          (await readList(env, userId)).map((record) => record.id).sort(),
          ['laptop', 'phone', key.id].sort(),
          'the active ones and the new enrollment, nothing else',
        );
        await expectCodes(t, env, userId, phone.codes, 'recovery codes untouched');
      },
    },
    {
      name: 'savePendingAuthenticator refuses the id of an active WebAuthn credential and changes nothing',
      async run(t, env) {
        const userId = env.userId();
        const { record: key, codes } = await register(env, userId, { id: 'key' });
        const pending = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(1_000);
        const attempt = pendingRecord(userId, env.clock.now(), { id: 'key' });
        t.equal(await env.store.savePendingAuthenticator(attempt, env.clock.now()), false, 'refused');
        t.equal(await readAuthenticator(env, userId, 'key'), null, 'no TOTP authenticator with that id');
        t.strictSame(
          await readList(env, userId),
          [pending, key],
          'the credential and the enrollment are kept',
        );
        await expectCodes(t, env, userId, codes, 'recovery codes untouched');
      },
    },
    {
      name: 'a refused savePendingAuthenticator keeps the pending enrollment under way',
      async run(t, env) {
        const userId = env.userId();
        const { record: active } = await activate(env, userId, { id: 'phone' });
        const pending = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(1_000);
        const attempt = pendingRecord(userId, env.clock.now(), { id: 'phone' });
        t.equal(await env.store.savePendingAuthenticator(attempt, env.clock.now()), false, 'refused');
        t.strictSame(
          await readAuthenticator(env, userId, 'tablet'),
          pending,
          'the enrollment is still pending',
        );
        t.strictSame(await readAuthenticator(env, userId, 'phone'), active, 'the active one unchanged');
      },
    },
    {
      name: 'savePendingAuthenticator replaces an expired pending authenticator',
      async run(t, env) {
        const userId = env.userId();
        const first = await enroll(env, userId);
        env.clock.advance(first.expiresAt - env.clock.now() + 1);
        const next = pendingRecord(userId, env.clock.now());
        t.equal(await env.store.savePendingAuthenticator(next, env.clock.now()), true, 'saved');
        t.strictSame(await readAuthenticator(env, userId), next, 'the new one');
      },
    },
    {
      name: 'savePendingAuthenticator refuses while an active one exists and leaves it unchanged',
      async run(t, env) {
        const userId = env.userId();
        const { record: active, codes } = await activate(env, userId);
        env.clock.advance(1_000);
        const attempt = pendingRecord(userId, env.clock.now());
        t.equal(await env.store.savePendingAuthenticator(attempt, env.clock.now()), false, 'refused');
        t.strictSame(await readAuthenticator(env, userId), active, 'active one unchanged');
        t.equal(await env.store.countRecoveryCodes(userId), codes.length, 'recovery codes unchanged');
      },
    },
    {
      name: 'a pending authenticator is live until the millisecond before expiresAt',
      async run(t, env) {
        const userId = env.userId();
        const record = await enroll(env, userId);
        env.clock.advance(record.expiresAt - 1 - env.clock.now());
        t.strictSame(await readAuthenticator(env, userId), record, 'live at expiresAt - 1');
        env.clock.advance(1);
        t.equal(await readAuthenticator(env, userId), null, 'gone at expiresAt');
      },
    },
    {
      name: 'an expired pending authenticator reads as absent and cannot be confirmed',
      async run(t, env) {
        const userId = env.userId();
        const record = await enroll(env, userId);
        env.clock.advance(record.expiresAt - env.clock.now() + 60_000);
        const input = confirmation(env, record.sealedSecret, { codes: ['a'.repeat(64)] });
        t.equal(await readAuthenticator(env, userId), null, 'reads as absent');
        t.equal(await env.store.confirmAuthenticator(userId, 'totp', input), 'missing', 'confirm refused');
        t.equal(await readAuthenticator(env, userId), null, 'still absent');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'no recovery codes');
      },
    },
    {
      name: 'an active authenticator never expires',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId);
        env.clock.advance(10 * 366 * 24 * 3600 * 1000);
        t.strictSame(await readAuthenticator(env, userId), record, 'still there ten years later');
        t.equal(
          await env.store.consumeCounter(userId, 'totp', record.lastCounter + 1, env.clock.now()),
          true,
          'still accepts a code',
        );
      },
    },
    {
      name: 'getAuthenticator, consumeCounter and replaceSealedSecret see TOTP authenticators only',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await register(env, userId, { counter: 7 });
        const now = env.clock.now();
        t.equal(await env.store.getAuthenticator(userId, record.id, now), null, 'getAuthenticator: null');
        t.equal(
          await env.store.consumeCounter(userId, record.id, 2 ** 40, now),
          false,
          'consumeCounter: false',
        );
        t.equal(
          await env.store.replaceSealedSecret(userId, record.id, '', sealedSecret()),
          false,
          'replaceSealedSecret: false',
        );
        t.equal(
          await env.store.replaceSealedSecret(userId, record.id, record.publicKey, sealedSecret()),
          false,
          'replaceSealedSecret with the public key as expected: false',
        );
        t.strictSame(await readList(env, userId), [record], 'the credential is unchanged');
      },
    },
    {
      name: 'of concurrent savePendingAuthenticator calls with different ids exactly one enrollment remains',
      async run(t, env) {
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { record: active } = await activate(env, userId, { id: 'phone' });
          await enroll(env, userId, { id: 'old' });
          env.clock.advance(1_000);
          const now = env.clock.now();
          const records = Array.from({ length: env.concurrency }, (_, index) =>
            pendingRecord(userId, now, { id: `enrollment-${index}` }),
          );
          const results = await race(env.concurrency, (index) =>
            env.store.savePendingAuthenticator({ ...records[index]! }, now),
          );
          t.ok(
            results.every((saved) => saved),
            `round ${round}: every save resolved true`,
          );
          const list = await env.store.listAuthenticators(userId, now);
          const pending = list.filter((record) => record.type === 'totp' && record.status === 'pending');
          t.equal(pending.length, 1, `round ${round}: exactly one pending enrollment remains`);
          t.strictSame(
            pending[0],
            records.find((record) => record.id === pending[0]?.id),
            `round ${round}: one of the saved ones, unchanged`,
          );
          t.strictSame(
            list.filter((record) => record.id === 'phone'),
            [active],
            `round ${round}: the active one is kept`,
          );
        }
      },
    },
    {
      name: 'two authenticators of one user are independent',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone } = await activate(env, userId, { id: 'phone' });
        const tablet = await enroll(env, userId, { id: 'tablet' });
        env.clock.advance(1_000);
        t.equal(
          await env.store.consumeCounter(userId, 'phone', phone.lastCounter + 1, env.clock.now()),
          true,
          'phone accepts a counter',
        );
        t.equal(
          await env.store.replaceSealedSecret(userId, 'phone', phone.sealedSecret, 'v1.k2.phone'),
          true,
          'phone re-sealed',
        );
        t.strictSame(await readAuthenticator(env, userId, 'tablet'), tablet, 'tablet unchanged by the phone');
        const refused = pendingRecord(userId, env.clock.now(), { id: 'phone' });
        t.equal(
          await env.store.savePendingAuthenticator(refused, env.clock.now()),
          false,
          'the active phone still blocks a pending phone',
        );
        const nextTablet = pendingRecord(userId, env.clock.now(), { id: 'tablet' });
        t.equal(
          await env.store.savePendingAuthenticator(nextTablet, env.clock.now()),
          true,
          'the pending tablet is still replaceable',
        );
        t.match(
          await readAuthenticator(env, userId, 'phone'),
          { status: 'active', lastCounter: phone.lastCounter + 1, sealedSecret: 'v1.k2.phone' },
          'phone kept its own state',
        );
      },
    },
    {
      name: 'authenticators of two users are independent',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { record: aliceRecord } = await activate(env, alice);
        const bobRecord = await enroll(env, bob);
        env.clock.advance(1_000);
        t.equal(
          await env.store.consumeCounter(alice, 'totp', aliceRecord.lastCounter + 1, env.clock.now()),
          true,
          'alice accepts a counter',
        );
        t.strictSame(await readAuthenticator(env, bob), bobRecord, 'bob still pending and unchanged');
        t.equal(await env.store.consumeCounter(bob, 'totp', 1, env.clock.now()), false, 'bob is not active');
      },
    },
    {
      name: 'getAuthenticator resolves a copy: changing it changes nothing stored',
      async run(t, env) {
        const userId = env.userId();
        const { record } = await activate(env, userId);
        const copy = await readAuthenticator(env, userId);
        if (copy) {
          copy.lastCounter = 2 ** 50;
          copy.sealedSecret = 'changed';
          copy.status = 'pending';
        }
        t.strictSame(await readAuthenticator(env, userId), record, 'stored record unchanged');
      },
    },
    {
      name: 'savePendingAuthenticator stores a copy: changing the input afterwards changes nothing stored',
      async run(t, env) {
        const userId = env.userId();
        const input = pendingRecord(userId, env.clock.now());
        const expected = { ...input };
        await env.store.savePendingAuthenticator(input, env.clock.now());
        input.sealedSecret = 'changed';
        input.lastCounter = 99;
        input.expiresAt = env.clock.now() + 1;
        t.strictSame(await readAuthenticator(env, userId), expected, 'stored record unchanged');
      },
    },
  ],
};
