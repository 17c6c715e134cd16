import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, parseKeyring } from '@twofold/core';
import { decodeSecret } from '@twofold/otp';
import { migrate, SCHEMA_VERSION, sqlStore, storeTableNames } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import type BetterSqlite3 from 'better-sqlite3';
import mysql from 'mysql2';
import pg from 'pg';
import t, { type Test } from 'tap';
import {
  addSecurityKey,
  codeAt,
  ENROLLED_AT,
  type EnrolledUser,
  engineAt,
  enrollApp,
  enrollLegacyApp,
  enrollUsers,
} from './fixtures.js';
import {
  collect,
  hasStackTrace,
  mapConcurrent,
  missingTools,
  requiredByCi,
  runCli,
  runCliInTerminal,
  startCli,
  uniquePrefix,
} from './helpers.js';

const OLD = generateKey('old');
const NEW = generateKey('new');
const KEYS = `${NEW},${OLD}`;

const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-rotate-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A server the rotation also runs against; skipped (failed under CI) when it does not answer. */
async function server(name: string, probe: () => Promise<unknown>): Promise<string | false> {
  try {
    await probe();
    return false;
  } catch (error) {
    const message = `${name} not reachable at 127.0.0.1`;
    if (requiredByCi()) t.fail(`${message} (CI=true requires it)`, { error: String(error) });
    return message;
  }
}

const SERVERS = [
  {
    name: 'PostgreSQL',
    url: 'postgres://postgres@127.0.0.1:5432/test',
    open: () =>
      new pg.Pool({
        host: '127.0.0.1',
        port: 5432,
        user: 'postgres',
        database: 'test',
        max: 2,
        connectionTimeoutMillis: 3000,
      }),
    query: (db: pg.Pool, text: string) => db.query(text),
    end: (db: pg.Pool) => db.end(),
  },
  {
    name: 'MariaDB',
    url: 'mysql://root@127.0.0.1:3306/test',
    open: () =>
      mysql.createPool({
        host: '127.0.0.1',
        port: 3306,
        user: 'root',
        database: 'test',
        connectionLimit: 2,
        connectTimeout: 3000,
      }),
    query: (db: mysql.Pool, text: string) => db.promise().query(text),
    end: (db: mysql.Pool) => new Promise<void>((resolve) => db.end(() => resolve())),
  },
] as const;

// Probed before any test is queued: tap ends the file once its queued tests are done.
const servers = await Promise.all(
  SERVERS.map(async ({ name, url, open, query, end }) => {
    const db = open() as pg.Pool & mysql.Pool;
    t.teardown(() => end(db));
    return { name, url, query, db, skip: await server(name, () => query(db, 'select 1')) };
  }),
);
// The SQLite tests, and the CLI on a SQLite file, need better-sqlite3 (an optional dependency).
const { db: Database, skip: sqliteSkip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));

/** A migrated SQLite file (WAL, as apps run it) with `count` users enrolled under the old key. */
async function populated(t: Test, count: number, pendingEvery?: number) {
  const file = join(dir, `store-${++files}.db`);
  const db = new Database!(file);
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  await migrate(db);
  const store = await sqlStore({ db, sweepIntervalMs: false });
  const users = await enrollUsers(store, OLD, count, { pendingEvery });
  return { file, db, store, users };
}

/** Each row's tag, by user id and authenticator id ("user-0001 t_..."), read straight from the table. */
function tags(db: BetterSqlite3.Database): Map<string, string> {
  const rows = db.prepare('select user_id, id, sealed_secret from twofold_authenticators').all() as {
    user_id: string;
    id: string;
    sealed_secret: string;
  }[];
  return new Map(rows.map((row) => [`${row.user_id} ${row.id}`, row.sealed_secret.split('.')[1]!]));
}

/** Nothing secret in `output`: no TOTP secret, no key, no sealed envelope. */
function assertNothingSecret(t: Test, output: string, users: readonly EnrolledUser[]): void {
  for (const key of [NEW, OLD]) t.notOk(output.includes(key.split(':')[1]!), 'no key material');
  t.notOk(
    users.some((user) => output.includes(user.secret)),
    'no TOTP secret',
  );
  t.notOk(output.includes('tf1.'), 'no sealed envelope');
}

/**
 * After rotation, with only the new key: each active app logs its user in (the app that answered is
 * that one), each pending one confirms (turning 2FA on unless the user has another active app).
 */
