/** Running a command to its end from a test, with its output collected and a time limit. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** How a command ended. */
export interface CommandResult {
  /** The exit code; null when it was killed or could not start. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Its stderr, plus a line saying so when it was killed at the time limit or could not start. */
  stderr: string;
  /** Wall time, ms. */
  ms: number;
}

/**
 * Runs `command` with `args` to its end, or kills it (SIGKILL) after `timeoutMs`; never rejects.
 * stdin is closed; stdout and stderr are collected.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CommandResult> {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    if (killed) stderr += `\n(killed after ${options.timeoutMs} ms)`;
    return { code, signal, stdout, stderr, ms: performance.now() - started };
  } catch (error) {
    return { code: null, signal: null, stdout, stderr: `${stderr}\n${String(error)}`, ms: 0 };
  } finally {
    clearTimeout(timer);
  }
}
