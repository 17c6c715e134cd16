/**
 * Reader of passlib TOTP state (`passlib.totp.TOTP.to_json()`, passlib 1.7), as JSON Lines. Each
 * line (blank and `#` lines ignored) is one of:
 *
 *     {"key":"JBSW...","label":"alice","type":"totp","v":1}            the to_json() output
 *     "{\"key\":\"JBSW...\",\"label\":\"alice\",\"type\":\"totp\",\"v\":1}"   the same, as a JSON string
 *     {"user":"42","totp":<either of the above>,"last_counter":56083539}
 *
 * The user id is `user`, else the TOTP `label`. `alg` (default sha1; sha256/sha512, any case),
 * `digits` (default 6) and `period` (default 30) follow passlib's defaults; `issuer` becomes the
 * row's name; `last_counter` (the step of the last accepted code, as passlib's `TotpMatch.counter`)
 * becomes `lastCounter`. A plain `key` is base32, read like passlib does ('0' as 'O', '8' as 'B').
 *
 * An encrypted key (`"enckey":{"v":1,"c":cost,"t":tag,"s":salt,"k":key}`, written when the TOTP
 * class has an `AppWallet`) is decrypted as `AppWallet.decrypt_key` does: PBKDF2-HMAC-SHA256 of
 * the application secret of tag `t` (UTF-8 when given as text), salt `s`, 2^c rounds, 48 bytes;
 * the first 32 are an AES-256-CTR key, the last 16 its initial counter block. The secrets are
 * supplied by tag in `options.secrets`; a row whose tag has none is skipped, naming the tag.
 * CTR is unauthenticated, exactly as in passlib: a wrong secret for a tag yields a wrong key that
 * cannot be detected here (its codes will not match). `ref` is `line N`; `source` is
 * `passlib:<hex SHA-256 of the secret>`.
 */

