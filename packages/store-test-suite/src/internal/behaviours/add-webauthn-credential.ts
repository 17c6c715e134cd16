import type { AddAuthenticatorOutcome, StoredAuthenticator, WebAuthnCredentialRecord } from '@twofold/core';
import type { BehaviourGroup } from '../behaviour.js';
import { addedIndexes, expectCodes, expectExactCodes, expectNoneOf, tally } from '../checks.js';
import {
  activate,
  base64url,
  confirmation,
  copyCredential,
  enroll,
  MAX_CREDENTIAL_ID_LENGTH,
  NAMES,
  recoveryHashes,
  register,
  registration,
  webAuthnRecord,
  ZERO_AAGUID,
} from '../fixtures.js';
import { authenticatorRaceSize, race, raceOneAmong } from '../race.js';
import { readAuthenticator, readList } from '../reads.js';

/** Field values that must survive a round trip exactly (long ids, flags, big counters, odd milliseconds). */
function roundTripCases(
  now: number,
): ReadonlyArray<{ label: string; fields: Partial<WebAuthnCredentialRecord> }> {
  return [
    { label: 'counter 0, two transports, attested, not backed up', fields: {} },
    {
      label: 'a credential id of 1,366 characters, a public key of 200, no transports, all-zero aaguid',
      fields: {
        credentialId: base64url(MAX_CREDENTIAL_ID_LENGTH),
        publicKey: base64url(200),
        transports: [],
        aaguid: ZERO_AAGUID,
      },
    },
    {
      label: 'a synced passkey: backupEligible and backupState, five transports, counter 2^32 - 1, used',
      fields: {
        backupEligible: true,
        backupState: true,
        transports: ['usb', 'nfc', 'ble', 'internal', 'hybrid'],
        counter: 2 ** 32 - 1,
        lastUsedAt: now + 789,
        name: NAMES[0]!,
      },
    },
    {
      label: 'backupEligible only, one transport, counter 2^31, a name of 64 two-byte characters',
      fields: { backupEligible: true, transports: ['internal'], counter: 2 ** 31, name: NAMES[1]! },
    },
    {
      label: 'no name, an RSA public key of 363 characters, transports out of alphabetical order',
      fields: { name: null, publicKey: base64url(363), transports: ['usb', 'hybrid', 'ble'] },
    },
    { label: 'a name of 32 emoji, counter 1', fields: { name: NAMES[2]!, counter: 1 } },
  ];
}

