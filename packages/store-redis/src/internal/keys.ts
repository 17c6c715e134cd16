/**
 * Key layout of the Redis store. Every key of one user starts with `${prefix}{${tag}}:`, where the tag
 * is the user id encoded so that no user id can end the hash tag early or reach another user's keys:
 *
 * | key                        | type   | expiry                                              |
 * | -------------------------- | ------ | --------------------------------------------------- |
 * | `<user>a:<authenticatorId>`| hash   | pending: TTL until `expiresAt`; active: none        |
 * | `<user>ai`                 | set    | ids of the user's authenticators; none while one is active, else the longest pending TTL |
 * | `<user>rc`                 | set    | recovery code hashes; none (only exists beside an active authenticator) |
 * | `<user>c:<counterKey>`     | hash   | `n` count, `e` expiresAt; TTL until `e` (every counter operation) |
 * | `<user>n:<nonceKey>`       | hash   | `v` value, `e` expiresAt; TTL until `e`             |
 *
 * The one-letter parts after the tag keep the kinds apart, so a counter and a nonce with the same
 * name never share a key.
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

  nonce(userId: string, key: string): string {
    return `${this.user(userId)}n:${key}`;
  }
}
