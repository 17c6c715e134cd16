/**
 * Trusted devices (`trustedDevices` option): after a second factor, a browser or app may ask to be
 * remembered; it gets a device token, and a later password login presenting it skips the second
 * factor until the device's trust expires (`maxAgeDays` from when it was trusted, never extended).
 *
 * - A device token is signed (`typ` `twofold-device+jwt`, its own keyring subkey) and names its
 *   device (`dev`) and when the device was trusted (`dev_ms`). The store keeps the device's one live
 *   token id as the nonce `device:<id>`, and its description (name, dates, User-Agent, address) as
 *   `device-meta:<id>`.
 * - Each use rotates the token (compare-and-set of the live id, as for refresh tokens): presenting a
 *   spent token finds the swap failing and revokes the device, the thief's copy and the user's alike.
 * - Every device trusted before `revokeAll` (email recovery, 2FA turned on or off, sign out
 *   everywhere, an operator's reset) is refused, as sessions are.
 * - A login through a trusted device proves no second factor now: its tokens carry `tdv` and the
 *   step-up guards ask such a session for a fresh second factor.
 */
import { InvalidTokenError } from '../errors.js';
import { encodeBase64url } from '../internal/base64url.js';
import { cryptoRandom, takeRandom } from '../internal/random.js';
import { SESSIONS_REVOKED_BEFORE_KEY } from '../internal/session-keys.js';
import { createSignedTokens } from '../internal/signed-tokens.js';
import type { Keyring } from '../keyring.js';
import type { Store } from '../store.js';
import type { SessionClient } from './session-tokens.js';

export const DEVICE_TOKEN_TYPE = 'twofold-device+jwt';
export const DEVICE_TOKEN_AUDIENCE = 'twofold:device';
/** The cookie the plugins keep the device token in (HttpOnly, Secure, SameSite=Strict, under the prefix). */
export const DEVICE_COOKIE = 'twofold_device';

const DEVICE_PREFIX = 'device:';
const META_PREFIX = 'device-meta:';
const MAX_NAME = 64;
const MAX_USER_AGENT = 256;

/** A trusted device, as `GET /devices` lists it. */
export interface TrustedDeviceInfo {
  id: string;
  /** The name given when it was trusted, or one made from its User-Agent. */
  name: string;
  /** When it was trusted (after a second factor), ISO 8601. */
  createdAt: string;
  /** When it last skipped a second factor (or was trusted), ISO 8601. */
  lastUsedAt: string;
  /** When its trust ends, ISO 8601. */
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
}

export interface TrustedDevices {
  /** Trusts the device of a login that just passed a second factor: its id and first device token. */
  trust(
    userId: string,
    client: SessionClient | undefined,
    name: string | undefined,
  ): Promise<{ id: string; token: string }>;
  /**
   * Checks a device token presented with the password of `userId`; when it holds, rotates it and
   * resolves the next token. Null (and a reused token revokes its device) otherwise: the login goes
   * on to the second factor.
   */
  use(userId: string, token: unknown, client: SessionClient | undefined): Promise<string | null>;
  list(userId: string): Promise<TrustedDeviceInfo[]>;
  /** @returns false when the user has no live device with that id */
  revoke(userId: string, id: string): Promise<boolean>;
}

interface Meta {
  c: number;
  u: number;
  e: number;
  n: string | null;
  a: string | null;
  ip: string | null;
}

