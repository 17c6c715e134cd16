/**
 * The store on PGlite with a data directory: what was written through the store, and a user enrolled
 * through the engine, are still there once the instance is closed and the directory opened again (as
 * at the next start of an app), and the reopened instance serves that user's logins.
 *
 * The conformance suite runs on PGlite in memory (pglite-memory.test.ts): the same engine, the same
 * SQL. What a data directory changes is where the pages live, which is what this file checks; running
 * the whole suite a second time here proved nothing more and was one of the suite's slowest files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createKeyring, createTwoFactor } from '@twofold/core';
import { Totp } from '@twofold/otp';
import tap from 'tap';
import { migrate, SCHEMA_VERSION, sqlStore } from '../src/index.js';
import { versionsAfter } from './helpers/adapter-tests.js';

// PGlite runs every statement in WebAssembly on this thread, and a new database starts with initdb.
tap.setTimeout(300_000);

const dir = mkdtempSync(join(tmpdir(), 'twofold-store-sql-pglite-'));

const NOW = 1_800_000_000_123;
const keyring = createKeyring({ keys: { k1: new Uint8Array(32).fill(3) }, current: 'k1' });

// One data directory (its initdb is the slow part): written, closed, then reopened by each test.
const first = await PGlite.create(dir);
tap.strictSame(await migrate(first, { prefix: 'app_' }), {
  from: 0,
  to: SCHEMA_VERSION,
  applied: versionsAfter(0),
});
const written = await sqlStore({ db: first, prefix: 'app_' });
await written.putNonce('u1', 'k', 'kept', NOW + 60_000, NOW);
await written.incrementCounter('u1', 'failures', 60_000, NOW);
let now = NOW;
const engine = createTwoFactor({ store: written, keyring, issuer: 'Acme', clock: () => now });
const { secret } = await engine.enroll('ada');
const enrolled = await engine.confirm('ada', new Totp({ secret }).generate(now).token);
await first.close();

const db = await PGlite.create(dir);
tap.teardown(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});
const reopened = await sqlStore({ db, prefix: 'app_' });

tap.test('data written through the store is there after close and reopen', async (t) => {
  t.strictSame((await migrate(db, { prefix: 'app_' })).applied, [], 'the schema is there');
  t.equal(await reopened.getNonce('u1', 'k', NOW), 'kept');
  t.strictSame(await reopened.getCounter('u1', 'failures', NOW), { count: 1, expiresAt: NOW + 60_000 });
});

tap.test('a user enrolled before the restart logs in after it', async (t) => {
  now = NOW + 30_000;
  const again = createTwoFactor({ store: reopened, keyring, issuer: 'Acme', clock: () => now });
  t.match(await again.status('ada'), { enabled: true, recoveryCodesRemaining: 10 });
  const { token } = new Totp({ secret }).generate(now);
  t.match(await again.verify('ada', token), { userId: 'ada', method: 'totp' }, "the app's code");
  await t.rejects(again.verify('ada', token), { code: 'TWOFOLD_INVALID_CODE' }, 'not twice');
  t.match(
    await again.useRecoveryCode('ada', enrolled.recoveryCodes[0]!),
    { userId: 'ada', method: 'recovery-code', remaining: 9 },
    'a recovery code given at enrollment',
  );
});
