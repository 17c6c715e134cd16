/**
 * Reader of django-totp (PyPI `django-totp`, github.com/krsahil8825/django-totp) enrollments.
 *
 * What django-totp stores (its README "Data Model" and `models.py`): a `Totp` row per user
 * (table `django_totp_totp`: `user_id`, `secret_key` = the Fernet token of the base32 secret
 * `pyotp.random_base32()` made) and its `BackupCode` rows (`django_totp_backupcode`: `totp_id`,
 * `code` = the Fernet token of the plaintext code, `is_used`). Both are encrypted with the Fernet
 * key of the `TOTP_ENCRYPTION_KEY` setting. Codes are checked with `pyotp.TOTP(secret)`, so
 * always SHA1, 6 digits, 30 seconds; the last used step is not recorded (no `lastCounter`).
 * django-totp counts TOTP as enabled only once backup codes exist (enrollment confirmed).
 *
 * Input, decided here because django-totp has no export of its own: JSON Lines, one object per
 * `Totp` row with its backup codes, as one SQL query with JSON functions can produce:
 *
 *     {"id":7,"user":"alice","secret_key":"gAAAAAB...","backup_codes":[{"code":"gAAAAAB...","is_used":false}]}
 *
 * `user` (the twofold user id; a string or an integer) and `secret_key` are required; `id` (the
 * `Totp` primary key) is optional and only names the row (`ref` `django_totp_totp id=7`, else
 * `line N`). `backup_codes` lists every `BackupCode` row of the user: `{"code", "is_used"}`
 * objects, or bare token strings for unused codes. Used codes are dropped, unused ones become
 * `recoveryCodes`. A row without any backup code (absent or empty list) is an unconfirmed
 * enrollment and is skipped, as django-totp itself does not ask such a user for a code; so
 * export used codes too. JSON Lines rather than CSV because the codes are a list per user.
 *
 * Fernet (github.com/fernet/spec): key = URL-safe base64 of 32 bytes, the first 16 signing
 * (HMAC-SHA256), the last 16 encrypting (AES-128-CBC, PKCS#7); token = URL-safe base64 of
 * version 0x80, 8-byte timestamp, 16-byte IV, ciphertext, 32-byte HMAC of all before it. The
 * timestamp is not checked (django-totp sets no TTL). `source` is
 * `django-totp:<hex SHA-256 of the secret>`.
 */

import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { decodeSecret } from '@twofold/otp';
import {
  assertText,
  checkParameters,
  errorReason,
  MIN_IMPORT_SECRET_BYTES,
  recordLines,
  type SourceLine,
  secretSource,
  skip,
  userIdProblem,
} from './format-support.js';
import type { ImportEntry, ImportReader, ImportRow } from './types.js';

/** Options of {@link readDjangoTotp}. */
export interface DjangoTotpOptions {
  /** The Fernet key of django-totp's `TOTP_ENCRYPTION_KEY` setting (URL-safe base64, 32 bytes). */
  key: string;
}

/** A Fernet key split into its two halves. */
interface FernetKey {
  signing: Buffer;
  encryption: Buffer;
}

const URL_SAFE_BASE64 = /^[A-Za-z0-9_-]+={0,2}$/;
const FERNET_VERSION = 0x80;
/** version + timestamp + IV. */
const HEADER_BYTES = 1 + 8 + 16;
const HMAC_BYTES = 32;
const BLOCK_BYTES = 16;

/** Reads a Fernet key; TypeError when it is not one (then nothing can be read). */
function readFernetKey(key: unknown): FernetKey {
  const bytes =
    typeof key === 'string' && URL_SAFE_BASE64.test(key) ? Buffer.from(key, 'base64url') : undefined;
  if (bytes?.length !== 32) {
    throw new TypeError('readDjangoTotp: key must be a Fernet key (32 bytes in URL-safe base64)');
  }
  return { signing: bytes.subarray(0, 16), encryption: bytes.subarray(16) };
}

/** Why a Fernet token cannot be opened with the key. */
const NOT_A_TOKEN = 'is not a Fernet token';
const WRONG_KEY = 'does not decrypt with the supplied Fernet key (another key, or a damaged token)';

/** Opens a Fernet token: the plaintext, or the reason (NOT_A_TOKEN, WRONG_KEY) it cannot be. */
function fernetDecrypt(key: FernetKey, token: unknown): Buffer | string {
  if (typeof token !== 'string' || !URL_SAFE_BASE64.test(token)) return NOT_A_TOKEN;
  const bytes = Buffer.from(token, 'base64url');
  const ciphertextBytes = bytes.length - HEADER_BYTES - HMAC_BYTES;
  if (bytes[0] !== FERNET_VERSION || ciphertextBytes < BLOCK_BYTES || ciphertextBytes % BLOCK_BYTES !== 0) {
    return NOT_A_TOKEN;
  }
  const signed = bytes.subarray(0, bytes.length - HMAC_BYTES);
  const expected = createHmac('sha256', key.signing).update(signed).digest();
  if (!timingSafeEqual(expected, bytes.subarray(signed.length))) return WRONG_KEY;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, bytes.subarray(9, HEADER_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, signed.length)), decipher.final()]);
  } catch {
    return WRONG_KEY;
  }
}

