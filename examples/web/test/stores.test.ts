/**
 * STORE switches where the 2FA state lives: a user enrolled through the example's store ends up in
 * PGlite (the default: the users' own embedded database, kept across restarts), SQLite (the users'
 * own file; better-sqlite3 is optional), PostgreSQL, MariaDB or Redis, on the real servers. A missing server
 * (or better-sqlite3, when not installed) skips its case with a message naming it (under CI: fails). An unreachable store stops the
 * start with a ConfigError naming it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createTwoFactor, generateKey } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { storeTableNames } from '@twofold/store-sql';
import { missingSkip } from '@twofold/test-support';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import t, { type Test } from 'tap';
import { ConfigError, createExample, type Example, loadConfig, SQLITE_FILE } from '../src/index.js';
import { PGLITE_DIR } from '../src/store.js';

/** better-sqlite3 (an optional dependency), or the skip message naming it (a failure under CI). */
async function betterSqlite3() {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return { Database, skip: false as const };
  } catch (error) {
    const skip = missingSkip(
      t,
      'better-sqlite3 not installed (an optional dependency: npm_config_nodedir=/usr pnpm install)',
      { error },
    );
    return { Database: undefined, skip };
  }
}

// Each start of the example opens a PGlite database for the users: a new one runs initdb, which
// takes seconds on a loaded machine.
t.setTimeout(600_000);

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';
const REDIS_URL = 'redis://127.0.0.1:6379';

/** A probe: resolves when the server answers. */
type Probe = () => Promise<void>;

