import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, SCHEMA_VERSION, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import mysql from 'mysql2';
import pg from 'pg';
import t from 'tap';
import { migrateAsRelease01 } from '../../store-sql/test/fixtures/release-0.1-migrate.js';
import { slowStatement } from '../../store-sql/test/fixtures/slow-statement.js';
import { hasStackTrace, mapConcurrent, requiredByCi, runCli, uniquePrefix } from './helpers.js';

const NOW = 1_800_000_000_000;
/** The tables of a prefix: the store's, its schema version, and Kysely's migration bookkeeping. */
const TABLES = [
  'authenticators',
  'recovery_codes',
  'counters',
  'nonces',
  'schema_version',
  'migration',
  'migration_lock',
];

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
      `${file}: migrated from version 0 to ${SCHEMA_VERSION} (prefix twofold_); applied 1\n`,
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
    const second = await runCli(['migrate', '--url', file]);
    t.strictSame(await first, { from: 0, to: SCHEMA_VERSION, applied: [1] });
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
    const store = await sqlStore({ db });
    await store.putNonce('u1', 'k', 'kept', NOW + 1000, NOW);
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
    t.equal(await (await sqlStore({ db })).getNonce('u1', 'k', NOW), 'kept');
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
        `${file}: migrated from version 0 to ${SCHEMA_VERSION} (prefix twofold_); applied 1\n`,
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
    t.strictSame(tables, TABLES.map((table) => `auth2fa_${table}`).sort());
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
      for (const table of TABLES) await pgPool.query(`drop table if exists ${prefix}${table}`);
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
      for (const table of TABLES) await mysqlPool.promise().query(`drop table if exists ${prefix}${table}`);
    });
    const first = await runCli(['migrate', '--url', MYSQL_URL, '--prefix', prefix]);
    t.equal(first.code, 0);
    t.equal(
      first.stdout,
      `${MYSQL_URL}: migrated from version 0 to ${SCHEMA_VERSION} (prefix ${prefix}); applied 1\n`,
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
