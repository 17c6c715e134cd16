import type {
  AttemptState,
  BeginSecondFactorInput,
  BeginSecondFactorResult,
  CounterState,
  FinishSecondFactorInput,
  NonceWrite,
  Store,
  StoredAuthenticator,
} from '../store.js';
import { isActive } from './authenticator-state.js';

/**
 * The store calls that a verify and a new session make, as one call each when the store offers the
 * optional operation that combines them, and otherwise as the same required calls one by one (a
 * host's own store keeps working; it only costs more round trips).
 */

/**
 * The single operations {@link Store.beginSecondFactor} stands for, bound to one user and one `now`:
 * what {@link beginSecondFactorInSteps} calls.
 */
export interface BeginSecondFactorSteps {
  claimNonce(key: string, value: string, expiresAt: number): Promise<boolean>;
  listAuthenticators(): Promise<StoredAuthenticator[]>;
  getNonce(key: string): Promise<string | null>;
  takeAttempt(key: string, limit: number, ttlMs: number): Promise<AttemptState>;
}

/**
 * {@link Store.beginSecondFactor} made of the single operations, one after the other: the claim;
 * then the authenticators and the nonce; then, only when the user has an active authenticator, one
 * attempt per counter in order, stopping after the first refused. Nothing is undone. The engine's
 * way for a store without the shortcut, and an adapter's for the dialects where it has no single
 * step (store-sql on MySQL and SQLite, each step in its own retry or one transaction).
 */
export async function beginSecondFactorInSteps(
  steps: BeginSecondFactorSteps,
  { claim, attempts, readNonce }: BeginSecondFactorInput,
): Promise<BeginSecondFactorResult> {
  if (claim && !(await steps.claimNonce(claim.key, claim.value, claim.expiresAt))) {
    return { claimed: false, authenticators: [], attempts: [], nonce: null };
  }
  const [authenticators, nonce] = await Promise.all([
    steps.listAuthenticators(),
    readNonce === null ? null : steps.getNonce(readNonce),
  ]);
  const states: AttemptState[] = [];
  if (authenticators.some(isActive)) {
    for (const { key, limit, ttlMs } of attempts) {
      const state = await steps.takeAttempt(key, limit, ttlMs);
      states.push(state);
      if (!state.taken) break;
    }
  }
  return { claimed: true, authenticators, attempts: states, nonce };
}

/** {@link Store.beginSecondFactor}, or the calls it stands for. */
export async function beginSecondFactor(
  store: Store,
  userId: string,
  input: BeginSecondFactorInput,
): Promise<BeginSecondFactorResult> {
  if (store.beginSecondFactor) return store.beginSecondFactor(userId, input);
  const { now } = input;
  return beginSecondFactorInSteps(
    {
      claimNonce: (key, value, expiresAt) => store.claimNonce(userId, key, value, expiresAt, now),
      listAuthenticators: () => store.listAuthenticators(userId, now),
      getNonce: (key) => store.getNonce(userId, key, now),
      takeAttempt: (key, limit, ttlMs) => store.takeAttempt(userId, key, limit, ttlMs, now),
    },
    input,
  );
}

/** {@link Store.consumeCounterAndReset}, or the two calls it stands for. */
export async function consumeCounterAndReset(
  store: Store,
  userId: string,
  authenticatorId: string,
  counter: number,
  now: number,
  reset: { key: string; expected: CounterState },
): Promise<boolean> {
  if (store.consumeCounterAndReset) {
    return store.consumeCounterAndReset(userId, authenticatorId, counter, now, reset);
  }
  if (!(await store.consumeCounter(userId, authenticatorId, counter, now))) return false;
  await store.resetCounterIfUnchanged(userId, reset.key, reset.expected);
  return true;
}

/** {@link Store.putNonces}, or one putNonce after the other, in the order given. */
export async function putNonces(store: Store, userId: string, nonces: readonly NonceWrite[], now: number) {
  if (store.putNonces) return store.putNonces(userId, nonces, now);
  for (const { key, value, expiresAt } of nonces) await store.putNonce(userId, key, value, expiresAt, now);
}

/**
 * {@link Store.finishSecondFactor}, or the calls it stands for: {@link consumeCounterAndReset}, then,
 * only when the step was spent, {@link putNonces}.
 */
export async function finishSecondFactor(
  store: Store,
  userId: string,
  input: FinishSecondFactorInput,
): Promise<boolean> {
  if (store.finishSecondFactor) return store.finishSecondFactor(userId, input);
  const { authenticatorId, counter, now, reset, nonces } = input;
  if (!(await consumeCounterAndReset(store, userId, authenticatorId, counter, now, reset))) return false;
  if (nonces.length > 0) await putNonces(store, userId, nonces, now);
  return true;
}
