import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, SCHEMA_VERSION, sqlStore, storeTableNames } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import mysql from 'mysql2';
import pg from 'pg';
import t, { type Test } from 'tap';
import { migrateAsRelease01 } from '../../store-sql/test/fixtures/release-0.1-migrate.js';
import { migrateAsSchema1, schema1Enrollment } from '../../store-sql/test/fixtures/schema-1-release.js';
import { slowStatement } from '../../store-sql/test/fixtures/slow-statement.js';
import {
  hasStackTrace,
  mapConcurrent,
  requiredByCi,
  runCli,
  runCliProcess,
  uniquePrefix,
} from './helpers.js';

const NOW = 1_800_000_000_000;

/** Every schema version, in order: what a migration of an empty database applies. */
const ALL_VERSIONS = Array.from({ length: SCHEMA_VERSION }, (_, index) => index + 1);

const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-migrate-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Servers are probed before any test is queued: tap ends the file once its queued tests are done.

/** Whether a server answers; under CI a missing one fails the test instead of skipping it. */
async function reachable(name: string, probe: () => Promise<unknown>): Promise<string | false> {
  try {
    await probe();
    return false;
  } catch (error) {
    const message = `${name} not reachable at 127.0.0.1`;
    if (requiredByCi()) t.fail(`${message} (CI=true requires it)`, { error: String(error) });
    return message;
  }
}

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const pgPool = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 3000 });
t.teardown(() => pgPool.end());
const pgSkip = await reachable('PostgreSQL', () => pgPool.query('select 1'));

const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';
const mysqlPool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2, connectTimeout: 3000 });
t.teardown(() => new Promise<void>((resolve) => mysqlPool.end(() => resolve())));
const mysqlSkip = await reachable('MariaDB', () => mysqlPool.promise().query('select 1'));

// The SQLite tests, and the CLI on a SQLite file, need better-sqlite3 (an optional dependency).
const { db: Database, skip: sqliteSkip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));

/** The store works on the migrated tables: a nonce goes in and comes back. */
async function storeWorks(db: Parameters<typeof sqlStore>[0]['db'], prefix: string): Promise<boolean> {
  const store = await sqlStore({ db, prefix });
  await store.putNonce('u1', 'k', 'v', NOW + 1000, NOW);
  return (await store.getNonce('u1', 'k', NOW)) === 'v';
}

t.test(
  'migrate creates the schema in a new SQLite file, then has nothing to do',
  { skip: sqliteSkip },
  async (t) => {
    const file = join(dir, 'app.db');
    const first = await runCli(['migrate', '--url', `sqlite:${file}`]);
    t.equal(first.code, 0);
    t.equal(
      first.stdout,
      `${file}: migrated from version 0 to ${SCHEMA_VERSION} (prefix twofold_); applied ${ALL_VERSIONS.join(', ')}\n`,
    );
    t.equal(first.stderr, '');
    const db = new Database!(file);
    t.teardown(() => db.close());
    t.ok(await storeWorks(db, 'twofold_'), 'sqlStore starts on it and works');

    const second = await runCli(['migrate', '--url', `sqlite:${file}`]);
    t.equal(second.code, 0);
    t.equal(
      second.stdout,
      `${file}: schema already at version ${SCHEMA_VERSION} (prefix twofold_); nothing to do\n`,
    );
  },
);

t.test(
  'a migrate process waits for another on the same SQLite file, then finds nothing to do',
  { skip: sqliteSkip },
  async (t) => {
    const file = join(dir, 'concurrent.db');
    const db = new Database!(file);
    t.teardown(() => db.close());
    db.pragma('journal_mode = WAL');
    // The first run pauses 3 s in the middle of step 1; the process starts meanwhile and must wait.
    const started = Date.now();
    const first = migrate(slowStatement(db, /^create table .*"twofold_authenticators"/, 3000));
    // A process: better-sqlite3 waits for a lock synchronously, which in this process would hold up the first run.
    const second = await runCliProcess(['migrate', '--url', file]);
    t.strictSame(await first, { from: 0, to: SCHEMA_VERSION, applied: ALL_VERSIONS });
    t.ok(Date.now() - started >= 3000, 'the first run paused');
    t.equal(second.code, 0, second.stderr);
    t.equal(
      second.stdout,
      `${file}: schema already at version ${SCHEMA_VERSION} (prefix twofold_); nothing to do\n`,
    );
  },
);

