/**
 * The django-otp import reader on databases made by the real Django 3.2 and django-otp 1.1.3 (see
 * import-fixtures/django_otp_fixture.py), on SQLite, PostgreSQL and MariaDB: every row and skip
 * against what django-otp reported making, and @twofold/otp's codes against django-otp's.
 */
import { Totp } from '@twofold/otp';
import { missingSkip, reachBetterSqlite3 } from '@twofold/test-support';
import t, { type Test } from 'tap';
import { openDatabase, parseDatabaseUrl } from '../src/database.js';
import { type DjangoOtpOptions, readDjangoOtp } from '../src/import/django-otp.js';
import type { ImportEntry, ImportRow, SkippedRow } from '../src/import/types.js';
import {
  type DjangoDialect,
  type DjangoOtpReport,
  type DjangoOtpSpec,
  type DjangoTotpReport,
  type DjangoUserReport,
  djangoOtpMissing,
  makeDjangoOtpDatabase,
} from './import-fixtures/django.js';

/** Codes are compared at this time (unix seconds), after every t0 below. */
const CODES_AT = 1_900_000_017;
const TEN_BYTE_KEY = '0123456789abcdef0123';
const LONG_NAME = 'n'.repeat(64);

/** One of each case the reader handles; users are numbered in this order by Django. */
const SPEC: DjangoOtpSpec = {
  codesAt: CODES_AT,
  users: [
    {
      username: 'alice',
      email: 'alice@example.com',
      totp: [
        { name: 'Phone', verify: true },
        { name: 'Tablet', digits: 8, step: 60 },
      ],
      static: [
        { tokens: 5, consume: 1 },
        { confirmed: false, tokens: 2 },
      ],
    },
    {
      username: 'bob',
      email: 'bob@example.com',
      totp: [
        { name: 'old phone', confirmed: false },
        { name: 'Legacy', key: TEN_BYTE_KEY, t0: 1_700_000_000, drift: 3, verify: true },
      ],
      static: [{ tokens: 3 }],
    },
    { username: 'carol', email: 'carol@example.com', static: [{ tokens: 4, consume: 2 }] },
    {
      username: 'dave',
      email: 'dave@example.com',
      totp: [
        { key: '0102030405060708' },
        { digits: 5 },
        { digits: 11 },
        { step: 7200 },
        { t0: -30 },
        { key: 'zz'.repeat(20) },
        { name: LONG_NAME, digits: 10 },
      ],
    },
    { username: 'erin', email: 'shared@example.com', totp: [{}] },
    { username: 'frank', email: 'shared@example.com', totp: [{}] },
    { username: 'gina', email: 'gina@example.com' },
    { username: 'hank', email: '', totp: [{ name: 'Phone' }], static: [{ tokens: 2 }] },
    { username: 'ivan', email: 'SHARED@example.com', totp: [{}] },
  ],
};

type UserField = NonNullable<DjangoOtpOptions['userField']>;

/** What a TOTP device of the spec must become: undefined for a row, or the pattern of its skip reason. */
function deviceSkip(device: DjangoTotpReport): RegExp | undefined {
  if (!device.confirmed) return /not confirmed/;
  if (!/^[0-9a-f]*$/.test(device.key)) return /not a hex string/;
  if (device.key.length < 20) return /key is 8 bytes; twofold needs at least 10/;
  if (device.digits < 6 || device.digits > 10) return new RegExp(`digits is ${device.digits}`);
  if (device.step > 3600) return /step is 7200 s/;
  if (device.t0 < 0) return /t0 is -30/;
  return undefined;
}

function userIdOf(user: DjangoUserReport, field: UserField): string {
  return field === 'id' ? String(user.id) : user[field];
}

/** Why every device of `user` is skipped under `field`, or undefined. */
function userSkip(user: DjangoUserReport, field: UserField): RegExp | undefined {
  if (field !== 'email') return undefined;
  if (user.email === '') return new RegExp(`auth_user id=${user.id} has no email`);
  if (user.email.toLowerCase() === 'shared@example.com') return /is shared by 3 users \(letter case aside\)/;
  return undefined;
}

