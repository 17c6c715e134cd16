/**
 * `twofold user status|unlock|reset`: the real bin against the stores an app uses (an SQLite file,
 * PostgreSQL, Redis), with users enrolled and locked out through the real engine on the same store.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createTwoFactor, generateKey, type Store } from '@twofold/core';
import { Totp } from '@twofold/otp';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import { Redis } from 'ioredis';
import pg from 'pg';
import t, { type Test } from 'tap';
import {
  hasStackTrace,
  mapConcurrent,
  requiredByCi,
  runCli,
  runCliProcess,
  uniquePrefix,
} from './helpers.js';

const KEYS = generateKey('app');
const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-user-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The hooks module an operator passes with --hooks: it appends what it gets to a JSON-lines file. */
const HOOKS = join(dir, 'hooks.mjs');
writeFileSync(
  HOOKS,
  `import { appendFileSync } from 'node:fs';
const file = process.env.HOOKS_OUT;
export const issuer = 'Acme';
export const lockout = { maxFailures: 5 };
export async function notify(notice) { appendFileSync(file, JSON.stringify({ notice }) + '\\n'); }
export async function audit(record) { appendFileSync(file, JSON.stringify({ audit: record }) + '\\n'); }
`,
);
const FAILING_HOOKS = join(dir, 'failing-hooks.mjs');
writeFileSync(FAILING_HOOKS, `export async function notify() { throw new Error('mail server down'); }\n`);
const BAD_HOOKS = join(dir, 'bad-hooks.mjs');
writeFileSync(BAD_HOOKS, `export const notify = 'mail';\n`);
const EMPTY_HOOKS = join(dir, 'empty-hooks.mjs');
writeFileSync(EMPTY_HOOKS, `export const other = 1;\n`);

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

interface Target {
  name: string;
  skip: string | false;
  /** The --url and --prefix the CLI gets, and the same store for the test's own engine. */
  open(t: Test): Promise<{ url: string; prefix: string; store: Store }>;
}

const { db: Database, skip: sqliteSkip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));
const pgPool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 4 });
t.teardown(() => pgPool.end());
const pgSkip = await reachable('PostgreSQL', () => pgPool.query('select 1'));
const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
redis.on('error', () => undefined);
t.teardown(() => redis.quit().catch(() => undefined));
const redisSkip = await reachable('Redis', () => redis.connect().then(() => redis.ping()));

