/**
 * The import format readers against exports made by the real tools (see import-fixtures/): every
 * row's secret, parameters, user id and counter as the tool has them, the codes pyotp computes
 * for it, and the reason of every skipped row (never holding a secret).
 */

import { Totp } from '@twofold/otp';
import { missing } from '@twofold/test-support';
import t, { type Test } from 'tap';
import { readDjangoTotp } from '../src/import/django-totp.js';
import { readGoogleMigration } from '../src/import/google-migration.js';
import { readOtpauthList } from '../src/import/otpauth-list.js';
import { readPasslib } from '../src/import/passlib.js';
import type { ImportEntry, ImportReader, ImportRow } from '../src/import/types.js';
import {
  type ExpectedRow,
  type ExpectedSkip,
  type Fixture,
  type Generator,
  generateFixture,
} from './import-fixtures/generate.js';

/** The skip reason each `why` of the generators stands for. */
const REASONS: Record<string, RegExp> = {
  hotp: /^hotp \(counter-based\) (URI|account): twofold imports TOTP only$/i,
  short: /secret is (too short|\d+ bytes, shorter than)/,
  algorithm: /algorithm (must be SHA1, SHA256 or SHA512|MD5 is not supported)/,
  secret: /^the URI secret is not base32$/,
  garbage: /^not (a JSON|an otpauth)|^the otpauth-migration data is not a valid MigrationPayload$/,
  user: /no user id/,
  duplicate: /^duplicate of the batch part on line \d+$/,
  missing: /missing from the input/,
  tag: /^no application secret supplied for wallet tag "gone"$/,
  key: /^neither "key" nor "enckey" is present$/,
  unconfirmed: /^enrollment not confirmed/,
  'wrong key': /^secret_key does not decrypt with the supplied Fernet key/,
  'backup wrong key': /^backup code 1 does not decrypt with the supplied Fernet key/,
  'not a token': /^secret_key is not a Fernet token$/,
};

/** A well-formed Fernet key (32 zero bytes). */
const ZERO_FERNET_KEY = `${'A'.repeat(43)}=`;

async function collect(reader: ImportReader): Promise<ImportEntry[]> {
  const entries: ImportEntry[] = [];
  for await (const entry of reader) entries.push(entry);
  return entries;
}

/** The row without what the fixture cannot know in advance, secret as hex. */
function comparable(row: ImportRow): Record<string, unknown> {
  const { secret, ...rest } = row;
  return { ...rest, secretHex: Buffer.from(secret).toString('hex') };
}

function checkRow(t: Test, row: ImportRow, expected: ExpectedRow): void {
  const { codes, ...fields } = expected;
  t.strictSame(comparable(row), fields, `${expected.ref}: the row as the tool made it`);
  const totp = new Totp({ ...row, minSecretBytes: 10 });
  for (const { time, token } of codes) {
    t.equal(totp.generate(time * 1000).token, token, `${expected.ref}: pyotp's code at ${time}`);
  }
}

function checkSkip(t: Test, entry: ImportEntry, expected: ExpectedSkip, sensitive: readonly string[]): void {
  if (!('skip' in entry)) {
    t.fail(`${expected.ref}: expected a skip (${expected.why}), got a row`);
    return;
  }
  const { skip } = entry;
  t.equal(skip.ref, expected.ref, 'ref');
  t.equal(skip.userId, expected.userId, `${expected.ref}: user id`);
  t.match(skip.reason, REASONS[expected.why]!, `${expected.ref}: reason for ${expected.why}`);
  const leaked = sensitive.filter((secret) => skip.reason.includes(secret));
  t.strictSame(leaked, [], `${expected.ref}: the reason holds no secret`);
}

/** Reads the fixture with `read` and checks every entry, in order. */
async function checkFixture(t: Test, fixture: Fixture, reader: ImportReader): Promise<void> {
  const entries = await collect(reader);
  t.strictSame(
    entries.map((entry) => ('row' in entry ? entry.row.ref : entry.skip.ref)),
    fixture.expected.map((entry) => ('row' in entry ? entry.row.ref : entry.skip.ref)),
    'one entry per source row, in input order',
  );
  for (const [index, expected] of fixture.expected.entries()) {
    const entry = entries[index];
    if (entry === undefined) break;
    if ('skip' in expected) checkSkip(t, entry, expected.skip, fixture.sensitive);
    else if ('row' in entry) checkRow(t, entry.row, expected.row);
    else t.fail(`${expected.row.ref}: expected a row, skipped: ${entry.skip.reason}`);
  }
}