import { createDecipheriv, pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { decodeSecret } from '@twofold/otp';
import {
  assertText,
  checkParameters,
  clipName,
  errorReason,
  isCount,
  MIN_IMPORT_SECRET_BYTES,
  recordLines,
  type SourceLine,
  secretSource,
  skip,
  userIdProblem,
} from './format-support.js';
import type { ImportEntry, ImportReader, ImportRow } from './types.js';

const pbkdf2Async = promisify(pbkdf2);

/** Options of {@link readPasslib}. */
export interface PasslibOptions {
  /** The `AppWallet` secrets by tag (passlib's `secrets=`): text (UTF-8) or bytes. */
  secrets?: Record<string, string | Uint8Array>;
}

type Json = Record<string, unknown>;

/** The highest `enckey.c` accepted: 2^20 PBKDF2 rounds (passlib's default is 14). */
const MAX_ENCRYPT_COST = 20;
/** passlib's TOTP `to_dict` format version. */
const JSON_VERSION = 1;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse, undefined when the text is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A TOTP dict given as an object or as the JSON string `to_json()` returns. */
function totpDict(value: unknown): Json | undefined {
  const dict = typeof value === 'string' ? parseJson(value) : value;
  return isObject(dict) ? dict : undefined;
}

/** The parts of one line: the TOTP dict and what the wrapper adds; or a reason. */
interface LineRecord {
  totp: Json;
  user?: unknown;
  lastCounter?: unknown;
}

function readRecord(text: string): LineRecord | string {
  const value = totpDict(parseJson(text));
  if (value === undefined) return 'not a JSON object or JSON string of one';
  if (!('user' in value) && !('totp' in value)) return { totp: value };
  const totp = totpDict(value.totp);
  if (totp === undefined) return '"totp" is not a passlib TOTP JSON object or string';
  return { totp, user: value.user, lastCounter: value.last_counter };
}

/** The user id from the wrapper (a string or an integer) or the TOTP label; undefined if none. */
function readUserId(record: LineRecord): string | undefined {
  const user = record.user ?? record.totp.label;
  if (typeof user === 'number' && Number.isSafeInteger(user)) return String(user);
  return typeof user === 'string' ? user : undefined;
}

/** base32 as passlib's `b32decode` reads it: '0' is 'O' and '8' is 'B'. */
function decodePasslibBase32(text: string): Uint8Array {
  return decodeSecret(text.replaceAll('0', 'O').replaceAll('8', 'B'), { minBytes: MIN_IMPORT_SECRET_BYTES });
}

/** The application secret of `tag` as bytes, or undefined. */
function walletSecret(options: PasslibOptions, tag: string): Uint8Array | undefined {
  const secrets = options.secrets ?? {};
  if (!Object.hasOwn(secrets, tag)) return undefined;
  const secret = secrets[tag];
  if (typeof secret === 'string') return new TextEncoder().encode(secret);
  return secret instanceof Uint8Array ? secret : undefined;
}

/** `AppWallet.decrypt_key` for `v: 1`: the TOTP key, or a reason. */
async function decryptKey(enckey: unknown, options: PasslibOptions): Promise<Uint8Array | string> {
  if (!isObject(enckey)) return '"enckey" is not an object';
  const { v: version, c: cost, t: tag, s: salt, k: key } = enckey;
  if (version !== 1) return `"enckey" version ${String(version)} is not supported (1)`;
  if (typeof tag !== 'string' || typeof salt !== 'string' || typeof key !== 'string') {
    return '"enckey" lacks its tag, salt or key';
  }
  if (!isCount(cost) || cost > MAX_ENCRYPT_COST)
    return `"enckey" cost is not an integer from 0 to ${MAX_ENCRYPT_COST}`;
  const secret = walletSecret(options, tag);
  if (secret === undefined) return `no application secret supplied for wallet tag "${tag}"`;
  let ciphertext: Uint8Array;
  let saltBytes: Uint8Array;
  try {
    ciphertext = decodePasslibBase32(key);
    saltBytes = decodePasslibBase32(salt);
  } catch (error) {
    return `"enckey": ${errorReason(error, 'not base32')}`;
  }
  const keyIv = await pbkdf2Async(secret, saltBytes, 2 ** cost, 48, 'sha256');
  const decipher = createDecipheriv('aes-256-ctr', keyIv.subarray(0, 32), keyIv.subarray(32));
  return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

/** The TOTP key of a dict, plain or encrypted, or a reason. */
async function readKey(totp: Json, options: PasslibOptions): Promise<Uint8Array | string> {
  if ('enckey' in totp) return decryptKey(totp.enckey, options);
  if (typeof totp.key !== 'string') return 'neither "key" nor "enckey" is present';
  try {
    return decodePasslibBase32(totp.key);
  } catch (error) {
    return `"key": ${errorReason(error, 'not base32')}`;
  }
}

/** A field holding a number or absent (then `fallback`); NaN when it is something else. */
function numberField(totp: Json, name: string, fallback: number): number {
  const value = totp[name] ?? fallback;
  return typeof value === 'number' ? value : Number.NaN;
}

/** Why the dict is not a TOTP dict passlib would load, or undefined. */
function formatProblem(totp: Json): string | undefined {
  if (totp.type !== 'totp') return 'not a passlib TOTP object ("type" is not "totp")';
  if (totp.v !== JSON_VERSION) return `TOTP JSON version ${String(totp.v)} is not supported (1)`;
  return undefined;
}

/** The entry of one record line. */
async function readLine(line: SourceLine, options: PasslibOptions): Promise<ImportEntry> {
  const ref = `line ${line.number}`;
  const record = readRecord(line.text);
  if (typeof record === 'string') return skip(ref, record);
  const userId = readUserId(record);
  if (userId === undefined) return skip(ref, 'no user id: neither a "user" field nor a TOTP "label"');
  const userProblem = userIdProblem(userId);
  if (userProblem !== undefined) return skip(ref, userProblem);
  const problem = formatProblem(record.totp);
  if (problem !== undefined) return skip(ref, problem, userId);
  if (record.lastCounter !== undefined && !isCount(record.lastCounter)) {
    return skip(ref, '"last_counter" is not a non-negative integer', userId);
  }
  const secret = await readKey(record.totp, options);
  if (typeof secret === 'string') return skip(ref, secret, userId);
  const alg = record.totp.alg ?? 'sha1';
  const parameters = checkParameters({
    secret,
    algorithm: typeof alg === 'string' ? alg.toUpperCase() : String(alg),
    digits: numberField(record.totp, 'digits', 6),
    period: numberField(record.totp, 'period', 30),
  });
  if (typeof parameters === 'string') return skip(ref, parameters, userId);
  const row: ImportRow = { ref, userId, source: secretSource('passlib', secret), ...parameters };
  if (isCount(record.lastCounter)) row.lastCounter = record.lastCounter;
  const name = clipName(typeof record.totp.issuer === 'string' ? record.totp.issuer : undefined);
  if (name !== undefined) row.name = name;
  return { row };
}

async function* entries(text: string, options: PasslibOptions): AsyncGenerator<ImportEntry> {
  for (const line of recordLines(text)) yield await readLine(line, options);
}

/**
 * Reads passlib TOTP JSON (one `TOTP.to_json()` per line, bare or wrapped with a user id),
 * decrypting `enckey` keys with the `AppWallet` secrets supplied by tag.
 * @throws TypeError when `text` is not a string
 */
export function readPasslib(text: string, options: PasslibOptions = {}): ImportReader {
  assertText('readPasslib', text);
  return entries(text, options);
}
