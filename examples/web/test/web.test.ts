/**
 * The shared server parts on their own: signup validation, password hashing, settings, the
 * development keyring and the outbox mailer.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '@twofold/core';
import t, { type Test } from 'tap';
import {
  ConfigError,
  DEV_KEYS_FILE,
  hashPassword,
  type Log,
  loadConfig,
  loadKeyring,
  outboxMailer,
  validateSignup,
  verifyPassword,
} from '../src/index.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-example-web-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function recordingLog() {
  const lines: string[] = [];
  const log: Log = (level, message, fields) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, log };
}

const config = (env: Record<string, string>, cwd = '/srv/app') => loadConfig(env, cwd, { issuer: 'Test' });

t.test('validateSignup names the first wrong field', async (t) => {
  const good = { username: 'ada.l_1', email: 'ada@example.co.uk', password: 'eight ch' };
  t.same(validateSignup(good), { ok: true, value: good });
  t.same(validateSignup({ ...good, username: '  ada  ' }), { ok: true, value: { ...good, username: 'ada' } });
  const cases: [string, unknown, string][] = [
    ['null body', null, '"body"'],
    ['string body', 'ada', '"body"'],
    ['missing email', { username: 'ada', password: 'long enough' }, '"email" is required'],
    ['number username', { ...good, username: 7 }, '"username" must be a string'],
    ['username too short', { ...good, username: 'al' }, '"username"'],
    ['username too long', { ...good, username: 'a'.repeat(33) }, '"username"'],
    ['username with a space', { ...good, username: 'ada l' }, '"username"'],
    ['email without a domain dot', { ...good, email: 'ada@localhost' }, '"email"'],
    ['email with two @', { ...good, email: 'a@b@example.com' }, '"email"'],
    ['email too long', { ...good, email: `${'a'.repeat(250)}@example.com` }, '"email"'],
    ['password of 7 characters', { ...good, password: 'seven c' }, '"password" must be at least 8'],
    ['password too long', { ...good, password: 'p'.repeat(1025) }, '"password" must be at most 1024'],
    ['an extra field', { ...good, role: 'admin' }, '"role" is not an allowed field'],
  ];
  for (const [name, body, message] of cases) {
    const result = validateSignup(body);
    t.equal(result.ok, false, name);
    if (!result.ok) {
      t.equal(result.answer.status, 400, name);
      t.match(result.answer.body, { statusCode: 400, code: 'INVALID_INPUT', error: 'Bad Request' }, name);
      t.match((result.answer.body as { message: string }).message, message, name);
    }
  }
});

t.test(
  'passwords: scrypt with a fresh salt, checked in constant time, malformed hashes refused',
  async (t) => {
    const hash = await hashPassword('correct horse');
    t.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    t.not(await hashPassword('correct horse'), hash, 'a fresh salt each time');
    t.equal(await verifyPassword(hash, 'correct horse'), true);
    t.equal(await verifyPassword(hash, 'correct horsE'), false);
    t.equal(await verifyPassword(hash, ''), false);
    for (const broken of [
      '',
      'plain',
      hash.replace('scrypt', 'bcrypt'),
      hash.replace('$32768$', '$99999999$'),
      hash.slice(0, -8),
    ]) {
      t.equal(await verifyPassword(broken, 'correct horse'), false, `refuses ${broken.slice(0, 20)}...`);
    }
  },
);

t.test('settings: defaults, relative paths, and errors that name the variable', async (t) => {
  const defaults = config({});
  t.match(defaults, {
    host: '127.0.0.1',
    port: 3000,
    dataDir: '/srv/app/data',
    outboxDir: '/srv/app/outbox',
    publicUrl: 'http://127.0.0.1:3000',
    store: 'sqlite',
    tablePrefix: 'twofold_',
    keys: undefined,
    issuer: 'Test',
    production: false,
    logLevel: 'info',
  });
  t.match(
    config({ DATA_DIR: '/var/lib/app', TWOFOLD_OUTBOX: 'mail', PUBLIC_URL: 'https://app.example.com/' }),
    {
      dataDir: '/var/lib/app',
      outboxDir: '/srv/app/mail',
      publicUrl: 'https://app.example.com',
    },
  );
  t.match(config({ STORE: 'postgres', DATABASE_URL: 'postgres://u:p@db:5432/app' }), { store: 'postgres' });

  const wrong: [Record<string, string>, RegExp][] = [
    [{ PORT: 'http' }, /^PORT /],
    [{ PORT: '70000' }, /^PORT /],
    [{ STORE: 'mongo' }, /^STORE must be one of sqlite, redis, postgres, mysql/],
    [{ STORE: 'redis' }, /^REDIS_URL is required/],
    [{ STORE: 'mysql' }, /^DATABASE_URL is required/],
    [{ STORE: 'postgres', DATABASE_URL: 'mysql://root@db/app' }, /^DATABASE_URL must start with postgres:/],
    [{ STORE: 'postgres', DATABASE_URL: 'not a url with secret' }, /^DATABASE_URL is not a valid URL/],
    [{ PUBLIC_URL: 'ftp://example.com' }, /^PUBLIC_URL /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /],
    [{ TWOFOLD_TABLE_PREFIX: 'Bad-Prefix' }, /^TWOFOLD_TABLE_PREFIX /],
  ];
  for (const [env, message] of wrong) {
    t.throws(() => config(env), { name: 'ConfigError', message }, JSON.stringify(env));
  }
  const error = (() => {
    try {
      config({ STORE: 'postgres', DATABASE_URL: 'not a url with secret' });
    } catch (caught) {
      return caught as Error;
    }
  })();
  t.notMatch(error?.message, /secret/, 'a bad URL is not echoed (it may hold a password)');
});

t.test('the development keyring is generated once, private, reused, and refused in production', async (t) => {
  const dir = await tempDir(t);
  const { log, lines } = recordingLog();
  const settings = config({ DATA_DIR: join(dir, 'data') });
  const keys = loadKeyring(settings, log);
  const file = join(dir, 'data', DEV_KEYS_FILE);
  t.equal((await readFile(file, 'utf8')).trim(), keys, 'written to DATA_DIR/.twofold-dev-keys');
  t.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only');
  t.equal(loadKeyring(settings, log), keys, 'the next start reuses it');
  t.match(lines.join('\n'), /development keyring generated .*production must set TWOFOLD_KEYS/);
  t.notOk(lines.join('\n').includes(keys.split(':')[1]!), 'the key is never logged');

  t.throws(() => loadKeyring(config({ DATA_DIR: join(dir, 'other'), NODE_ENV: 'production' }), log), {
    name: 'ConfigError',
    message: /TWOFOLD_KEYS is required when NODE_ENV=production/,
  });
  const given = generateKey();
  t.equal(loadKeyring(config({ TWOFOLD_KEYS: given, NODE_ENV: 'production' }), log), given);
  t.throws(() => loadKeyring(config({ TWOFOLD_KEYS: 'k1:tooshort' }), log), {
    name: 'ConfigError',
    message: /^TWOFOLD_KEYS is not a valid keyring/,
  });

  await mkdir(join(dir, 'broken'));
  await writeFile(join(dir, 'broken', DEV_KEYS_FILE), 'garbage\n');
  const error = (() => {
    try {
      loadKeyring(config({ DATA_DIR: join(dir, 'broken') }), log);
    } catch (caught) {
      return caught;
    }
  })();
  t.type(error, ConfigError);
  t.match((error as Error).message, /\.twofold-dev-keys does not hold a valid keyring/);
});

t.test('the outbox mailer writes one private file per mail and logs only its path', async (t) => {
  const dir = await tempDir(t);
  const { log, lines } = recordingLog();
  const send = outboxMailer(join(dir, 'outbox'), log);
  const link = 'http://127.0.0.1:3000/recover.html#uid=u1&token=SECRET-TOKEN-VALUE';
  await send({
    kind: 'recovery-link',
    userId: 'u1',
    to: 'ada@example.com',
    subject: 'Recover',
    text: `Open ${link}\n`,
  });
  await send({
    kind: 'recovery-completed',
    userId: 'u1',
    to: 'ada@example.com',
    subject: 'Done',
    text: 'Off.\n',
  });
  const files = (await readdir(join(dir, 'outbox'))).sort();
  t.equal(files.length, 2);
  const mail = await readFile(
    join(dir, 'outbox', files.find((file) => file.includes('recovery-link'))!),
    'utf8',
  );
  t.match(mail, /^To: ada@example\.com\nSubject: Recover\n/);
  t.ok(mail.includes(link), 'the link is in the mail');
  t.equal((await stat(join(dir, 'outbox', files[0]!))).mode & 0o777, 0o600);
  t.equal(lines.length, 2);
  t.match(lines[0], /mail written to .*\.eml/);
  t.notOk(lines.join('\n').includes('SECRET-TOKEN-VALUE'), 'the link never reaches the log');
  t.notOk(lines.join('\n').includes('ada@example.com'), 'nor the address');
});