const probes: Record<'postgres' | 'mysql' | 'redis', { probe: Probe; name: string }> = {
  postgres: {
    name: 'PostgreSQL at 127.0.0.1:5432',
    async probe() {
      const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
      await client.connect();
      await client.end();
    },
  },
  mysql: {
    name: 'MariaDB at 127.0.0.1:3306',
    async probe() {
      const connection = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
      await connection.end();
    },
  },
  redis: {
    name: 'Redis at 127.0.0.1:6379',
    async probe() {
      const client = new Redis(REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      try {
        await client.connect();
        await client.ping();
      } finally {
        client.disconnect();
      }
    },
  },
};

/** false when reachable; otherwise the skip message (and a failure under CI). */
async function reachable(kind: keyof typeof probes): Promise<false | string> {
  try {
    await probes[kind].probe();
    return false;
  } catch (error) {
    return missingSkip(t, `${probes[kind].name} is not reachable`, { error });
  }
}

// Every server and better-sqlite3 are probed before the first test is queued. A probe awaited later
// would run beside the tests already started, and an app's start (PGlite's initdb) holds the event
// loop for seconds on a loaded machine: the probe's connect timer then fires before its socket is
// read, and a server that answered is reported unreachable (seen in CI: MariaDB, "connect ETIMEDOUT").
const [sqlite, postgresSkip, mysqlSkip, redisSkip] = await Promise.all([
  betterSqlite3(),
  reachable('postgres'),
  reachable('mysql'),
  reachable('redis'),
]);

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-example-stores-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const silent = () => {};

/** The id of the authenticator each user id got from {@link enrollSomeone}. */
const authenticatorOf = new Map<string, string>();

/**
 * Creates a user and turns 2FA on through the example's store; returns the user id (the id of its
 * authenticator app is in `authenticatorOf`). `cleanUp` deletes the 2FA state at teardown (the
 * servers are shared).
 */
async function enrollSomeone(t: Test, example: Example, keys: string, cleanUp = true): Promise<string> {
  const name = `u${randomBytes(4).toString('hex')}`;
  const user = await example.users.create({
    username: name,
    email: `${name}@example.com`,
    password: 'long password',
  });
  const engine = createTwoFactor({ store: example.twofoldOptions.store, keyring: keys, issuer: 'Test' });
  const enrollment = await engine.enroll(user.id, { label: name });
  authenticatorOf.set(user.id, enrollment.authenticatorId);
  await engine.confirm(user.id, Totp.fromUri(enrollment.otpauthUri).generate().token);
  t.match(await engine.status(user.id), { enabled: true, recoveryCodesRemaining: 10 });
  if (cleanUp) t.teardown(() => example.twofoldOptions.store.deleteTwoFactor(user.id));
  return user.id;
}

async function start(t: Test, env: Record<string, string>) {
  const dir = await tempDir(t);
  const keys = generateKey();
  const config = loadConfig({ DATA_DIR: 'data', TWOFOLD_KEYS: keys, ...env }, dir, { issuer: 'Test' });
  const example = await createExample(config, silent);
  return { config, example, keys };
}

t.test(
  'STORE=pglite (default): the 2FA tables sit in the users’ own PGlite database, kept on disk',
  async (t) => {
    const { config, example, keys } = await start(t, { TWOFOLD_TABLE_PREFIX: 'tf_example_' });
    t.equal(config.store, 'pglite', 'the default');
    // No clean-up: the database goes with the temporary DATA_DIR.
    const userId = await enrollSomeone(t, example, keys, false);
    await example.close();

    const pglite = await PGlite.create(join(config.dataDir, PGLITE_DIR));
    const { rows } = await pglite.query(
      'SELECT a.status, u.username FROM tf_example_authenticators a JOIN users u ON u.id = a.user_id WHERE a.user_id = $1',
      [userId],
    );
    await pglite.close();
    t.match(rows, [{ status: 'active', username: /^u/ }], 'next to the users table, in DATA_DIR/pglite');

    const again = await createExample(config, silent);
    t.teardown(() => again.close());
    t.match(await again.users.byId(userId), { id: userId }, 'the user is there after a restart');
    const engine = createTwoFactor({ store: again.twofoldOptions.store, keyring: keys, issuer: 'Test' });
    t.match(await engine.status(userId), { enabled: true }, 'and so is their 2FA');
  },
);

t.test('STORE=sqlite: the 2FA tables sit in the users’ own SQLite file', { skip: sqlite.skip }, async (t) => {
  const { config, example, keys } = await start(t, { STORE: 'sqlite', TWOFOLD_TABLE_PREFIX: 'tf_example_' });
  t.teardown(() => example.close());
  const userId = await enrollSomeone(t, example, keys);
  const file = new sqlite.Database!(join(config.dataDir, SQLITE_FILE), { readonly: true });
  t.teardown(() => file.close());
  const row = file.prepare('SELECT status FROM tf_example_authenticators WHERE user_id = ?').get(userId);
  t.same(row, { status: 'active' });
  t.ok(file.prepare('SELECT id FROM users WHERE id = ?').get(userId), 'next to the users table');
});

const prefix = `tfex${Date.now().toString(36)}_`;

t.test('STORE=postgres puts the 2FA state in PostgreSQL', { skip: postgresSkip }, async (t) => {
  const { example, keys } = await start(t, {
    STORE: 'postgres',
    DATABASE_URL: POSTGRES_URL,
    TWOFOLD_TABLE_PREFIX: prefix,
  });
  const check = new pg.Client({ connectionString: POSTGRES_URL });
  await check.connect();
  t.teardown(async () => {
    await example.close();
    for (const table of storeTableNames(prefix)) await check.query(`DROP TABLE IF EXISTS ${table}`);
    await check.end();
  });
  const userId = await enrollSomeone(t, example, keys);
  const { rows } = await check.query(`SELECT status FROM ${prefix}authenticators WHERE user_id = $1`, [
    userId,
  ]);
  t.same(rows, [{ status: 'active' }]);
});

t.test('STORE=mysql puts the 2FA state in MariaDB', { skip: mysqlSkip }, async (t) => {
  const { example, keys } = await start(t, {
    STORE: 'mysql',
    DATABASE_URL: MYSQL_URL,
    TWOFOLD_TABLE_PREFIX: prefix,
  });
  const check = await mysql.createConnection({ uri: MYSQL_URL });
  t.teardown(async () => {
    await example.close();
    for (const table of storeTableNames(prefix)) await check.query(`DROP TABLE IF EXISTS ${table}`);
    await check.end();
  });
  const userId = await enrollSomeone(t, example, keys);
  const [rows] = await check.query(`SELECT status FROM ${prefix}authenticators WHERE user_id = ?`, [userId]);
  t.same(rows, [{ status: 'active' }]);
});

t.test('STORE=redis puts the 2FA state in Redis', { skip: redisSkip }, async (t) => {
  const { example, keys } = await start(t, { STORE: 'redis', REDIS_URL });
  const check = new Redis(REDIS_URL);
  t.teardown(async () => {
    await example.close();
    check.disconnect();
  });
  const userId = await enrollSomeone(t, example, keys);
  // The store's key layout: one hash per authenticator, `<prefix>{<user tag>}:a:<authenticator id>`.
  const tag = Buffer.from(userId, 'utf16le').toString('base64url');
  const key = `twofold-example:{${tag}}:a:${authenticatorOf.get(userId)}`;
  t.same(await check.hmget(key, 'type', 'status'), ['totp', 'active']);
  t.ok(example.twofoldOptions.rateLimit.redis, 'the rate-limit counts go to Redis too');
});

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('an unreachable store stops the start with an error naming it', async (t) => {
  const port = await closedPort();
  const cases: [Record<string, string>, RegExp][] = [
    [
      { STORE: 'postgres', DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` },
      /PostgreSQL at DATABASE_URL/,
    ],
    [
      { STORE: 'mysql', DATABASE_URL: `mysql://root@127.0.0.1:${port}/test` },
      /MySQL\/MariaDB at DATABASE_URL/,
    ],
    [{ STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}` }, /Redis at REDIS_URL/],
  ];
  for (const [env, message] of cases) {
    const error = await start(t, env).then(
      () => null,
      (caught: unknown) => caught,
    );
    t.type(error, ConfigError, String(env.STORE));
    t.match((error as Error).message, message, String(env.STORE));
  }
});