type Expected = { row: ImportRow } | { skip: SkippedRow; pattern: RegExp };

/** The entries the reader must yield for `report`, in order, computed from what django-otp made. */
function expectedEntries(report: DjangoOtpReport, field: UserField): Expected[] {
  const entries: Expected[] = [];
  for (const user of report.users) {
    const userId = userSkip(user, field) ? undefined : userIdOf(user, field);
    const tokens = user.static.filter((device) => device.confirmed).flatMap((device) => device.tokens);
    let imported = false;
    for (const device of user.totp) {
      const ref = `otp_totp_totpdevice id=${device.id}`;
      const skip = userSkip(user, field) ?? deviceSkip(device);
      if (skip) {
        entries.push({ skip: { ref, ...(userId ? { userId } : {}), reason: '' }, pattern: skip });
        continue;
      }
      const row: ImportRow = {
        ref,
        userId: userId!,
        source: `django-otp:totp:${device.id}`,
        secret: Uint8Array.from(Buffer.from(device.key, 'hex')),
        algorithm: 'SHA1',
        digits: device.digits,
        period: device.step,
        t0: device.t0,
      };
      if (device.last_t >= 0) row.lastCounter = device.last_t;
      if (device.name !== '') row.name = device.name;
      if (!imported && tokens.length > 0) row.recoveryCodes = tokens;
      imported = true;
      entries.push({ row });
    }
    for (const device of user.static) {
      const ref = `otp_static_staticdevice id=${device.id}`;
      const base = { ref, ...(userId ? { userId } : {}), reason: '' };
      const skip = userSkip(user, field);
      if (skip) entries.push({ skip: base, pattern: skip });
      else if (!device.confirmed) entries.push({ skip: base, pattern: /static device is not confirmed/ });
      else if (!imported) {
        const count = `${device.tokens.length} unused token${device.tokens.length === 1 ? '' : 's'}`;
        entries.push({ skip: base, pattern: new RegExp(`no imported TOTP device to attach the ${count}`) });
      }
    }
  }
  return entries;
}

async function readAll(url: string, options: DjangoOtpOptions = {}): Promise<ImportEntry[]> {
  const { db, dialect, close } = await openDatabase(parseDatabaseUrl(url), { create: false });
  try {
    const entries: ImportEntry[] = [];
    for await (const entry of readDjangoOtp(db, dialect, options)) entries.push(entry);
    return entries;
  } finally {
    await close();
  }
}

/** Compares what the reader yielded with what django-otp made, entry by entry. */
function checkEntries(t: Test, entries: readonly ImportEntry[], expected: readonly Expected[]): void {
  t.same(
    entries.map((entry) => ('row' in entry ? `row ${entry.row.ref}` : `skip ${entry.skip.ref}`)),
    expected.map((entry) => ('row' in entry ? `row ${entry.row.ref}` : `skip ${entry.skip.ref}`)),
    'the same rows and skips, in order',
  );
  entries.forEach((entry, index) => {
    const want = expected[index];
    if (!want) return;
    if ('row' in entry && 'row' in want) {
      t.strictSame(
        { ...entry.row, secret: Buffer.from(entry.row.secret).toString('hex') },
        { ...want.row, secret: Buffer.from(want.row.secret).toString('hex') },
        entry.row.ref,
      );
      t.ok(entry.row.secret instanceof Uint8Array, `${entry.row.ref}: the secret is bytes`);
    } else if ('skip' in entry && 'skip' in want) {
      t.match(entry.skip.reason, want.pattern, `${entry.skip.ref}: ${entry.skip.reason}`);
      t.equal(entry.skip.userId, want.skip.userId, `${entry.skip.ref}: user`);
    }
  });
}

