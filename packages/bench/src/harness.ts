/**
 * A small in-process benchmark harness: every contender of a case is measured in the same process,
 * in interleaved rounds (round-robin over the contenders, starting with a different one each round), so
 * that drift of the machine (other load, frequency scaling, GC state) spreads evenly over all of them.
 * The result per contender is the median of its rounds.
 */

/** One operation to time. It returns a value that the harness folds into a sink, so it cannot be elided. */
export type Operation = () => unknown;

/** How long to measure. */
export interface HarnessOptions {
  /** Untimed warm-up per contender and case, in ms (JIT tiers, inline caches). */
  warmupMs: number;
  /** Measured rounds per case; every contender runs once per round. */
  rounds: number;
  /** Target duration of one measured sample, in ms. */
  sampleMs: number;
}

/** The measurement of one contender in one case. */
export interface Measurement {
  /** Median of the rounds, in operations per second. */
  opsPerSecond: number;
  /** Every round, in operations per second, in the order measured. */
  samples: number[];
}

let sink = 0;

/** Folds a result into the sink (a number that depends on every result). */
function consume(result: unknown): void {
  if (typeof result === 'number') sink = (sink + result) | 0;
  else if (typeof result === 'boolean') sink = (sink + (result ? 1 : 0)) | 0;
  else if (typeof result === 'string') sink = (sink + result.length) | 0;
  else sink = (sink + 1) | 0;
}

/** Read by the caller at the end so that no engine can prove the sink unused. */
export function sinkValue(): number {
  return sink;
}

/** Runs `operation` `iterations` times and returns the elapsed nanoseconds. */
function timeBatch(operation: Operation, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) consume(operation());
  return Number(process.hrtime.bigint() - start);
}

/** Warms `operation` up for about `ms` and returns how many iterations take about `sampleMs`. */
function calibrate(operation: Operation, ms: number, sampleMs: number): number {
  let iterations = 16;
  let spentNs = 0;
  let lastRate = 0;
  while (spentNs < ms * 1e6) {
    const ns = timeBatch(operation, iterations);
    spentNs += ns;
    lastRate = iterations / Math.max(ns, 1);
    if (ns < 20e6) iterations *= 2;
  }
  return Math.max(1, Math.round(lastRate * sampleMs * 1e6));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Measures every contender's operation for one case, interleaved, and returns the median ops/s of each,
 * in the order of `operations`.
 */
export function measureInterleaved(operations: readonly Operation[], options: HarnessOptions): Measurement[] {
  const iterations = operations.map((operation) => calibrate(operation, options.warmupMs, options.sampleMs));
  const samples: number[][] = operations.map(() => []);
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < operations.length; k++) {
      const index = (round + k) % operations.length;
      const count = iterations[index]!;
      const ns = timeBatch(operations[index]!, count);
      samples[index]!.push((count / ns) * 1e9);
    }
  }
  return samples.map((values) => ({ opsPerSecond: median(values), samples: values }));
}

/** Formats a number of operations per second with thousands separators. */
export function formatOps(opsPerSecond: number): string {
  return Math.round(opsPerSecond).toLocaleString('en-US');
}

/** Formats a ratio as `2.34x` (or `0.103x` below 1). */
export function formatRatio(ratio: number): string {
  // Three decimals below 1: a CPU ratio of 0.103 against a target of 0.10 must not print as "0.10x".
  return `${ratio.toFixed(ratio < 1 ? 3 : 2)}x`;
}

/** Renders rows as a Markdown table (also readable in a terminal). Numeric-looking cells align right. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const numeric = header.map((_, column) =>
    rows.every((row) => /^[\d.,x%+-]*$|^n\/a$/.test(row[column] ?? '')),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, column) =>
        numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (numeric[column] ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
