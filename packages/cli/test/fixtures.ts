/** Users enrolled through the real engine, for the rotation tests. */
import { createTwoFactor, type Keyring, type Store } from '@twofold/core';
import { Totp } from '@twofold/otp';

/** Enrollments happen at this time (the middle of a 30 s step); verifications come later. */
export const ENROLLED_AT = 1_800_000_015_000;

export interface EnrolledUser {
  userId: string;
  /** Base32, as the authenticator app holds it. */
  secret: string;
  /** Pending (enrolled, never confirmed) or active. */
  status: 'pending' | 'active';
}

/** The engine on `store` and `keyring`, at a fixed clock (`now()` to read, `set` to move it). */
export function engineAt(store: Store, keyring: Keyring | string, time = ENROLLED_AT) {
  let now = time;
  const twoFactor = createTwoFactor({ store, keyring, issuer: 'Acme', clock: () => now });
  return {
    twoFactor,
    now: () => now,
    set(ms: number) {
      now = ms;
    },
  };
}

/** The code an authenticator app shows for `secret` at `time`. */
export function codeAt(secret: string, time: number): string {
  return new Totp({ secret }).generate(time).token;
}

/**
 * Enrolls `count` users through the engine under `keyring`; every `pendingEvery`-th one is left
 * pending, the others are confirmed with a code, as a real app's store fills up.
 */
export async function enrollUsers(
  store: Store,
  keyring: Keyring | string,
  count: number,
  options: { prefix?: string; pendingEvery?: number } = {},
): Promise<EnrolledUser[]> {
  const { twoFactor } = engineAt(store, keyring);
  const users: EnrolledUser[] = [];
  for (let index = 0; index < count; index++) {
    const userId = `${options.prefix ?? 'user'}-${String(index).padStart(4, '0')}`;
    const { secret } = await twoFactor.enroll(userId, { label: `${userId}@example.com` });
    const pending = options.pendingEvery !== undefined && index % options.pendingEvery === 0;
    if (!pending) await twoFactor.confirm(userId, codeAt(secret, ENROLLED_AT));
    users.push({ userId, secret, status: pending ? 'pending' : 'active' });
  }
  return users;
}