/** No skip reason quotes a key or a static token. */
function checkNoSecrets(t: Test, entries: readonly ImportEntry[], report: DjangoOtpReport): void {
  const secrets = report.users.flatMap((user) => [
    ...user.totp.map((device) => device.key),
    ...user.static.flatMap((device) => [...device.tokens, ...device.consumed]),
  ]);
  const leaked = entries.filter(
    (entry) => 'skip' in entry && secrets.some((secret) => entry.skip.reason.includes(secret)),
  );
  t.same(leaked, [], 'no skip reason holds a secret');
}

function deviceOf(report: DjangoOtpReport, ref: string): DjangoTotpReport {
  const id = Number(ref.split('=')[1]);
  return report.users.flatMap((user) => user.totp).find((device) => device.id === id)!;
}

function rows(entries: readonly ImportEntry[]): ImportRow[] {
  return entries.flatMap((entry) => ('row' in entry ? [entry.row] : []));
}

/** @twofold/otp's Totp over an imported row. */
function totpOf(row: ImportRow): Totp {
  return new Totp({
    secret: row.secret,
    algorithm: row.algorithm,
    digits: row.digits,
    period: row.period,
    t0: row.t0,
    minSecretBytes: 10,
  });
}

// Every prerequisite is probed before any test is queued: tap ends the file once its queued tests are done.
const { skip: sqliteDriverSkip } = await reachBetterSqlite3(t, () => import('better-sqlite3'));
const skips = new Map<DjangoDialect, string | false>();
for (const dialect of ['sqlite', 'postgres', 'mysql'] as const) {
  const missing = await djangoOtpMissing(dialect);
  const skip = missing === undefined ? false : missingSkip(t, missing);
  skips.set(dialect, dialect === 'sqlite' ? skip || sqliteDriverSkip : skip);
}

for (const dialect of ['sqlite', 'postgres', 'mysql'] as const) {
  t.test(`django-otp on ${dialect}`, { skip: skips.get(dialect) }, async (t) => {
    const made = await makeDjangoOtpDatabase(dialect, SPEC);
    t.teardown(() => made.drop());
    const { report } = made;
    const entries = await readAll(made.url);

    t.test('every confirmed, usable TOTP device is a row; the rest are skips with reasons', async (t) => {
      checkEntries(t, entries, expectedEntries(report, 'id'));
      checkNoSecrets(t, entries, report);
      t.equal(rows(entries).length, 8, 'rows: alice 2, bob 1, dave 1, erin, frank, hank, ivan');
      t.notOk(
        entries.some(
          (entry) => ('row' in entry ? entry.row.userId : entry.skip.userId) === String(report.users[6]!.id),
        ),
        'a user without devices yields nothing',
      );
    });

    t.test('django-otp fills last_t and deletes used static tokens as the reader expects', async (t) => {
      const [alice, bob, carol] = report.users;
      const phone = alice!.totp[0]!;
      t.ok(phone.last_t > 0, 'verify_token set last_t');
      t.equal(alice!.totp[1]!.last_t, -1, 'never verified: -1');
      t.equal(alice!.static[0]!.tokens.length, 4, 'the used static token is gone');
      t.equal(carol!.static[0]!.tokens.length, 2);
      const row = rows(entries).find((row) => row.source === `django-otp:totp:${phone.id}`)!;
      t.equal(row.lastCounter, phone.last_t);
      t.same(row.recoveryCodes, alice!.static[0]!.tokens, 'unused tokens of the confirmed static device');
      t.notOk(row.recoveryCodes?.includes(alice!.static[0]!.consumed[0]!), 'not the consumed one');
      const legacy = bob!.totp[1]!;
      const bobRow = rows(entries).find((row) => row.userId === String(bob!.id))!;
      t.equal(bobRow.source, `django-otp:totp:${legacy.id}`, "bob's first imported device");
      t.same(bobRow.recoveryCodes, bob!.static[0]!.tokens, 'gets the static tokens');
      t.equal(legacy.drift, 3, 'drift kept by django-otp');
    });

    t.test("@twofold/otp computes django-otp's codes from every row", async (t) => {
      for (const row of rows(entries)) {
        const device = deviceOf(report, row.ref);
        t.equal(totpOf(row).generate(CODES_AT * 1000).token, device.code, `${row.ref} at codesAt`);
        if (device.verifiedCode !== null) {
          // The code django-otp accepted is the code of step last_t (drift included).
          const stepStart = (device.t0 + device.last_t * device.step) * 1000;
          t.equal(totpOf(row).generate(stepStart).token, device.verifiedCode, `${row.ref} at last_t`);
          const nowStep = Math.floor((report.madeAt - device.t0) / device.step);
          t.ok(Math.abs(device.last_t - (nowStep + device.drift)) <= 1, `${row.ref}: last_t is now + drift`);
        }
      }
    });

    t.test('the twofold user id can be the username or the email', async (t) => {
      for (const userField of ['username', 'email'] as const) {
        const byField = await readAll(made.url, { userField });
        checkEntries(t, byField, expectedEntries(report, userField));
        checkNoSecrets(t, byField, report);
      }
    });

    t.test('pages of any size yield the same entries', async (t) => {
      for (const pageSize of [1, 2, 3]) {
        const paged = await readAll(made.url, { pageSize });
        t.same(paged, entries, `pageSize ${pageSize}`);
      }
    });
  });
}

