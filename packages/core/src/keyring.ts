/**
 * The keyring: named 32-byte keys that seal TOTP secrets at rest and feed every other keyed
 * operation (recovery-code hashes, challenge-token signatures) through derived subkeys.
 *
 * Like passlib's AppWallet, keys carry tags and the tag travels with what they protect, so a key
 * can be rotated by adding a new current key while older ones stay to open what they sealed.
 *
 * Sealing: AES-256-GCM with a random 96-bit nonce. The envelope is ASCII:
 * `tf1.<tag>.<base64url(nonce | ciphertext | 16-byte GCM tag)>`. The GCM associated data is a
 * domain prefix, the tag and the caller's associated data (the user id), so neither a sealed secret
 * copied to another user nor an envelope relabelled with another tag opens.
 *
 * Key separation: the raw key is used only as HKDF-SHA-256 input keying material. The AES key is
 * HKDF(info `twofold/seal-key/v1`); {@link Keyring.deriveKey} uses info `twofold/subkey/v1\0<purpose>`,
 * so no purpose string can ever yield the sealing key.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { SealBrokenError, UnknownKeyError } from './errors.js';
import { decodeBase64url, encodeBase64url } from './internal/base64url.js';
import { cryptoRandom, type RandomBytes, randomOption, takeRandom } from './internal/random.js';

/** A set of tagged keys, one of them current. Holds key material only in a closure. */
export interface Keyring {
  /** Tag of the key new seals use. */
  readonly currentTag: string;
  /** Tags of all keys, current first. */
  readonly tags: readonly string[];
  /**
   * Seals `plaintext` under the current key. `associatedData` (the user id) is bound by GCM: the
   * envelope opens only with the same value.
   * @example keyring.seal(secretBytes, userId) // 'tf1.k20261123-3fa2.Zm9v...'
   */
  seal(plaintext: Uint8Array, associatedData: string): string;
  /**
   * Opens an envelope made by {@link Keyring.seal}. `needsReseal` is true when it was sealed under a
   * tag other than the current one: seal the plaintext again and store the result.
   * @throws {UnknownKeyError} the envelope names a tag this keyring does not have.
   * @throws {SealBrokenError} the envelope is malformed, tampered with, or sealed for other associated data.
   */
  open(envelope: string, associatedData: string): { plaintext: Uint8Array; needsReseal: boolean };
  /**
   * A 32-byte subkey for `purpose` (e.g. `'challenge-token'`) from the key `tag` (default: the
   * current key), via HKDF-SHA-256. Computed once per (tag, purpose); each call returns a fresh copy.
   * @throws {UnknownKeyError} `tag` is not in the keyring.
   */
  deriveKey(purpose: string, tag?: string): Uint8Array;
}

/** Options of {@link createKeyring}. */
export interface KeyringOptions {
  /** Tag -> key: 32 bytes, or their base64url (padding optional) or standard base64 text. */
  keys: Record<string, Uint8Array | string>;
  /** Tag of the key new seals use; must be one of `keys`. */
  current: string;
  /** Random source for nonces (default: node:crypto). For tests. */
  random?: (size: number) => Uint8Array;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;
const TAG_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const TAG_RULE = '1-32 characters of A-Z a-z 0-9 _ -';
const KEY_TEXT_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;
const ENVELOPE_PATTERN = /^tf1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)$/;
const HKDF_SALT = Buffer.from('twofold/keyring/v1');
const SEAL_KEY_INFO = Buffer.from('twofold/seal-key/v1');
const SUBKEY_INFO_PREFIX = 'twofold/subkey/v1\0';
const SEAL_AAD_PREFIX = 'twofold/sealed-secret/v1\0';

/**
 * Creates a keyring from tagged keys. Every problem (no keys, a missing or wrong-sized key, a bad
 * tag, `current` not among the keys, two tags holding the same key) is a TypeError at startup whose
 * message names the tag but never shows key material.
 * @param options.keys tag -> 32-byte key (bytes or base64url/base64 text)
 * @param options.current the tag new seals use
 * @param options.random nonce source, default node:crypto
 * @example
 * const keyring = createKeyring({ keys: { k2: newKey, k1: oldKey }, current: 'k2' });
 */