async function worksWithNewKeyOnly(
  t: Test,
  store: Parameters<typeof engineAt>[0],
  users: readonly EnrolledUser[],
) {
  const app = engineAt(store, parseKeyring(NEW), ENROLLED_AT + 60_000);
  for (const user of users) {
    const code = codeAt(user.secret, app.now());
    if (user.status === 'active') {
      const verified = await app.twoFactor.verify(user.userId, code);
      if (verified.authenticatorId !== user.authenticatorId) {
        t.fail(`${user.userId}: ${user.authenticatorId} did not answer its own code`);
      }
    } else {
      const enabled = !users.some((other) => other.userId === user.userId && other.status === 'active');
      const added = await app.twoFactor.confirm(user.userId, code, { authenticatorId: user.authenticatorId });
      t.equal(added.enabled, enabled);
      t.equal(added.recoveryCodes.length, enabled ? 10 : 0);
    }
  }
  t.pass(`all ${users.length} apps verify (or confirm) with the new key alone`);
}

t.test(
  'rotate-keys re-seals every secret of a populated SQLite store under the new key',
  { skip: sqliteSkip },
  async (t) => {
    const { file, db, store, users } = await populated(t, 30, 5);
    const { code, stdout, stderr } = await runCli(['rotate-keys', '--url', file, '--batch-size', '7'], {
      env: { TWOFOLD_KEYS: KEYS },
    });
    t.equal(code, 0);
    t.match(stdout, /^30 checked, 30 re-sealed \(30 under "old"\), 0 already under "new", 0 failed\n/);
    t.match(stdout, /Every stored TOTP secret is sealed under "new"\. Recovery codes issued before/);
    t.match(
      stderr,
      new RegExp(`^rotate-keys: re-sealing 30 TOTP secret\\(s\\) in ${file} under key "new"\\n`),
    );
    t.match(stderr, /^rotate-keys: 7\/30 \(23%\) re-sealed 7$/m, 'a plain progress line per tenth');
    t.match(stderr, /^rotate-keys: 30\/30 \(100%\) re-sealed 30$/m);
    t.notOk(hasStackTrace(stderr));
    assertNothingSecret(t, stdout + stderr, users);
    t.strictSame([...new Set(tags(db).values())], ['new'], 'every row is under "new"');
    await worksWithNewKeyOnly(t, store, users);

    const again = await runCli(['rotate-keys', '--url', `sqlite:${file}`, '--keys', KEYS, '--quiet']);
    t.equal(again.code, 0, 'running it again is harmless');
    t.match(again.stdout, /^30 checked, 0 re-sealed, 30 already under "new", 0 failed\n/);
    t.equal(again.stderr, '', '--quiet: no progress');
  },
);

/**
 * Users with several authenticators under the old key, as a store fills up once users may add
 * more: by `index % 4`, an app from before ids were random (id `totp`) and one added since; two apps
 * and a third one pending; one app and a security key; a security key alone. Returns the apps and
 * the ids of the users with a security key.
 */
async function severalPerUser(store: Parameters<typeof engineAt>[0], prefix: string, count: number) {
  const apps: EnrolledUser[] = [];
  const withKeys: string[] = [];
  for (let index = 0; index < count; index++) {
    const userId = `${prefix}-${String(index).padStart(4, '0')}`;
    switch (index % 4) {
      case 0:
        apps.push(await enrollLegacyApp(store, OLD, userId), await enrollApp(store, OLD, userId));
        break;
      case 1:
        apps.push(await enrollApp(store, OLD, userId), await enrollApp(store, OLD, userId));
        apps.push(await enrollApp(store, OLD, userId, { pending: true }));
        break;
      case 2:
        apps.push(await enrollApp(store, OLD, userId));
        await addSecurityKey(store, userId, `w_${index}`);
        withKeys.push(userId);
        break;
      default:
        await addSecurityKey(store, userId, `w_${index}`);
        withKeys.push(userId);
    }
  }
  return { apps, withKeys };
}

/** The WebAuthn credentials of `userIds`, as the store gives them. */
async function securityKeys(store: Parameters<typeof engineAt>[0], userIds: readonly string[]) {
  const records = await Promise.all(userIds.map((userId) => store.listAuthenticators(userId, ENROLLED_AT)));
  return records.flat().filter((record) => record.type === 'webauthn');
}