type Json = Record<string, unknown>;

function parseObject(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** A `BackupCode` row as exported: its token and whether it was used. */
interface BackupCodeRow {
  code: unknown;
  used: boolean;
}

/** The exported backup code rows, or undefined when `backup_codes` is not a list of them. */
function backupCodeRows(value: unknown): BackupCodeRow[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const rows: BackupCodeRow[] = [];
  for (const item of value) {
    if (typeof item === 'string') rows.push({ code: item, used: false });
    else if (typeof item === 'object' && item !== null)
      rows.push({ code: item.code, used: item.is_used === true });
    else return undefined;
  }
  return rows;
}

/** The plaintext unused backup codes, or the reason one cannot be read. */
function readBackupCodes(key: FernetKey, rows: readonly BackupCodeRow[]): string[] | string {
  const codes: string[] = [];
  for (const [index, row] of rows.entries()) {
    if (row.used) continue;
    const plain = fernetDecrypt(key, row.code);
    if (typeof plain === 'string') return `backup code ${index + 1} ${plain}`;
    codes.push(plain.toString('utf8'));
  }
  return codes;
}

/** The secret from the `secret_key` token, or a reason. */
function readSecret(key: FernetKey, token: unknown): Uint8Array | string {
  const plain = fernetDecrypt(key, token);
  if (typeof plain === 'string') return `secret_key ${plain}`;
  try {
    return decodeSecret(plain.toString('utf8').trim(), { minBytes: MIN_IMPORT_SECRET_BYTES });
  } catch (error) {
    return `the decrypted secret_key is not a usable base32 secret: ${errorReason(error, 'not base32')}`;
  }
}

/** `django_totp_totp id=N` when the row has an id, else `line N`. */
function rowRef(record: Json, line: SourceLine): string {
  const { id } = record;
  const named =
    (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && /^\w+$/.test(id));
  return named ? `django_totp_totp id=${id}` : `line ${line.number}`;
}

function readUserId(record: Json): string | undefined {
  const { user } = record;
  if (typeof user === 'number' && Number.isSafeInteger(user)) return String(user);
  return typeof user === 'string' ? user : undefined;
}

/** The entry of one record line. */
function readLine(line: SourceLine, key: FernetKey): ImportEntry {
  const record = parseObject(line.text);
  if (record === undefined) return skip(`line ${line.number}`, 'not a JSON object');
  const ref = rowRef(record, line);
  const userId = readUserId(record);
  if (userId === undefined) return skip(ref, 'no "user" (a string or an integer)');
  const userProblem = userIdProblem(userId);
  if (userProblem !== undefined) return skip(ref, userProblem);
  const backupRows = backupCodeRows(record.backup_codes);
  if (backupRows === undefined)
    return skip(ref, '"backup_codes" is not a list of tokens or {code, is_used}', userId);
  if (backupRows.length === 0) {
    return skip(
      ref,
      'enrollment not confirmed: no backup codes, so django-totp does not ask for TOTP',
      userId,
    );
  }
  const secret = readSecret(key, record.secret_key);
  if (typeof secret === 'string') return skip(ref, secret, userId);
  const parameters = checkParameters({ secret, algorithm: 'SHA1', digits: 6, period: 30 });
  if (typeof parameters === 'string') return skip(ref, parameters, userId);
  const recoveryCodes = readBackupCodes(key, backupRows);
  if (typeof recoveryCodes === 'string') return skip(ref, recoveryCodes, userId);
  const row: ImportRow = { ref, userId, source: secretSource('django-totp', secret), ...parameters };
  if (recoveryCodes.length > 0) row.recoveryCodes = recoveryCodes;
  return { row };
}

async function* entries(text: string, key: FernetKey): AsyncGenerator<ImportEntry> {
  for (const line of recordLines(text)) yield readLine(line, key);
}

/**
 * Reads django-totp enrollments (JSON Lines of `Totp` rows with their backup codes), decrypting
 * the secrets and backup codes with django-totp's Fernet key.
 * @throws TypeError when `text` is not a string or `options.key` is not a Fernet key
 */
export function readDjangoTotp(text: string, options: DjangoTotpOptions): ImportReader {
  assertText('readDjangoTotp', text);
  const key = readFernetKey(options?.key);
  return entries(text, key);
}
