import type { Test } from 'tap';

/**
 * Starts `count` calls at once (each gets its index) before awaiting any of them, and resolves all
 * results in index order.
 */
export function race<T>(count: number, call: (index: number) => Promise<T>): Promise<T[]> {
  const calls: Promise<T>[] = [];
  for (let index = 0; index < count; index++) calls.push(call(index));
  return Promise.all(calls);
}

/** The indexes of the calls that resolved true. */
export function winners(results: readonly boolean[]): number[] {
  const indexes: number[] = [];
  results.forEach((won, index) => {
    if (won) indexes.push(index);
  });
  return indexes;
}

/**
 * Asserts that exactly one call of a race resolved true, and resolves its index (0 when none or
 * several did, so that the checks after it still run).
 */
export function expectOneWinner(t: Test, results: readonly boolean[], message: string): number {
  const won = winners(results);
  t.equal(won.length, 1, message);
  return won[0] ?? 0;
}

/** `from`, `from + 1`, ..., `to`: the counts a race of increments must resolve. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}

/** 1..n in the order 1, n, 2, n-1, ... so that high and low values interleave. */
export function zigzag(n: number): number[] {
  const order: number[] = [];
  for (let low = 1, high = n; low <= high; low++, high--) {
    order.push(low);
    if (high !== low) order.push(high);
  }
  return order;
}

/**
 * Starts `count` calls one per turn of the event loop (so they land while a slower operation is
 * under way, in-process as well as over a network), and resolves all results in index order.
 */
export async function spread<T>(count: number, call: (index: number) => Promise<T>): Promise<T[]> {
  const calls: Promise<T>[] = [];
  for (let index = 0; index < count; index++) {
    const pending = call(index);
    // Observed by Promise.all below; this only keeps an early rejection from counting as unhandled.
    pending.catch(() => {});
    calls.push(pending);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Promise.all(calls);
}

/**
 * Where a race of `count` calls puts its one different call in round `round` (1-based): first,
 * last, second, then in the middle, in turn. A store that runs calls in the order they start (as an
 * in-process one does) then sees it both win and lose; a store over a network sees it land anywhere.
 */
export function placement(round: number, count: number): number {
  const places = [0, count - 1, 1, Math.floor(count / 2)];
  return places[(round - 1) % places.length]!;
}

/**
 * Races `one` call among `count - 1` calls of `other` (each gets its index among them), `one`
 * started at {@link placement}`(round, count)`; resolves its result and theirs, in order.
 */
export async function raceOneAmong<One, Other>(
  count: number,
  round: number,
  one: () => Promise<One>,
  other: (index: number) => Promise<Other>,
): Promise<{ one: One; others: Other[] }> {
  const at = placement(round, count);
  const results = await race<One | Other>(count, (index) =>
    index === at ? one() : other(index < at ? index : index - 1),
  );
  return {
    one: results[at] as One,
    others: results.filter((_, index) => index !== at) as Other[],
  };
}

/**
 * How many calls a race on one user's authenticators starts: `concurrency`, but at most 50. A user
 * has a handful of authenticators, and every such call is a transaction on all of them (it counts
 * the active ones), so a real backend serialises them; 50 are plenty to interleave a
 * check-then-act, and keep the suite quick on every store it runs against.
 */
export function authenticatorRaceSize(concurrency: number): number {
  return Math.min(concurrency, 50);
}
