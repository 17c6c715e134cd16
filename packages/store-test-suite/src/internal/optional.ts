import type { Store } from '@twofold/core';
import type { Behaviour, BehaviourGroup } from './behaviour.js';

// The optional operations of the Store interface: a store may leave them out (the engine then makes
// the same calls one by one), so their behaviours skip on a store without them.

/** The Store operations a store may leave out, each checked by a group of its own. */
export type OptionalOperation =
  | 'beginSecondFactor'
  | 'finishSecondFactor'
  | 'consumeCounterAndReset'
  | 'putNonces'
  | 'atomically';

/** Why a behaviour of an optional operation is skipped on a store without it. */
export function notImplemented(operation: OptionalOperation): string {
  return `${operation} is optional; this store does not implement it`;
}

/**
 * The group of `operation`: each behaviour runs when the store under test has the operation, and is
 * reported skipped (with {@link notImplemented}'s reason, and no assertion) when it does not.
 */
export function optionalGroup(
  operation: OptionalOperation,
  behaviours: readonly Behaviour[],
): BehaviourGroup {
  return {
    name: operation,
    behaviours: behaviours.map(({ name, run }) => ({
      name,
      async run(t, env) {
        if (typeof env.store[operation] !== 'function') {
          // A plan of 0 with a reason ends the test as skipped.
          t.plan(0, notImplemented(operation));
          return;
        }
        await run(t, env);
      },
    })),
  };
}

/**
 * The store's `operation`, bound to it. Only for {@link optionalGroup}'s behaviours, which run only
 * when the store has it.
 */
export function implementation<K extends OptionalOperation>(
  store: Store,
  operation: K,
): NonNullable<Store[K]> {
  const method = store[operation] as unknown as (...args: unknown[]) => unknown;
  return method.bind(store) as NonNullable<Store[K]>;
}