export function createTrustedDevices(options: {
  keyring: Keyring;
  issuer: string;
  store: Store;
  clock: () => number;
  maxAgeDays: number;
}): TrustedDevices {
  const { keyring, issuer, store, clock, maxAgeDays } = options;
  const tokens = createSignedTokens(
    keyring,
    issuer,
    {
      purpose: 'device-token',
      type: DEVICE_TOKEN_TYPE,
      audience: DEVICE_TOKEN_AUDIENCE,
      kind: 'device',
      noun: 'device token',
      invalid: (message, errorOptions) => new InvalidTokenError(message, errorOptions),
    },
    cryptoRandom,
  );

  function describe(
    created: number,
    used: number,
    expires: number,
    name: string | null,
    client?: SessionClient,
  ) {
    const meta: Meta = {
      c: created,
      u: used,
      e: expires,
      n: name,
      a: client?.userAgent ? client.userAgent.slice(0, MAX_USER_AGENT) : null,
      ip: client?.ip ?? null,
    };
    return JSON.stringify(meta);
  }

  async function forget(userId: string, id: string): Promise<void> {
    await store.deleteNonce(userId, `${DEVICE_PREFIX}${id}`);
    await store.deleteNonce(userId, `${META_PREFIX}${id}`);
  }

  return {
    async trust(userId, client, name) {
      const now = clock();
      const id = encodeBase64url(takeRandom(cryptoRandom, 16));
      const expiresAt = now + maxAgeDays * 86_400_000;
      const signed = tokens.sign(userId, { dev: id, dev_ms: now }, now, Math.floor((expiresAt - now) / 1000));
      const trimmed = name?.trim().slice(0, MAX_NAME) || null;
      // The description first: a device is trusted only once its token id is there.
      await store.putNonce(
        userId,
        `${META_PREFIX}${id}`,
        describe(now, now, expiresAt, trimmed, client),
        expiresAt,
        now,
      );
      await store.putNonce(userId, `${DEVICE_PREFIX}${id}`, signed.jti, expiresAt, now);
      return { id, token: signed.token };
    },

    async use(userId, token, client) {
      if (token === undefined || token === null || token === '') return null;
      const now = clock();
      let claims: ReturnType<typeof tokens.verify>;
      try {
        claims = tokens.verify(token, now);
      } catch (error) {
        if (error instanceof InvalidTokenError) return null;
        throw error;
      }
      const id = claims.dev;
      const trustedAt = claims.dev_ms;
      if (claims.sub !== userId || typeof id !== 'string' || typeof trustedAt !== 'number') return null;
      const [revokedBefore, metaValue] = await Promise.all([
        store.getNonce(userId, SESSIONS_REVOKED_BEFORE_KEY, now),
        store.getNonce(userId, `${META_PREFIX}${id}`, now),
      ]);
      if (revokedBefore !== null && trustedAt <= Number(revokedBefore)) {
        await forget(userId, id);
        return null;
      }
      // The next token keeps the device's end of trust: a use never extends it.
      const expiresAt = claims.exp * 1000;
      const next = tokens.sign(
        userId,
        { dev: id, dev_ms: trustedAt },
        now,
        Math.max(1, Math.floor((expiresAt - now) / 1000)),
      );
      if (!(await store.swapNonce(userId, `${DEVICE_PREFIX}${id}`, claims.jti, next.jti, expiresAt, now))) {
        // Spent (a copy used before) or revoked: the device is trusted no more.
        await forget(userId, id);
        return null;
      }
      const meta = readMeta(metaValue);
      await store.putNonce(
        userId,
        `${META_PREFIX}${id}`,
        describe(meta?.c ?? trustedAt, now, meta?.e ?? expiresAt, meta?.n ?? null, client),
        expiresAt,
        now,
      );
      return next.token;
    },

    async list(userId) {
      const now = clock();
      const [live, descriptions, revokedBefore] = await Promise.all([
        store.listNonces(userId, DEVICE_PREFIX, now),
        store.listNonces(userId, META_PREFIX, now),
        store.getNonce(userId, SESSIONS_REVOKED_BEFORE_KEY, now),
      ]);
      const described = new Map(
        descriptions.map((entry) => [entry.key.slice(META_PREFIX.length), entry.value]),
      );
      const devices: TrustedDeviceInfo[] = [];
      for (const entry of live) {
        const id = entry.key.slice(DEVICE_PREFIX.length);
        const meta = readMeta(described.get(id));
        if (!meta || (revokedBefore !== null && meta.c <= Number(revokedBefore))) continue;
        devices.push({
          id,
          name: meta.n ?? deviceName(meta.a),
          createdAt: new Date(meta.c).toISOString(),
          lastUsedAt: new Date(meta.u).toISOString(),
          expiresAt: new Date(meta.e).toISOString(),
          userAgent: meta.a,
          ip: meta.ip,
        });
      }
      return devices.sort((a, b) => (a.lastUsedAt < b.lastUsedAt ? 1 : a.lastUsedAt > b.lastUsedAt ? -1 : 0));
    },

    async revoke(userId, id) {
      const now = clock();
      if ((await store.getNonce(userId, `${DEVICE_PREFIX}${id}`, now)) === null) return false;
      await forget(userId, id);
      return true;
    },
  };
}

function readMeta(value: string | null | undefined): Meta | null {
  if (value === null || value === undefined) return null;
  try {
    const meta = JSON.parse(value) as Partial<Meta>;
    if (typeof meta.c !== 'number' || typeof meta.u !== 'number' || typeof meta.e !== 'number') return null;
    return {
      c: meta.c,
      u: meta.u,
      e: meta.e,
      n: typeof meta.n === 'string' ? meta.n : null,
      a: typeof meta.a === 'string' ? meta.a : null,
      ip: typeof meta.ip === 'string' ? meta.ip : null,
    };
  } catch {
    return null;
  }
}

/** A name for a device trusted without one: its browser, from the User-Agent, roughly. */
function deviceName(userAgent: string | null): string {
  if (!userAgent) return 'A device';
  // In order: Edge names Chrome and Safari too, Chrome names Safari.
  const browser = ['Edg', 'Firefox', 'Chrome', 'Safari'].find((name) => userAgent.includes(`${name}/`));
  const system = /\b(Windows|Android|iPhone|iPad|Mac OS X|Linux)\b/.exec(userAgent)?.[1];
  const names: Record<string, string> = { Edg: 'Edge', 'Mac OS X': 'macOS' };
  const parts = [browser && (names[browser] ?? browser), system && (names[system] ?? system)].filter(Boolean);
  return parts.length === 2 ? `${parts[0]} on ${parts[1]}` : (parts[0] ?? 'A device');
}
