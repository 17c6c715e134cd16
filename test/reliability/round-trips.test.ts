/**
 * Store round trips of a sign-in's second step (issue 18: at most three; two since the session is
 * written with the step's consumption). A real Fastify app with the
 * kit, on memoryStore, on the shared Redis, on PostgreSQL and on a SQLite file, each with the default
 * options; a user enrolled and signed in over HTTP; then `POST /2fa/login/verify` with the next code,
 * counted four ways: the Store calls the kit made (every backend), the commands the Redis client
 * sent, the queries the PostgreSQL clients ran, and the transactions SQLite committed. A warm-up
 * sign-in first (Lua scripts loaded, pool connected, store-sql's once-a-minute sweep of expired rows
 * done).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyring, createTwoFactor, memoryStore, type Store } from '@twofold/core';
import twofold from '@twofold/fastify';
import { codeAt, PERIOD_MS } from '@twofold/http-test-suite/helpers';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import tap, { type Test } from 'tap';
import { migratedPostgres, POSTGRES, sharedRedis } from './cluster.js';

/** The Store calls made, by name, in order; those inside `atomically` too. */
function countingStore(store: Store, calls: string[]): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      if (property === 'atomically') {
        return (work: (view: Store) => Promise<unknown>) => {
          calls.push(property);
          return value.call(target, (view: Store) => work(countingStore(view, calls)));
        };
      }
      return (...args: unknown[]) => {
        calls.push(property);
        return value.apply(target, args);
      };
    },
  });
}

interface Backend {
  store: Store;
  /** Round trips to the database since the last call (undefined for memory). */
  wire?: () => number;
}

/** Signs a user in twice (warm-up, then measured) and answers the measured verify's counts. */
async function measure(t: Test, backend: Backend): Promise<{ calls: string[]; wire?: number }> {
  const calls: string[] = [];
  let now = Date.UTC(2026, 11, 6, 12, 0, 0);
  const engine = createTwoFactor({
    store: countingStore(backend.store, calls),
    keyring: createKeyring({ keys: { k1: randomBytes(32) }, current: 'k1' }),
    issuer: 'Round trips',
    clock: () => now,
  });
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(twofold, {
    twoFactor: engine,
    authenticate: async ({ username, password }) => (password === 'pw' ? username : null),
  });
  const user = `rt-${randomBytes(6).toString('hex')}`;
  const { secret } = await engine.enroll(user);
  await engine.confirm(user, codeAt(secret, now));
  const signIn = async () => {
    now += PERIOD_MS;
    const login = await app.inject({
      method: 'POST',
      url: '/2fa/login',
      payload: { username: user, password: 'pw' },
    });
    t.equal(login.statusCode, 200, 'POST /2fa/login');
    const challengeToken = (login.json() as { challengeToken: string }).challengeToken;
    calls.length = 0;
    backend.wire?.();
    const verify = await app.inject({
      method: 'POST',
      url: '/2fa/login/verify',
      payload: { challengeToken, code: codeAt(secret, now) },
    });
    t.equal(verify.statusCode, 200, 'POST /2fa/login/verify');
    t.type((verify.json() as { accessToken?: unknown }).accessToken, 'string', 'a session');
    return { calls: [...calls], wire: backend.wire?.() };
  };
  // store-sql sweeps expired rows at its first write of each minute of store time (confirm was
  // one): the warm-up comes a minute after it and takes this minute's sweep, the measured step none.
  now += PERIOD_MS;
  await signIn();
  return signIn();
}

const EXPECTED = ['beginSecondFactor', 'finishSecondFactor'];

tap.test('memoryStore: two Store calls per verify', async (t) => {
  const { calls } = await measure(t, { store: memoryStore() });
  t.strictSame(calls, EXPECTED, calls.join(', '));
});

tap.test('Redis: two commands per verify', async (t) => {
  const prefix = `tfrt${randomBytes(4).toString('hex')}:`;
  if (!(await sharedRedis(t, prefix))) return;
  const client = new Redis({ host: '127.0.0.1', port: 6379 });
  t.teardown(() => client.quit());
  let sent = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    sent++;
    return send(...args);
  }) as Redis['sendCommand'];
  const wire = () => {
    const count = sent;
    sent = 0;
    return count;
  };
  const measured = await measure(t, { store: redisStore({ client, prefix }), wire });
  t.strictSame(measured.calls, EXPECTED, measured.calls.join(', '));
  t.equal(measured.wire, 2, `${measured.wire} commands sent to Redis`);
});

tap.test('PostgreSQL: two queries per verify', async (t) => {
  const prefix = `tfrt${randomBytes(4).toString('hex')}_`;
  if (!(await migratedPostgres(t, prefix))) return;
  const pool = new pg.Pool({ ...POSTGRES, max: 4 });
  t.teardown(() => pool.end());
  let queries = 0;
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      queries++;
      return query(...args);
    };
  });
  const wire = () => {
    const count = queries;
    queries = 0;
    return count;
  };
  const measured = await measure(t, { store: await sqlStore({ db: pool, prefix }), wire });
  t.strictSame(measured.calls, EXPECTED, measured.calls.join(', '));
  t.equal(measured.wire, 2, `${measured.wire} queries sent to PostgreSQL`);
});

tap.test('SQLite: one transaction per verify', async (t) => {
  const { db: Database } = await reachBetterSqlite3(t, () => import('better-sqlite3'));
  if (!Database) return;
  const dir = mkdtempSync(join(tmpdir(), 'twofold-round-trips-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = new Database(join(dir, 'twofold.sqlite'));
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  // The transactions committed, counted at the statements the store prepares on the database (each
  // text once, from the first call on it: migrate's).
  let commits = 0;
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source);
    if (source.toLowerCase() !== 'commit') return statement;
    return {
      reader: false,
      run(...args: unknown[]) {
        commits++;
        return (statement.run as (...args: unknown[]) => unknown)(...args);
      },
    };
  }) as unknown as typeof db.prepare;
  const wire = () => {
    const count = commits;
    commits = 0;
    return count;
  };
  await migrate(db);
  const store = await sqlStore({ db });
  const measured = await measure(t, { store, wire });
  t.strictSame(
    measured.calls,
    ['atomically', ...EXPECTED],
    `the same two calls, in one atomically: ${measured.calls.join(', ')}`,
  );
  t.equal(measured.wire, 1, `${measured.wire} commit`);

  // The count sees the difference: the same store without atomically commits each call.
  const { atomically: _atomically, ...stepByStep } = store;
  const apart = await measure(t, { store: stepByStep, wire });
  t.strictSame(apart.calls, EXPECTED, apart.calls.join(', '));
  t.equal(apart.wire, 2, `without atomically: ${apart.wire} commits`);
});
