import type { Store } from '@twofold/core';
import tap, { type Test } from 'tap';
import type { BehaviourGroup } from './internal/behaviour.js';
import { addWebAuthnCredential } from './internal/behaviours/add-webauthn-credential.js';
import { atomically } from './internal/behaviours/atomically.js';
import { authenticators } from './internal/behaviours/authenticators.js';
import { beginSecondFactor } from './internal/behaviours/begin-second-factor.js';
import { confirm } from './internal/behaviours/confirm.js';
import { consumeCounter } from './internal/behaviours/consume-counter.js';
import { consumeCounterAndReset } from './internal/behaviours/consume-counter-and-reset.js';
import { counters } from './internal/behaviours/counters.js';
import { deleteTwoFactor } from './internal/behaviours/delete-two-factor.js';
import { findNonces } from './internal/behaviours/find-nonces.js';
import { finishSecondFactor } from './internal/behaviours/finish-second-factor.js';
import { listAuthenticators } from './internal/behaviours/list-authenticators.js';
import { listNonces } from './internal/behaviours/list-nonces.js';
import { nonces } from './internal/behaviours/nonces.js';
import { putNonces } from './internal/behaviours/put-nonces.js';
import { recoveryCodes } from './internal/behaviours/recovery-codes.js';
import { removeAuthenticator } from './internal/behaviours/remove-authenticator.js';
import { renameAuthenticator } from './internal/behaviours/rename-authenticator.js';
import { resetCounterIfUnchanged } from './internal/behaviours/reset-counter-if-unchanged.js';
import { replaceSealedSecret } from './internal/behaviours/sealed-secret.js';
import { takeAttempt } from './internal/behaviours/take-attempt.js';
import { takeNonceAndDeleteTwoFactor } from './internal/behaviours/take-nonce-and-delete-two-factor.js';
import { useWebAuthnCredential } from './internal/behaviours/use-webauthn-credential.js';
import { values } from './internal/behaviours/values.js';
import { createContext, createRunId, freshUserId } from './internal/run.js';
import type { StoreSuiteContext } from './suite-context.js';

/** Creates the store under test; called once per behaviour with a fresh context. */
export type MakeStore = (ctx: StoreSuiteContext) => Store | Promise<Store>;

/** Options of {@link runStoreSuite}. */
export interface StoreSuiteOptions {
  /**
   * Registers backend-specific tests (as subtests of `t`) after the shared ones; `ctx` is a fresh
   * context of the same run.
   */
  additionalTests?: (t: Test, ctx: StoreSuiteContext) => void | Promise<void>;
  /** How many calls each race starts at once (an integer from 2 to 10,000). Default 100. */
  concurrency?: number;
  /** How many times each race is repeated, each time afresh (an integer from 1 to 1,000). Default 5. */
  rounds?: number;
  /**
   * Skips the whole suite with this reason, e.g. `'PostgreSQL not reachable at 127.0.0.1:5432'`.
   * Default false.
   */
  skip?: string | false;
}

/** Every part of the Store interface, in the order the suite checks them. */
const GROUPS: readonly BehaviourGroup[] = [
  authenticators,
  listAuthenticators,
  confirm,
  addWebAuthnCredential,
  useWebAuthnCredential,
  renameAuthenticator,
  removeAuthenticator,
  consumeCounter,
  replaceSealedSecret,
  deleteTwoFactor,
  recoveryCodes,
  counters,
  takeAttempt,
  resetCounterIfUnchanged,
  nonces,
  listNonces,
  findNonces,
  takeNonceAndDeleteTwoFactor,
  // The optional operations: on a store without one, each behaviour of its group is skipped.
  beginSecondFactor,
  finishSecondFactor,
  consumeCounterAndReset,
  putNonces,
  atomically,
  values,
];

function checkInteger(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`runStoreSuite: options.${option} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * Registers the Store conformance suite as one tap test named `name`: a subtest per part of the
 * interface, and in each a subtest per behaviour of the contracts in `@twofold/core`'s `store.ts`,
 * including races of `concurrency` simultaneous calls. Every behaviour gets a fresh store from
 * `makeStore` (closed with `store.close?.()` when it ends), a fresh clock and fresh user ids.
 *
 * @param name - The test's name, usually the adapter's (`'redisStore'`).
 * @param makeStore - Creates the store under test; it may share one client across calls, since
 *   `close` must never close a client the host passed in.
 * @param options - `additionalTests`, `concurrency` (default 100), `rounds` (default 5), `skip`.
 * @throws {TypeError | RangeError} When an argument or option is malformed.
 * @example
 * import { runStoreSuite } from '@twofold/store-test-suite';
 * import { memoryStore } from '@twofold/core';
 *
 * runStoreSuite('memoryStore', () => memoryStore());
 */
export function runStoreSuite(name: string, makeStore: MakeStore, options: StoreSuiteOptions = {}): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('runStoreSuite: name must be a non-empty string');
  }
  if (typeof makeStore !== 'function') {
    throw new TypeError('runStoreSuite: makeStore must be a function that returns a Store');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('runStoreSuite: options must be an object');
  }
  const { additionalTests, skip = false } = options;
  const concurrency = checkInteger('concurrency', options.concurrency ?? 100, 2, 10_000);
  const rounds = checkInteger('rounds', options.rounds ?? 5, 1, 1_000);
  if (additionalTests !== undefined && typeof additionalTests !== 'function') {
    throw new TypeError('runStoreSuite: options.additionalTests must be a function (t, ctx) or undefined');
  }
  if (skip !== false && (typeof skip !== 'string' || skip.length === 0)) {
    throw new TypeError('runStoreSuite: options.skip must be false or a non-empty reason');
  }

  const runId = createRunId();
  tap.test(name, { skip }, async (t) => {
    for (const group of GROUPS) {
      t.test(group.name, async (t) => {
        for (const behaviour of group.behaviours) {
          t.test(behaviour.name, async (t) => {
            const ctx = createContext(runId);
            const store = await makeStore(ctx);
            t.teardown(() => store.close?.());
            await behaviour.run(t, {
              store,
              clock: ctx.clock,
              userId: (suffix = '') => `${freshUserId(runId)}${suffix}`,
              concurrency,
              rounds,
            });
          });
        }
      });
    }
    if (additionalTests) await additionalTests(t, createContext(runId));
  });
}
