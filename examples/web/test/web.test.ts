/**
 * The shared server parts on their own: signup validation, the signup flow (the same answer and
 * work whether or not the address has an account), password hashing, settings, the development
 * keyring, the outbox mailer, and the modes of every file and folder the example creates.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from '@twofold/core';
import t, { type Test } from 'tap';
import {
  CONFIRM_SIGNUP_PAGE,
  ConfigError,
  createExample,
  createSignup,
  createUsers,
  DEV_KEYS_FILE,
  hashPassword,
  type Log,
  loadConfig,
  loadKeyring,
  type OutboxMail,
  openDatabases,
  outboxMailer,
  SIGNUP_ACCEPTED_MESSAGE,
  validateSignup,
  verifyPassword,
} from '../src/index.js';
import { PGLITE_DIR } from '../src/store.js';
import { checkPrivate, signupToken } from './http-scenario.js';

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

t.test('validateSignup names every wrong field at once', async (t) => {
  const result = validateSignup({ username: 'a', email: 'nope', password: 'short', role: 'admin' });
  t.equal(result.ok, false);
  if (result.ok) return;
  t.equal(result.answer.status, 400);
  t.match(result.answer.body, {
    statusCode: 400,
    code: 'INVALID_INPUT',
    error: 'Bad Request',
    field: 'username',
  });
  const body = result.answer.body as { fields: { field: string; message: string }[]; message: string };
  t.same(
    body.fields.map((entry) => entry.field),
    ['username', 'email', 'password', 'role'],
    'each field, in order',
  );
  t.match(body.fields[2]!.message, /"password" must be at least 8/);
  for (const entry of body.fields)
    t.ok(body.message.includes(entry.message), `the message names ${entry.field}`);
  const missing = validateSignup({ email: 42 });
  t.same(
    !missing.ok && (missing.answer.body as { fields: unknown }).fields,
    [
      { field: 'username', message: '"username" is required' },
      { field: 'email', message: '"email" must be a string' },
      { field: 'password', message: '"password" is required' },
    ],
    'missing and mistyped fields are listed together',
  );
});

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
    publicUrl: 'http://localhost:3000',
    webauthn: { rpId: 'localhost', origins: ['http://localhost:3000'] },
    webauthnOffReason: null,
    store: 'pglite',
    tablePrefix: 'twofold_',
    keys: undefined,
    issuer: 'Test',
    production: false,
    logLevel: 'info',
    recoveryDelayMs: 0,
    trustedDeviceDays: 30,
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

  // Security keys (WebAuthn): on by default, for PUBLIC_URL's host and origin.
  t.same(
    config({ PUBLIC_URL: 'https://app.example.com/twofold/' }).webauthn,
    { rpId: 'app.example.com', origins: ['https://app.example.com'] },
    'PUBLIC_URL on https: its host is the relying party id, its origin the one origin',
  );
  t.match(
    config({ HOST: '0.0.0.0', PORT: '8080' }),
    {
      publicUrl: 'http://localhost:8080',
      webauthn: { rpId: 'localhost', origins: ['http://localhost:8080'] },
    },
    'any address: the default PUBLIC_URL says localhost too',
  );
  t.match(config({ HOST: '::1' }), { publicUrl: 'http://localhost:3000' });
  t.match(
    config({ HOST: '10.0.0.5' }),
    { publicUrl: 'http://10.0.0.5:3000', webauthn: null, webauthnOffReason: /IP address/ },
    'another address: the default PUBLIC_URL names it, and security keys are off, saying why',
  );
  t.match(config({ PUBLIC_URL: 'http://intranet.example:3000' }), {
    webauthn: null,
    webauthnOffReason: /^security keys and passkeys are off: PUBLIC_URL .*only on https/,
  });
  t.match(config({ PUBLIC_URL: 'http://127.0.0.1:3000' }), { webauthn: null, webauthnOffReason: /IP/ });
  t.same(
    config({ WEBAUTHN: 'off' }),
    { ...config({}), webauthn: null, webauthnOffReason: null },
    'WEBAUTHN=off: off, nothing to warn about',
  );
  t.same(config({ WEBAUTHN: 'OFF', HOST: '10.0.0.5' }).webauthnOffReason, null);
  t.match(config({ WEBAUTHN: 'on', PUBLIC_URL: 'https://example.com' }).webauthn, { rpId: 'example.com' });

  // A delayed email recovery: RECOVERY_DELAY, a duration with its unit (0, the default, is off).
  for (const [setting, ms] of [
    ['0', 0],
    ['0s', 0],
    ['90s', 90_000],
    ['15m', 15 * 60_000],
    ['24h', 24 * 3_600_000],
    ['7d', 7 * 86_400_000],
    [' 12H ', 12 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['720h', 30 * 86_400_000],
  ] as const) {
    t.equal(config({ RECOVERY_DELAY: setting }).recoveryDelayMs, ms, `RECOVERY_DELAY=${setting}`);
  }
  t.equal(config({ RECOVERY_DELAY: '' }).recoveryDelayMs, 0, 'empty: the default, off');

  // Remembered browsers: TRUSTED_DEVICE_DAYS, whole days 1-400 (default 30); 0 or off turns them off.
  for (const [setting, days] of [
    ['1', 1],
    [' 90 ', 90],
    ['400', 400],
    ['0', null],
    ['off', null],
    ['OFF', null],
    ['', 30],
  ] as const) {
    t.equal(
      config({ TRUSTED_DEVICE_DAYS: setting }).trustedDeviceDays,
      days,
      `TRUSTED_DEVICE_DAYS=${setting}`,
    );
  }

  const wrong: [Record<string, string>, RegExp][] = [
    [{ PORT: 'http' }, /^PORT /],
    [{ PORT: '70000' }, /^PORT /],
    [{ STORE: 'mongo' }, /^STORE must be one of pglite, sqlite, redis, postgres, mysql/],
    [{ STORE: 'redis' }, /^REDIS_URL is required/],
    [{ STORE: 'mysql' }, /^DATABASE_URL is required/],
    [{ STORE: 'postgres', DATABASE_URL: 'mysql://root@db/app' }, /^DATABASE_URL must start with postgres:/],
    [{ STORE: 'postgres', DATABASE_URL: 'not a url with secret' }, /^DATABASE_URL is not a valid URL/],
    [{ PUBLIC_URL: 'ftp://example.com' }, /^PUBLIC_URL /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /],
    [{ TWOFOLD_TABLE_PREFIX: 'Bad-Prefix' }, /^TWOFOLD_TABLE_PREFIX /],
    [{ WEBAUTHN: 'maybe' }, /^WEBAUTHN must be on or off/],
    [
      { WEBAUTHN: 'on', HOST: '10.0.0.5' },
      /^WEBAUTHN=on does not work with PUBLIC_URL http:\/\/10\.0\.0\.5:3000: .*WEBAUTHN=off$/,
    ],
    [{ WEBAUTHN: 'on', PUBLIC_URL: 'http://app.example.com' }, /^WEBAUTHN=on .*only on https/],
    [{ RECOVERY_DELAY: '3600' }, /^RECOVERY_DELAY must be 0 \(off\) or a duration with its unit, e\.g\. 90s/],
    [{ RECOVERY_DELAY: '1w' }, /^RECOVERY_DELAY must be 0 .*\(got "1w"\)$/],
    [{ RECOVERY_DELAY: '-5m' }, /^RECOVERY_DELAY must be 0 /],
    [{ RECOVERY_DELAY: '1.5h' }, /^RECOVERY_DELAY must be 0 /],
    [{ RECOVERY_DELAY: 'off' }, /^RECOVERY_DELAY must be 0 /],
    [{ RECOVERY_DELAY: '31d' }, /^RECOVERY_DELAY must be at most 30 days/],
    [{ RECOVERY_DELAY: '721h' }, /^RECOVERY_DELAY must be at most 30 days/],
    [{ TRUSTED_DEVICE_DAYS: '401' }, /^TRUSTED_DEVICE_DAYS must be a whole number of days from 1 to 400/],
    [{ TRUSTED_DEVICE_DAYS: '30d' }, /^TRUSTED_DEVICE_DAYS must be .*\(got "30d"\)$/],
    [{ TRUSTED_DEVICE_DAYS: '1.5' }, /^TRUSTED_DEVICE_DAYS must be /],
    [{ TRUSTED_DEVICE_DAYS: '-1' }, /^TRUSTED_DEVICE_DAYS must be /],
    [{ TRUSTED_DEVICE_DAYS: 'on' }, /^TRUSTED_DEVICE_DAYS must be /],
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
  t.equal((await stat(join(dir, 'outbox'))).mode & 0o777, 0o700, 'in a folder of mode 700');
  t.equal(lines.length, 2);
  t.match(lines[0], /mail written to .*\.eml/);
  t.notOk(lines.join('\n').includes('SECRET-TOKEN-VALUE'), 'the link never reaches the log');
  t.notOk(lines.join('\n').includes('ada@example.com'), 'nor the address');
});

/** The signup flow on a real SQLite file, with the mails and the password hashes recorded. */
async function signupBench(t: Test, options: { failMail?: boolean } = {}) {
  const dir = await tempDir(t);
  const databases = await openDatabases(
    config({ DATA_DIR: join(dir, 'data'), TWOFOLD_KEYS: generateKey() }, dir),
  );
  t.teardown(() => databases.close());
  const users = await createUsers(databases.usersDb);
  const mails: OutboxMail[] = [];
  const { log, lines } = recordingLog();
  let hashes = 0;
  let now = Date.now();
  const signup = createSignup({
    users,
    sendMail: async (mail) => {
      if (options.failMail) throw new Error('mail server down');
      mails.push(mail);
    },
    publicUrl: 'https://app.example.com',
    appName: 'Test app',
    log,
    hashPassword: (password) => {
      hashes++;
      return hashPassword(password);
    },
    clock: () => now,
  });
  // Mails go out after the answer: a turn of the event loop later.
  const sent = async () => {
    await nextTurn();
    await nextTurn();
    return mails.splice(0);
  };
  const pending = async () =>
    (await databases.usersDb.selectFrom('pending_signups').select('username').execute()).map(
      (row) => row.username,
    );
  return {
    users,
    signup,
    sent,
    pending,
    lines,
    hashes: () => hashes,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

t.test(
  'signup: a taken address gets the same answer after the same work, and its owner a warning',
  async (t) => {
    const bench = await signupBench(t);
    const accepted = { status: 202, body: { message: SIGNUP_ACCEPTED_MESSAGE } };

    const first = await bench.signup.request({
      username: 'ada',
      email: 'ada@example.com',
      password: 'long password',
    });
    t.same(first, accepted, '202 "check your mail", and nothing about the account');
    t.equal(bench.hashes(), 1);
    const [link] = await bench.sent();
    t.match(link, { kind: 'signup-confirm', to: 'ada@example.com' });
    t.match(link?.text, `https://app.example.com${CONFIRM_SIGNUP_PAGE}#token=`);
    t.same(await bench.pending(), ['ada'], 'kept as pending');
    t.equal(await bench.users.byEmail('ada@example.com'), null, 'no account before the link');
    t.equal(await bench.users.authenticate('ada', 'long password'), null, 'so no login either');

    const created = await bench.signup.confirm({ token: signupToken(link!.text) });
    t.equal(created.status, 201);
    t.match(created.body, { id: String, username: 'ada', email: 'ada@example.com' });
    t.ok(await bench.users.authenticate('ada', 'long password'), 'the chosen password logs in');
    t.same(await bench.pending(), [], 'the pending signup is spent');

    const taken = await bench.signup.request({
      username: 'mallory',
      email: 'ADA@example.com',
      password: 'other password',
    });
    t.same(taken, first, 'a taken address: exactly the same answer');
    t.equal(bench.hashes(), 2, 'and the password was hashed all the same');
    const [warning, ...others] = await bench.sent();
    t.same(others, [], 'one mail');
    t.match(warning, { kind: 'signup-attempt', to: 'ada@example.com' }, "to the account's own address");
    t.match(warning?.text, /someone just tried to create a new account on Test app/);
    t.match(warning?.text, /log in as "ada" at https:\/\/app\.example\.com\/login\.html/);
    t.match(warning?.text, /https:\/\/app\.example\.com\/lost-device\.html/);
    t.notMatch(warning?.text, /token=/);
    t.same(await bench.pending(), [], 'nothing kept for it');
    t.equal(await bench.users.usernameTaken('mallory'), false, 'nothing created');

    const username = await bench.signup.request({
      username: 'ADA',
      email: 'someone@example.com',
      password: 'long password',
    });
    t.match(username, { status: 409, body: { code: 'USERNAME_TAKEN' } }, 'a taken username is said so');
    t.same(await bench.sent(), []);
    t.equal(bench.hashes(), 2);
  },
);

t.test('signup links: once, until they expire, and first come first served', async (t) => {
  const bench = await signupBench(t);
  const request = (username: string, email: string) =>
    bench.signup.request({ username, email, password: 'long password' });

  await request('bob', 'bob@example.com');
  const [bobLink] = await bench.sent();
  const token = signupToken(bobLink!.text)!;
  t.match(await bench.signup.confirm({ token }), { status: 201 });
  t.match(await bench.signup.confirm({ token }), { status: 400, body: { code: 'INVALID_TOKEN' } }, 'once');
  t.match(await bench.signup.confirm({ token: 'x'.repeat(43) }), {
    status: 400,
    body: { code: 'INVALID_TOKEN' },
  });
  for (const body of [
    null,
    {},
    { token: 7 },
    { token: '' },
    { token: 'x'.repeat(129) },
    { token, more: 1 },
  ]) {
    t.match(
      await bench.signup.confirm(body),
      { status: 400, body: { code: 'INVALID_INPUT' } },
      JSON.stringify(body),
    );
  }

  await request('carol', 'carol@example.com');
  const [late] = await bench.sent();
  bench.advance(24 * 60 * 60 * 1000 + 1);
  t.match(
    await bench.signup.confirm({ token: signupToken(late!.text) }),
    { status: 400, body: { code: 'INVALID_TOKEN' } },
    'a link expires after 24 hours',
  );
  await request('dave', 'dave@example.com');
  t.same(await bench.pending(), ['dave'], 'expired signups are pruned');
  await bench.sent();

  // Two signups pending for one address, or one username: the first link opened wins.
  await request('erin', 'erin@example.com');
  await request('erin2', 'erin@example.com');
  await request('erin', 'someone-else@example.com');
  const [erin, erin2, other] = await bench.sent();
  t.match(await bench.signup.confirm({ token: signupToken(erin!.text) }), { status: 201 });
  t.match(await bench.signup.confirm({ token: signupToken(erin2!.text) }), {
    status: 409,
    body: { code: 'EMAIL_TAKEN' },
  });
  t.match(await bench.signup.confirm({ token: signupToken(other!.text) }), {
    status: 409,
    body: { code: 'USERNAME_TAKEN' },
  });
});

t.test(
  'a mail that cannot be sent changes nothing in the answer, and is logged without the address',
  async (t) => {
    const bench = await signupBench(t, { failMail: true });
    const answer = await bench.signup.request({
      username: 'ada',
      email: 'ada@example.com',
      password: 'long password',
    });
    t.equal(answer.status, 202);
    await sleep(20);
    t.match(bench.lines.join('\n'), /error the signup-confirm mail could not be sent .*mail server down/);
    t.notOk(bench.lines.join('\n').includes('ada@example.com'));
  },
);

t.test('every file and folder the example creates is private, even under umask 000', async (t) => {
  const dir = await tempDir(t);
  const umask = process.umask(0o000);
  t.teardown(() => {
    process.umask(umask);
  });
  // Nested folders that do not exist yet: each one the example creates must be 700.
  const settings = config({ DATA_DIR: 'state/data', TWOFOLD_OUTBOX: 'state/outbox' }, dir);
  const { log, lines } = recordingLog();
  const example = await createExample(settings, log);
  t.same(
    example.twofoldOptions.webauthn,
    { rpId: 'localhost', origins: ['http://localhost:3000'] },
    "security keys for PUBLIC_URL's host, in the kit's options",
  );
  await example.signup({ username: 'ada', email: 'ada@example.com', password: 'long password' });
  let files: string[] = [];
  for (let attempt = 0; attempt < 100 && files.length === 0; attempt++) {
    await sleep(20);
    // A mail being written has a hidden name until it is whole.
    files = (await readdir(settings.outboxDir).catch(() => [] as string[])).filter(
      (file) => !file.startsWith('.'),
    );
  }
  const mail = await readFile(join(settings.outboxDir, files[0]!), 'utf8');
  t.match(await example.confirmSignup({ token: signupToken(mail) }), { status: 201 });

  const seen = await checkPrivate(t, [join(dir, 'state')]);
  for (const name of [join(PGLITE_DIR, 'PG_VERSION'), join(PGLITE_DIR, 'postgresql.conf'), DEV_KEYS_FILE]) {
    t.ok(seen.includes(join(settings.dataDir, name)), `${name} was checked`);
  }
  t.ok(seen.includes(join(settings.outboxDir, files[0]!)), 'the mail was checked');
  await example.close();
  t.notMatch(lines.join('\n'), /other users can list it/, 'no warning for folders it made itself');
});

t.test(
  'files left readable by an earlier version are made private at start; open folders are warned about',
  async (t) => {
    const dir = await tempDir(t);
    const dataDir = join(dir, 'data');
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    const first = await createExample(config({ DATA_DIR: dataDir }, dir), () => {});
    await first.close();
    const pgliteFiles = [join(PGLITE_DIR, 'PG_VERSION'), join(PGLITE_DIR, 'postgresql.conf')];
    for (const name of [...pgliteFiles, DEV_KEYS_FILE]) await chmod(join(dataDir, name), 0o644);
    await chmod(join(dataDir, PGLITE_DIR, 'base'), 0o755);

    const { log, lines } = recordingLog();
    // (And a PUBLIC_URL security keys cannot use: the start says they are off.)
    const again = await createExample(
      config({ DATA_DIR: dataDir, PUBLIC_URL: 'http://intranet.example:3000' }, dir),
      log,
    );
    t.teardown(() => again.close());
    for (const name of [...pgliteFiles, DEV_KEYS_FILE]) {
      t.equal(((await stat(join(dataDir, name))).mode & 0o777).toString(8), '600', name);
    }
    t.equal(((await stat(join(dataDir, PGLITE_DIR, 'base'))).mode & 0o777).toString(8), '700', 'pglite/base');
    t.equal(((await stat(dataDir)).mode & 0o777).toString(8), '755', 'a folder that existed is not changed');
    t.match(lines.join('\n'), /warn DATA_DIR \(.*\) is mode 755: other users can list it/);
    t.match(
      lines.join('\n'),
      /warn security keys and passkeys are off: PUBLIC_URL http:\/\/intranet\.example:3000: browsers allow/,
    );
    t.notOk(again.twofoldOptions.webauthn, 'and the kit gets no webauthn option');
  },
);
