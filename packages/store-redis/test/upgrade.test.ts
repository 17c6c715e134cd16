import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createKeyring,
  createTwoFactor,
  generateRecoveryCodes,
  hashRecoveryCode,
  type Keyring,
  normalizeRecoveryCode,
  type Store,
} from '@twofold/core';
import { generateSecret, Totp } from '@twofold/otp';
import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import * as v1 from './fixtures/layout-v1-scripts.js';
import {
  confirmInput,
  isListening,
  pendingRecord,
  reportMissing,
  SHARED_REDIS,
  scanKeys,
  userKeyBase,
  webAuthnRecord,
} from './helpers.js';

// Layout version 2 reads what version 1 wrote. Users are written here by the previous release's own
// Lua scripts (test/fixtures/layout-v1-scripts.ts, the file as it was at commit e29977b1) with the
// arguments its redisStore passed them, then served by the current store and engine.

/** The last commit of layout version 1, and the fixture's header (the lines before that file's text). */
const V1_COMMIT = 'e29977b1dff18b5b3e52897d2af89a2aa5bc9738';
const FIXTURE = fileURLToPath(new URL('./fixtures/layout-v1-scripts.ts', import.meta.url));
const FIXTURE_HEADER_LINES = 6;

const PERIOD_MS = 30_000;
const { host, port } = SHARED_REDIS;

/** The git text of the version 1 scripts, or null when the history is not there (a tarball, a shallow clone). */
async function v1ScriptsFromGit(): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)(
      'git',
      ['show', `${V1_COMMIT}:packages/store-redis/src/internal/scripts.ts`],
      { cwd: fileURLToPath(new URL('.', import.meta.url)), maxBuffer: 4 * 1024 * 1024 },
    );
    return stdout;
  } catch {
    return null;
  }
}

/**
 * The previous release's writes, as its redisStore made them: the same KEYS and ARGV, in the same
 * order, for the same scripts (EVAL of their source). Keys are built here from the documented
 * layout, not with the current KeyLayout.
 */
function layoutV1(client: Redis, prefix: string) {
  const eval1 = (script: v1.LuaScript, keys: string[], args: string[]) =>
    client.eval(script.source, keys.length, ...keys, ...args);
  return {
    async savePendingAuthenticator(
      userId: string,
      id: string,
      record: { sealedSecret: string; createdAt: number; expiresAt: number; lastCounter?: number },
      now: number,
    ) {
      const base = userKeyBase(prefix, userId);
      const fields = [
        ['status', 'pending'],
        ['sealedSecret', record.sealedSecret],
        ['algorithm', 'SHA1'],
        ['digits', '6'],
        ['period', '30'],
        ['lastCounter', String(record.lastCounter ?? -1)],
        ['createdAt', String(record.createdAt)],
        ['expiresAt', String(record.expiresAt)],
      ].flat();
      return await eval1(
        v1.savePendingAuthenticatorScript,
        [`${base}a:${id}`, `${base}ai`],
        [id, `${base}a:`, String(Math.ceil(record.expiresAt - now)), ...fields],
      );
    },
    async confirmAuthenticator(
      userId: string,
      id: string,
      input: { sealedSecret: string; counter: number; recoveryCodeHashes: string[]; now: number },
    ) {
      const base = userKeyBase(prefix, userId);
      return await eval1(
        v1.confirmAuthenticatorScript,
        [`${base}a:${id}`, `${base}ai`, `${base}rc`],
        [
          id,
          `${base}a:`,
          String(input.now),
          String(input.counter),
          input.sealedSecret,
          ...input.recoveryCodeHashes,
        ],
      );
    },
    async replaceRecoveryCodes(userId: string, hashes: string[]) {
      const base = userKeyBase(prefix, userId);
      return await eval1(v1.replaceRecoveryCodesScript, [`${base}ai`, `${base}rc`], [`${base}a:`, ...hashes]);
    },
    async deleteTwoFactor(userId: string) {
      const base = userKeyBase(prefix, userId);
      return await eval1(v1.deleteTwoFactorScript, [`${base}ai`, `${base}rc`], [`${base}a:`]);
    },
  };
}

/** A user the previous release enrolled: the secret, its sealed form and the recovery codes shown. */
interface LegacyUser {
  userId: string;
  secret: Uint8Array;
  sealedSecret: string;
  recoveryCodes: string[];
  createdAt: number;
  confirmedAt: number;
  confirmCounter: number;
}

function codeNow(secret: Uint8Array, time = Date.now()): string {
  return new Totp({ secret, algorithm: 'SHA1', digits: 6, period: 30 }).generate(time).token;
}

/** Hashes of `codes` as the engine keys them (the keyring's current key). */
function hashesOf(keyring: Keyring, userId: string, codes: readonly string[]): string[] {
  return codes.map((code) => hashRecoveryCode(keyring, userId, normalizeRecoveryCode(code)!));
}

