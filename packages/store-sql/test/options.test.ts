import {
  type Dialect,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import pg from 'pg';
import t from 'tap';
import { migrate, sqlStore } from '../src/index.js';
import { reachBetterSqlite3 } from './helpers/databases.js';

// The option checks come before any query: a pool that never connects does for them.
const db = new pg.Pool({ host: '127.0.0.1', port: 1 });
t.teardown(() => db.end());
const { db: Database, skip } = await reachBetterSqlite3();

t.test('sqlStore and migrate reject bad options with a TypeError naming the option', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /"\(options\)"/],
    ['no db', {}, /"db"/],
    ['db a string', { db: 'postgres://localhost/test' }, /"db"/],
    ['db an unrelated object', { db: { query() {} } }, /"db" must be a Kysely instance, a pg Pool/],
    ['db a single pg Client', { db: { connect() {}, query() {}, end() {} } }, /pass a pg Pool/],
    ['prefix with capitals', { db, prefix: 'Twofold_' }, /"prefix"/],
    ['prefix starting with a digit', { db, prefix: '2fa_' }, /"prefix"/],
    ['prefix with SQL in it', { db, prefix: 'x"; drop table users; --' }, /"prefix"/],
    ['prefix too long', { db, prefix: `a${'b'.repeat(30)}` }, /"prefix"/],
    ['empty prefix', { db, prefix: '' }, /"prefix"/],
    ['sweepIntervalMs below a second', { db, sweepIntervalMs: 10 }, /"sweepIntervalMs"/],
    ['sweepIntervalMs true', { db, sweepIntervalMs: true }, /"sweepIntervalMs"/],
    [
      'preparedStatements not a boolean',
      { db, preparedStatements: 'yes' },
      /"preparedStatements" must be true or false/,
    ],
    ['dialect unknown', { db, dialect: 'oracle' }, /"dialect"/],
    [
      'dialect with a pool rather than a Kysely instance',
      { db, dialect: 'postgres' },
      /only applies to a Kysely/,
    ],
    ['an unknown option', { db, tablePrefix: 'x_' }, /tablePrefix/],
  ];
  for (const [name, options, message] of cases) {
    await t.rejects(sqlStore(options as never), { name: 'TypeError', message }, `sqlStore: ${name}`);
  }
  await t.rejects(
    migrate(db, { prefix: 'Bad' }),
    { name: 'TypeError', message: /"prefix"/ },
    'migrate: prefix',
  );
  await t.rejects(migrate({} as never), { name: 'TypeError', message: /"db"/ }, 'migrate: db');
});

t.test('a Kysely instance with an unrecognised adapter needs the dialect option', { skip }, async (t) => {
  // A third-party dialect: SQLite underneath, an adapter that is not Kysely's SqliteAdapter.
  const database = new Database!(':memory:');
  t.teardown(() => database.close());
  const sqlite = new SqliteDialect({ database });
  const adapter = new SqliteAdapter();
  const custom: Dialect = {
    createAdapter: () => ({
      supportsCreateIfNotExists: adapter.supportsCreateIfNotExists,
      supportsTransactionalDdl: adapter.supportsTransactionalDdl,
      supportsReturning: adapter.supportsReturning,
      supportsOutput: adapter.supportsOutput,
      acquireMigrationLock: (db, options) => adapter.acquireMigrationLock(db, options),
      releaseMigrationLock: (db, options) => adapter.releaseMigrationLock(db, options),
    }),
    createDriver: () => sqlite.createDriver(),
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (kysely) => new SqliteIntrospector(kysely),
  };
  const kysely = new Kysely<unknown>({ dialect: custom });
  await t.rejects(sqlStore({ db: kysely }), { name: 'TypeError', message: /pass dialect/ });
  await migrate(kysely, { prefix: 'custom_', dialect: 'sqlite' });
  const store = await sqlStore({ db: kysely, prefix: 'custom_', dialect: 'sqlite' });
  await store.putNonce('u1', 'k', 'v', 2000, 1000);
  t.equal(await store.getNonce('u1', 'k', 1000), 'v');
});

t.test('the default prefix is twofold_', { skip }, async (t) => {
  const own = new Database!(':memory:');
  t.teardown(() => own.close());
  await migrate(own);
  await sqlStore({ db: own });
  const tables = own
    .prepare("select name from sqlite_master where type = 'table' order by name")
    .all()
    .map((row) => (row as { name: string }).name);
  t.strictSame(tables, [
    'twofold_authenticators',
    'twofold_counters',
    'twofold_migration',
    'twofold_migration_lock',
    'twofold_nonces',
    'twofold_recovery_codes',
    'twofold_schema_version',
    'twofold_user_locks',
    'twofold_webauthn_credentials',
  ]);
});