t.test(
  'rotate-keys re-seals every app of users with several (legacy "totp" ids too), leaving security keys alone',
  { skip: sqliteSkip },
  async (t) => {
    const file = join(dir, `store-${++files}.db`);
    const db = new Database!(file);
    t.teardown(() => db.close());
    db.pragma('journal_mode = WAL');
    await migrate(db);
    const store = await sqlStore({ db, sweepIntervalMs: false });
    const { apps, withKeys } = await severalPerUser(store, 'user', 8);
    t.equal(apps.length, 12);
    const credentials = () =>
      db.prepare('select * from twofold_webauthn_credentials order by user_id, id').all();
    const keysBefore = credentials();
    t.equal(keysBefore.length, 4);

    // Batches of 5 end in the middle of a user's apps.
    const { code, stdout, stderr } = await runCli(['rotate-keys', '--url', file, '--batch-size', '5'], {
      env: { TWOFOLD_KEYS: KEYS },
    });
    t.equal(code, 0, stderr);
    t.match(stdout, /^12 checked, 12 re-sealed \(12 under "old"\), 0 already under "new", 0 failed\n/);
    t.match(stderr, /^rotate-keys: re-sealing 12 TOTP secret\(s\) in /);
    t.notMatch(stderr, /rotate-keys: user /, 'no row failed');
    assertNothingSecret(t, stdout + stderr, apps);
    const rows = tags(db);
    t.strictSame(
      [...rows.keys()].sort(),
      apps.map((app) => `${app.userId} ${app.authenticatorId}`).sort(),
      'every app still there, once',
    );
    t.strictSame([...new Set(rows.values())], ['new'], 'every app is under "new"');
    t.strictSame(credentials(), keysBefore, 'the security keys are untouched, column for column');
    t.equal((await securityKeys(store, withKeys)).length, 4);
    await worksWithNewKeyOnly(t, store, apps);
  },
);

t.test(
  'SIGINT stops after the current batch with exit 130; running it again finishes the job',
  { skip: sqliteSkip },
  async (t) => {
    const { file, db, store, users } = await populated(t, 40);
    // Hold the write lock so that the run cannot re-seal a row before the signal is on its way.
    const locker = new Database!(file);
    t.teardown(() => locker.close());
    locker.exec('begin immediate');
    const child = startCli(['rotate-keys', '--url', file, '--batch-size', '1'], {
      env: { TWOFOLD_KEYS: KEYS },
    });
    const result = collect(child);
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stderr.on('data', (chunk: string) => {
        seen += chunk;
        if (seen.includes('rotate-keys: re-sealing 40')) resolve();
      });
    });
    child.kill('SIGINT');
    locker.exec('commit');
    const { code, stdout, stderr } = await result;
    t.equal(code, 130, 'exit 130');
    t.match(stderr, /SIGINT: finishing the current batch, then stopping/);
    t.match(stdout, /Stopped by SIGINT after \d+ of 40 rows\. Run the same command again to finish/);
    const done = [...tags(db).values()].filter((tag) => tag === 'new').length;
    t.ok(done >= 1 && done < 40, `stopped part way: ${done} of 40 re-sealed`);
    t.match(stdout, new RegExp(`^${done} checked, ${done} re-sealed`), 'the summary counts what was done');
    assertNothingSecret(t, stdout + stderr, users);

    const resumed = await runCli(['rotate-keys', '--url', file], { env: { TWOFOLD_KEYS: KEYS } });
    t.equal(resumed.code, 0);
    t.match(
      resumed.stdout,
      new RegExp(
        `^40 checked, ${40 - done} re-sealed \\(${40 - done} under "old"\\), ${done} already under "new", 0 failed`,
      ),
    );
    t.strictSame([...new Set(tags(db).values())], ['new']);
    await worksWithNewKeyOnly(t, store, users);
  },
);

