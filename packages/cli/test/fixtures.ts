/** Users enrolled through the real engine, for the rotation tests. */
import { createTwoFactor, type Keyring, parseKeyring, type Store } from '@twofold/core';
import { generateSecret, Totp } from '@twofold/otp';

/** Enrollments happen at this time (the middle of a 30 s step); verifications come later. */
export const ENROLLED_AT = 1_800_000_015_000;

/** One authenticator app of a user (a user with several apps has one of these for each). */
export interface EnrolledUser {
  userId: string;
  /** The authenticator's id: what enroll returned (`t_...`), or `totp` for an app enrolled before ids were random. */
  authenticatorId: string;
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
 * Enrolls one more authenticator app of `userId` through the engine under `keyring`, confirmed with
 * a code unless `pending`.
 */
export async function enrollApp(
  store: Store,
  keyring: Keyring | string,
  userId: string,
  options: { pending?: boolean } = {},
): Promise<EnrolledUser> {
  const { twoFactor } = engineAt(store, keyring);
  const { authenticatorId, secret } = await twoFactor.enroll(userId, { label: `${userId}@example.com` });
  if (!options.pending) {
    await twoFactor.confirm(userId, codeAt(secret, ENROLLED_AT), { authenticatorId });
  }
  return { userId, authenticatorId, secret, status: options.pending ? 'pending' : 'active' };
}

/**
 * Enrolls `count` users through the engine under `keyring`; every `pendingEvery`-th one is left
 * pending, the others are confirmed with a code, as a real app's store fills up. One app each.
 */
export async function enrollUsers(
  store: Store,
  keyring: Keyring | string,
  count: number,
  options: { prefix?: string; pendingEvery?: number } = {},
): Promise<EnrolledUser[]> {
  const users: EnrolledUser[] = [];
  for (let index = 0; index < count; index++) {
    const userId = `${options.prefix ?? 'user'}-${String(index).padStart(4, '0')}`;
    const pending = options.pendingEvery !== undefined && index % options.pendingEvery === 0;
    users.push(await enrollApp(store, keyring, userId, { pending }));
  }
  return users;
}

/**
 * An active app of `userId` under the id `totp`, as the engine enrolled every app before ids were
 * random (such rows stay in upgraded databases), written through the store as that engine did.
 */
export async function enrollLegacyApp(
  store: Store,
  keyring: Keyring | string,
  userId: string,
): Promise<EnrolledUser> {
  const ring = typeof keyring === 'string' ? parseKeyring(keyring) : keyring;
  const raw = generateSecret();
  const sealedSecret = ring.seal(raw, userId);
  const totp = new Totp({ secret: raw });
  const secret = totp.base32;
  const saved = await store.savePendingAuthenticator(
    {
      type: 'totp',
      userId,
      id: 'totp',
      name: null,
      status: 'pending',
      sealedSecret,
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      lastCounter: -1,
      createdAt: ENROLLED_AT,
      confirmedAt: null,
      lastUsedAt: null,
      expiresAt: ENROLLED_AT + 600_000,
    },
    ENROLLED_AT,
  );
  const outcome = await store.confirmAuthenticator(userId, 'totp', {
    sealedSecret,
    counter: totp.generate(ENROLLED_AT).counter,
    recoveryCodeHashes: ['legacy-hash'],
    maxActive: 10,
    now: ENROLLED_AT,
  });
  if (!saved || (outcome !== 'enabled' && outcome !== 'added')) {
    throw new Error(`the legacy app of ${userId} was not enrolled (${outcome})`);
  }
  return { userId, authenticatorId: 'totp', secret, status: 'active' };
}

/**
 * Adds a security key (a WebAuthn credential, which holds a public key and no secret) to `userId`,
 * straight through the store: rotation must leave it alone.
 */
export async function addSecurityKey(store: Store, userId: string, id: string): Promise<void> {
  const outcome = await store.addWebAuthnCredential(
    {
      type: 'webauthn',
      userId,
      id,
      name: 'YubiKey',
      credentialId: Buffer.from(`credential ${userId} ${id}`).toString('base64url'),
      publicKey: Buffer.from(`public key ${userId} ${id}`).toString('base64url'),
      counter: 7,
      transports: ['usb', 'nfc'],
      aaguid: '00000000-0000-0000-0000-000000000000',
      backupEligible: false,
      backupState: false,
      createdAt: ENROLLED_AT,
      lastUsedAt: null,
    },
    { recoveryCodeHashes: ['key-hash'], maxActive: 10, now: ENROLLED_AT },
  );
  if (outcome !== 'enabled' && outcome !== 'added') {
    throw new Error(`the security key ${id} of ${userId} was not added (${outcome})`);
  }
}
