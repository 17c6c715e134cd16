/** What a command touches of the outside world, so that main.ts is the only place that uses `process`. */

/** A text stream: stdout or stderr. */
export interface Output {
  write(text: string): void;
  /** True when it is a terminal (progress bars and colours are drawn only then). */
  readonly isTTY: boolean;
  /** The terminal width in columns, when it is a terminal. */
  readonly columns: number | undefined;
}

/** A signal a long command can stop on. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads all of standard input as text (for `-` in place of a secret or URI). */
  readStdin(): Promise<string>;
  /**
   * Calls `handler` on SIGINT or SIGTERM instead of dying at once, until the returned function is
   * called. A second signal while the handler's work is still running ends the process at once.
   */
  onStop(handler: (signal: StopSignal) => void): () => void;
}

/** Whether ANSI colours may be written to `output` (a terminal, and NO_COLOR not set). */
export function colorsAllowed(io: Io, output: Output): boolean {
  return output.isTTY && (io.env.NO_COLOR ?? '') === '' && io.env.TERM !== 'dumb';
}
