/** The process behind the `twofold` bin: wires runCli to the real stdin, stdout, stderr and signals. */
import { runCli } from './cli.js';
import { EXIT } from './errors.js';
import type { Io, Output, StopSignal } from './io.js';

function output(stream: NodeJS.WriteStream): Output {
  return {
    write: (text) => {
      stream.write(text);
    },
    get isTTY() {
      return stream.isTTY === true;
    },
    get columns() {
      return stream.isTTY ? stream.columns : undefined;
    },
  };
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('(reading from standard input; end with Ctrl-D)\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const EXIT_ON: Record<StopSignal, number> = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated };

function onStop(handler: (signal: StopSignal) => void): () => void {
  let stopping = false;
  const listener = (signal: StopSignal) => {
    if (stopping) {
      // A second signal: the user does not want to wait for the current batch.
      process.stderr.write(`\n${signal} again: stopping at once\n`);
      process.exit(EXIT_ON[signal]);
    }
    stopping = true;
    process.stderr.write(`\n${signal}: finishing the current batch, then stopping (again to stop at once)\n`);
    handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}

const io: Io = {
  stdout: output(process.stdout),
  stderr: output(process.stderr),
  env: process.env,
  readStdin,
  onStop,
};

// A closed pipe on stdout (twofold code | head -c0) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await runCli(io, process.argv.slice(2));
