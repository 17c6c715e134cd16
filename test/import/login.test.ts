/**
 * `twofold import` end to end: exports written by the real tools (pyotp, passlib, Google
 * Authenticator's MigrationPayload through protobuf, Django + django-otp on SQLite, PostgreSQL and
 * MariaDB, django-totp's Fernet storage), imported by the real CLI into SQLite, PostgreSQL and
 * Redis stores, then used through a real Fastify app's login routes with the codes oathtool
 * computes from each secret: every imported user logs in, a code the old system had already
 * accepted is refused, old backup codes work once, and an import interrupted (SIGINT, SIGKILL) and
 * run again leaves exactly what one uninterrupted run leaves.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKey, parseKeyring, type Store } from '@twofold/core';
import twofold from '@twofold/fastify';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore } from '@twofold/store-sql';
import { hasCommand, isListening, missingSkip } from '@twofold/test-support';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import t, { type Test } from 'tap';
import { collect, runCli, startCli } from '../../packages/cli/test/helpers.js';
import {
  type DjangoDialect,
  djangoOtpMissing,
  makeDjangoOtpDatabase,
} from '../../packages/cli/test/import-fixtures/django.js';
import {
  type ExpectedRow,
  type Fixture,
  type Generator,
  generateFixture,
  PYTHON,
} from '../../packages/cli/test/import-fixtures/generate.js';

const run = promisify(execFile);
const KEYS = generateKey('imp');
const keyring = parseKeyring(KEYS);
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';

const oathtoolSkip = (await hasCommand('oathtool'))
  ? false
  : missingSkip(t, 'oathtool not installed (apt-get install oathtool): it computes the codes');
const pgSkip = (await isListening('127.0.0.1', 5432))
  ? false
  : missingSkip(t, 'PostgreSQL not reachable at 127.0.0.1:5432');
const redisSkip = (await isListening('127.0.0.1', 6379))
  ? false
  : missingSkip(t, 'Redis not reachable at 127.0.0.1:6379');

/** A twofold store the CLI imports into and the app serves from; `url`/`prefix` are the CLI's. */
interface Target {
  kind: 'sqlite' | 'postgres' | 'redis';
  url: string;
  prefix?: string;
  store: Store;
  close(): Promise<void>;
}

