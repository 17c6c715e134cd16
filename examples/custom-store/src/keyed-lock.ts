/**
 * Runs `task` once every task started earlier with the same `key` has settled, and resolves (or
 * rejects) as it does. Tasks on different keys run freely.
 */
export type KeyedLock = <T>(key: string, task: () => Promise<T>) => Promise<T>;

/**
 * An async mutex per key, for this process only: each key keeps the promise of its last queued task,
 * and a new task waits on that. Nothing else in another process (or a second copy of this module)
 * knows about it, which is the whole reason a shared backend needs atomic operations instead.
 */
export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<void>>();

  return async (key, task) => {
    const previous = tails.get(key);
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Tails only ever resolve, so a task that throws never poisons the queue behind it.
    const tail = previous ? previous.then(() => done) : done;
    tails.set(key, tail);
    try {
      await previous;
      return await task();
    } finally {
      release();
      // The last task out removes the key, so the map holds only keys with work queued.
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
