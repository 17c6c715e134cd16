import { Totp } from '@twofold/otp';
import {
  createKeyring,
  createTwoFactor,
  type Keyring,
  memoryStore,
  type Store,
  type TwoFactorOptions,
} from '../src/index.js';

/** A controllable clock, in ms, starting in the middle of a 30 s step. */
export function fakeClock(start = 1_800_000_015_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

export function testKeyring(tag = 'k1', fill = 1): Keyring {
  return createKeyring({ keys: { [tag]: new Uint8Array(32).fill(fill) }, current: tag });
}

/** An engine over memoryStore with a fake clock; options override the defaults. */
export function makeEngine(overrides: Partial<TwoFactorOptions> = {}) {
  const clock = fakeClock();
  const store: Store = (overrides.store as Store | undefined) ?? memoryStore();
  const keyring = (overrides.keyring as Keyring | undefined) ?? testKeyring();
  const twoFactor = createTwoFactor({ issuer: 'Acme', ...overrides, store, keyring, clock: clock.now });
  return { twoFactor, store, keyring, clock };
}

/** The code an authenticator app would show for `secret` at `time` plus `steps` steps. */
export function codeAt(secret: string, time: number, steps = 0, period = 30): string {
  return new Totp({ secret, period, minSecretBytes: 10 }).generate(time + steps * period * 1000).token;
}

/** A well-formed code that matches no step in a +-3 window around `time`. */
export function wrongCode(secret: string, time: number): string {
  const nearby = new Set([-3, -2, -1, 0, 1, 2, 3].map((steps) => codeAt(secret, time, steps)));
  for (let candidate = 0; ; candidate += 111_111) {
    const code = String(candidate % 1_000_000).padStart(6, '0');
    if (!nearby.has(code)) return code;
  }
}

/** Enrolls and confirms a user; returns the secret and recovery codes. */
export async function enrolledUser(env: ReturnType<typeof makeEngine>, userId = 'user-1') {
  const enrollment = await env.twoFactor.enroll(userId, { label: 'ada@example.com' });
  const { recoveryCodes } = await env.twoFactor.confirm(userId, codeAt(enrollment.secret, env.clock.now()));
  // The confirming code's step is spent; move to the next step so a fresh code exists.
  env.clock.advance(30_000);
  return { userId, secret: enrollment.secret, recoveryCodes, enrollment };
}

/** Waits until events scheduled with setImmediate have run. */
export function flushEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/**
 * A store whose every operation waits a random 0-3 turns of the event loop before and after running,
 * so that concurrent flows interleave their store calls as they do over a network (each operation
 * itself stays atomic, as the contract says). memoryStore alone runs flows one call at a time and
 * would hide check-then-act bugs.
 */
export function interleavingStore(inner: Store = memoryStore()): Store {
  const pause = async () => {
    for (let turns = Math.floor(Math.random() * 4); turns > 0; turns--) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await pause();
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await pause();
        return result;
      };
    },
  });
}
