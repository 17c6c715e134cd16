import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { buildUri, encodeSecret } from '@twofold/otp';
import t from 'tap';
import { type CliResult, hasStackTrace, mapConcurrent, missingTools, runCli } from './helpers.js';

const run = promisify(execFile);
const skip = missingTools(['oathtool'], 'oathtool');

/** oathtool's code for a base32 (or, with `hex`, hex) secret. */
async function oathtool(args: string[]): Promise<string> {
  const { stdout } = await run('oathtool', args);
  return stdout.trim();
}

type Algorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** The secret sizes apps use per hash, plus the 10-byte legacy size. */
const CASES: { algorithm: Algorithm; digits: number; period: number; seconds: number; bytes: number }[] = [
  { algorithm: 'SHA1', digits: 6, period: 30, seconds: 59, bytes: 20 },
  { algorithm: 'SHA1', digits: 8, period: 30, seconds: 1_111_111_109, bytes: 20 },
  { algorithm: 'SHA1', digits: 7, period: 60, seconds: 1_234_567_890, bytes: 10 },
  { algorithm: 'SHA1', digits: 6, period: 1, seconds: 2_000_000_000, bytes: 16 },
  { algorithm: 'SHA256', digits: 6, period: 30, seconds: 1_111_111_111, bytes: 32 },
  { algorithm: 'SHA256', digits: 8, period: 15, seconds: 20_000_000_000, bytes: 32 },
  { algorithm: 'SHA256', digits: 7, period: 3600, seconds: 1_800_000_000, bytes: 20 },
  { algorithm: 'SHA512', digits: 6, period: 30, seconds: 1_700_000_029, bytes: 64 },
  { algorithm: 'SHA512', digits: 8, period: 90, seconds: 1_700_000_030, bytes: 64 },
];

/** Each case with a fresh secret of its size, oathtool's code, and what `run` printed for it. */
function againstOathtool(
  run: (secret: string, testCase: (typeof CASES)[number]) => Promise<CliResult>,
  oathtoolFlags: (testCase: (typeof CASES)[number]) => string[],
) {
  return mapConcurrent(CASES, async (testCase) => {
    const secret = encodeSecret(randomBytes(testCase.bytes));
    const expected = await oathtool([...oathtoolFlags(testCase), secret]);
    return { testCase, expected, ...(await run(secret, testCase)) };
  });
}

t.test(
  "code for a bare base32 secret equals oathtool's across algorithms, digits and periods",
  { skip },
  async (t) => {
    const results = await againstOathtool(
      (secret, { algorithm, digits, period, seconds }) =>
        runCli([
          'code',
          secret.toLowerCase(),
          '--algorithm',
          algorithm.toLowerCase(),
          '--digits',
          String(digits),
          '--period',
          String(period),
          '--time',
          String(seconds),
        ]),
      ({ algorithm, digits, period, seconds }) => [
        `--totp=${algorithm}`,
        '-b',
        `--digits=${digits}`,
        `--time-step-size=${period}s`,
        `--now=@${seconds}`,
      ],
    );
    for (const { testCase, expected, code, stdout, stderr } of results) {
      const { algorithm, digits, period, seconds } = testCase;
      const name = `${algorithm} ${digits} digits ${period} s at ${seconds}`;
      t.equal(code, 0, name);
      t.equal(stdout, `${expected}\n`, `${name}: stdout holds the code alone`);
      const remaining = period - (seconds % period);
      t.equal(
        stderr,
        `valid for ${remaining} more second${remaining === 1 ? '' : 's'}\n`,
        `${name}: time left`,
      );
    }
  },
);

t.test("code for an otpauth URI uses the URI's parameters and equals oathtool's", { skip }, async (t) => {
  const results = await againstOathtool(
    (secret, { algorithm, digits, period, seconds }) => {
      const uri = buildUri({
        type: 'totp',
        secret,
        issuer: 'Acme Co',
        account: 'ada@example.com',
        algorithm,
        digits,
        period,
      });
      return runCli(['code', uri, '--time', new Date(seconds * 1000).toISOString()]);
    },
    ({ algorithm, digits, period, seconds }) => [
      `--totp=${algorithm}`,
      '-b',
      `-d${digits}`,
      `-s${period}s`,
      `-N@${seconds}`,
    ],
  );
  for (const { testCase, expected, code, stdout } of results) {
    const { algorithm, digits, period } = testCase;
    t.equal(code, 0);
    t.equal(stdout, `${expected}\n`, `${algorithm} ${digits} digits ${period} s (time as ISO 8601)`);
  }
});

t.test("code --hex reads a hex secret like oathtool's default", { skip }, async (t) => {
  const hex = randomBytes(20).toString('hex');
  const expected = await oathtool(['--totp', '-N@1500000000', hex]);
  const { code, stdout } = await runCli(['code', '--hex', hex.toUpperCase(), '--time', '1500000000']);
  t.equal(code, 0);
  t.equal(stdout, `${expected}\n`);
});

