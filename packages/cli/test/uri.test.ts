import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { qrModules } from '@twofold/core';
import { parseUri } from '@twofold/otp';
import t from 'tap';
import { hasStackTrace, mapConcurrent, missingTools, runCli, runCliInTerminal } from './helpers.js';

const run = promisify(execFile);

/** Build options and the URI they must give (the Key URI format: encoded label, issuer repeated). */
const BUILDS: [string[], string][] = [
  [
    ['--issuer', 'ACME Co', '--account', 'jane@example.com', '--secret', 'JBSWY3DPEHPK3PXP'],
    'otpauth://totp/ACME%20Co:jane%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co',
  ],
  [
    [
      '--issuer',
      'Acme',
      '--account',
      'bob',
      '--secret',
      'gezd gnbv gy3t qojq gezd gnbv gy3t qojq',
      '--algorithm',
      'sha256',
      '--digits',
      '8',
      '--period',
      '60',
    ],
    'otpauth://totp/Acme:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme&algorithm=SHA256&digits=8&period=60',
  ],
  [
    ['--issuer', 'Société Générale', '--account', 'jörg+2fa@exämple.com', '--secret', 'JBSWY3DPEHPK3PXP'],
    `otpauth://totp/${encodeURIComponent('Société Générale')}:${encodeURIComponent('jörg+2fa@exämple.com')}?secret=JBSWY3DPEHPK3PXP&issuer=${encodeURIComponent('Société Générale')}`,
  ],
  [
    ['--issuer', 'Acme', '--account', 'carol', '--secret', 'JBSWY3DPEHPK3PXP', '--counter', '42'],
    'otpauth://hotp/Acme:carol?secret=JBSWY3DPEHPK3PXP&issuer=Acme&counter=42',
  ],
];

t.test('uri build writes the Key URI format, defaults left out', async (t) => {
  const results = await mapConcurrent(BUILDS, ([args]) => runCli(['uri', 'build', ...args]));
  for (const [index, [args, expected]] of BUILDS.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 0);
    t.equal(stderr, '');
    t.equal(stdout, `${expected}\n`, args.join(' '));
  }
});

t.test('uri build then uri inspect --json gives back every field', async (t) => {
  for (const [args, uri] of BUILDS) {
    const built = (await runCli(['uri', 'build', ...args])).stdout.trim();
    const { code, stdout } = await runCli(['uri', 'inspect', '--json', built]);
    t.equal(code, 0);
    const fields = JSON.parse(stdout);
    const parsed = parseUri(uri, { minSecretBytes: 10 });
    t.strictSame(fields, {
      type: parsed.type,
      issuer: parsed.issuer,
      account: parsed.account,
      secret: args[args.indexOf('--secret') + 1]!.replaceAll(' ', '').toUpperCase(),
      secretBits: parsed.secret.length * 8,
      algorithm: parsed.algorithm,
      digits: parsed.digits,
      ...(parsed.type === 'totp' ? { period: parsed.period } : { counter: parsed.counter }),
    });
    // And back: building from the inspected fields gives the same URI.
    const again = await runCli([
      'uri',
      'build',
      '--issuer',
      fields.issuer,
      '--account',
      fields.account,
      '--secret',
      fields.secret,
      '--algorithm',
      fields.algorithm,
      '--digits',
      String(fields.digits),
      ...(fields.type === 'totp'
        ? ['--period', String(fields.period)]
        : ['--counter', String(fields.counter)]),
    ]);
    t.equal(again.stdout, `${uri}\n`, 'inspect -> build round trip');
  }
});

t.test('uri build without --secret generates a random secret as long as the hash output', async (t) => {
  for (const [algorithm, bytes] of [
    ['SHA1', 20],
    ['SHA256', 32],
    ['SHA512', 64],
  ] as const) {
    const first = await runCli([
      'uri',
      'build',
      '--issuer',
      'Acme',
      '--account',
      'ada',
      '--algorithm',
      algorithm,
    ]);
    const second = await runCli([
      'uri',
      'build',
      '--issuer',
      'Acme',
      '--account',
      'ada',
      '--algorithm',
      algorithm,
    ]);
    t.equal(first.code, 0);
    const parsed = parseUri(first.stdout.trim());
    t.equal(parsed.secret.length, bytes, `${algorithm}: ${bytes} bytes`);
    t.equal(parsed.algorithm, algorithm);
    t.not(first.stdout, second.stdout, 'a new secret each time');
  }
});