t.test(
  'safe while the app serves: logins, disables and re-enrollments during the run are kept',
  { skip: sqliteSkip },
  async (t) => {
    const { file, db, store, users } = await populated(t, 60);
    // The app runs on the new keyring (new key first) and keeps working during the rotation.
    const app = engineAt(store, KEYS, ENROLLED_AT + 30_000);
    const child = startCli(['rotate-keys', '--url', file, '--batch-size', '1'], {
      env: { TWOFOLD_KEYS: KEYS },
    });
    const result = collect(child);
    const disabled = new Set<string>();
    const reEnrolled = new Map<string, string>();
    for (const [index, user] of users.entries()) {
      if (index % 3 === 0) {
        await app.twoFactor.verify(user.userId, codeAt(user.secret, app.now())); // re-seals it itself
      } else if (index % 3 === 1 && index % 2 === 0) {
        await store.deleteTwoFactor(user.userId);
        disabled.add(user.userId);
      } else if (index % 3 === 1) {
        await store.deleteTwoFactor(user.userId);
        reEnrolled.set(user.userId, (await app.twoFactor.enroll(user.userId)).secret);
      }
    }
    const { code, stdout } = await result;
    t.equal(code, 0, stdout);
    const rows = db.prepare('select user_id, sealed_secret from twofold_authenticators').all() as {
      user_id: string;
      sealed_secret: string;
    }[];
    const keyring = parseKeyring(NEW);
    t.equal(rows.length, 60 - disabled.size, 'no disabled user was brought back');
    for (const row of rows) {
      t.ok(row.sealed_secret.startsWith('tf1.new.'), `${row.user_id} is under "new"`);
      const secret = Buffer.from(keyring.open(row.sealed_secret, row.user_id).plaintext);
      const expected =
        reEnrolled.get(row.user_id) ?? users.find((user) => user.userId === row.user_id)!.secret;
      t.ok(secret.equals(Buffer.from(decodeSecret(expected))), `${row.user_id} holds its latest secret`);
    }
  },
);

t.test(
  '--dry-run opens every secret and reports what it would do, writing nothing',
  { skip: sqliteSkip },
  async (t) => {
    const { file, db } = await populated(t, 6);
    const before = tags(db);
    const { code, stdout, stderr } = await runCli(['rotate-keys', '--url', file, '--dry-run'], {
      env: { TWOFOLD_KEYS: KEYS },
    });
    t.equal(code, 0);
    t.equal(stdout, 'dry run: 6 checked, 6 to re-seal (6 under "old"), 0 already under "new", 0 failed\n');
    t.match(
      stderr,
      /^rotate-keys: checking 6 TOTP secret\(s\) in .* under key "new" \(dry run: nothing is written\)/,
    );
    t.strictSame(tags(db), before);
  },
);

t.test(
  'rows under a key missing from the keyring are listed by user id, exit 1; the rest are done',
  { skip: sqliteSkip },
  async (t) => {
    const { file, db, users } = await populated(t, 5);
    const { code, stdout, stderr } = await runCli(['rotate-keys', '--url', file], {
      env: { TWOFOLD_KEYS: `${NEW},${generateKey('other')}` },
    });
    t.equal(code, 1);
    for (const user of users) {
      t.match(
        stderr,
        `rotate-keys: user "${user.userId}", authenticator "${user.authenticatorId}": sealed under key "old", which is not in the keyring\n`,
      );
    }
    t.match(
      stdout,
      /^5 checked, 0 re-sealed, 0 already under "new", 5 failed\n5 row\(s\) could not be re-sealed/,
    );
    t.match(stdout, /Add the missing keys to the keyring, or remove those authenticators/);
    t.strictSame([...new Set(tags(db).values())], ['old'], 'nothing was changed');
    assertNothingSecret(t, stdout + stderr, users);
  },
);

t.test('rotate-keys refuses a missing or malformed keyring and bad options with exit 2', async (t) => {
  // Checked before the database is opened: without better-sqlite3 a path that does not exist will do.
  const file = Database ? (await populated(t, 1)).file : join(dir, 'never-opened.db');
  const key = NEW.split(':')[1]!;
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['no keyring', ['--url', file], {}, /the keyring is missing: set TWOFOLD_KEYS \(or pass --keys\)/],
    [
      'a short key',
      ['--url', file],
      { TWOFOLD_KEYS: `new:${key.slice(0, 20)}` },
      /^twofold rotate-keys: TWOFOLD_KEYS: entry 1 \(key "new"\) must be 32 bytes/,
    ],
    [
      'no colon',
      // `--keys=<value>`: a random key starts with "-" one time in 64, and as a separate argument
      // the option parser would take it for an option ("argument is ambiguous").
      ['--url', file, `--keys=${key}`],
      {},
      /^twofold rotate-keys: --keys: entry 1 has no ":" between tag and key/,
    ],
    ['a repeated tag', ['--url', file, '--keys', `${NEW},${NEW}`], {}, /tag "new" appears more than once/],
    ['no --url', [], { TWOFOLD_KEYS: KEYS }, /--url is required/],
    [
      '--batch-size 0',
      ['--url', file, '--batch-size', '0'],
      { TWOFOLD_KEYS: KEYS },
      /--batch-size must be a whole number from 1 to 1000/,
    ],
    [
      '--batch-size 1001',
      ['--url', file, '--batch-size', '1001'],
      { TWOFOLD_KEYS: KEYS },
      /--batch-size must be/,
    ],
  ];
  const results = await mapConcurrent(cases, ([, args, env]) => runCli(['rotate-keys', ...args], { env }));
  for (const [index, [name, , , message]] of cases.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 2, `${name}: exit 2`);
    t.equal(stdout, '');
    t.match(stderr, message, name);
    t.notOk(stderr.includes(key.slice(0, 20)), `${name}: no key material in the message`);
    t.notOk(hasStackTrace(stderr));
  }
});

