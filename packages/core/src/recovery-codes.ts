/**
 * Recovery codes: one-time codes shown once at enrollment, stored only as keyed hashes.
 *
 * A code is 12 symbols of Crockford base32 (60 bits from the CSPRNG), shown as `XXXX-XXXX-XXXX`.
 * With that much entropy a fast keyed hash is enough (no password hashing): the store holds
 * `<tag>.<base64url(HMAC-SHA-256(subkey, userId \0 code))>` with the subkey derived from the
 * keyring, so a leaked store alone does not let anyone test guesses offline.
 */
import { createHmac } from 'node:crypto';
import { encodeBase64url } from './internal/base64url.js';
import { randomOption, takeRandom } from './internal/random.js';
import type { Keyring } from './keyring.js';

/** Crockford base32: the digits and the letters A-Z without I, L, O and U. */
export const RECOVERY_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const SYMBOLS = 12;
const GROUP = 4;
const MAX_COUNT = 100;
const MAX_INPUT_LENGTH = 64;
const KEY_PURPOSE = 'recovery-code';
const NORMALIZED_PATTERN = /^[0-9A-HJKMNP-TV-Z]{12}$/;
const ACCEPTED_INPUT = /^[A-Za-z0-9 \t\r\n_-]*$/;
const SEPARATORS = /[ \t\r\n_-]/g;

/**
 * Generates `count` distinct recovery codes, each `XXXX-XXXX-XXXX` (12 Crockford base32 symbols,
 * 60 bits). Each symbol takes the low 5 bits of one random byte; 32 symbols make that unbiased.
 * @param count how many codes, 1-100 (the engine's default is 10)
 * @param random random source (default: node:crypto)
 * @example generateRecoveryCodes(10) // ['7KQ2-M9XD-4HZT', ...]
 */
export function generateRecoveryCodes(count: number, random?: (size: number) => Uint8Array): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new RangeError(`generateRecoveryCodes: count must be an integer from 1 to ${MAX_COUNT}`);
  }
  const source = randomOption('generateRecoveryCodes', random);
  const codes = new Set<string>();
  // Duplicates are astronomically rare with a real CSPRNG; the cap only stops a broken source.
  for (let attempt = 0; codes.size < count; attempt++) {
    if (attempt >= count * 4) {
      throw new Error('generateRecoveryCodes: the random source keeps repeating itself');
    }
    const bytes = takeRandom(source, SYMBOLS);
    let code = '';
    for (let i = 0; i < SYMBOLS; i++) {
      if (i > 0 && i % GROUP === 0) code += '-';
      code += RECOVERY_CODE_ALPHABET[bytes[i]! & 0x1f];
    }
    codes.add(code);
  }
  return [...codes];
}

/**
 * Brings a submitted recovery code to its canonical 12-symbol form, or null when it cannot be one.
 * Uppercases; drops spaces, hyphens and underscores; reads O as 0 and I, L as 1 (Crockford).
 * Anything else (non-strings, non-ASCII, U, wrong length) gives null.
 * @example normalizeRecoveryCode('7kq2 m9xd-4hzt') // '7KQ2M9XD4HZT'
 */
export function normalizeRecoveryCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH || !ACCEPTED_INPUT.test(input)) {
    return null;
  }
  const code = input.replace(SEPARATORS, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  return NORMALIZED_PATTERN.test(code) ? code : null;
}

/**
 * The stored form of a normalized recovery code for `userId`:
 * `<tag>.<base64url(HMAC-SHA-256(keyring.deriveKey('recovery-code', tag), userId + '\0' + code))>`.
 * The user id in the MAC means a hash copied to another user never matches.
 * @param tag the keyring tag to hash under (default: the current one)
 * @throws {TypeError} `normalized` is not the output of {@link normalizeRecoveryCode}.
 * @throws {UnknownKeyError} `tag` is not in the keyring.
 */
export function hashRecoveryCode(keyring: Keyring, userId: string, normalized: string, tag?: string): string {
  if (typeof userId !== 'string' || userId === '') {
    throw new TypeError('hashRecoveryCode: userId must be a non-empty string');
  }
  if (typeof normalized !== 'string' || !NORMALIZED_PATTERN.test(normalized)) {
    throw new TypeError('hashRecoveryCode: pass a code normalized by normalizeRecoveryCode');
  }
  const keyTag = tag ?? keyring.currentTag;
  const mac = createHmac('sha256', keyring.deriveKey(KEY_PURPOSE, keyTag))
    .update(`${userId}\0${normalized}`, 'utf8')
    .digest();
  return `${keyTag}.${encodeBase64url(mac)}`;
}

/**
 * Every hash a stored code could have: one per keyring tag, current first. Codes hashed before a
 * key rotation keep working while their key stays in the keyring; try each against the store.
 */
export function recoveryCodeHashCandidates(keyring: Keyring, userId: string, normalized: string): string[] {
  return keyring.tags.map((tag) => hashRecoveryCode(keyring, userId, normalized, tag));
}

/**
 * Codes brought over from another system by `importAuthenticator` (django-otp static tokens,
 * django-totp backup codes): 6-64 letters and digits, matched without regard to case, spaces,
 * hyphens or underscores. Their own HMAC subkey keeps them apart from twofold's codes: an imported
 * code never matches as a twofold code, nor the other way round.
 */
const IMPORTED_KEY_PURPOSE = 'imported-recovery-code';
const IMPORTED_PATTERN = /^[a-z0-9]{6,64}$/;

/**
 * Brings an imported code (or a submitted one) to the form its hash is made of: lowercase, without
 * spaces, hyphens or underscores; null when it cannot be an imported code (under 6 or over 64
 * letters and digits, anything else in it).
 * @example normalizeImportedCode('AB3D-EF7G') // 'ab3def7g'
 */
export function normalizeImportedCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH || !ACCEPTED_INPUT.test(input)) {
    return null;
  }
  const code = input.replace(SEPARATORS, '').toLowerCase();
  return IMPORTED_PATTERN.test(code) ? code : null;
}

/** The stored form of an imported code, as {@link hashRecoveryCode} but under its own subkey. */
export function hashImportedCode(keyring: Keyring, userId: string, normalized: string, tag?: string): string {
  if (typeof normalized !== 'string' || !IMPORTED_PATTERN.test(normalized)) {
    throw new TypeError('hashImportedCode: pass a code normalized by normalizeImportedCode');
  }
  const keyTag = tag ?? keyring.currentTag;
  const mac = createHmac('sha256', keyring.deriveKey(IMPORTED_KEY_PURPOSE, keyTag))
    .update(`${userId}\0${normalized}`, 'utf8')
    .digest();
  return `${keyTag}.${encodeBase64url(mac)}`;
}

/**
 * Every hash a submitted code could be stored as: twofold's own codes first, then imported ones,
 * each under every keyring tag (current first), made one at a time as they are tried (a code that
 * matches first costs one HMAC). Null when the input can be neither.
 */
export function submittedCodeHashCandidates(
  keyring: Keyring,
  userId: string,
  input: unknown,
): Iterable<string> | null {
  const normalized = normalizeRecoveryCode(input);
  const imported = normalizeImportedCode(input);
  if (normalized === null && imported === null) return null;
  return (function* () {
    if (normalized !== null) {
      for (const tag of keyring.tags) yield hashRecoveryCode(keyring, userId, normalized, tag);
    }
    if (imported !== null) {
      for (const tag of keyring.tags) yield hashImportedCode(keyring, userId, imported, tag);
    }
  })();
}