t.test(
  'migrate recognises a SQLite file migrated by release 0.1 and the store opens it',
  { skip: sqliteSkip },
  async (t) => {
    const file = join(dir, 'release-0.1.db');
    const db = new Database!(file);
    t.teardown(() => db.close());
    await migrateAsRelease01(db);
    // Today's store refuses schema 1: a user enrolled by the schema-1 store's own writes.
    await enrollAsSchema1(db, 'twofold_', 'u1');
    const { code, stdout } = await runCli(['migrate', '--url', file]);
    t.equal(code, 0);
    const later = Array.from({ length: SCHEMA_VERSION - 1 }, (_, index) => index + 2);
    t.equal(
      stdout,
      later.length === 0
        ? `${file}: schema already at version 1 (prefix twofold_); nothing to do\n`
        : `${file}: migrated from version 1 to ${SCHEMA_VERSION} (prefix twofold_); applied ${later.join(', ')}\n`,
      'versions up to 1 count as applied',
    );
    await expectEnrolled(t, db, 'twofold_', 'u1');
  },
);

/** Enrolls `userId` (an active TOTP authenticator, two recovery codes) as the schema-1 store wrote it. */
async function enrollAsSchema1(db: Parameters<typeof schema1Enrollment>[0], prefix: string, userId: string) {
  const old = schema1Enrollment(db, prefix);
  const sealedSecret = 'tf1.k1.sealed';
  await old.savePendingAuthenticator({
    userId,
    id: 'totp',
    status: 'pending',
    sealedSecret,
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    lastCounter: -1,
    createdAt: NOW,
    confirmedAt: null,
    lastUsedAt: null,
    expiresAt: NOW + 60_000,
  });
  await old.confirmAuthenticator(userId, 'totp', {
    sealedSecret,
    counter: 5,
    recoveryCodeHashes: ['h1', 'h2'],
    now: NOW,
  });
}

/** The store opens the migrated tables, and the user enrolled on schema 1 can log in. */
async function expectEnrolled(
  t: Test,
  db: Parameters<typeof sqlStore>[0]['db'],
  prefix: string,
  userId: string,
): Promise<void> {
  const store = await sqlStore({ db, prefix });
  t.match(await store.listAuthenticators(userId, NOW), [
    { type: 'totp', id: 'totp', status: 'active', name: null },
  ]);
  t.equal(await store.consumeCounter(userId, 'totp', 6, NOW), true, 'a code of the app is accepted');
  t.equal(await store.countRecoveryCodes(userId), 2, 'the recovery codes count');
}

t.test(
  'migrate brings a SQLite file of schema 1 to version 3 (prefix kept), and its users stay enrolled',
  { skip: sqliteSkip },
  async (t) => {
    const file = join(dir, 'schema-1.db');
    const db = new Database!(file);
    t.teardown(() => db.close());
    t.strictSame(await migrateAsSchema1(db, { prefix: 'app_' }), { from: 0, to: 1, applied: [1] });
    await enrollAsSchema1(db, 'app_', 'u1');
    const { code, stdout } = await runCli(['migrate', '--url', file, '--prefix', 'app_']);
    t.equal(code, 0);
    t.equal(stdout, `${file}: migrated from version 1 to 3 (prefix app_); applied 2, 3\n`);
    t.equal(SCHEMA_VERSION, 3);
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .pluck()
      .all();
    t.strictSame(tables, storeTableNames('app_').sort());
    await expectEnrolled(t, db, 'app_', 'u1');
  },
);

