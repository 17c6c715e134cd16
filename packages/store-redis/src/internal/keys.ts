/**
 * Key layout of the Redis store, version 2. Every key of one user starts with `${prefix}{${tag}}:`,
 * where the tag is the user id encoded so that no user id can end the hash tag early or reach another
 * user's keys:
 *
 * | key                        | type   | expiry                                              |
 * | -------------------------- | ------ | --------------------------------------------------- |
 * | `<user>a:<authenticatorId>`| hash   | one authenticator of either type (fields below); pending TOTP: TTL until `expiresAt`; active TOTP and WebAuthn: none |
 * | `<user>ai`                 | set    | ids of the user's authenticators of both types; none while one is active, else the longest pending TTL |
 * | `<user>rc`                 | set    | recovery code hashes; none (only exists beside an active authenticator) |
 * | `<user>c:<counterKey>`     | hash   | `n` count, `e` expiresAt; TTL until `e` (every counter operation) |
 * | `<user>n:<nonceKey>`       | hash   | `v` value, `e` expiresAt; TTL until `e`             |
 * | `<user>ni`                 | zset   | nonce index: member = nonce key, score = its `e`; TTL a second past the latest score (never shortened) |
 *
 * The nonce index is kept by every script that writes or deletes a nonce (put, claim, swap, take,
 * delete, getNonce's collection of an expired one, takeNonceAndDeleteTwoFactor), in the same run, and
 * pruned of members scored at or before the caller's `now` on each write that has a `now`.
 * listNonces reads it (one script, no SCAN); findNonces still scans for `<prefix>{*}:n:<key>`, which
 * an index key (`}:ni`, no colon after `n`) never matches. It was added to layout version 2 without a
 * migration: a nonce written before it has no member, so listNonces does not show it until it is
 * written again (it still works for every other operation and expires as before). deleteTwoFactor
 * leaves nonces, and so the index, alone.
 *
 * The one-letter parts after the tag keep the kinds apart, so a counter and a nonce with the same
 * name never share a key.
 *
 * Fields of an authenticator hash (numbers as decimal strings, booleans as `1`/`0`, a null value as
 * an absent field):
 *
 * | type       | fields                                                                                  |
 * | ---------- | --------------------------------------------------------------------------------------- |
 * | TOTP       | `type` = `totp`, `name`, `status` (`pending`/`active`), `sealedSecret`, `algorithm`, `digits`, `period`, `lastCounter`, `createdAt`, `confirmedAt`, `lastUsedAt`, `expiresAt` |
 * | WebAuthn   | `type` = `webauthn`, `name`, `status` = `active` (always), `credentialId`, `publicKey`, `counter`, `transports` (a JSON array), `aaguid`, `backupEligible`, `backupState`, `createdAt`, `lastUsedAt` |
 *
 * Version 2 (several authenticators, WebAuthn) added the `type` and `name` fields and the WebAuthn
 * hashes; it added no key. A hash without `type` is a TOTP authenticator written by version 1 and one
 * without `name` has a null name, so version 1 data needs no migration. A WebAuthn credential keeps
 * `status` = `active` so that every rule looking for an active authenticator (the index TTL, the
 * recovery-code and delete scripts, of both versions) counts it without knowing its type. Its
 * credential id is a field, never part of a key (it may be 1,366 characters long).
 */

/**
 * The user id as a hash tag body: base64url of its UTF-16 code units, so every JavaScript string (even
 * one with a lone surrogate) gets its own tag, free of `{`, `}` and `:`. Empty only for the empty id,
 * which the store refuses before building a key.
 */
export function encodeUserTag(userId: string): string {
  return Buffer.from(userId, 'utf16le').toString('base64url');
}

/** The inverse of {@link encodeUserTag}, for operators reading keys. */
export function decodeUserTag(tag: string): string {
  return Buffer.from(tag, 'base64url').toString('utf16le');
}

/** Builds every key of one store; `prefix` has been checked to hold no `{` or `}`. */
export class KeyLayout {
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** `${prefix}{tag}:`, the start of every key of the user. */
  user(userId: string): string {
    return `${this.#prefix}{${encodeUserTag(userId)}}:`;
  }

  /** Prefix of the authenticator hashes of the user; the scripts append an authenticator id. */
  authenticatorPrefix(userId: string): string {
    return `${this.user(userId)}a:`;
  }

  authenticator(userId: string, authenticatorId: string): string {
    return `${this.authenticatorPrefix(userId)}${authenticatorId}`;
  }

  authenticatorIndex(userId: string): string {
    return `${this.user(userId)}ai`;
  }

  recoveryCodes(userId: string): string {
    return `${this.user(userId)}rc`;
  }

  counter(userId: string, key: string): string {
    return `${this.user(userId)}c:${key}`;
  }

  /** Prefix of the nonce hashes of the user; a nonce key follows it. */
  noncePrefix(userId: string): string {
    return `${this.user(userId)}n:`;
  }

  nonce(userId: string, key: string): string {
    return `${this.noncePrefix(userId)}${key}`;
  }

  /**
   * The user's nonce index: a sorted set, member = nonce key, score = its expiresAt. No colon after
   * `ni`, so no nonce (`n:<key>`) and no counter (`c:<key>`) can be named like it.
   */
  nonceIndex(userId: string): string {
    return `${this.user(userId)}ni`;
  }

  /**
   * A SCAN MATCH pattern for the nonce `key` of every user, `<prefix>{*}:n:<key>` with the glob
   * characters of the prefix and the key escaped. The `*` may also run past a tag (a key
   * `x}:n:<key>` of another nonce matches), so {@link nonceOwner} decides on each key found.
   */
  anyUserNoncePattern(key: string): string {
    return `${escapeGlob(this.#prefix)}{*}:n:${escapeGlob(key)}`;
  }

  /**
   * The user whose nonce `key` the Redis key `redisKey` is, or undefined when it is anything else
   * (another store's key, another nonce, a tag that is not the canonical encoding of a user id).
   */
  nonceOwner(redisKey: string, key: string): string | undefined {
    const start = `${this.#prefix}{`;
    if (!redisKey.startsWith(start)) return undefined;
    // A tag holds no `}`: the first one after the `{` ends it.
    const close = redisKey.indexOf('}', start.length);
    if (close <= start.length || redisKey.slice(close) !== `}:n:${key}`) return undefined;
    const tag = redisKey.slice(start.length, close);
    const userId = decodeUserTag(tag);
    return encodeUserTag(userId) === tag ? userId : undefined;
  }
}

/** `text` with the characters Redis glob patterns give a meaning (`*`, `?`, `[`, `]`, `\`) escaped. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