t.test('a large site is read in pages of 1,000 users, lazily', { skip: skips.get('sqlite') }, async (t) => {
  const made = await makeDjangoOtpDatabase('sqlite', { codesAt: CODES_AT, users: [], bulkUsers: 2500 });
  t.teardown(() => made.drop());
  const { default: Database } = await import('better-sqlite3');
  const sqlite = new Database(made.url.slice('sqlite:'.length), { readonly: true });
  t.teardown(() => sqlite.close());
  const returned: number[] = [];
  const spy = {
    prepare: (text: string) => ({
      all(params: unknown[]) {
        const result = sqlite.prepare(text).all(params);
        returned.push(result.length);
        return result;
      },
    }),
  };
  const reader = readDjangoOtp(spy as never, 'sqlite')[Symbol.asyncIterator]();
  const first = await reader.next();
  t.ok(!first.done && 'row' in first.value, 'a row');
  t.ok(returned.length <= 5, `the first entry took ${returned.length} queries`);
  const all = [first.value as ImportEntry];
  for (let next = await reader.next(); !next.done; next = await reader.next()) all.push(next.value);
  t.equal(rows(all).length, 2500);
  t.ok(Math.max(...returned) <= 1000, `no query returned more than 1,000 rows (${Math.max(...returned)})`);
  t.equal(returned.length, 3 * 5 + 2, 'three pages of 5 queries, then the 2 that find no more users');
  const mismatches = rows(all).filter(
    (row) => totpOf(row).generate(CODES_AT * 1000).token !== deviceOf(made.report, row.ref).code,
  );
  t.same(mismatches, [], "every code is django-otp's");
});

t.test('options are checked', async (t) => {
  const db = { prepare() {} } as never;
  t.throws(() => readDjangoOtp(db, 'sqlite', { userField: 'name' as never }), /userField must be/);
  for (const pageSize of [0, 1.5, 10_001]) {
    t.throws(() => readDjangoOtp(db, 'sqlite', { pageSize }), /pageSize must be/);
  }
  t.throws(
    () => readDjangoOtp({ selectFrom() {} } as never, 'postgres'),
    /not a Kysely instance/,
    'a Kysely instance is refused',
  );
});

t.test(
  'a database without the django-otp tables fails with a message',
  { skip: sqliteDriverSkip },
  async (t) => {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    t.teardown(() => db.close());
    const read = async () => {
      for await (const _ of readDjangoOtp(db, 'sqlite')) break;
    };
    await t.rejects(read, /cannot read the django-otp tables: no such table: otp_totp_totpdevice/);
  },
);
