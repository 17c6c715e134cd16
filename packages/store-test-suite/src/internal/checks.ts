import type { AddAuthenticatorOutcome } from '@twofold/core';
import type { Test } from 'tap';
import type { BehaviourEnv } from './behaviour.js';

// Assertions several behaviours share about what a user has.

/**
 * Asserts that the user has `codes.length` recovery codes and that the first of `codes` is one of
 * them (consuming it: the user has one fewer afterwards).
 */
export async function expectCodes(
  t: Test,
  env: BehaviourEnv,
  userId: string,
  codes: readonly string[],
  label: string,
): Promise<void> {
  t.equal(await env.store.countRecoveryCodes(userId), codes.length, `${label}: count`);
  const [first] = codes;
  if (first !== undefined) {
    t.equal(await env.store.consumeRecoveryCode(userId, first), true, `${label}: a code is consumable`);
  }
}

/**
 * Asserts that the user's recovery codes are exactly `codes`, by counting them and consuming every
 * one (so the user has none left afterwards: call it last).
 */
export async function expectExactCodes(
  t: Test,
  env: BehaviourEnv,
  userId: string,
  codes: readonly string[],
  label: string,
): Promise<void> {
  t.equal(await env.store.countRecoveryCodes(userId), codes.length, `${label}: count`);
  const consumed = [];
  for (const code of codes) consumed.push(await env.store.consumeRecoveryCode(userId, code));
  t.strictSame(
    consumed,
    codes.map(() => true),
    `${label}: every code is consumable`,
  );
}

/** Asserts that none of `codes` is a recovery code of the user (nothing changes). */
export async function expectNoneOf(
  t: Test,
  env: BehaviourEnv,
  userId: string,
  codes: readonly string[],
  label: string,
): Promise<void> {
  const consumed = [];
  for (const code of codes) consumed.push(await env.store.consumeRecoveryCode(userId, code));
  t.strictSame(
    consumed,
    codes.map(() => false),
    `${label}: none of them is stored`,
  );
}

/** How many times each outcome occurs in `outcomes`, the absent ones left out. */
export function tally<T extends string>(outcomes: readonly T[]): Partial<Record<T, number>> {
  const counts: Partial<Record<T, number>> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

/** The indexes of the calls that added their authenticator (`enabled` or `added`). */
export function addedIndexes(outcomes: readonly AddAuthenticatorOutcome[]): number[] {
  const indexes: number[] = [];
  outcomes.forEach((outcome, index) => {
    if (outcome === 'enabled' || outcome === 'added') indexes.push(index);
  });
  return indexes;
}