/** Sorts records as listAuthenticators must (createdAt, then id), for records with plain ASCII ids. */
function listOrder<T extends StoredAuthenticator>(records: readonly T[]): T[] {
  return [...records].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `text` with the case of its first ASCII letter after the middle flipped. */
function flipOneCase(text: string): string {
  for (let index = Math.floor(text.length / 2); index < text.length; index++) {
    const char = text[index]!;
    const flipped = char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase();
    if (flipped !== char) return `${text.slice(0, index)}${flipped}${text.slice(index + 1)}`;
  }
  throw new Error('no letter to flip');
}

export const addWebAuthnCredential: BehaviourGroup = {
  name: 'addWebAuthnCredential',
  behaviours: [
    {
      name: 'a WebAuthn credential round-trips every field exactly',
      async run(t, env) {
        for (const { label, fields } of roundTripCases(env.clock.now())) {
          const userId = env.userId();
          const record = webAuthnRecord(userId, env.clock.now(), {
            ...fields,
            createdAt: env.clock.now() - 4321,
          });
          t.equal(
            await env.store.addWebAuthnCredential(copyCredential(record), registration(env)),
            'enabled',
            `${label}: added`,
          );
          t.strictSame(await readList(env, userId), [record], `${label}: read back`);
        }
      },
    },
    {
      name: 'the first WebAuthn credential turns two-factor on: enabled, with exactly the given recovery codes',
      async run(t, env) {
        const userId = env.userId();
        const record = webAuthnRecord(userId, env.clock.now());
        const codes = recoveryHashes(10);
        t.equal(
          await env.store.addWebAuthnCredential(copyCredential(record), registration(env, { codes })),
          'enabled',
          'enabled',
        );
        t.strictSame(await readList(env, userId), [record], 'stored');
        t.equal(await env.store.deleteTwoFactor(userId), true, 'an active authenticator exists');
        t.equal(await env.store.countRecoveryCodes(userId), 0, 'deleted again');
        const again = await register(env, userId, {}, { codes });
        t.equal(again.outcome, 'enabled', 'enabled again after deleteTwoFactor');
        await expectExactCodes(t, env, userId, codes, 'its codes');
      },
    },
    {
      name: 'a further WebAuthn credential resolves added and leaves the recovery codes as they are',
      async run(t, env) {
        // One user whose first authenticator is a TOTP one, one whose first is a credential.
        const withTotp = env.userId();
        const { record: phone, codes: totpCodes } = await activate(env, withTotp, { id: 'phone' });
        const withKey = env.userId();
        const { record: key, codes: keyCodes } = await register(env, withKey);
        for (const { label, userId, before, codes } of [
          { label: 'beside a TOTP authenticator', userId: withTotp, before: phone, codes: totpCodes },
          { label: 'beside a credential', userId: withKey, before: key, codes: keyCodes },
        ]) {
          const first = webAuthnRecord(userId, env.clock.now(), { createdAt: env.clock.now() + 998 });
          const firstInput = registration(env);
          t.equal(
            await env.store.addWebAuthnCredential(copyCredential(first), firstInput),
            'added',
            `${label}: added`,
          );
          const second = webAuthnRecord(userId, env.clock.now(), { createdAt: env.clock.now() + 999 });
          const secondInput = registration(env);
          t.equal(
            await env.store.addWebAuthnCredential(copyCredential(second), secondInput),
            'added',
            `${label}: another one added`,
          );
          t.strictSame(await readList(env, userId), [before, first, second], `${label}: all three`);
          await expectNoneOf(
            t,
            env,
            userId,
            [...firstInput.recoveryCodeHashes, ...secondInput.recoveryCodeHashes],
            `${label}: the codes given`,
          );
          await expectExactCodes(t, env, userId, codes, `${label}: the codes of the first authenticator`);
        }
      },
    },
    {
      name: 'a WebAuthn credential beside a pending enrollment only is enabled, and the enrollment stays pending',
      async run(t, env) {
        const userId = env.userId();
        const pending = await enroll(env, userId);
        const { record: key, codes, outcome } = await register(env, userId);
        t.equal(outcome, 'enabled', 'a pending enrollment is not active: enabled');
        t.strictSame(await readList(env, userId), [pending, key], 'the enrollment is still there');
        const input = confirmation(env, pending.sealedSecret);
        t.equal(
          await env.store.confirmAuthenticator(userId, 'totp', input),
          'added',
          'confirming it adds it',
        );
        await expectNoneOf(t, env, userId, input.recoveryCodeHashes, 'the codes of the confirm');
        await expectExactCodes(t, env, userId, codes, 'the codes of the credential');
      },
    },
    {
      name: 'addWebAuthnCredential refuses a credential id or an authenticator id the user has: duplicate',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone, codes } = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId, {
          credentialId: base64url(MAX_CREDENTIAL_ID_LENGTH),
        });
        const attempts: ReadonlyArray<{ label: string; fields: Partial<WebAuthnCredentialRecord> }> = [
          {
            label: 'the credential id of a credential, under another id',
            fields: { credentialId: key.credentialId },
          },
          { label: 'the id of a credential, with another credential id', fields: { id: key.id } },
          { label: 'the id of a TOTP authenticator', fields: { id: 'phone' } },
          {
            label: 'the id and the credential id of a credential',
            fields: { id: key.id, credentialId: key.credentialId },
          },
        ];
        for (const { label, fields } of attempts) {
          const input = registration(env, { maxActive: 3 });
          t.equal(
            await env.store.addWebAuthnCredential(webAuthnRecord(userId, env.clock.now(), fields), input),
            'duplicate',
            `${label}: duplicate`,
          );
          await expectNoneOf(t, env, userId, input.recoveryCodeHashes, `${label}: its codes`);
        }
        t.strictSame(await readList(env, userId), [phone, key], 'nothing added or changed');
        await expectCodes(t, env, userId, codes, 'recovery codes untouched');
      },
    },
    {
      name: 'credential ids are compared exactly: ones differing by the case of a letter or the last character are others',
      async run(t, env) {
        const userId = env.userId();
        const { record: first } = await register(env, userId, {
          credentialId: base64url(MAX_CREDENTIAL_ID_LENGTH),
        });
        const id = first.credentialId;
        const lastSwapped = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
        const others = [flipOneCase(id), id.toUpperCase(), lastSwapped, id.slice(0, -1), id.slice(1)];
        const added = [first];
        for (const [index, credentialId] of others.entries()) {
          const record = webAuthnRecord(userId, env.clock.now(), { credentialId });
          t.equal(
            await env.store.addWebAuthnCredential(copyCredential(record), registration(env)),
            'added',
            `variant ${index}: added`,
          );
          added.push(record);
        }
        t.strictSame(await readList(env, userId), listOrder(added), 'all six stored, each with its own id');
      },
    },
    {
      name: 'credentials of two users are independent: both may have the same credential id and authenticator id',
      async run(t, env) {
        const alice = env.userId();
        const bob = env.userId();
        const { record: aliceKey } = await register(env, alice);
        const bobKey = { ...aliceKey, userId: bob };
        t.equal(
          await env.store.addWebAuthnCredential(copyCredential(bobKey), registration(env)),
          'enabled',
          "bob's is added",
        );
        t.strictSame(await readList(env, alice), [aliceKey], "alice's");
        t.strictSame(await readList(env, bob), [bobKey], "bob's");
      },
    },
    {
      name: 'at maxActive addWebAuthnCredential resolves full and changes nothing; pending ones do not count',
      async run(t, env) {
        const userId = env.userId();
        const { record: phone, codes } = await activate(env, userId, { id: 'phone' });
        const { record: key } = await register(env, userId);
        const pending = await enroll(env, userId, { id: 'tablet' });
        const record = webAuthnRecord(userId, env.clock.now());
        for (const maxActive of [2, 1]) {
          const input = registration(env, { maxActive });
          t.equal(
            await env.store.addWebAuthnCredential(copyCredential(record), input),
            'full',
            `full with 2 active and maxActive ${maxActive}`,
          );
          await expectNoneOf(t, env, userId, input.recoveryCodeHashes, `maxActive ${maxActive}: its codes`);
        }
        t.strictSame(await readList(env, userId), [phone, pending, key], 'nothing added or removed');
        t.equal(
          await env.store.addWebAuthnCredential(copyCredential(record), registration(env, { maxActive: 3 })),
          'added',
          'added with maxActive 3',
        );
        const another = webAuthnRecord(userId, env.clock.now());
        t.equal(
          await env.store.addWebAuthnCredential(copyCredential(another), registration(env, { maxActive: 3 })),
          'full',
          'then full at 3',
        );
        await expectCodes(t, env, userId, codes, 'recovery codes untouched');
        const other = env.userId();
        await enroll(env, other);
        const first = await register(env, other, {}, { maxActive: 1 });
        t.equal(first.outcome, 'enabled', 'maxActive 1 lets a user with only an enrollment turn 2FA on');
      },
    },
    {
      name: 'addWebAuthnCredential stores a copy: changing the input afterwards changes nothing stored',
      async run(t, env) {
        const userId = env.userId();
        const record = webAuthnRecord(userId, env.clock.now(), { transports: ['usb', 'nfc'] });
        const expected = copyCredential(record);
        const codes = recoveryHashes(5);
        const input = registration(env, { codes: [...codes] });
        t.equal(await env.store.addWebAuthnCredential(record, input), 'enabled', 'added');
        record.transports.push('ble');
        record.counter = 50;
        record.name = 'changed';
        input.recoveryCodeHashes.length = 0;
        t.strictSame(await readList(env, userId), [expected], 'stored record unchanged');
        await expectExactCodes(t, env, userId, codes, 'recovery codes unchanged');
      },
    },
    {
      name: 'of concurrent addWebAuthnCredential calls for a user without two-factor exactly one is enabled, and only its codes are stored',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const now = env.clock.now();
          const records = Array.from({ length: calls }, () => webAuthnRecord(userId, now));
          const sets = records.map(() => recoveryHashes(3));
          const outcomes = await race(calls, (index) =>
            env.store.addWebAuthnCredential(
              copyCredential(records[index]!),
              registration(env, { codes: sets[index]!, maxActive: calls }),
            ),
          );
          t.strictSame(
            tally(outcomes),
            { enabled: 1, added: calls - 1 },
            `round ${round}: one enabled, the others added`,
          );
          t.strictSame(await readList(env, userId), listOrder(records), `round ${round}: all are stored`);
          const winner = Math.max(0, outcomes.indexOf('enabled'));
          await expectExactCodes(
            t,
            env,
            userId,
            sets[winner]!,
            `round ${round}: the codes of the enabled one`,
          );
        }
      },
    },
    {
      name: 'a confirm racing addWebAuthnCredential calls for a user without two-factor: exactly one is enabled',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const pending = await enroll(env, userId, { id: 'phone' });
          const records = Array.from({ length: calls - 1 }, () => webAuthnRecord(userId, env.clock.now()));
          const sets = Array.from({ length: calls }, () => recoveryHashes(3));
          const { one, others } = await raceOneAmong(
            calls,
            round,
            () =>
              env.store.confirmAuthenticator(
                userId,
                'phone',
                confirmation(env, pending.sealedSecret, { codes: sets[calls - 1]!, maxActive: calls }),
              ),
            (index) =>
              env.store.addWebAuthnCredential(
                copyCredential(records[index]!),
                registration(env, { codes: sets[index]!, maxActive: calls }),
              ),
          );
          const outcomes = [...others, one];
          t.strictSame(
            tally(outcomes),
            { enabled: 1, added: calls - 1 },
            `round ${round}: one enabled, the others added`,
          );
          t.match(
            await readAuthenticator(env, userId, 'phone'),
            { status: 'active' },
            `round ${round}: confirmed`,
          );
          t.equal((await readList(env, userId)).length, calls, `round ${round}: all are stored`);
          const winner = Math.max(0, outcomes.indexOf('enabled'));
          await expectExactCodes(
            t,
            env,
            userId,
            sets[winner]!,
            `round ${round}: the codes of the enabled one`,
          );
        }
      },
    },
    {
      name: 'of concurrent activations at maxActive - 1 exactly one succeeds and the others resolve full',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          // Odd rounds start without two-factor (maxActive 1), even ones with two active (maxActive 3).
          const current = round % 2 === 1 ? 0 : 2;
          const before: StoredAuthenticator[] = [];
          let codes: string[] = [];
          if (current === 2) {
            const phone = await activate(env, userId, { id: 'phone' });
            before.push(phone.record, (await register(env, userId)).record);
            codes = phone.codes;
          }
          const maxActive = current + 1;
          const pending = await enroll(env, userId, { id: 'tablet' });
          const records = Array.from({ length: calls - 1 }, () => webAuthnRecord(userId, env.clock.now()));
          const sets = Array.from({ length: calls }, () => recoveryHashes(3));
          // One confirm among the registrations, so that both count the active ones in one step.
          const { one, others } = await raceOneAmong(
            calls,
            round,
            () =>
              env.store.confirmAuthenticator(
                userId,
                'tablet',
                confirmation(env, pending.sealedSecret, { codes: sets[calls - 1]!, maxActive }),
              ),
            (index) =>
              env.store.addWebAuthnCredential(
                copyCredential(records[index]!),
                registration(env, { codes: sets[index]!, maxActive }),
              ),
          );
          const outcomes: AddAuthenticatorOutcome[] = [...others, one];
          const succeeded = current === 0 ? 'enabled' : 'added';
          t.strictSame(
            tally(outcomes),
            { [succeeded]: 1, full: calls - 1 },
            `round ${round}: one ${succeeded} with maxActive ${maxActive}, the others full`,
          );
          const list = await readList(env, userId);
          const active = list.filter((record) => record.type === 'webauthn' || record.status === 'active');
          t.equal(active.length, maxActive, `round ${round}: ${maxActive} active, never more`);
          const winner = addedIndexes(outcomes)[0] ?? 0;
          if (winner < records.length) {
            t.ok(
              list.some((record) => record.id === records[winner]!.id),
              `round ${round}: the credential that was added is stored`,
            );
            t.strictSame(
              await readAuthenticator(env, userId, 'tablet'),
              pending,
              `round ${round}: the enrollment is still pending`,
            );
          } else {
            t.match(
              await readAuthenticator(env, userId, 'tablet'),
              { status: 'active' },
              `round ${round}: the confirm won: the enrollment is active`,
            );
          }
          if (current === 0) {
            await expectExactCodes(
              t,
              env,
              userId,
              sets[winner]!,
              `round ${round}: the codes of the enabled one`,
            );
          } else {
            t.strictSame(
              list.filter((record) => before.some((old) => old.id === record.id)),
              before,
              `round ${round}: the active ones before are kept`,
            );
            await expectExactCodes(t, env, userId, codes, `round ${round}: the codes from before`);
          }
        }
      },
    },
    {
      name: 'of concurrent addWebAuthnCredential calls with one credential id or one authenticator id exactly one is added',
      async run(t, env) {
        const calls = authenticatorRaceSize(env.concurrency);
        for (let round = 1; round <= env.rounds; round++) {
          const userId = env.userId();
          const { record: phone, codes } = await activate(env, userId, { id: 'phone' });
          const now = env.clock.now();
          // Odd rounds share the credential id, even rounds the authenticator id.
          const shared = round % 2 === 1 ? { credentialId: base64url(43) } : { id: 'key' };
          const records = Array.from({ length: calls }, () => webAuthnRecord(userId, now, shared));
          const outcomes = await race(calls, (index) =>
            env.store.addWebAuthnCredential(copyCredential(records[index]!), registration(env)),
          );
          t.strictSame(
            tally(outcomes),
            { added: 1, duplicate: calls - 1 },
            `round ${round}: one added, the others duplicate`,
          );
          const winner = Math.max(0, outcomes.indexOf('added'));
          t.strictSame(
            await readList(env, userId),
            [phone, records[winner]],
            `round ${round}: only it is stored`,
          );
          await expectCodes(t, env, userId, codes, `round ${round}: recovery codes untouched`);
        }
      },
    },
  ],
};
