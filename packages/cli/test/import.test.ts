/**
 * `twofold import` as a command: its usage errors, --dry-run, --report, the per-row reasons and
 * the limits, with the real bin on an SQLite file. The formats themselves are checked in
 * import-formats.test.ts and import-django-otp.test.ts; the imported users signing in over HTTP,
 * interrupts and races in test/import/login.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '@twofold/core';
import t from 'tap';
import { hasStackTrace, runCli, runCliProcess } from './helpers.js';

const KEYS = generateKey('app');
const dir = mkdtempSync(join(tmpdir(), 'twofold-cli-import-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const DB = join(dir, 'app.db');
const URL = `sqlite:${DB}`;
const env = { env: { TWOFOLD_KEYS: KEYS } };

const SECRETS = ['JBSWY3DPEHPK3PXPJBSWY3DP', 'GEZDGNBVGY3TQOJQGEZDGNBV', 'MFRGGZDFMZTWQ2LKMFRGGZDF'];
const uri = (account: string, secret: string) =>
  `otpauth://totp/Acme:${account}?secret=${secret}&issuer=Acme`;
const LIST = join(dir, 'list.txt');
writeFileSync(
  LIST,
  [`ada ${uri('ada', SECRETS[0]!)}`, `ada ${uri('ada', SECRETS[1]!)}`, `bob ${uri('bob', SECRETS[2]!)}`].join(
    '\n',
  ),
);

t.before(async () => {
  const migrated = await runCli(['migrate', '--url', URL]);
  if (migrated.code !== 0) throw new Error(migrated.stderr);
});

async function status(user: string) {
  const result = await runCli(['user', 'status', user, '--url', URL, '--json']);
  return JSON.parse(result.stdout) as { enabled: boolean; authenticators: number };
}

t.test('usage errors exit 2 with one line naming the problem, never a stack trace', async (t) => {
  const cases: [string[], Record<string, string | undefined>, RegExp][] = [
    [
      ['import', LIST, '--url', URL],
      { TWOFOLD_KEYS: KEYS },
      /--from must be one of otpauth, google, passlib, django-otp, django-totp/,
    ],
    [['import', '--from', 'lastpass', LIST, '--url', URL], { TWOFOLD_KEYS: KEYS }, /--from must be one of/],
    [
      ['import', '--from', 'otpauth', '--url', URL],
      { TWOFOLD_KEYS: KEYS },
      /the file to import from is missing/,
    ],
    [
      ['import', '--from', 'django-otp', '--url', URL],
      { TWOFOLD_KEYS: KEYS },
      /the Django database URL to import from is missing/,
    ],
    [
      ['import', '--from', 'otpauth', LIST, '--url', URL],
      { TWOFOLD_KEYS: undefined },
      /the keyring is missing: set TWOFOLD_KEYS/,
    ],
    [
      ['import', '--from', 'otpauth', LIST, '--url', URL],
      { TWOFOLD_KEYS: 'nonsense' },
      /^twofold import: TWOFOLD_KEYS: /m,
    ],
    [
      ['import', '--from', 'otpauth', LIST, '--url', URL, '--concurrency', '0'],
      { TWOFOLD_KEYS: KEYS },
      /--concurrency must be a whole number from 1 to 64/,
    ],
    [
      ['import', '--from', 'otpauth', LIST, '--url', URL, '--max-authenticators', '51'],
      { TWOFOLD_KEYS: KEYS },
      /--max-authenticators must be a whole number from 1 to 50/,
    ],
    [
      ['import', '--from', 'django-totp', LIST, '--url', URL],
      { TWOFOLD_KEYS: KEYS },
      /the Fernet key is missing: set TWOFOLD_IMPORT_FERNET_KEY/,
    ],
    [
      ['import', '--from', 'django-totp', LIST, '--url', URL, '--fernet-key', 'short'],
      { TWOFOLD_KEYS: KEYS },
      /^twofold import: --fernet-key: /m,
    ],
    [
      ['import', '--from', 'django-otp', 'sqlite:x.db', '--url', URL, '--user-field', 'phone'],
      { TWOFOLD_KEYS: KEYS },
      /--user-field must be one of id, username, email/,
    ],
    [
      ['import', '--from', 'django-otp', 'users.csv', '--url', URL],
      { TWOFOLD_KEYS: KEYS },
      /the Django database must be a database URL/,
    ],
    [
      ['import', '--from', 'passlib', LIST, '--url', URL, '--passlib-secrets', join(dir, 'none.json')],
      { TWOFOLD_KEYS: KEYS },
      /--passlib-secrets: .* is not a readable JSON file/,
    ],
  ];
  for (const [args, extra, message] of cases) {
    const result = await runCli(args, { env: extra });
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message, args.join(' '));
    t.notOk(hasStackTrace(result.stderr));
  }
  const wallet = join(dir, 'wallet.json');
  writeFileSync(wallet, JSON.stringify({ 1: 42 }));
  const shape = await runCli(
    ['import', '--from', 'passlib', LIST, '--url', URL, '--passlib-secrets', wallet],
    env,
  );
  t.equal(shape.code, 2);
  t.match(shape.stderr, /--passlib-secrets: the file must hold a JSON object of tag to secret text/);
  t.notOk(shape.stderr.includes('42'), 'the secrets are never echoed');
});

t.test('a file that cannot be read fails with exit 1, naming it', async (t) => {
  const result = await runCli(['import', '--from', 'otpauth', join(dir, 'absent.txt'), '--url', URL], env);
  t.equal(result.code, 1);
  t.match(result.stderr, /cannot read .*absent\.txt: ENOENT/);
});

t.test('--dry-run says what would happen and writes nothing', async (t) => {
  const result = await runCli(['import', '--from', 'otpauth', LIST, '--url', URL, '--dry-run'], env);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /import \(dry run, nothing written\): 3 would be imported \(3 turning 2FA on/);
  t.match(result.stderr, /3 row\(s\) read; checking them against/);
  t.equal((await status('ada')).enabled, false);
});

t.test(
  '--max-authenticators: a row past the limit is skipped with the reason; --report has every row',
  async (t) => {
    const report = join(dir, 'report.jsonl');
    // The real bin: standard input piped in, and the process exits once the store is closed.
    const result = await runCliProcess(
      ['import', '--from', 'otpauth', '-', '--url', URL, '--max-authenticators', '1', '--report', report],
      { ...env, input: readFileSync(LIST, 'utf8') },
    );
    t.equal(result.code, 1, 'exit 1: a row was skipped');
    t.match(
      result.stdout,
      /: 2 imported \(2 turning 2FA on, 0 next to existing ones\), 0 already there, 1 skipped, 0 failed/,
    );
    t.match(result.stderr, /import: line 2 \(user "ada"\): skipped: .*at most 1/);
    const rows = readFileSync(report, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    t.equal(rows.length, 3);
    t.strictSame(rows.map((row) => row.outcome).sort(), ['enabled', 'enabled', 'skipped']);
    for (const secret of SECRETS)
      t.notOk(result.stderr.includes(secret) || readFileSync(report, 'utf8').includes(secret));
    t.equal((await status('ada')).enabled, true);
  },
);

t.test('more skipped rows than are listed: the rest are counted, all of them in --report', async (t) => {
  const lines = Array.from(
    { length: 60 },
    (_, n) => `user-${n} otpauth://hotp/x:y?secret=${SECRETS[0]}&counter=1`,
  );
  const file = join(dir, 'hotp.txt');
  writeFileSync(file, lines.join('\n'));
  const result = await runCli(['import', '--from', 'otpauth', file, '--url', URL, '--quiet'], env);
  t.equal(result.code, 1);
  t.equal(result.stderr.match(/skipped: hotp/g)?.length, 50);
  t.match(result.stderr, /\.\.\. and 10 more skipped rows/);
  t.notMatch(result.stderr, /row\(s\) read/, '--quiet: no progress');
});