export function createKeyring(options: KeyringOptions): Keyring {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createKeyring: options must be an object with `keys` and `current`');
  }
  const { keys, current } = options;
  if (typeof keys !== 'object' || keys === null || keys instanceof Uint8Array || Array.isArray(keys)) {
    throw new TypeError('createKeyring: `keys` must be an object mapping tags to 32-byte keys');
  }
  const entries = Object.entries(keys).map(([tag, key], index): [string, Buffer] => {
    checkTag(tag, `createKeyring: key ${index + 1}`);
    return [tag, keyBytes(key, `createKeyring: key "${tag}"`)];
  });
  return buildKeyring(entries, current, randomOption('createKeyring', options.random), 'createKeyring');
}

/**
 * Parses a keyring from its environment-variable form: comma-separated `tag:key` entries, keys in
 * base64url (or base64), whitespace around entries ignored. THE FIRST ENTRY IS THE CURRENT KEY:
 * to rotate, put a new entry first and keep the old ones after it until nothing uses them.
 * @throws {TypeError} when the text is missing, empty or malformed (the message names the entry by
 * position and tag, never its key).
 * @example
 * const keyring = parseKeyring(process.env.TWOFOLD_KEYS ?? ''); // 'k2:3q2-7w...,k1:AAEC...'
 */
export function parseKeyring(text: string): Keyring {
  if (typeof text !== 'string') {
    throw new TypeError('parseKeyring: expected a string of comma-separated tag:key entries (is it set?)');
  }
  if (text.trim() === '') throw new TypeError('parseKeyring: the keyring is empty');
  const entries: [string, Buffer][] = [];
  const seen = new Set<string>();
  for (const [index, part] of text.split(',').entries()) {
    const where = `parseKeyring: entry ${index + 1}`;
    const entry = part.trim();
    if (entry === '') throw new TypeError(`${where} is empty`);
    const colon = entry.indexOf(':');
    if (colon === -1) throw new TypeError(`${where} has no ":" between tag and key`);
    const tag = entry.slice(0, colon).trim();
    checkTag(tag, where);
    if (seen.has(tag)) throw new TypeError(`${where}: tag "${tag}" appears more than once`);
    seen.add(tag);
    entries.push([tag, keyBytes(entry.slice(colon + 1).trim(), `${where} (key "${tag}")`)]);
  }
  return buildKeyring(entries, entries[0]![0], cryptoRandom, 'parseKeyring');
}

/**
 * Makes a new random key as one entry of the environment form, `tag:<base64url of 32 bytes>`.
 * The default tag is `k` + the UTC date as YYYYMMDD + `-` + 4 random hex digits, so two keys made
 * the same day differ.
 * @param tag the tag to use (default: dated as above)
 * @param options.now the time for the default tag, in ms (default: now)
 * @param options.random random source (default: node:crypto)
 * @example generateKey() // 'k20261123-9c1e:Qm9vdHN0cmFw...'
 */
export function generateKey(
  tag?: string,
  options: { now?: number; random?: (size: number) => Uint8Array } = {},
): string {
  const random = randomOption('generateKey', options.random);
  if (tag === undefined) {
    const date = new Date(options.now ?? Date.now());
    if (Number.isNaN(date.getTime())) throw new TypeError('generateKey: options.now must be a time in ms');
    const day = date.toISOString().slice(0, 10).replaceAll('-', '');
    tag = `k${day}-${Buffer.from(takeRandom(random, 2)).toString('hex')}`;
  } else {
    checkTag(tag, 'generateKey: tag');
  }
  return `${tag}:${encodeBase64url(takeRandom(random, KEY_BYTES))}`;
}