const fromGit = await v1ScriptsFromGit();
tap.test(
  'the version 1 scripts of the fixture are those of the previous release',
  { skip: fromGit === null ? `git has no commit ${V1_COMMIT.slice(0, 8)} here` : false },
  async (t) => {
    const fixture = (await readFile(FIXTURE, 'utf8')).split('\n').slice(FIXTURE_HEADER_LINES).join('\n');
    t.equal(fixture, fromGit, 'byte for byte, below the header comment');
  },
);

if (!(await isListening(host, port))) {
  reportMissing(`Redis not reachable at ${host}:${port}`);
} else {
  const client = new Redis({ host, port });
  const prefix = `twofold-test:upgrade-${process.pid}-${Date.now()}:`;
  tap.teardown(async () => {
    const keys = await scanKeys(client, prefix);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });
  const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(7) }, current: 'k1' });
  const old = layoutV1(client, prefix);
  const store: Store = redisStore({ client, prefix });

  /** Enrolls and confirms `userId` with the version 1 scripts, a day ago, as the old engine did. */
  async function legacyUser(userId: string): Promise<LegacyUser> {
    const secret = generateSecret();
    const sealedSecret = keyring.seal(secret, userId);
    const createdAt = Date.now() - 86_400_000;
    const confirmedAt = createdAt + 45_000;
    const confirmCounter = Math.floor(confirmedAt / PERIOD_MS);
    t1(
      await old.savePendingAuthenticator(
        userId,
        'totp',
        { sealedSecret, createdAt, expiresAt: createdAt + 600_000 },
        createdAt,
      ),
      'version 1 savePendingAuthenticator',
    );
    const recoveryCodes = generateRecoveryCodes(10);
    t1(
      await old.confirmAuthenticator(userId, 'totp', {
        sealedSecret,
        counter: confirmCounter,
        recoveryCodeHashes: hashesOf(keyring, userId, recoveryCodes),
        now: confirmedAt,
      }),
      'version 1 confirmAuthenticator',
    );
    return { userId, secret, sealedSecret, recoveryCodes, createdAt, confirmedAt, confirmCounter };
  }

  function t1(reply: unknown, step: string): void {
    if (reply !== 1) throw new Error(`setup: ${step} answered ${String(reply)}`);
  }

  tap.test('a user enrolled by version 1: the keys are exactly what version 1 wrote', async (t) => {
    const user = await legacyUser('upgrade-keys');
    const base = userKeyBase(prefix, user.userId);
    t.same((await scanKeys(client, base)).map((key) => key.slice(base.length)).sort(), [
      'a:totp',
      'ai',
      'rc',
    ]);
    t.same(await client.hgetall(`${base}a:totp`), {
      status: 'active',
      sealedSecret: user.sealedSecret,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
      lastCounter: String(user.confirmCounter),
      createdAt: String(user.createdAt),
      confirmedAt: String(user.confirmedAt),
      lastUsedAt: String(user.confirmedAt),
    });
    t.same(await client.smembers(`${base}ai`), ['totp']);
    t.equal(await client.scard(`${base}rc`), 10);
    t.equal(await client.pttl(`${base}a:totp`), -1, 'the active hash has no TTL');
    t.equal(await client.pttl(`${base}ai`), -1, 'nor the index');
  });

  tap.test('the current store reads a version 1 user as a TOTP authenticator named null', async (t) => {
    const user = await legacyUser('upgrade-read');
    const expected = {
      type: 'totp',
      userId: user.userId,
      id: 'totp',
      name: null,
      status: 'active',
      sealedSecret: user.sealedSecret,
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      lastCounter: user.confirmCounter,
      createdAt: user.createdAt,
      confirmedAt: user.confirmedAt,
      lastUsedAt: user.confirmedAt,
      expiresAt: null,
    };
    t.same(await store.listAuthenticators(user.userId, Date.now()), [expected], 'listAuthenticators');
    t.same(await store.getAuthenticator(user.userId, 'totp', Date.now()), expected, 'getAuthenticator');
    t.equal(await store.countRecoveryCodes(user.userId), 10, 'countRecoveryCodes');
  });

  tap.test('a version 1 user keeps logging in through the engine on the current store', async (t) => {
    const user = await legacyUser('upgrade-engine');
    const engine = createTwoFactor({ store, keyring, issuer: 'Acme' });
    const code = codeNow(user.secret);

    t.match(await engine.verify(user.userId, code), { userId: user.userId, method: 'totp' }, 'TOTP code');
    await t.rejects(
      engine.verify(user.userId, code),
      { code: 'TWOFOLD_INVALID_CODE' },
      'the same code again',
    );
    const recovered = await engine.useRecoveryCode(user.userId, user.recoveryCodes[0]);
    t.equal(recovered.remaining, 9, 'a recovery code from version 1 counts');
    await t.rejects(
      engine.useRecoveryCode(user.userId, user.recoveryCodes[0]),
      { code: 'TWOFOLD_INVALID_CODE' },
      'once',
    );
    const status = await engine.status(user.userId);
    t.equal(status.enabled, true, 'status: enabled');
    t.equal(status.recoveryCodesRemaining, 9, 'status: 9 recovery codes');
  });

  tap.test('the store checks of a version 1 user (what the engine asks of it)', async (t) => {
    const user = await legacyUser('upgrade-store');
    const now = Date.now();
    const step = Math.floor(now / PERIOD_MS);
    t.equal(await store.consumeCounter(user.userId, 'totp', user.confirmCounter, now), false, 'old step');
    t.equal(await store.consumeCounter(user.userId, 'totp', step, now), true, 'a later step');
    t.equal(await store.consumeCounter(user.userId, 'totp', step, now), false, 'once');
    const [hash] = hashesOf(keyring, user.userId, user.recoveryCodes.slice(1, 2));
    t.equal(await store.consumeRecoveryCode(user.userId, hash!), true, 'a recovery code');
    t.equal(await store.countRecoveryCodes(user.userId), 9);
    const resealed = keyring.seal(user.secret, user.userId);
    t.equal(await store.replaceSealedSecret(user.userId, 'totp', user.sealedSecret, resealed), true);
    const [record] = await store.listAuthenticators(user.userId, now);
    t.match(record, { type: 'totp', id: 'totp', name: null, lastCounter: step, lastUsedAt: now });
  });

  tap.test(
    'a version 1 user adds, renames and removes authenticators under the version 2 rules',
    async (t) => {
      const user = await legacyUser('upgrade-more');
      const now = Date.now();
      const base = userKeyBase(prefix, user.userId);
      const key = webAuthnRecord(user.userId, 'key-1', now);
      t.equal(
        await store.addWebAuthnCredential(key, { recoveryCodeHashes: ['other'], maxActive: 10, now }),
        'added',
        'the legacy authenticator counts as active: a second one is added',
      );
      t.equal(await store.countRecoveryCodes(user.userId), 10, 'the recovery codes stay');
      t.equal(
        await store.addWebAuthnCredential(webAuthnRecord(user.userId, 'key-2', now), {
          recoveryCodeHashes: [],
          maxActive: 2,
          now,
        }),
        'full',
        'the legacy authenticator counts toward maxActive',
      );
      t.equal(await store.renameAuthenticator(user.userId, 'totp', 'Old phone', now), true, 'renamed');
      t.same(
        (await store.listAuthenticators(user.userId, now)).map((record) => [record.id, record.name]),
        [
          ['totp', 'Old phone'],
          ['key-1', key.name],
        ],
        'oldest first',
      );
      t.equal(await store.removeAuthenticator(user.userId, 'totp', now), 'removed');
      t.equal(await store.countRecoveryCodes(user.userId), 10, 'the codes stay beside the key');
      t.equal(await store.removeAuthenticator(user.userId, 'key-1', now), 'disabled');
      t.same(await scanKeys(client, base), [], 'nothing left of the user');
    },
  );

  tap.test(
    'a pending enrollment written by version 1 is confirmed, or replaced, by the current store',
    async (t) => {
      const now = Date.now();
      const sealedSecret = 'sealed-totp';
      await old.savePendingAuthenticator(
        'upgrade-pending',
        'totp',
        { sealedSecret, createdAt: now, expiresAt: now + 600_000 },
        now,
      );
      const [pending] = await store.listAuthenticators('upgrade-pending', now);
      t.match(pending, { type: 'totp', id: 'totp', name: null, status: 'pending', expiresAt: now + 600_000 });
      t.equal(
        await store.confirmAuthenticator('upgrade-pending', 'totp', confirmInput('totp', now + 1_000)),
        'enabled',
        'confirmed',
      );
      t.equal(await store.countRecoveryCodes('upgrade-pending'), 2);

      await old.savePendingAuthenticator(
        'upgrade-replaced',
        'totp',
        { sealedSecret, createdAt: now, expiresAt: now + 600_000 },
        now,
      );
      t.equal(
        await store.savePendingAuthenticator(
          pendingRecord('upgrade-replaced', 'phone', now, 600_000, 'Phone'),
          now,
        ),
        true,
      );
      t.same(
        (await store.listAuthenticators('upgrade-replaced', now)).map((record) => record.id),
        ['phone'],
        'the version 1 enrollment is replaced: one enrollment at a time',
      );
      const base = userKeyBase(prefix, 'upgrade-replaced');
      t.equal(await client.exists(`${base}a:totp`), 0, 'its hash is gone');
    },
  );

  tap.test(
    'version 1 scripts, still running during a rolling deploy, see a WebAuthn credential as active',
    async (t) => {
      const userId = 'upgrade-rolling';
      const now = Date.now();
      t.equal(
        await store.addWebAuthnCredential(webAuthnRecord(userId, 'key', now), {
          recoveryCodeHashes: ['h1'],
          maxActive: 10,
          now,
        }),
        'enabled',
      );
      t.equal(
        await old.replaceRecoveryCodes(userId, ['h2', 'h3']),
        1,
        'version 1 replaceRecoveryCodes accepts it',
      );
      t.equal(await store.countRecoveryCodes(userId), 2);
      t.equal(await old.deleteTwoFactor(userId), 1, 'version 1 deleteTwoFactor counts it active');
      t.same(await scanKeys(client, userKeyBase(prefix, userId)), [], 'and deletes it');
    },
  );
}