t.test(
  'migrate takes every SQLite URL form, TWOFOLD_DATABASE_URL, and --prefix',
  { skip: sqliteSkip },
  async (t) => {
    const forms: [string, string[], Record<string, string>][] = [
      ['a path ending in .sqlite', ['--url', join(dir, 'a.sqlite')], {}],
      ['a path ending in .sqlite3', ['--url', join(dir, 'b.sqlite3')], {}],
      ['sqlite:///absolute', ['--url', `sqlite://${join(dir, 'c.db')}`], {}],
      ['sqlite:relative from the working directory', ['--url', 'sqlite:d.db'], {}],
      ['a relative path', ['--url', './e.db'], {}],
      ['TWOFOLD_DATABASE_URL', [], { TWOFOLD_DATABASE_URL: `sqlite:${join(dir, 'f.db')}` }],
    ];
    const results = await mapConcurrent(forms, ([, args, env]) =>
      runCli(['migrate', ...args], { cwd: dir, env }),
    );
    for (const [index, [name]] of forms.entries()) {
      const file = join(dir, ['a.sqlite', 'b.sqlite3', 'c.db', 'd.db', 'e.db', 'f.db'][index]!);
      const { code, stdout } = results[index]!;
      t.equal(code, 0, name);
      t.equal(
        stdout,
        `${file}: migrated from version 0 to ${SCHEMA_VERSION} (prefix twofold_); applied ${ALL_VERSIONS.join(', ')}\n`,
        name,
      );
    }
    const file = join(dir, 'prefixed.db');
    const { code } = await runCli(['migrate', '--url', file, '--prefix', 'auth2fa_']);
    t.equal(code, 0);
    const db = new Database!(file);
    t.teardown(() => db.close());
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .pluck()
      .all();
    t.strictSame(tables, storeTableNames('auth2fa_').sort());
    t.ok(await storeWorks(db, 'auth2fa_'));
  },
);

t.test('migrate refuses a database migrated by a newer version, exit 1', { skip: sqliteSkip }, async (t) => {
  const file = join(dir, 'newer.db');
  t.equal((await runCli(['migrate', '--url', file])).code, 0);
  const db = new Database!(file);
  db.prepare('update twofold_schema_version set version = ?').run(SCHEMA_VERSION + 1);
  db.close();
  const { code, stdout, stderr } = await runCli(['migrate', '--url', file]);
  t.equal(code, 1);
  t.equal(stdout, '');
  t.match(
    stderr,
    `twofold migrate: ${file}: The twofold tables (prefix "twofold_") are at schema version ${SCHEMA_VERSION + 1}, newer than this @twofold/store-sql supports`,
  );
  t.notOk(hasStackTrace(stderr));
});

t.test('migrate fails with exit 1 when the SQLite directory does not exist', async (t) => {
  const file = join(dir, 'missing', 'app.db');
  const { code, stderr } = await runCli(['migrate', '--url', `sqlite:${file}`]);
  t.equal(code, 1);
  t.equal(stderr, `twofold migrate: the directory of ${file} does not exist\n`);
  t.notOk(existsSync(join(dir, 'missing')));
});