const TARGETS: Target[] = [
  {
    name: 'SQLite file',
    skip: sqliteSkip,
    async open(t) {
      const file = join(dir, `${randomBytes(4).toString('hex')}.db`);
      const db = new Database!(file);
      t.teardown(() => db.close());
      await migrate(db);
      return { url: `sqlite:${file}`, prefix: 'twofold_', store: await sqlStore({ db }) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    async open(t) {
      const prefix = uniquePrefix('tfuser');
      await migrate(pgPool, { prefix });
      t.teardown(async () => {
        const { rows } = await pgPool.query<{ tablename: string }>(
          `select tablename from pg_tables where tablename like '${prefix}%'`,
        );
        for (const { tablename } of rows) await pgPool.query(`drop table if exists "${tablename}" cascade`);
      });
      return {
        url: 'postgres://postgres@127.0.0.1:5432/test',
        prefix,
        store: await sqlStore({ db: pgPool, prefix }),
      };
    },
  },
  {
    name: 'Redis',
    skip: redisSkip,
    async open(t) {
      const prefix = `tfuser${randomBytes(4).toString('hex')}:`;
      t.teardown(async () => {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      });
      return { url: 'redis://127.0.0.1:6379', prefix, store: redisStore({ client: redis, prefix }) };
    },
  },
];

/** A user with one authenticator app, locked out by five wrong codes (the hooks' maxFailures). */
async function lockedUser(store: Store, userId: string) {
  const twoFactor = createTwoFactor({ store, keyring: KEYS, issuer: 'Acme', lockout: { maxFailures: 5 } });
  const enrollment = await twoFactor.enroll(userId);
  const totp = new Totp({ secret: enrollment.secret });
  await twoFactor.confirm(userId, totp.generate(Date.now()).token);
  const wrong = totp.generate(Date.now() + 3_600_000).token;
  for (let i = 0; i < 5; i++) await twoFactor.verify(userId, wrong).catch(() => undefined);
  return { twoFactor, totp };
}

function lines(file: string): Record<string, Record<string, unknown>>[] {
  try {
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
  } catch {
    return [];
  }
}

for (const target of TARGETS) {
  t.test(
    `${target.name}: status, unlock and reset of a locked-out user`,
    { skip: target.skip },
    async (t) => {
      const { url, prefix, store } = await target.open(t);
      const userId = `ada-${randomBytes(3).toString('hex')}`;
      const { twoFactor, totp } = await lockedUser(store, userId);
      const base = ['--url', url, '--prefix', prefix];
      const out = join(dir, `${randomBytes(4).toString('hex')}.jsonl`);
      const env = { HOOKS_OUT: out };

      const status = await runCliProcess(['user', 'status', userId, ...base, '--hooks', HOOKS, '--json'], {
        env,
      });
      t.equal(status.code, 0, status.stderr);
      const shown = JSON.parse(status.stdout);
      t.match(shown, { enabled: true, failures: 5, recoveryCodesRemaining: 10, authenticators: { totp: 1 } });
      t.ok(Date.parse(shown.lockedUntil) > Date.now(), 'locked out, until a time to come');
      t.equal(shown.authenticatorList.length, 1);
      t.match(status.stderr, /^\{"audit":\{"action":"status"/, 'the audit record on stderr');
      t.equal(JSON.parse(status.stderr).audit.actor, `cli:${userInfo().username}`, 'default actor');

      const text = await runCli(['user', 'status', userId, ...base, '--max-failures', '5']);
      t.equal(text.code, 0, text.stderr);
      t.match(text.stdout, `"${userId}": two-factor authentication on`);
      t.match(text.stdout, /LOCKED OUT until .* \(5 wrong codes\)/);
      t.match(text.stdout, /app {2}"Authenticator app"/);

      await t.rejects(twoFactor.verify(userId, totp.generate(Date.now()).token), { code: 'TWOFOLD_LOCKED' });
      const unlock = await runCliProcess(
        ['user', 'unlock', userId, ...base, '--hooks', HOOKS, '--actor', 'ops:bob', '--reason', 'T-1'],
        { env },
      );
      t.equal(unlock.code, 0, unlock.stderr);
      t.equal(unlock.stdout, `"${userId}" is unlocked\n`);
      // The next step's code (the current one confirmed the app), within the window.
      await twoFactor.verify(userId, totp.generate(Date.now() + 30_000).token);

      const reset = await runCliProcess(
        ['user', 'reset', userId, ...base, '--hooks', HOOKS, '--actor', 'ops:bob'],
        {
          env,
        },
      );
      t.equal(reset.code, 0, reset.stderr);
      t.equal(
        reset.stdout,
        `two-factor authentication of "${userId}" is off, and every session signed out\n`,
      );
      t.match(await twoFactor.status(userId), { enabled: false, recoveryCodesRemaining: 0 });

      const records = lines(out);
      // The reset's audit record and its notice go out in either order.
      const got = records.map((record) =>
        record.audit ? `audit ${record.audit.action} ${record.audit.actor}` : `notice ${record.notice!.type}`,
      );
      t.strictSame(
        got.sort(),
        [
          `audit status cli:${userInfo().username}`,
          'audit unlock ops:bob',
          'audit reset ops:bob',
          'notice two-factor-reset',
        ].sort(),
        'hooks got every audit record and the notice',
      );
      const notice = records.find((record) => record.notice)!.notice!;
      t.match(notice, { userId, subject: 'Acme: two-factor authentication was reset by support' });
      t.equal(records.find((record) => record.audit?.action === 'unlock')!.audit!.reason, 'T-1');

      const again = await runCli(['user', 'reset', userId, ...base]);
      t.equal(again.code, 0, again.stderr);
      t.match(again.stdout, /had no two-factor authentication; nothing to reset/);
    },
  );
}

t.test(
  'reset without a notify hook says no notice went out; a failing hook fails the command',
  { skip: sqliteSkip },
  async (t) => {
    const { url, prefix, store } = await TARGETS[0]!.open(t);
    await lockedUser(store, 'bea');
    await lockedUser(store, 'cy');
    const plain = await runCli(['user', 'reset', 'bea', '--url', url, '--prefix', prefix]);
    t.equal(plain.code, 0);
    t.match(plain.stderr, /no notice was sent to the user \(no --hooks with a notify export\)/);
    const failing = await runCli(['user', 'reset', 'cy', '--url', url, '--hooks', FAILING_HOOKS]);
    t.equal(failing.code, 1);
    t.match(failing.stderr, /twofold user reset: a hook failed: mail server down/);
    t.notOk(hasStackTrace(failing.stderr));
  },
);

t.test('usage errors: exit 2 naming the problem, no stack trace', async (t) => {
  const db = join(dir, 'usage.db');
  const cases: [string[], RegExp][] = [
    [['user'], /the action must be one of status, unlock, reset/],
    [['user', 'delete', 'ada', '--url', db], /the action must be one of status, unlock, reset/],
    [['user', 'status', '--url', db], /the user id is missing/],
    [['user', 'status', 'a', 'b', 'c'], /expected at most 2 arguments/],
    [
      ['user', 'status', 'ada', '--url', db, '--max-failures', '2'],
      /--max-failures must be a whole number from 3 to 100/,
    ],
    [
      ['user', 'status', 'ada', '--url', db, '--hooks', BAD_HOOKS],
      /--hooks: the export "notify" must be a function/,
    ],
    [['user', 'status', 'ada', '--url', db, '--hooks', EMPTY_HOOKS], /--hooks: the module exports none of/],
    [['user', 'status', 'ada', '--url', 'ftp://x'], /--url is not a database URL/],
    [['user', 'reset', 'ada', '--url', 'redis://'], /--url has no host name/],
    [['user', 'reset', 'ada', '--url', 'redis://[bad'], /--url is not a valid URL/],
  ];
  const results = await mapConcurrent(cases, ([args]) => runCli(args));
  for (const [index, [args, message]] of cases.entries()) {
    const result = results[index]!;
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message, args.join(' '));
    t.notOk(hasStackTrace(result.stderr));
  }
  const missingHooks = await runCli(['user', 'status', 'ada', '--url', db, '--hooks', join(dir, 'nope.mjs')]);
  t.equal(missingHooks.code, 1);
  t.match(missingHooks.stderr, /--hooks: cannot load/);
});

t.test('an unreachable Redis fails with exit 1 and one line', async (t) => {
  const result = await runCli(['user', 'status', 'ada', '--url', 'redis://:secret@127.0.0.1:1']);
  t.equal(result.code, 1);
  t.match(result.stderr, /^twofold user status: redis:\/\/:\*\*\*@127\.0\.0\.1:1: cannot connect/);
  t.notOk(result.stderr.includes('secret'), 'the password is not printed');
  t.notOk(hasStackTrace(result.stderr));
});

for (const target of TARGETS) {
  t.test(
    `${target.name}: recovery process-due carries out the due delayed recoveries`,
    { skip: target.skip },
    async (t) => {
      const { url, prefix, store } = await target.open(t);
      const run = randomBytes(3).toString('hex');
      const scheduleFor = async (userId: string, delayMs: number) => {
        const { twoFactor } = await lockedUser(store, userId);
        await twoFactor.unlock(userId, { actor: 'test' });
        const { token } = await twoFactor.createRecoveryToken(userId);
        await twoFactor.completeRecovery(userId, token, { delayMs });
        return twoFactor;
      };
      const engine = await scheduleFor(`due-a-${run}`, 1);
      await scheduleFor(`due-b-${run}`, 1);
      await scheduleFor(`later-${run}`, 86_400_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const out = join(dir, `${randomBytes(4).toString('hex')}.jsonl`);
      const result = await runCliProcess(
        ['recovery', 'process-due', '--url', url, '--prefix', prefix, '--hooks', HOOKS, '--batch-size', '1'],
        { env: { HOOKS_OUT: out } },
      );
      t.equal(result.code, 0, result.stderr);
      // Each target is a store of this test's own (a file, or a table or key prefix): exactly ours.
      t.equal(
        result.stdout,
        '2 due recovery(ies) carried out: 2FA off, sessions signed out; 1 scheduled for later\n',
      );
      t.match(await engine.status(`due-a-${run}`), { enabled: false, recoveryPending: null });
      t.match(await engine.status(`due-b-${run}`), { enabled: false });
      t.match(await engine.status(`later-${run}`), { enabled: true, recoveryPending: { dueAt: Date } });
      const notices = lines(out)
        .filter((record) => record.notice)
        .map((record) => `${record.notice!.type} ${record.notice!.userId}`);
      t.strictSame(notices.sort(), [`recovery-completed due-a-${run}`, `recovery-completed due-b-${run}`]);
      const again = await runCli(['recovery', 'process-due', '--url', url, '--prefix', prefix]);
      t.equal(again.code, 0, again.stderr);
      t.equal(
        again.stdout,
        '0 due recovery(ies) carried out: 2FA off, sessions signed out; 1 scheduled for later\n',
      );
      t.equal(again.stderr, '', 'nothing carried out: no warning about notices');
    },
  );
}

t.test('recovery: usage errors', async (t) => {
  const results = await mapConcurrent(
    [
      ['recovery'],
      ['recovery', 'later', '--url', 'x.db'],
      ['recovery', 'process-due', '--url', 'x.db', '--batch-size', '0'],
    ],
    (args) => runCli(args),
  );
  for (const result of results) t.equal(result.code, 2, result.stderr);
  t.match(results[0]!.stderr, /twofold recovery: the action must be process-due/);
  t.match(results[2]!.stderr, /--batch-size must be a whole number from 1 to 1000/);
});

t.test('Redis: a key prefix the store refuses is a usage error', { skip: redisSkip }, async (t) => {
  const result = await runCli([
    'user',
    'status',
    'ada',
    '--url',
    'redis://127.0.0.1:6379',
    '--prefix',
    'a{b',
  ]);
  t.equal(result.code, 2, result.stderr);
  t.match(result.stderr, /^twofold user status: --prefix: /);
  t.notOk(hasStackTrace(result.stderr));
});
