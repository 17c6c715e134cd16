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