t.test('migrate refuses a URL it does not know, or a bad prefix, with exit 2', async (t) => {
  const urls = [
    'redis://127.0.0.1:6379',
    'app.txt',
    'sqlite:',
    'sqlite::memory:',
    'postgres://',
    'mysql://:pw@/db',
  ];
  const badUrls = await mapConcurrent(urls, (url) => runCli(['migrate', '--url', url]));
  for (const [index, url] of urls.entries()) {
    t.equal(badUrls[index]!.code, 2, url);
    t.match(badUrls[index]!.stderr, /^twofold migrate: --url /, url);
  }
  const prefixes = ['Upper_', '1abc', 'has-dash', 'x'.repeat(31)];
  const badPrefixes = await mapConcurrent(prefixes, (prefix) =>
    runCli(['migrate', '--url', join(dir, 'p.db'), '--prefix', prefix]),
  );
  for (const [index, prefix] of prefixes.entries()) {
    t.equal(badPrefixes[index]!.code, 2, prefix);
    t.match(badPrefixes[index]!.stderr, /--prefix must be 1-30 characters/);
  }
  t.notOk(existsSync(join(dir, 'p.db')), 'nothing was created');
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test('an unreachable server fails with exit 1, naming the URL without its password', async (t) => {
  const port = await closedPort();
  for (const scheme of ['postgres', 'mysql']) {
    const url = `${scheme}://app:s3cret-pw@127.0.0.1:${port}/app`;
    const { code, stdout, stderr } = await runCli(['migrate', '--url', url]);
    t.equal(code, 1, scheme);
    t.equal(stdout, '');
    t.match(
      stderr,
      `twofold migrate: ${scheme}://app:***@127.0.0.1:${port}/app: The ${scheme} database of the twofold store is unavailable`,
    );
    t.notMatch(stderr, 's3cret-pw', 'the password is never shown');
    t.notOk(hasStackTrace(stderr));
  }
});

t.test(
  'migrate on PostgreSQL creates the tables under the prefix, then has nothing to do',
  { skip: pgSkip },
  async (t) => {
    const prefix = uniquePrefix();
    t.teardown(async () => {
      for (const table of storeTableNames(prefix)) await pgPool.query(`drop table if exists ${table}`);
    });
    for (const url of [PG_URL, PG_URL.replace('postgres:', 'postgresql:')]) {
      const { code, stdout } = await runCli(['migrate', '--url', url, '--prefix', prefix]);
      t.equal(code, 0);
      t.match(
        stdout,
        url === PG_URL ? `migrated from version 0 to ${SCHEMA_VERSION} (prefix ${prefix})` : 'nothing to do',
      );
    }
    t.ok(await storeWorks(pgPool, prefix));
    const unknownDb = await runCli([
      'migrate',
      '--url',
      'postgres://postgres@127.0.0.1:5432/no_such_db_twofold',
    ]);
    t.equal(unknownDb.code, 1, 'a database that does not exist fails with exit 1');
    t.match(unknownDb.stderr, /database "no_such_db_twofold" does not exist/);
    t.notOk(hasStackTrace(unknownDb.stderr));
  },
);

t.test(
  'migrate on MariaDB (mysql:// or mariadb://) creates the tables, then has nothing to do',
  { skip: mysqlSkip },
  async (t) => {
    const prefix = uniquePrefix();
    t.teardown(async () => {
      for (const table of storeTableNames(prefix))
        await mysqlPool.promise().query(`drop table if exists ${table}`);
    });
    const first = await runCli(['migrate', '--url', MYSQL_URL, '--prefix', prefix]);
    t.equal(first.code, 0);
    t.equal(
      first.stdout,
      `${MYSQL_URL}: migrated from version 0 to ${SCHEMA_VERSION} (prefix ${prefix}); applied ${ALL_VERSIONS.join(', ')}\n`,
    );
    const second = await runCli([
      'migrate',
      '--url',
      MYSQL_URL.replace('mysql:', 'mariadb:'),
      '--prefix',
      prefix,
    ]);
    t.equal(second.code, 0);
    t.match(second.stdout, 'nothing to do');
    t.ok(await storeWorks(mysqlPool, prefix));
  },
);

t.test(
  'migrate upgrades schema 1 to version 3 on PostgreSQL and MariaDB, and the users stay enrolled',
  { skip: pgSkip || mysqlSkip },
  async (t) => {
    for (const [url, db] of [
      [PG_URL, pgPool],
      [MYSQL_URL, mysqlPool],
    ] as const) {
      const prefix = uniquePrefix();
      t.teardown(async () => {
        for (const table of storeTableNames(prefix)) {
          await (db === pgPool
            ? pgPool.query(`drop table if exists ${table}`)
            : mysqlPool.promise().query(`drop table if exists ${table}`));
        }
      });
      t.strictSame(await migrateAsSchema1(db, { prefix }), { from: 0, to: 1, applied: [1] });
      await enrollAsSchema1(db, prefix, 'u1');
      const { code, stdout, stderr } = await runCli(['migrate', '--url', url, '--prefix', prefix]);
      t.equal(code, 0, stderr);
      t.equal(stdout, `${url}: migrated from version 1 to 3 (prefix ${prefix}); applied 2, 3\n`);
      await expectEnrolled(t, db, prefix, 'u1');
    }
  },
);