/** A test of one format over the fixture its generator makes (skipped or failed when tools are missing). */
function formatTest(
  name: string,
  generator: Generator,
  read: (fixture: Fixture) => ImportReader,
  extra?: (t: Test, fixture: Fixture) => Promise<void>,
): void {
  t.test(name, async (t) => {
    const result = await generateFixture(generator, t.testdir());
    if ('missing' in result) {
      missing(t, result.missing);
      return;
    }
    await checkFixture(t, result.fixture, read(result.fixture));
    await extra?.(t, result.fixture);
  });
}

formatTest('otpauth:// URI list made by pyotp', 'otpauth_list', (fixture) => readOtpauthList(fixture.text));

formatTest(
  'Google Authenticator transfer made with protobuf',
  'google_migration',
  (fixture) => readGoogleMigration(fixture.text),
  async (t, fixture) => {
    const withoutDuplicate = fixture.text.split('\n').toSpliced(4, 1).join('\n');
    const entries = await collect(readGoogleMigration(withoutDuplicate));
    t.notOk(
      entries.some((entry) => 'skip' in entry && /duplicate/.test(entry.skip.reason)),
      'no duplicate once the repeated part is gone',
    );
  },
);

/** The wallet secrets the fixture used, those listed in `bytesTags` as bytes. */
function walletSecrets(fixture: Fixture): Record<string, string | Uint8Array> {
  const { secrets, bytesTags } = fixture.options as { secrets: Record<string, string>; bytesTags: string[] };
  return Object.fromEntries(
    Object.entries(secrets).map(([tag, secret]) => [
      tag,
      bytesTags.includes(tag) ? Buffer.from(secret) : secret,
    ]),
  );
}

formatTest(
  'passlib TOTP JSON with AppWallet keys',
  'passlib_totp',
  (fixture) => readPasslib(fixture.text, { secrets: walletSecrets(fixture) }),
  async (t, fixture) => {
    const entries = await collect(readPasslib(fixture.text));
    const reasons = entries.flatMap((entry) => ('skip' in entry ? [entry.skip.reason] : []));
    t.ok(
      reasons.includes('no application secret supplied for wallet tag "2024-01"'),
      'no secrets: tag named',
    );
  },
);

formatTest('django-totp Fernet-encrypted enrollments', 'django_totp', (fixture) =>
  readDjangoTotp(fixture.text, { key: fixture.options.key as string }),
);

t.test('a whole input that is not text is refused', async (t) => {
  const notText = Buffer.from('otpauth://totp/a?secret=JBSWY3DPEHPK3PXP') as unknown as string;
  t.throws(() => readOtpauthList(notText), TypeError);
  t.throws(() => readGoogleMigration(notText), TypeError);
  t.throws(() => readPasslib(notText), TypeError);
  t.throws(() => readDjangoTotp(notText, { key: ZERO_FERNET_KEY }), TypeError);
  t.throws(() => readDjangoTotp('', { key: 'not a key' }), /Fernet key/);
});

t.test('empty and comment-only inputs give no entries', async (t) => {
  const text = '\n# nothing here\r\n   \n';
  t.strictSame(await collect(readOtpauthList(text)), []);
  t.strictSame(await collect(readGoogleMigration(text)), []);
  t.strictSame(await collect(readPasslib(text)), []);
  t.strictSame(await collect(readDjangoTotp(text, { key: ZERO_FERNET_KEY })), []);
});

t.test('the source of a URI row is stable and does not depend on the user id', async (t) => {
  const uri = 'otpauth://totp/ACME:jane?secret=JBSWY3DPEHPK3PXP&issuer=ACME';
  const [first, second] = await Promise.all([
    collect(readOtpauthList(uri)),
    collect(readOtpauthList(`someone-else ${uri}`)),
  ]);
  const sources = [...first!, ...second!].map((entry) =>
    'row' in entry ? entry.row.source : entry.skip.reason,
  );
  t.equal(sources[0], sources[1]);
  t.match(sources[0], /^uri:[0-9a-f]{64}$/);
});
