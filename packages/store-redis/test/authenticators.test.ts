import { randomBytes } from 'node:crypto';
import type { Store } from '@twofold/core';
import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  confirmInput,
  isListening,
  keysThatNeverExpire,
  pendingRecord,
  reportMissing,
  SHARED_REDIS,
  scanKeys,
  userKeyBase,
  webAuthnRecord,
} from './helpers.js';

// Layout version 2 as it lands in Redis: the fields of both kinds of authenticator hash, their TTLs,
// what each new script deletes, and the races between two connections (two app processes). The
// conformance suite checks the contract; this file checks the keys behind it.

const { host, port } = SHARED_REDIS;

if (!(await isListening(host, port))) {
  reportMissing(`Redis not reachable at ${host}:${port}`);
} else {
  const client = new Redis({ host, port });
  const other = new Redis({ host, port });
  const prefix = `twofold-test:authenticators-${process.pid}-${Date.now()}:`;
  tap.teardown(async () => {
    const keys = await scanKeys(client, prefix);
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
    await Promise.all([client.quit(), other.quit()]);
  });
  const store: Store = redisStore({ client, prefix });
  /** Two stores on two connections: atomicity has to come from the server. */
  const stores = [store, redisStore({ client: other, prefix })];
  const pick = (i: number) => stores[i % 2]!;
  let users = 0;
  const freshUser = (name: string) => `${name}-${++users}`;
  const add = (record: ReturnType<typeof webAuthnRecord>, codes = ['h1'], maxActive = 10) =>
    store.addWebAuthnCredential(record, { recoveryCodeHashes: codes, maxActive, now: record.createdAt });
  /** The user's keys without the user's key base, sorted. */
  const keysOf = async (userId: string) => {
    const base = userKeyBase(prefix, userId);
    return (await scanKeys(client, base)).map((key) => key.slice(base.length)).sort();
  };

  tap.test('a WebAuthn credential is an a:<id> hash with the documented fields and no TTL', async (t) => {
    const userId = freshUser('webauthn-fields');
    const base = userKeyBase(prefix, userId);
    const now = 1_700_000_000_123;
    const record = webAuthnRecord(userId, 'key', now, {
      credentialId: 'A'.repeat(1_366),
      counter: 7,
      transports: ['internal', 'hybrid'],
      aaguid: 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd',
      backupEligible: true,
      backupState: false,
    });
    t.equal(await add(record, ['h1', 'h2']), 'enabled');
    t.same(await keysOf(userId), ['a:key', 'ai', 'rc']);
    t.same(await client.hgetall(`${base}a:key`), {
      type: 'webauthn',
      status: 'active',
      name: 'Key key',
      credentialId: record.credentialId,
      publicKey: record.publicKey,
      counter: '7',
      transports: '["internal","hybrid"]',
      aaguid: record.aaguid,
      backupEligible: '1',
      backupState: '0',
      createdAt: String(now),
    });
    t.same(await client.smembers(`${base}ai`), ['key']);
    t.equal(await client.pttl(`${base}a:key`), -1, 'the credential has no TTL');
    t.equal(await client.pttl(`${base}ai`), -1, 'nor the index');
    t.equal(await client.pttl(`${base}rc`), -1, 'nor the recovery codes');
    t.same(await store.listAuthenticators(userId, now), [record], 'read back whole');

    t.equal(
      await store.useWebAuthnCredential(userId, 'key', { counter: 8, backupState: true, now: now + 5 }),
      true,
    );
    t.match(await client.hgetall(`${base}a:key`), {
      counter: '8',
      backupState: '1',
      lastUsedAt: String(now + 5),
    });
    t.equal(await store.renameAuthenticator(userId, 'key', 'YubiKey 5', now), true);
    t.equal(await client.hget(`${base}a:key`, 'name'), 'YubiKey 5');
  });

  tap.test('a TOTP hash now carries type and, when named, name', async (t) => {
    const userId = freshUser('totp-fields');
    const base = userKeyBase(prefix, userId);
    const now = 1_700_000_000_123;
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now, 600_000, 'Phone'), now);
    t.match(await client.hgetall(`${base}a:phone`), { type: 'totp', name: 'Phone', status: 'pending' });
    await store.savePendingAuthenticator(pendingRecord(userId, 'tablet', now), now);
    t.notOk('name' in (await client.hgetall(`${base}a:tablet`)), 'a null name is an absent field');
  });

  tap.test('TOTP-only operations leave a WebAuthn hash alone, without a script error', async (t) => {
    const userId = freshUser('totp-only');
    const now = Date.now();
    const record = webAuthnRecord(userId, 'key', now);
    t.equal(await add(record), 'enabled');
    t.equal(await store.getAuthenticator(userId, 'key', now), null, 'getAuthenticator');
    t.equal(await store.consumeCounter(userId, 'key', 5, now), false, 'consumeCounter');
    t.equal(await store.replaceSealedSecret(userId, 'key', '', 'x'), false, 'replaceSealedSecret');
    t.equal(
      await store.confirmAuthenticator(userId, 'key', { ...confirmInput('key', now), sealedSecret: '' }),
      'missing',
      'confirmAuthenticator',
    );
    t.equal(await store.savePendingAuthenticator(pendingRecord(userId, 'key', now), now), false, 'enroll');
    t.same(await store.listAuthenticators(userId, now), [record], 'unchanged');
  });

  tap.test('useWebAuthnCredential answers false for a TOTP authenticator and changes nothing', async (t) => {
    const userId = freshUser('use-totp');
    const now = Date.now();
    const base = userKeyBase(prefix, userId);
    await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
    await store.confirmAuthenticator(userId, 'totp', confirmInput('totp', now));
    const before = await client.hgetall(`${base}a:totp`);
    t.equal(await store.useWebAuthnCredential(userId, 'totp', { counter: 0, backupState: true, now }), false);
    t.equal(
      await store.useWebAuthnCredential(userId, 'nothing', { counter: 0, backupState: true, now }),
      false,
    );
    t.same(await client.hgetall(`${base}a:totp`), before);
  });

  tap.test('listAuthenticators deletes pending hashes expired by the caller clock', async (t) => {
    const userId = freshUser('list-expired');
    const base = userKeyBase(prefix, userId);
    const now = 1_000_000;
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now, 600_000), now);
    t.equal((await store.listAuthenticators(userId, now + 599_999)).length, 1, 'live until expiresAt');
    t.same(await store.listAuthenticators(userId, now + 600_000), [], 'gone at expiresAt');
    t.same(await keysOf(userId), [], 'its hash and the index deleted (the Redis TTL has not run out)');

    const key = webAuthnRecord(userId, 'key', now);
    t.equal(await add(key), 'enabled');
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now, 600_000), now);
    t.same(
      (await store.listAuthenticators(userId, now + 600_000)).map((record) => record.id),
      ['key'],
      'beside an active one',
    );
    t.same(await client.smembers(`${base}ai`), ['key'], 'the expired id left the index');
    t.equal(await client.pttl(`${base}ai`), -1, 'which stays without a TTL');
  });

  tap.test('listAuthenticators sorts by createdAt, then id by UTF-16 code units', async (t) => {
    const userId = freshUser('list-order');
    const now = 1_000_000;
    for (const [id, createdAt] of [
      ['b', now],
      ['a', now],
      ['\u00e9', now],
      ['Z', now],
      ['first', now - 1],
    ] as const) {
      t.equal(await add(webAuthnRecord(userId, id, createdAt)), id === 'b' ? 'enabled' : 'added');
    }
    await store.savePendingAuthenticator(pendingRecord(userId, 'pending', now + 1), now);
    t.same(
      (await store.listAuthenticators(userId, now)).map((record) => record.id),
      ['first', 'Z', 'a', 'b', '\u00e9', 'pending'],
    );
  });

  tap.test('savePendingAuthenticator deletes every pending hash of the user, expired or not', async (t) => {
    const userId = freshUser('save-pending');
    const base = userKeyBase(prefix, userId);
    const now = 1_000_000;
    await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
    t.equal(await store.confirmAuthenticator(userId, 'totp', confirmInput('totp', now)), 'enabled');
    // Pending hashes that one enroll would never leave together; written by hand, as version 1
    // processes could (each replaced only its own id).
    for (const id of ['old-1', 'old-2']) {
      await client.hset(`${base}a:${id}`, { type: 'totp', status: 'pending', expiresAt: String(now + 1) });
      await client.pexpire(`${base}a:${id}`, 600_000);
      await client.sadd(`${base}ai`, id);
    }
    t.equal(await store.savePendingAuthenticator(pendingRecord(userId, 'new', now + 5), now + 5), true);
    t.same(await keysOf(userId), ['a:new', 'a:totp', 'ai', 'rc'], 'only the new pending hash is left');
    t.same((await client.smembers(`${base}ai`)).sort(), ['new', 'totp']);
    const ttl = await client.pttl(`${base}a:new`);
    t.ok(ttl > 595_000 && ttl <= 600_000, `the new one has its TTL (${ttl})`);
  });

  tap.test('confirm and add at maxActive change no key', async (t) => {
    const userId = freshUser('full');
    const now = Date.now();
    t.equal(await add(webAuthnRecord(userId, 'key', now), ['h1'], 1), 'enabled');
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now), now);
    const base = userKeyBase(prefix, userId);
    const before = {
      keys: await keysOf(userId),
      phone: await client.hgetall(`${base}a:phone`),
      codes: await client.smembers(`${base}rc`),
    };
    t.equal(
      await store.confirmAuthenticator(userId, 'phone', { ...confirmInput('phone', now), maxActive: 1 }),
      'full',
    );
    t.equal(await add(webAuthnRecord(userId, 'key-2', now), ['h2'], 1), 'full');
    t.same(
      {
        keys: await keysOf(userId),
        phone: await client.hgetall(`${base}a:phone`),
        codes: await client.smembers(`${base}rc`),
      },
      before,
    );
    t.ok((await client.pttl(`${base}a:phone`)) > 0, 'the pending hash keeps its TTL');
  });

  tap.test('an unbounded maxActive (Infinity) never reads as full', async (t) => {
    const userId = freshUser('unbounded');
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      const outcome = await store.addWebAuthnCredential(webAuthnRecord(userId, `key-${i}`, now), {
        recoveryCodeHashes: [],
        maxActive: Number.POSITIVE_INFINITY,
        now,
      });
      t.equal(outcome, i === 0 ? 'enabled' : 'added');
    }
  });

  tap.test('addWebAuthnCredential finds a duplicate credential id among the user hashes only', async (t) => {
    const userId = freshUser('duplicate');
    const otherUser = freshUser('duplicate-other');
    const now = Date.now();
    const credentialId = randomBytes(1_023).toString('base64url');
    t.equal(credentialId.length, 1_364);
    t.equal(await add(webAuthnRecord(userId, 'key-1', now, { credentialId })), 'enabled');
    t.equal(
      await add(webAuthnRecord(userId, 'key-2', now, { credentialId })),
      'duplicate',
      'same credential id',
    );
    t.equal(
      await add(
        webAuthnRecord(userId, 'key-3', now, {
          // Another last character: 1,023 bytes end in one of only four ("A", "Q", "g", "w").
          credentialId: `${credentialId.slice(0, -1)}${credentialId.endsWith('A') ? 'B' : 'A'}`,
        }),
      ),
      'added',
      'one character apart',
    );
    t.equal(await add(webAuthnRecord(otherUser, 'key-1', now, { credentialId })), 'enabled', 'another user');
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now, 1_000), now);
    t.equal(await add(webAuthnRecord(userId, 'phone', now)), 'duplicate', 'the id of a live pending one');
    t.equal(
      await add(webAuthnRecord(userId, 'phone', now + 1_000)),
      'added',
      'the id of an expired pending one: replaced',
    );
    t.match(await store.listAuthenticators(userId, now + 1_000), [
      { id: 'key-1' },
      { id: 'key-3' },
      { id: 'phone', type: 'webauthn' },
    ]);
  });

  tap.test('removeAuthenticator of the last active one deletes the 2FA keys, and only those', async (t) => {
    const userId = freshUser('remove');
    const now = Date.now();
    await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
    t.equal(await store.confirmAuthenticator(userId, 'totp', confirmInput('totp', now)), 'enabled');
    t.equal(await add(webAuthnRecord(userId, 'key', now), ['ignored']), 'added');
    await store.savePendingAuthenticator(pendingRecord(userId, 'phone', now), now);
    await store.incrementCounter(userId, 'failures', 60_000, now);
    await store.putNonce(userId, 'recovery', 'token', now + 60_000, now);

    t.equal(await store.removeAuthenticator(userId, 'phone', now), 'missing', 'a pending one is not removed');
    t.equal(await store.removeAuthenticator(userId, 'totp', now), 'removed');
    t.same(await keysOf(userId), ['a:key', 'a:phone', 'ai', 'c:failures', 'n:recovery', 'ni', 'rc']);
    t.same(await client.smembers(`${userKeyBase(prefix, userId)}rc`).then((codes) => codes.sort()), [
      'h1',
      'h2',
    ]);
    t.equal(await store.removeAuthenticator(userId, 'key', now), 'disabled');
    t.same(
      await keysOf(userId),
      ['c:failures', 'n:recovery', 'ni'],
      'counters and nonces (and their index) stay',
    );
    t.equal(await store.removeAuthenticator(userId, 'key', now), 'missing');
  });

  tap.test('a malformed WebAuthn hash fails closed', async (t) => {
    const userId = freshUser('malformed');
    const now = Date.now();
    t.equal(await add(webAuthnRecord(userId, 'key', now)), 'enabled');
    const key = `${userKeyBase(prefix, userId)}a:key`;
    for (const [field, value] of [
      ['transports', 'usb'],
      ['transports', '[1]'],
      ['backupState', 'true'],
      ['counter', 'x'],
      ['type', 'u2f'],
    ] as const) {
      const saved = await client.hget(key, field);
      await client.hset(key, field, value);
      await t.rejects(
        store.listAuthenticators(userId, now),
        { code: 'TWOFOLD_STORE_UNAVAILABLE' },
        `${field}=${value}`,
      );
      await client.hset(key, field, saved!);
    }
    t.equal((await store.listAuthenticators(userId, now)).length, 1, 'well-formed again');
  });

  tap.test(
    'across two connections: one enabled, one disabled, maxActive holds, one use per counter',
    async (t) => {
      for (let round = 0; round < 5; round++) {
        const now = Date.now();

        // Concurrent first activations of a TOTP enrollment and of WebAuthn credentials: one turns 2FA on.
        const enabling = freshUser('race-enable');
        await store.savePendingAuthenticator(pendingRecord(enabling, 'totp', now), now);
        const outcomes = await Promise.all([
          pick(0).confirmAuthenticator(enabling, 'totp', confirmInput('totp', now, ['totp-code'])),
          ...Array.from({ length: 19 }, (_, i) =>
            pick(i + 1).addWebAuthnCredential(webAuthnRecord(enabling, `key-${i}`, now), {
              recoveryCodeHashes: [`code-${i}`],
              maxActive: 5,
              now,
            }),
          ),
        ]);
        t.equal(outcomes.filter((outcome) => outcome === 'enabled').length, 1, `round ${round}: one enabled`);
        t.equal(outcomes.filter((outcome) => outcome === 'added').length, 4, `round ${round}: four added`);
        t.equal(outcomes.filter((outcome) => outcome === 'full').length, 15, `round ${round}: the rest full`);
        t.equal(await store.countRecoveryCodes(enabling), 1, `round ${round}: the winner's codes only`);
        t.equal((await store.listAuthenticators(enabling, now)).length, 5);

        // Concurrent removals of the last two: exactly one turns 2FA off, and it takes the codes along.
        const removing = freshUser('race-remove');
        await add(webAuthnRecord(removing, 'a', now));
        await add(webAuthnRecord(removing, 'b', now));
        const removed = await Promise.all([
          pick(0).removeAuthenticator(removing, 'a', now),
          pick(1).removeAuthenticator(removing, 'b', now),
        ]);
        t.same(removed.sort(), ['disabled', 'removed'], `round ${round}: removed, then disabled`);
        t.same(await keysOf(removing), [], `round ${round}: no recovery codes left behind`);

        // Concurrent uses with the same counter: one wins.
        const using = freshUser('race-use');
        await add(webAuthnRecord(using, 'key', now, { counter: 10 }));
        const uses = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            pick(i).useWebAuthnCredential(using, 'key', { counter: 11, backupState: false, now }),
          ),
        );
        t.equal(uses.filter(Boolean).length, 1, `round ${round}: one of 20 uses of counter 11`);
      }
    },
  );

  tap.test(
    'after these tests, only active authenticators, their index and recovery codes lack a TTL',
    async (t) => {
      const keys = await scanKeys(client, prefix);
      t.ok(keys.length > 20, `${keys.length} keys inspected`);
      t.same(await keysThatNeverExpire(client, keys), []);
    },
  );
}
