import { readFileSync } from 'node:fs';
import t from 'tap';
import { hasStackTrace, mapConcurrent, runCliProcess as runCli } from './helpers.js';

const COMMANDS = [
  ['keygen'],
  ['migrate'],
  ['rotate-keys'],
  ['code'],
  ['uri'],
  ['uri', 'build'],
  ['uri', 'inspect'],
] as const;

t.test('twofold --help lists every command and the exit codes on stdout, exit 0', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const { code, stdout, stderr } = await runCli([flag]);
    t.equal(code, 0, flag);
    t.equal(stderr, '');
    for (const command of ['keygen', 'migrate', 'rotate-keys', 'code', 'uri build', 'uri inspect']) {
      t.match(stdout, new RegExp(`^  ${command} `, 'm'), `${flag} lists ${command}`);
    }
    t.match(stdout, /Exit codes: 0 success, 1 the command failed, 2 usage error/);
  }
});

t.test('each command has --help on stdout with its usage line, exit 0', async (t) => {
  const runs = COMMANDS.flatMap((command) => [
    [...command, '--help'],
    [...command, '-h'],
  ]);
  const results = await mapConcurrent(runs, (args) => runCli(args));
  for (const [index, args] of runs.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 0, args.join(' '));
    t.equal(stderr, '');
    t.match(stdout, new RegExp(`^Usage: twofold ${args.slice(0, -1).join(' ')}`, 'm'));
    t.match(stdout, /Exit codes:/);
  }
  const viaHelp = await runCli(['help', 'rotate-keys']);
  t.equal(viaHelp.code, 0);
  t.match(viaHelp.stdout, /^Usage: twofold rotate-keys/);
});

t.test('--version prints the package version', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  for (const flag of ['--version', '-v']) {
    const { code, stdout } = await runCli([flag]);
    t.equal(code, 0);
    t.equal(stdout, `${manifest.version}\n`);
  }
});

t.test('no command prints the help on stderr and exits 2', async (t) => {
  const { code, stdout, stderr } = await runCli([]);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.match(stderr, /^Usage: twofold <command>/);
});

t.test('usage errors exit 2 with one message naming the problem and no stack trace', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /^twofold: unknown command; the commands are keygen, migrate/],
    ['unknown option', ['keygen', '--bogus'], /^twofold keygen: unknown option '--bogus'/],
    [
      'option without its value',
      ['keygen', '--tag'],
      /^twofold keygen: Option '--tag <value>' argument missing/,
    ],
    [
      'option followed by another option',
      ['migrate', '--url', '--prefix', 'p_'],
      /^twofold migrate: --url is followed by an argument starting with "-": give --url its value, or write --url=<value> when the value starts with "-"\n/,
    ],
    ['boolean option with a value', ['keygen', '--env=yes'], /^twofold keygen: Option '--env' does not take/],
    ['stray argument', ['keygen', 'extra'], /^twofold keygen: this command takes no arguments, got 1/],
    [
      'uri without a subcommand',
      ['uri', 'frob'],
      /^twofold uri: unknown subcommand \(expected build or inspect\)/,
    ],
    ['migrate without --url', ['migrate'], /^twofold migrate: --url is required/],
    ['code without a secret', ['code'], /^twofold code: missing the secret or otpauth URI/],
    ['uri inspect without a URI', ['uri', 'inspect'], /^twofold uri inspect: missing the otpauth URI/],
    [
      'uri build without --issuer',
      ['uri', 'build', '--account', 'a'],
      /^twofold uri build: --issuer is required/,
    ],
  ];
  const results = await mapConcurrent(cases, ([, args]) => runCli(args));
  for (const [index, [name, , message]] of cases.entries()) {
    const { code, stdout, stderr } = results[index]!;
    t.equal(code, 2, `${name}: exit 2`);
    t.equal(stdout, '', `${name}: nothing on stdout`);
    t.match(stderr, message, `${name}: message`);
    t.match(stderr, /\nRun 'twofold[a-z -]*--help' for usage\.\n$/, `${name}: points to --help`);
    t.notOk(hasStackTrace(stderr), `${name}: no stack trace`);
  }
});

t.test(
  'an unknown command or subcommand is not echoed (it may be a secret typed in the wrong place)',
  async (t) => {
    const secret = 'JBSWY3DPEHPK3PXP';
    for (const args of [[secret], ['uri', secret]]) {
      const { code, stderr } = await runCli(args);
      t.equal(code, 2);
      t.notMatch(stderr, secret);
    }
  },
);