function buildKeyring(
  entries: [string, Buffer][],
  current: unknown,
  random: RandomBytes,
  where: string,
): Keyring {
  if (entries.length === 0) throw new TypeError(`${where}: the keyring is empty`);
  const rawKeys = new Map(entries);
  if (typeof current !== 'string' || !rawKeys.has(current)) {
    const shown = typeof current === 'string' && TAG_PATTERN.test(current) ? ` ("${current}")` : '';
    throw new TypeError(`${where}: the current tag${shown} is not one of the keyring's tags`);
  }
  for (const [index, [tag, key]] of entries.entries()) {
    const twin = entries.slice(0, index).find(([, other]) => other.equals(key));
    if (twin) throw new TypeError(`${where}: keys "${twin[0]}" and "${tag}" are the same key`);
  }
  const sealKeys = new Map<string, Buffer>();
  for (const [tag, key] of rawKeys) sealKeys.set(tag, hkdf(key, SEAL_KEY_INFO));
  const subkeys = new Map<string, Uint8Array>();
  const tags = Object.freeze([current, ...rawKeys.keys()].filter((tag, i) => i === 0 || tag !== current));

  const keyring: Keyring = {
    currentTag: current,
    tags,
    seal(plaintext, associatedData) {
      if (!(plaintext instanceof Uint8Array)) throw new TypeError('seal: plaintext must be a Uint8Array');
      checkAssociatedData(associatedData, 'seal');
      const nonce = takeRandom(random, NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', sealKeys.get(current)!, nonce, {
        authTagLength: GCM_TAG_BYTES,
      });
      cipher.setAAD(sealAad(current, associatedData));
      const body = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return `tf1.${current}.${encodeBase64url(body)}`;
    },
    open(envelope, associatedData) {
      checkAssociatedData(associatedData, 'open');
      const match = typeof envelope === 'string' ? ENVELOPE_PATTERN.exec(envelope) : null;
      if (!match) throw new SealBrokenError();
      const tag = match[1]!;
      const key = sealKeys.get(tag);
      if (!key) throw new UnknownKeyError(tag);
      const body = decodeBase64url(match[2]!);
      if (!body || body.byteLength < NONCE_BYTES + GCM_TAG_BYTES) throw new SealBrokenError();
      const nonce = body.subarray(0, NONCE_BYTES);
      const ciphertext = body.subarray(NONCE_BYTES, body.byteLength - GCM_TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
      decipher.setAuthTag(body.subarray(body.byteLength - GCM_TAG_BYTES));
      decipher.setAAD(sealAad(tag, associatedData));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        throw new SealBrokenError();
      }
      return {
        plaintext: new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength),
        needsReseal: tag !== current,
      };
    },
    deriveKey(purpose, tag = current) {
      if (typeof purpose !== 'string' || purpose === '') {
        throw new TypeError('deriveKey: purpose must be a non-empty string');
      }
      const key = typeof tag === 'string' ? rawKeys.get(tag) : undefined;
      if (!key) throw new UnknownKeyError(String(tag));
      const cacheKey = `${tag}\0${purpose}`;
      let subkey = subkeys.get(cacheKey);
      if (!subkey) {
        subkey = new Uint8Array(hkdf(key, Buffer.from(SUBKEY_INFO_PREFIX + purpose)));
        subkeys.set(cacheKey, subkey);
      }
      return subkey.slice();
    },
  };
  return Object.freeze(keyring);
}

function hkdf(key: Uint8Array, info: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', key, HKDF_SALT, info, KEY_BYTES));
}

function sealAad(tag: string, associatedData: string): Buffer {
  return Buffer.from(`${SEAL_AAD_PREFIX}${tag}\0${associatedData}`, 'utf8');
}

function checkAssociatedData(associatedData: unknown, where: string): void {
  if (typeof associatedData !== 'string') {
    throw new TypeError(`${where}: associatedData must be a string (the user id)`);
  }
}

function checkTag(tag: unknown, where: string): asserts tag is string {
  if (typeof tag !== 'string' || !TAG_PATTERN.test(tag)) {
    throw new TypeError(`${where}: the tag is not valid (use ${TAG_RULE})`);
  }
}

/** The 32 key bytes, copied so later changes to the caller's array cannot reach the keyring. */
function keyBytes(key: unknown, where: string): Buffer {
  if (key === undefined || key === null || key === '') throw new TypeError(`${where} is missing`);
  let bytes: Buffer;
  if (key instanceof Uint8Array) {
    bytes = Buffer.from(key);
  } else if (typeof key === 'string') {
    if (!KEY_TEXT_PATTERN.test(key)) throw new TypeError(`${where} is not base64url or base64 text`);
    bytes = Buffer.from(key, 'base64');
  } else {
    throw new TypeError(`${where} must be a Uint8Array or base64url text`);
  }
  if (bytes.byteLength !== KEY_BYTES) {
    throw new TypeError(`${where} must be ${KEY_BYTES} bytes, got ${bytes.byteLength}`);
  }
  return bytes;
}
