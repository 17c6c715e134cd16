import type {
  AttemptState,
  BeginSecondFactorInput,
  BeginSecondFactorResult,
  CounterState,
  NonceWrite,
  Store,
} from '../store.js';
import { isActive } from './authenticator-state.js';

/**
 * The store calls that a verify and a new session make, as one call each when the store offers the
 * optional operation that combines them, and otherwise as the same required calls one by one (a
 * host's own store keeps working; it only costs more round trips).
 */

/** {@link Store.beginSecondFactor}, or the calls it stands for. */
export async function beginSecondFactor(
  store: Store,
  userId: string,
  input: BeginSecondFactorInput,
): Promise<BeginSecondFactorResult> {
  if (store.beginSecondFactor) return store.beginSecondFactor(userId, input);
  const { claim, now } = input;
  if (claim && !(await store.claimNonce(userId, claim.key, claim.value, claim.expiresAt, now))) {
    return { claimed: false, authenticators: [], attempts: [], nonce: null };
  }
  const [authenticators, nonce] = await Promise.all([
    store.listAuthenticators(userId, now),
    input.readNonce === null ? null : store.getNonce(userId, input.readNonce, now),
  ]);
  const attempts: AttemptState[] = [];
  if (authenticators.some(isActive)) {
    for (const { key, limit, ttlMs } of input.attempts) {
      const attempt = await store.takeAttempt(userId, key, limit, ttlMs, now);
      attempts.push(attempt);
      if (!attempt.taken) break;
    }
  }
  return { claimed: true, authenticators, attempts, nonce };
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
