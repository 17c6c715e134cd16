import t from 'tap';
import { runCli } from '../src/cli.js';
import type { Io, Output } from '../src/io.js';
import { captured } from './helpers.js';

// The CLI driven in process through its Io seam, for what a child process cannot easily show:
// an output stream that fails under a command, and the help text of `uri` on its own.

function io(env: Record<string, string> = {}, failingOut?: Output) {
  const kept = captured();
  const stdout = failingOut ?? kept;
  const stderr = captured();
  const value: Io = {
    stdout,
    stderr,
    env,
    readStdin: async () => '',
    onStop: () => () => {},
  };
  return { io: value, stdout: kept, stderr };
}

/** A stdout whose writes fail as a full disk does. */
const failingStdout: Output = {
  isTTY: false,
  columns: undefined,
  write() {
    throw new Error('ENOSPC: no space left on device');
  },
};

t.test(
  'an unexpected error exits 1 with one line naming the command, and a hint for the stack',
  async (t) => {
    const run = io({}, failingStdout);
    const code = await runCli(run.io, ['keygen']);
    t.equal(code, 1);
    t.equal(
      run.stderr.text,
      'twofold keygen: unexpected error: ENOSPC: no space left on device\n' +
        '(set TWOFOLD_DEBUG=1 for the stack trace)\n',
    );
  },
);

t.test('TWOFOLD_DEBUG=1 prints the stack trace of an unexpected error instead of the hint', async (t) => {
  const run = io({ TWOFOLD_DEBUG: '1' }, failingStdout);
  const code = await runCli(run.io, ['keygen']);
  t.equal(code, 1);
  const [first, ...rest] = run.stderr.text.split('\n');
  t.equal(first, 'twofold keygen: unexpected error: ENOSPC: no space left on device');
  t.match(rest.join('\n'), /^Error: ENOSPC: no space left on device\n\s+at /);
  t.notMatch(run.stderr.text, /TWOFOLD_DEBUG=1 for/);
});

t.test('an empty TWOFOLD_DEBUG counts as unset', async (t) => {
  const run = io({ TWOFOLD_DEBUG: '' }, failingStdout);
  t.equal(await runCli(run.io, ['keygen']), 1);
  t.match(run.stderr.text, /\(set TWOFOLD_DEBUG=1 for the stack trace\)\n$/);
});

t.test(
  '`twofold uri` alone prints its help on stderr and exits 2; `uri --help` on stdout, exit 0',
  async (t) => {
    const bare = io();
    t.equal(await runCli(bare.io, ['uri']), 2);
    t.equal(bare.stdout.text, '');
    t.match(bare.stderr.text, /build/);
    t.match(bare.stderr.text, /inspect/);

    const help = io();
    t.equal(await runCli(help.io, ['uri', '--help']), 0);
    t.equal(help.stderr.text, '');
    t.equal(help.stdout.text, bare.stderr.text, 'the same help text');
  },
);
