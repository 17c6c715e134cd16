/**
 * Progress of a long command on stderr: a bar redrawn in place on a terminal, and a plain line
 * every tenth of the way otherwise (logs, CI), so that output stays readable in both.
 */
import type { Output } from './io.js';

export interface ProgressReporter {
  /** Reports `done` of `total` units, with a short `detail` after the counts. */
  update(done: number, total: number, detail: string): void;
  /** Ends the bar's line (a terminal) so that later output starts on a fresh line. */
  finish(): void;
}

/** A terminal redraws at most this often, in ms. */
const REDRAW_MS = 100;

function percent(done: number, total: number): number {
  return total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100));
}

/** A progress reporter for `output`: a bar on a terminal, plain lines elsewhere, nothing when `quiet`. */
export function progressReporter(output: Output, label: string, quiet: boolean): ProgressReporter {
  if (quiet) return { update() {}, finish() {} };
  if (output.isTTY) return barReporter(output, label);
  let lastTenth = -1;
  return {
    update(done, total, detail) {
      const value = percent(done, total);
      const tenth = Math.floor(value / 10);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      output.write(`${label}: ${done}/${total} (${value}%) ${detail}\n`);
    },
    finish() {},
  };
}

function barReporter(output: Output, label: string): ProgressReporter {
  let lastDraw = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let pending: [number, number, string] | undefined;
  const draw = (done: number, total: number, detail: string) => {
    const value = percent(done, total);
    const counts = ` ${String(value).padStart(3)}% ${done}/${total} ${detail}`;
    const width = Math.max(10, Math.min(40, (output.columns ?? 80) - label.length - counts.length - 4));
    const filled = Math.round((value / 100) * width);
    // \r and "erase line" redraw in place; the line never wraps because the bar shrinks to fit.
    output.write(`\r\x1b[2K${label} ${'█'.repeat(filled)}${'░'.repeat(width - filled)}${counts}`);
    drawn = true;
    lastDraw = Date.now();
    pending = undefined;
  };
  return {
    update(done, total, detail) {
      pending = [done, total, detail];
      if (Date.now() - lastDraw >= REDRAW_MS || done >= total) draw(done, total, detail);
    },
    finish() {
      if (pending) draw(...pending);
      if (drawn) output.write('\n');
    },
  };
}
