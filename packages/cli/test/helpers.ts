import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { isCI, missingSkip } from '@twofold/test-support';
import tap from 'tap';
import type { Io, Output } from '../src/io.js';

/** The real bin, run as users run it. */
export const BIN = fileURLToPath(new URL('../bin/twofold.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to (or, when undefined, removed from) the environment. */
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed. */
  input?: string;
  cwd?: string;
}

/**
 * The environment of a CLI run: this process's, without what tap injects into its own children,
 * and with the bin forced onto the TypeScript sources (a stale dist/ must not be what is tested).
 */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === 'NODE_OPTIONS' || name.startsWith('TAP') || name.startsWith('_TAPJS')) continue;
    if (name === 'TWOFOLD_KEYS' || name === 'TWOFOLD_DATABASE_URL') continue;
    env[name] = value;
  }
  env.TWOFOLD_CLI_SOURCE = '1';
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts `twofold args...` as a child process. */
export function startCli(args: readonly string[], options: CliOptions = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cliEnv(options.env),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.input ?? '');
  return child;
}

/**
 * Runs `twofold args...` to completion, in this process: the CLI's own `runCli` (what the bin's
 * main.ts calls with the real streams) with captured stdout and stderr, the environment of
 * {@link cliEnv} and `input` as standard input. A child process costs about a second of CPU to
 * start (tsx compiling the sources), which made the CLI tests a fifth of the suite's time. What
 * only a process shows (the bin itself, exit codes as the shell sees them, signals, a working
 * directory, hanging handles) is run with {@link runCliProcess} or {@link startCli}; an error that
 * escapes runCli is reported as the bin would (exit code 1, the stack on stderr).
 */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  if (options.cwd !== undefined) return runCliProcess(args, options);
  const { runCli: run } = await import('../src/cli.js');
  const stdout = captured();
  const stderr = captured();
  const io: Io = {
    stdout,
    stderr,
    env: cliEnv(options.env),
    readStdin: async () => options.input ?? '',
    onStop: () => () => {},
  };
  let code: number;
  try {
    code = await run(io, args);
  } catch (error) {
    stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    code = 1;
  }
  return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
}

/** Runs the real bin, `node bin/twofold.js args...`, as a child process to completion. */
export function runCliProcess(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return collect(startCli(args, options));
}

/** An output that keeps what is written, as a pipe (not a terminal). */
export function captured(): Output & { text: string } {
  return {
    text: '',
    isTTY: false,
    columns: undefined,
    write(text: string) {
      this.text += text;
    },
  };
}

/** Waits for a started CLI to exit, with everything it printed. */
export function collect(child: ReturnType<typeof startCli>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** No stack trace: the marks of one ("    at fn (file:line:col)") never appear in `text`. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(].*\d+:\d+\)?$/m.test(text);
}

/** True under CI, where a missing server or tool is a failure rather than a skip (see isCI). */
export function requiredByCi(): boolean {
  return isCI();
}

/**
 * The skip reason when `tools` are not all installed (false when they are); under CI a missing
 * tool fails the file instead.
 */
export function missingTools(tools: readonly string[], packages: string): string | false {
  const missing = tools.filter((tool) => {
    const result = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    return result.error !== undefined;
  });
  if (missing.length === 0) return false;
  return missingSkip(tap, `not installed: ${missing.join(', ')} (Debian packages ${packages})`);
}

/** A table prefix no other run uses. */
export function uniquePrefix(tag = 'tfcli'): string {
  return `${tag}${Date.now().toString(36)}${randomBytes(3).toString('hex')}_`;
}

/** Quotes `word` for a POSIX shell. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `twofold args...` with its stdout and stderr on a pseudo-terminal (util-linux `script`), as
 * in an interactive shell. Both streams arrive mixed in `stdout`, with CRLF line ends.
 */
export function runCliInTerminal(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: cliEnv({ TERM: 'xterm-256color', ...options.env }),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  return collect(child);
}

/**
 * `task` over `items` with at most `limit` running at once, results in the order of `items`:
 * table-driven tests start their CLI runs together and assert in order afterwards.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  task: (item: T, index: number) => Promise<R>,
  limit = 4,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