t.test(
  'rotate-keys fails with exit 1 on a missing file or an unmigrated database, creating nothing',
  async (t) => {
    const missing = join(dir, 'missing.db');
    const absent = await runCli(['rotate-keys', '--url', missing], { env: { TWOFOLD_KEYS: KEYS } });
    t.equal(absent.code, 1);
    t.equal(absent.stderr, `twofold rotate-keys: no SQLite database at ${missing}\n`);
    t.test('an unmigrated SQLite file', { skip: sqliteSkip }, async (t) => {
      const empty = join(dir, 'empty.db');
      new Database!(empty).close();
      const unmigrated = await runCli(['rotate-keys', '--url', empty], { env: { TWOFOLD_KEYS: KEYS } });
      t.equal(unmigrated.code, 1);
      t.match(
        unmigrated.stderr,
        new RegExp(
          `are at schema version 0, but @twofold/store-sql needs version ${SCHEMA_VERSION}: run the migrations first`,
        ),
      );
      t.match(unmigrated.stderr, /twofold migrate/);
    });
  },
);

/** ESC [ 2 K, "erase the line", escaped for a RegExp. */
const REDRAW = `${String.fromCharCode(27)}\\[2K`;
const terminalSkip = missingTools(['script'], 'util-linux (bsdutils)');

t.test(
  'on a terminal the progress is a bar redrawn in place on stderr',
  { skip: sqliteSkip || terminalSkip },
  async (t) => {
    const { file, users } = await populated(t, 12);
    const { code, stdout } = await runCliInTerminal(['rotate-keys', '--url', file, '--batch-size', '4'], {
      env: { TWOFOLD_KEYS: KEYS, COLUMNS: '100' },
    });
    t.equal(code, 0);
    t.match(
      stdout,
      new RegExp(`\r${REDRAW}rotate-keys █+░* +\\d+% \\d+/12 re-sealed \\d+`),
      'redrawn with \\r and erase-line',
    );
    t.match(
      stdout,
      new RegExp(`\r${REDRAW}rotate-keys █+ 100% 12/12 re-sealed 12\r?\n`),
      'ends full, on its own line',
    );
    t.match(stdout, /12 checked, 12 re-sealed/);
    assertNothingSecret(t, stdout, users);
  },
);

for (const { name, url, query, db, skip } of servers) {
  t.test(`rotate-keys re-seals every secret on ${name}`, { skip }, async (t) => {
    const prefix = uniquePrefix();
    t.teardown(async () => {
      for (const table of storeTableNames(prefix)) await query(db, `drop table if exists ${table}`);
    });
    await migrate(db, { prefix });
    const store = await sqlStore({ db, prefix, sweepIntervalMs: false });
    const users = await enrollUsers(store, OLD, 12, { pendingEvery: 4 });
    // And users with several authenticators: the paging runs over ids of both forms on this server.
    const { apps, withKeys } = await severalPerUser(store, 'several', 8);
    const keysBefore = await securityKeys(store, withKeys);
    const { code, stdout, stderr } = await runCli(
      ['rotate-keys', '--url', url, '--prefix', prefix, '--batch-size', '5'],
      {
        env: { TWOFOLD_KEYS: KEYS },
      },
    );
    t.equal(code, 0, stderr);
    t.match(stdout, /^24 checked, 24 re-sealed \(24 under "old"\), 0 already under "new", 0 failed\n/);
    const listed = await store.listSealedSecrets({ limit: 100 });
    t.strictSame(
      listed.map((entry) => `${entry.userId} ${entry.authenticatorId}`).sort(),
      [...users, ...apps].map((app) => `${app.userId} ${app.authenticatorId}`).sort(),
    );
    t.strictSame(
      listed.map((entry) => entry.sealedSecret.split('.')[1]),
      Array(24).fill('new'),
    );
    t.strictSame(await securityKeys(store, withKeys), keysBefore, 'the security keys are untouched');
    t.equal(keysBefore.length, 4);
    await worksWithNewKeyOnly(t, store, [...users, ...apps]);
  });
}