async function sqliteTarget(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-import-'));
  const path = join(dir, 'app.db');
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path);
  await migrate(db);
  const store = await sqlStore({ db, sweepIntervalMs: false });
  return {
    kind: 'sqlite',
    url: `sqlite:${path}`,
    store,
    async close() {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const prefix = `imp_${randomBytes(4).toString('hex')}_`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  await migrate(pool, { prefix });
  const store = await sqlStore({ db: pool, prefix, sweepIntervalMs: false });
  return {
    kind: 'postgres',
    url: PG_URL,
    prefix,
    store,
    async close() {
      const { rows } = await pool.query<{ tablename: string }>(
        "select tablename from pg_tables where schemaname = 'public' and starts_with(tablename, $1)",
        [prefix],
      );
      for (const { tablename } of rows) await pool.query(`drop table if exists "${tablename}" cascade`);
      await pool.end();
    },
  };
}

async function redisTarget(): Promise<Target> {
  const prefix = `twofold-imp-${randomBytes(4).toString('hex')}:`;
  const client = new Redis(REDIS_URL);
  const store = redisStore({ client, prefix });
  return {
    kind: 'redis',
    url: REDIS_URL,
    prefix,
    store,
    async close() {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await client.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}

function targetArgs(target: Target): string[] {
  return ['--url', target.url, ...(target.prefix === undefined ? [] : ['--prefix', target.prefix])];
}

/** `twofold import --from <format> <input>` into `target`, with the app's keyring in TWOFOLD_KEYS. */
function importArgs(format: string, input: string, target: Target, extra: string[] = []): string[] {
  return ['import', '--from', format, input, ...targetArgs(target), ...extra];
}
const importEnv = (extra: Record<string, string> = {}) => ({ env: { TWOFOLD_KEYS: KEYS, ...extra } });

/** A Fastify app of the host's kind on `store`: any password is right, the username is the user id. */
async function appOn(t: Test, store: Store): Promise<string> {
  const app = Fastify();
  await app.register(twofold, {
    store,
    keyring: KEYS,
    issuer: 'Acme',
    authenticate: async ({ username }: { username: string }) => username,
    rateLimit: false,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return base;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Password, then the second factor: the status of POST /2fa/login/verify (200 signed in, 400 a wrong or used code). */
async function login(base: string, userId: string, factor: { code: string } | { recoveryCode: string }) {
  const first = await post(`${base}/2fa/login`, { username: userId, password: 'anything' });
  if (first.status !== 200 || first.body.twoFactorRequired !== true) {
    throw new Error(`login of ${userId}: ${first.status} ${JSON.stringify(first.body)}`);
  }
  const second = await post(`${base}/2fa/login/verify`, {
    challengeToken: first.body.challengeToken,
    ...factor,
  });
  return second.status;
}

/** The code oathtool computes now for a hex secret: what the user's authenticator app shows. */
async function oathtool(row: { secretHex: string; algorithm: string; digits: number; period: number }) {
  const { stdout } = await run('oathtool', [
    `--totp=${row.algorithm}`,
    '--digits',
    String(row.digits),
    '--time-step-size',
    `${row.period}s`,
    row.secretHex,
  ]);
  return stdout.trim();
}

async function fixtureOf(t: Test, generator: Generator): Promise<{ fixture: Fixture; dir: string } | null> {
  const dir = await mkdtemp(join(tmpdir(), `twofold-${generator}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const made = await generateFixture(generator, dir);
  if ('missing' in made) {
    missingSkip(t, made.missing);
    return null;
  }
  return { fixture: made.fixture, dir };
}

const rowsOf = (fixture: Fixture): ExpectedRow[] =>
  fixture.expected.flatMap((entry) => ('row' in entry ? [entry.row] : []));

/**
 * Every expected row: its user signs in with the code oathtool computes now, and that same code
 * is refused the second time (the replay state lives on in the store after the import).
 */
async function everyoneLogsIn(t: Test, base: string, rows: readonly ExpectedRow[]) {
  const seen = new Set<string>();
  for (const row of rows) {
    // Two rows of one user share a challenge's lockout; one login per user proves the import.
    if (seen.has(row.userId)) continue;
    seen.add(row.userId);
    const code = await oathtool(row);
    t.equal(await login(base, row.userId, { code }), 200, `${row.ref}: ${row.userId} signs in`);
    t.equal(await login(base, row.userId, { code }), 400, `${row.ref}: the same code again is refused`);
  }
}

/** What the store holds for `users`, secrets opened: equal dumps mean equal imports. */
async function dump(store: Store, users: readonly string[]) {
  const now = Date.now();
  const out: Record<string, unknown> = {};
  const sorted = [...users].sort();
  const entries = await Promise.all(
    sorted.map(async (userId) => [userId, await dumpUser(store, userId, now)]),
  );
  for (const [userId, entry] of entries) out[userId as string] = entry;
  return out;
}

async function dumpUser(store: Store, userId: string, now: number) {
  // Sorted by id: the store lists oldest first, and which of a user's rows was written first differs
  // from run to run (six runs at once, or --concurrency above 1), so creation order is not compared.
  const records = (await store.listAuthenticators(userId, now)).sort((a, b) => (a.id < b.id ? -1 : 1));
  return {
    codes: await store.countRecoveryCodes(userId),
    authenticators: records.map((record) =>
      record.type === 'totp'
        ? {
            id: record.id,
            name: record.name,
            status: record.status,
            algorithm: record.algorithm,
            digits: record.digits,
            period: record.period,
            lastCounter: record.lastCounter,
            secret: Buffer.from(keyring.open(record.sealedSecret, userId).plaintext).toString('hex'),
          }
        : { id: record.id },
    ),
  };
}

/** Writes `text` to a file of `dir`. */
async function fileWith(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

t.test('otpauth:// URIs made by pyotp, into SQLite', { skip: oathtoolSkip }, async (t) => {
  const made = await fixtureOf(t, 'otpauth_list');
  if (!made) return;
  const target = await sqliteTarget();
  t.teardown(() => target.close());
  const file = await fileWith(made.dir, 'list.txt', made.fixture.text);
  const report = join(made.dir, 'report.jsonl');
  const result = await runCli(importArgs('otpauth', file, target, ['--report', report]), importEnv());
  const skips = made.fixture.expected.length - rowsOf(made.fixture).length;
  t.equal(result.code, 1, 'exit 1: some rows were skipped');
  t.match(result.stdout, new RegExp(`, ${skips} skipped, 0 failed`));
  t.match(result.stderr, /line \d+.*: skipped: hotp/);
  for (const secret of made.fixture.sensitive) {
    t.notOk(result.stderr.includes(secret) || result.stdout.includes(secret), 'no secret printed');
  }
  const base = await appOn(t, target.store);
  await everyoneLogsIn(t, base, rowsOf(made.fixture));

  const again = await runCli(importArgs('otpauth', file, target), importEnv());
  t.match(again.stdout, /: 0 imported .*, \d+ already there/, 'a second run changes nothing');
});

t.test(
  'a Google Authenticator export (protobuf), into Redis',
  { skip: oathtoolSkip || redisSkip },
  async (t) => {
    const made = await fixtureOf(t, 'google_migration');
    if (!made) return;
    const target = await redisTarget();
    t.teardown(() => target.close());
    const file = await fileWith(made.dir, 'export.txt', made.fixture.text);
    const result = await runCli(importArgs('google', '-', target), {
      ...importEnv(),
      input: made.fixture.text,
    });
    t.match(result.stdout, /import: \d+ imported/);
    t.notMatch(result.stderr, /failed/);
    const base = await appOn(t, target.store);
    await everyoneLogsIn(t, base, rowsOf(made.fixture));
    const again = await runCli(importArgs('google', file, target), importEnv());
    t.match(again.stdout, /: 0 imported /);
  },
);

/**
 * passlib state as an app keeps it: TOTP.to_json() (one key encrypted by an AppWallet) and the
 * last counter passlib's own match() returned for the code the user just typed.
 */
const PASSLIB_SCRIPT = `
import json, sys, time
from passlib.totp import TOTP
wallet = {"1": "wallet secret"}
out, lines = [], []
for user, encrypted in (("pl-plain", False), ("pl-wallet", True), ("pl-used", False)):
    factory = TOTP.using(secrets=wallet) if encrypted else TOTP
    totp = factory.new(label=user, issuer="Old")
    entry = {"user": user, "totp": json.loads(totp.to_json())}
    row = {"userId": user, "secretHex": totp.key.hex(), "algorithm": "SHA1", "digits": 6, "period": 30}
    if user == "pl-used":
        token = totp.generate().token
        entry["last_counter"] = totp.match(token).counter
        row["used"] = token
    lines.append(json.dumps(entry))
    out.append(row)
open(sys.argv[1], "w").write("\\n".join(lines) + "\\n")
print(json.dumps({"rows": out, "wallet": wallet}))
`;

t.test(
  'passlib TOTP JSON (plain and AppWallet), into PostgreSQL',
  { skip: oathtoolSkip || pgSkip },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'twofold-passlib-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'passlib.jsonl');
    let made: { rows: Array<ExpectedRow & { used?: string }>; wallet: Record<string, string> };
    try {
      made = JSON.parse((await run(PYTHON, ['-c', PASSLIB_SCRIPT, file])).stdout);
    } catch (error) {
      missingSkip(t, `passlib for ${PYTHON} (Debian package python3-passlib)`, { error });
      return;
    }
    const target = await postgresTarget();
    t.teardown(() => target.close());
    const secrets = await fileWith(dir, 'wallet.json', JSON.stringify(made.wallet));
    const result = await runCli(
      importArgs('passlib', file, target, ['--passlib-secrets', secrets]),
      importEnv(),
    );
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, /: 3 imported \(3 turning 2FA on/);
    const base = await appOn(t, target.store);
    const used = made.rows.find((row) => row.used !== undefined)!;
    t.equal(
      await login(base, used.userId, { code: used.used! }),
      400,
      'the code passlib accepted is refused',
    );
    await everyoneLogsIn(
      t,
      base,
      made.rows.filter((row) => row.used === undefined).map((row) => ({ ...row, ref: row.userId })),
    );
  },
);

t.test(
  'django-totp rows (Fernet), into Redis: backup codes work once',
  { skip: oathtoolSkip || redisSkip },
  async (t) => {
    const made = await fixtureOf(t, 'django_totp');
    if (!made) return;
    const target = await redisTarget();
    t.teardown(() => target.close());
    const file = await fileWith(made.dir, 'totp.jsonl', made.fixture.text);
    const key = String(made.fixture.options.key);
    const result = await runCli(
      importArgs('django-totp', file, target),
      importEnv({ TWOFOLD_IMPORT_FERNET_KEY: key }),
    );
    t.match(result.stdout, /import: \d+ imported/);
    t.notOk(result.stderr.includes(key), 'the Fernet key is never printed');
    const base = await appOn(t, target.store);
    const rows = rowsOf(made.fixture);
    await everyoneLogsIn(t, base, rows);
    const withCodes = rows.find((row) => (row.recoveryCodes ?? []).length > 0);
    t.ok(withCodes, 'the fixture has unused backup codes');
    const code = withCodes!.recoveryCodes![0]!;
    t.equal(await login(base, withCodes!.userId, { recoveryCode: code }), 200, 'an old backup code signs in');
    t.equal(await login(base, withCodes!.userId, { recoveryCode: code }), 400, 'once');
  },
);

const DJANGO_TARGETS: Record<DjangoDialect, () => Promise<Target>> = {
  sqlite: sqliteTarget,
  postgres: postgresTarget,
  mysql: redisTarget,
};

for (const dialect of ['sqlite', 'postgres', 'mysql'] as const) {
  t.test(`django-otp on ${dialect}: its users sign in, its used code and token stay used`, async (t) => {
    const absent = await djangoOtpMissing(dialect);
    if (absent) return void missingSkip(t, absent);
    if (oathtoolSkip) return;
    if ((dialect === 'postgres' || dialect === 'mysql') && (pgSkip || redisSkip)) return;
    const django = await makeDjangoOtpDatabase(dialect, {
      users: [
        { username: 'ada', totp: [{ name: 'Phone', verify: true }], static: [{ tokens: 3, consume: 1 }] },
        {
          username: 'bob',
          totp: [
            { name: 'Tablet', digits: 8, step: 60 },
            { name: 'Old', confirmed: false },
          ],
        },
      ],
    });
    t.teardown(() => django.drop());
    const target = await DJANGO_TARGETS[dialect]();
    t.teardown(() => target.close());
    const result = await runCli(
      importArgs('django-otp', django.url, target, ['--user-field', 'username']),
      importEnv(),
    );
    t.match(result.stdout, /: 2 imported \(2 turning 2FA on/);
    t.match(result.stderr, /skipped: .*(not confirmed|unconfirmed)/i, 'the unconfirmed device is reported');
    const base = await appOn(t, target.store);
    const [ada, bob] = django.report.users as [
      (typeof django.report.users)[number],
      (typeof django.report.users)[number],
    ];
    const phone = ada.totp[0]!;
    t.equal(
      await login(base, 'ada', { code: phone.verifiedCode! }),
      400,
      'the code django-otp accepted before the import is refused',
    );
    const staticDevice = ada.static[0]!;
    t.equal(
      await login(base, 'ada', { recoveryCode: staticDevice.consumed[0]! }),
      400,
      'a used token stays used',
    );
    t.equal(
      await login(base, 'ada', { recoveryCode: staticDevice.tokens[0]! }),
      200,
      'an unused token signs in',
    );
    t.equal(await login(base, 'ada', { recoveryCode: staticDevice.tokens[0]! }), 400, 'once');
    const tablet = bob.totp[0]!;
    const code = await oathtool({
      secretHex: tablet.key,
      algorithm: 'SHA1',
      digits: tablet.digits,
      period: tablet.step,
    });
    t.equal(code.length, 8);
    t.equal(await login(base, 'bob', { code }), 200, "bob's 8-digit, 60 s device signs in");
  });
}

/** Lines "<user> <otpauth URI>", made by pyotp: `rows` of them, `per user` (default 1) for each user. */
const PYOTP_LIST = `
import sys, pyotp
rows, per_user = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
for n in range(rows):
    user = "user-%05d" % (n // per_user)
    print("%s %s" % (user, pyotp.TOTP(pyotp.random_base32()).provisioning_uri(user, issuer_name="Old")))
`;

t.test(
  'an import interrupted by Ctrl-C and run again equals one uninterrupted run (PostgreSQL)',
  { skip: pgSkip },
  async (t) => {
    const count = 600;
    let list: string;
    try {
      list = (await run(PYTHON, ['-c', PYOTP_LIST, String(count)], { maxBuffer: 1 << 24 })).stdout;
    } catch (error) {
      return void missingSkip(t, `pyotp for ${PYTHON} (Debian package python3-pyotp)`, { error });
    }
    const dir = await mkdtemp(join(tmpdir(), 'twofold-resume-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = await fileWith(dir, 'list.txt', list);
    const users = list
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[0]!);
    const [interrupted, whole] = [await postgresTarget(), await postgresTarget()];
    t.teardown(() => Promise.all([interrupted.close(), whole.close()]));

    const child = startCli(importArgs('otpauth', file, interrupted, ['--concurrency', '1']), importEnv());
    // Non-terminal progress: a line per tenth. Stop at the first one.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        if (/import: \d+\/600 \(\d+%\)/.test(chunk.toString())) resolve();
      });
    });
    child.kill('SIGINT');
    const stopped = await collect(child);
    t.equal(stopped.code, 130, 'exit 130 after SIGINT');
    t.match(stopped.stderr, /interrupted; run the same command again to resume/);
    const firstRun = Number(/: (\d+) imported/.exec(stopped.stdout)?.[1]);
    t.ok(firstRun > 0 && firstRun < count, `stopped part way (${firstRun} of ${count})`);

    const resumed = await runCli(importArgs('otpauth', file, interrupted), importEnv());
    t.equal(resumed.code, 0, resumed.stderr);
    t.match(resumed.stdout, new RegExp(`: ${count - firstRun} imported .*, ${firstRun} already there`));
    const once = await runCli(importArgs('otpauth', file, whole), importEnv());
    t.equal(once.code, 0, once.stderr);
    t.strictSame(
      await dump(interrupted.store, users),
      await dump(whole.store, users),
      'same users, secrets, state',
    );
  },
);

t.test(
  'a django-otp import killed (SIGKILL) and run again equals one uninterrupted run',
  { skip: pgSkip },
  async (t) => {
    const absent = await djangoOtpMissing('postgres');
    if (absent) return void missingSkip(t, absent);
    const django = await makeDjangoOtpDatabase('postgres', {
      users: Array.from({ length: 120 }, (_, n) => ({
        username: `dj-${n}`,
        totp:
          n % 3 === 0
            ? [{ name: 'Phone' }, { name: 'Backup phone' }]
            : [{ name: 'Phone', verify: n % 2 === 0 }],
        static: n % 4 === 0 ? [{ tokens: 5, consume: 2 }] : [],
      })),
    });
    t.teardown(() => django.drop());
    const [killed, whole] = [await postgresTarget(), await postgresTarget()];
    t.teardown(() => Promise.all([killed.close(), whole.close()]));
    const args = (target: Target, extra: string[] = []) =>
      importArgs('django-otp', django.url, target, ['--user-field', 'username', ...extra]);

    const child = startCli(args(killed, ['--concurrency', '2']), importEnv());
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        if (/import: \d+\/\d+ \(\d+%\)/.test(chunk.toString())) resolve();
      });
    });
    child.kill('SIGKILL');
    const died = await collect(child);
    t.equal(died.signal, 'SIGKILL');
    const resumed = await runCli(args(killed), importEnv());
    t.equal(resumed.code, 0, resumed.stderr);
    t.match(resumed.stdout, /[1-9]\d* already there/, 'the killed run had written some rows');
    await runCli(args(whole), importEnv());
    const users = django.report.users.map((user) => user.username);
    t.strictSame(
      await dump(killed.store, users),
      await dump(whole.store, users),
      'same users, secrets, codes, state',
    );
  },
);

t.test('six imports of one file at once (Redis) leave what one leaves', { skip: redisSkip }, async (t) => {
  // 20 users with 5 apps each: six runs contend for the same users at once.
  let list: string;
  try {
    list = (await run(PYTHON, ['-c', PYOTP_LIST, '100', '5'])).stdout;
  } catch (error) {
    return void missingSkip(t, `pyotp for ${PYTHON} (Debian package python3-pyotp)`, { error });
  }
  const dir = await mkdtemp(join(tmpdir(), 'twofold-race-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = await fileWith(dir, 'list.txt', list);
  const [raced, single] = [await redisTarget(), await redisTarget()];
  t.teardown(() => Promise.all([raced.close(), single.close()]));
  const results = await Promise.all(
    Array.from({ length: 6 }, () =>
      runCli(importArgs('otpauth', file, raced, ['--concurrency', '20']), importEnv()),
    ),
  );
  for (const result of results) t.equal(result.code, 0, result.stderr.slice(-500));
  const imported = results.map((result) => Number(/: (\d+) imported/.exec(result.stdout)?.[1]));
  t.equal(
    imported.reduce((sum, n) => sum + n, 0),
    100,
    'each row imported by exactly one of the six runs',
  );
  await runCli(importArgs('otpauth', file, single), importEnv());
  const users = [
    ...new Set(
      list
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[0]!),
    ),
  ];
  t.equal(users.length, 20);
  t.strictSame(await dump(raced.store, users), await dump(single.store, users));
});

for (const kind of ['redis', 'postgres'] as const) {
  t.test(`50 importAuthenticator calls for one user at once on ${kind}: one turns 2FA on`, async (t) => {
    if (kind === 'redis' ? redisSkip : pgSkip) return;
    const target = kind === 'redis' ? await redisTarget() : await postgresTarget();
    t.teardown(() => target.close());
    const { createTwoFactor } = await import('@twofold/core');
    // Five engines, as five processes would have: each its own calls, one store.
    const engines = Array.from({ length: 5 }, () =>
      createTwoFactor({ store: target.store, keyring, issuer: 'Acme' }),
    );
    const secret = randomBytes(20);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        engines[i % 5]!.importAuthenticator('racer', {
          source: `old:${i % 5}`,
          secret,
          recoveryCodes: [`code${String(i).padStart(2, '0')}xyz`],
        }),
      ),
    );
    const outcomes = results.map((result) => result.outcome);
    t.equal(outcomes.filter((outcome) => outcome === 'enabled').length, 1, 'one import turns 2FA on');
    t.equal(outcomes.filter((outcome) => outcome === 'added').length, 4, 'each other source is added once');
    t.equal(outcomes.filter((outcome) => outcome === 'unchanged').length, 45);
    const dumped = (await dump(target.store, ['racer'])).racer as {
      codes: number;
      authenticators: unknown[];
    };
    t.equal(dumped.authenticators.length, 5);
    t.equal(dumped.codes, 1, "the enabling import's code, and only it");
  });
}

/**
 * What an interrupted run leaves is the rows before some point (rows are read in order; a row is
 * written all at once or not at all): for every file format, importing the first half of the
 * file and then all of it leaves what importing it once leaves.
 */
const RESUMABLE: {
  generator: Generator;
  format: string;
  args(fixture: Fixture, dir: string): Promise<string[]>;
  env(fixture: Fixture): Record<string, string>;
}[] = [
  { generator: 'otpauth_list', format: 'otpauth', args: async () => [], env: () => ({}) },
  { generator: 'google_migration', format: 'google', args: async () => [], env: () => ({}) },
  {
    generator: 'passlib_totp',
    format: 'passlib',
    args: async (fixture, dir) => [
      '--passlib-secrets',
      await fileWith(dir, 'wallet.json', JSON.stringify(fixture.options.secrets)),
    ],
    env: () => ({}),
  },
  {
    generator: 'django_totp',
    format: 'django-totp',
    args: async () => [],
    env: (fixture) => ({ TWOFOLD_IMPORT_FERNET_KEY: String(fixture.options.key) }),
  },
];

for (const { generator, format, args, env } of RESUMABLE) {
  t.test(
    `${format}: half the file, then all of it, equals one run (Redis)`,
    { skip: redisSkip },
    async (t) => {
      const made = await fixtureOf(t, generator);
      if (!made) return;
      const lines = made.fixture.text.split('\n');
      const half = await fileWith(made.dir, 'half', lines.slice(0, Math.ceil(lines.length / 2)).join('\n'));
      const whole = await fileWith(made.dir, 'whole', made.fixture.text);
      const extra = await args(made.fixture, made.dir);
      const [resumed, once] = [await redisTarget(), await redisTarget()];
      t.teardown(() => Promise.all([resumed.close(), once.close()]));
      const first = await runCli(importArgs(format, half, resumed, extra), importEnv(env(made.fixture)));
      t.match(first.stdout, /import: \d+ imported/, first.stderr);
      const second = await runCli(importArgs(format, whole, resumed, extra), importEnv(env(made.fixture)));
      const third = await runCli(importArgs(format, whole, once, extra), importEnv(env(made.fixture)));
      const count = (text: string) => Number(/: (\d+) imported/.exec(text)?.[1]);
      t.equal(
        count(first.stdout) + count(second.stdout),
        count(third.stdout),
        'every row imported once in all',
      );
      t.ok(count(third.stdout) > 0);
      const users = rowsOf(made.fixture).map((row) => row.userId);
      t.strictSame(await dump(resumed.store, users), await dump(once.store, users));
    },
  );
}
