import type { Store } from '@twofold/core';
import type { Test } from 'tap';
import type { SuiteClock } from '../suite-context.js';

/** What one behaviour gets: a fresh store and clock, and a source of fresh user ids. */
export interface BehaviourEnv {
  store: Store;
  clock: SuiteClock;
  /** A user id no other test has used; `suffix` is appended (tricky characters, padding). */
  userId(suffix?: string): string;
  /** How many calls a race starts at once. */
  concurrency: number;
  /** How many times each race is repeated. */
  rounds: number;
}

/** One contract check, named as the behaviour it proves. */
export interface Behaviour {
  name: string;
  run(t: Test, env: BehaviourEnv): Promise<void>;
}

/** The behaviours of one part of the Store interface. */
export interface BehaviourGroup {
  name: string;
  behaviours: readonly Behaviour[];
}