t.test("code --counter and hotp URIs give HOTP codes equal to oathtool --hotp's", { skip }, async (t) => {
  const secret = encodeSecret(randomBytes(20));
  for (const counter of [0, 1, 9, 123_456, 2 ** 32 + 5]) {
    const expected = await oathtool(['--hotp', '-b', `--counter=${counter}`, secret]);
    const bare = await runCli(['code', secret, '--counter', String(counter)]);
    t.equal(bare.stdout, `${expected}\n`, `bare secret, counter ${counter}`);
    const uri = buildUri({ type: 'hotp', secret, issuer: 'Acme', account: 'ada', counter });
    const fromUri = await runCli(['code', uri]);
    t.equal(fromUri.stdout, `${expected}\n`, `hotp URI with counter ${counter}`);
    t.equal(fromUri.stderr, '', 'an HOTP code has no expiry');
  }
  const uri = buildUri({ type: 'hotp', secret, issuer: 'Acme', account: 'ada', counter: 1 });
  const overridden = await runCli(['code', uri, '--counter', '7', '--json']);
  t.strictSame(JSON.parse(overridden.stdout), {
    code: await oathtool(['--hotp', '-b', '-c7', secret]),
    counter: 7,
  });
});

t.test('code without --time gives the code of the moment it runs', { skip }, async (t) => {
  const secret = encodeSecret(randomBytes(20));
  // Bracketed by two oathtool runs: when both agree, no step boundary passed, and ours must match.
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await oathtool(['--totp', '-b', secret]);
    const { code, stdout } = await runCli(['code', secret]);
    const after = await oathtool(['--totp', '-b', secret]);
    if (before !== after) continue;
    t.equal(code, 0);
    t.equal(stdout, `${before}\n`);
    return;
  }
  t.fail('a step boundary fell inside every one of 5 attempts');
});

t.test('code --json prints the code, its step, expiry and seconds left', async (t) => {
  const secret = encodeSecret(new TextEncoder().encode('12345678901234567890'));
  const { code, stdout, stderr } = await runCli([
    'code',
    secret,
    '--digits',
    '8',
    '--time',
    '1111111109',
    '--json',
  ]);
  t.equal(code, 0);
  t.equal(stderr, '');
  // RFC 6238 appendix B, SHA1, T = 1111111109.
  t.strictSame(JSON.parse(stdout), {
    code: '07081804',
    counter: 37_037_036,
    expiresAt: '2005-03-18T01:58:30.000Z',
    remainingSeconds: 1,
  });
});

t.test('code - reads the secret or URI from standard input', async (t) => {
  const secret = encodeSecret(new TextEncoder().encode('12345678901234567890'));
  const bare = await runCli(['code', '-', '--time', '59', '--digits', '8'], { input: `${secret}\n` });
  t.equal(bare.code, 0);
  t.equal(bare.stdout, '94287082\n', 'RFC 6238 vector at T = 59');
  const uri = buildUri({ type: 'totp', secret, account: 'ada', digits: 8 });
  const fromUri = await runCli(['code', '-', '--time', '59'], { input: uri });
  t.equal(fromUri.stdout, '94287082\n');
  const empty = await runCli(['code', '-'], { input: '  \n' });
  t.equal(empty.code, 2);
  t.match(empty.stderr, /the secret or otpauth URI is empty/);
});

t.test('code refuses bad input with exit 2, without echoing the secret', async (t) => {
  const secret = 'JBSWY3DPEHPK3PXP';
  const uri = `otpauth://totp/Acme:ada?secret=${secret}&issuer=Acme`;
  const cases: [string, string[], RegExp][] = [
    ['not base32', ['code', `${secret}!`], /the secret is not valid base32 of at least 10 bytes/],
    ['too short', ['code', 'JBSWY3DP'], /the secret is not valid base32 of at least 10 bytes/],
    ['not hex', ['code', '--hex', `${secret}`], /the secret is not valid hex/],
    ['a URI and --digits', ['code', uri, '--digits', '8'], /--digits applies to a bare secret only/],
    [
      'a URI and --algorithm',
      ['code', uri, '--algorithm', 'SHA256'],
      /--algorithm applies to a bare secret only/,
    ],
    ['a totp URI and --counter', ['code', uri, '--counter', '1'], /--counter applies to HOTP/],
    [
      '--counter and --period',
      ['code', secret, '--counter', '1', '--period', '60'],
      /--period applies to TOTP/,
    ],
    ['a broken URI', ['code', `${uri}&digits=5`], /not a valid otpauth URI: /],
    ['a URI of another scheme', ['code', 'otpauthx://totp/a?secret=x'], /the secret is not valid base32/],
    [
      '--digits out of range',
      ['code', secret, '--digits', '11'],
      /--digits must be a whole number from 6 to 10/,
    ],
    ['--period 0', ['code', secret, '--period', '0'], /--period must be a whole number from 1 to 3600/],
    [
      '--algorithm MD5',
      ['code', secret, '--algorithm', 'MD5'],
      /--algorithm must be one of SHA1, SHA256, SHA512/,
    ],
    [
      '--time garbage',
      ['code', secret, '--time', 'yesterday-ish'],
      /--time must be Unix seconds or an ISO 8601/,
    ],
    ['two secrets', ['code', secret, secret], /expected at most 1 argument/],
  ];
  const results = await mapConcurrent(cases, ([, args]) => runCli(args));
  for (const [index, [name, , message]] of cases.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 2, `${name}: exit 2`);
    t.equal(stdout, '', `${name}: no code`);
    t.match(stderr, message, `${name}: message`);
    t.notMatch(stderr, secret, `${name}: the secret is not echoed`);
    t.notOk(hasStackTrace(stderr), `${name}: no stack trace`);
  }
});