t.test('uri build --secret - reads the secret from standard input', async (t) => {
  const { code, stdout } = await runCli(
    ['uri', 'build', '--issuer', 'Acme', '--account', 'ada', '--secret', '-'],
    {
      input: 'jbsw y3dp ehpk 3pxp\n',
    },
  );
  t.equal(code, 0);
  t.equal(stdout, 'otpauth://totp/Acme:ada?secret=JBSWY3DPEHPK3PXP&issuer=Acme\n');
});

t.test('uri inspect prints each field on its own line, and warns about a short secret', async (t) => {
  const uri =
    'otpauth://totp/ACME%20Co:jane%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&period=60';
  const { code, stdout, stderr } = await runCli(['uri', 'inspect', uri]);
  t.equal(code, 0);
  t.equal(
    stdout,
    [
      'type       totp',
      'issuer     ACME Co',
      'account    jane@example.com',
      'secret     JBSWY3DPEHPK3PXP (80 bits)',
      'algorithm  SHA1',
      'digits     6',
      'period     60 s',
      '',
    ].join('\n'),
  );
  t.equal(stderr, 'note: the secret is 80 bits; 128 or more is recommended\n');
  const fromStdin = await runCli(['uri', 'inspect', '-'], { input: `${uri}\n` });
  t.equal(fromStdin.stdout, stdout, 'the same from standard input');
});

t.test('uri inspect and build refuse bad input with exit 2, never echoing the secret', async (t) => {
  const secret = 'JBSWY3DPEHPK3PXP';
  const cases: [string, string[], RegExp][] = [
    [
      'two colons',
      ['uri', 'inspect', `otpauth://totp/a:b:c?secret=${secret}`],
      /not a valid otpauth URI: The URI label has more than one colon/,
    ],
    ['wrong scheme', ['uri', 'inspect', `https://example.com/?secret=${secret}`], /not a valid otpauth URI/],
    [
      'issuer mismatch',
      ['uri', 'inspect', `otpauth://totp/A:b?secret=${secret}&issuer=B`],
      /not a valid otpauth URI/,
    ],
    [
      'five digits',
      ['uri', 'inspect', `otpauth://totp/A:b?secret=${secret}&digits=5`],
      /not a valid otpauth URI/,
    ],
    [
      'no secret',
      ['uri', 'inspect', 'otpauth://totp/A:b?issuer=A'],
      /not a valid otpauth URI: The URI has no secret/,
    ],
    [
      'colon in issuer',
      ['uri', 'build', '--issuer', 'A:B', '--account', 'b'],
      /--issuer must not contain a colon/,
    ],
    [
      'colon in account',
      ['uri', 'build', '--issuer', 'A', '--account', 'b:c'],
      /--account must not contain a colon/,
    ],
    ['no account', ['uri', 'build', '--issuer', 'A'], /--account is required/],
    [
      'bad secret',
      ['uri', 'build', '--issuer', 'A', '--account', 'b', '--secret', `${secret}1`],
      /--secret is not valid base32/,
    ],
    [
      '--counter and --period',
      ['uri', 'build', '--issuer', 'A', '--account', 'b', '--counter', '1', '--period', '30'],
      /--period applies to TOTP/,
    ],
  ];
  const results = await mapConcurrent(cases, ([, args]) => runCli(args));
  for (const [index, [name, , message]] of cases.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 2, `${name}: exit 2`);
    t.equal(stdout, '', name);
    t.match(stderr, message, `${name}: message`);
    t.notMatch(stderr, secret, `${name}: the secret is not echoed`);
    t.notOk(hasStackTrace(stderr), `${name}: no stack trace`);
  }
});

/** Block characters -> modules: each character holds a top and a bottom module; drawn = light. */
const HALVES: Record<string, [boolean, boolean]> = {
  '█': [true, true],
  '▀': [true, false],
  '▄': [false, true],
  ' ': [false, false],
};

/** The module matrix (true = dark) drawn by `twofold uri ... --qr` without colours. */
function readTerminalQr(text: string, invert: boolean): boolean[][] {
  // The code follows the first blank line, one text line per two rows of modules.
  const all = text.split('\n');
  const lines = all.slice(all.indexOf('') + 1).filter((line) => line !== '');
  const rows: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line];
    const top = chars.map((char) => HALVES[char]![0] === invert);
    const bottom = chars.map((char) => HALVES[char]![1] === invert);
    rows.push(top, bottom);
  }
  // The last text line pairs an odd last row with a light one, drawn by the quiet zone.
  return rows.length > rows[0]!.length ? rows.slice(0, rows[0]!.length) : rows;
}

/** @twofold/core's symbol for `text` (the one its SVG is drawn from), with a 4-module quiet zone. */
function expectedMatrix(text: string): boolean[][] {
  const modules = qrModules(text);
  const size = modules.length + 8;
  return Array.from({ length: size }, (_, row) =>
    Array.from({ length: size }, (_, column) => modules[row - 4]?.[column - 4] === true),
  );
}

