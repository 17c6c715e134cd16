/** A clock the suite moves by hand, so expiry is tested without real waiting. */
export interface SuiteClock {
  /** The current time in milliseconds since the epoch. */
  now(): number;
  /** Moves the clock forward by `ms` milliseconds (a finite number >= 0). */
  advance(ms: number): void;
}

/** What the suite hands to `makeStore` and to `additionalTests`. */
export interface StoreSuiteContext {
  /**
   * A controllable clock: milliseconds since the epoch, starting at the real `Date.now()` rounded
   * down to a whole second. The suite passes `clock.now()` as `now` to every store operation; a store
   * that needs a clock of its own (a sweep timer, say) should take this one.
   */
  clock: SuiteClock;
  /**
   * A prefix unique to this run of the suite (lowercase letters and digits), so parallel runs against
   * one database never collide. Every user id the suite writes starts with it; an adapter may also
   * use it as a key prefix or namespace.
   */
  runId: string;
}