t.test('--qr draws the QR symbol of the URI upright, module for module, with half blocks', async (t) => {
  const runs = BUILDS.flatMap(([args, uri]) => [false, true].map((invert) => ({ args, uri, invert })));
  const results = await mapConcurrent(runs, ({ args, invert }) =>
    runCli(['uri', 'build', ...args, '--qr', ...(invert ? ['--invert'] : [])]),
  );
  for (const [index, { uri, invert }] of runs.entries()) {
    const { code, stdout } = results[index]!;
    t.equal(code, 0);
    const [first, blank] = stdout.split('\n');
    t.equal(first, uri, 'the URI comes first');
    t.equal(blank, '', 'then a blank line');
    t.notOk(stdout.includes('\u001b['), 'no colours when stdout is not a terminal');
    t.strictSame(readTerminalQr(stdout, invert), expectedMatrix(uri), `${uri}${invert ? ' inverted' : ''}`);
  }
  const inspected = await runCli(['uri', 'inspect', BUILDS[0]![1], '--qr']);
  t.strictSame(readTerminalQr(inspected.stdout, false), expectedMatrix(BUILDS[0]![1]), 'uri inspect --qr');
});

const scanSkip = missingTools(['rsvg-convert', 'zbarimg'], 'librsvg2-bin, zbar-tools');

t.test('the terminal QR code scans back to exactly the URI (zbarimg)', { skip: scanSkip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-cli-qr-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [index, [args, uri]] of BUILDS.entries()) {
    const { stdout } = await runCli(['uri', 'build', ...args, '--qr']);
    const matrix = readTerminalQr(stdout, false);
    // Paint the modules read from the terminal text as an image, as a phone camera would see them.
    const squares = matrix.flatMap((row, y) =>
      row.flatMap((dark, x) => (dark ? [`M${x},${y}h1v1h-1z`] : [])),
    );
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${matrix.length} ${matrix.length}"><rect width="100%" height="100%" fill="#fff"/><path fill="#000" d="${squares.join('')}"/></svg>`;
    await writeFile(join(dir, `${index}.svg`), svg);
    await run('rsvg-convert', ['-w', '400', '-o', join(dir, `${index}.png`), join(dir, `${index}.svg`)]);
    const scanned = await run('zbarimg', ['--raw', '-q', join(dir, `${index}.png`)]);
    t.equal(scanned.stdout.replace(/\n$/, ''), uri);
  }
});

t.test('uri inspect --qr of a URI typed with raw Unicode draws its percent-encoded form', async (t) => {
  const raw = 'otpauth://totp/Zürich:jörg?secret=JBSWY3DPEHPK3PXP&issuer=Zürich';
  const { code, stdout } = await runCli(['uri', 'inspect', raw, '--qr']);
  t.equal(code, 0);
  const encoded = `otpauth://totp/${encodeURIComponent('Zürich')}:${encodeURIComponent('jörg')}?secret=JBSWY3DPEHPK3PXP&issuer=${encodeURIComponent('Zürich')}`;
  t.strictSame(readTerminalQr(stdout, false), expectedMatrix(encoded));
});

const ESC = String.fromCharCode(27);
const terminalSkip = missingTools(['script'], 'util-linux (bsdutils)');

t.test(
  'on a terminal --qr paints black on white with ANSI colours, unless NO_COLOR',
  { skip: terminalSkip },
  async (t) => {
    const [args, uri] = BUILDS[0]!;
    const { code, stdout } = await runCliInTerminal(['uri', 'build', ...args, '--qr'], {
      env: { NO_COLOR: undefined },
    });
    t.equal(code, 0);
    const lines = stdout.replaceAll('\r\n', '\n').split('\n');
    const painted = lines.filter((line) => line.startsWith('\u001b[38;5;16;48;5;231m'));
    t.ok(painted.length > 10, 'each line of the code is painted');
    t.ok(
      painted.every((line) => line.endsWith('\u001b[0m')),
      'and reset at its end',
    );
    const plain = stdout.replaceAll('\r\n', '\n').replaceAll(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '');
    // With colours the dark modules are the ones drawn, as with --invert.
    t.strictSame(readTerminalQr(plain, true), expectedMatrix(uri));

    const noColor = await runCliInTerminal(['uri', 'build', ...args, '--qr'], { env: { NO_COLOR: '1' } });
    t.notOk(noColor.stdout.includes('\u001b['), 'NO_COLOR: no escape sequences');
    t.strictSame(readTerminalQr(noColor.stdout.replaceAll('\r\n', '\n'), false), expectedMatrix(uri));
  },
);
