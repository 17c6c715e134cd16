/**
 * Reader of a list of otpauth:// URIs (the Google Key URI format), one authenticator per line:
 *
 *     otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME
 *     user-42  otpauth://totp/ACME:bob?secret=...&algorithm=SHA256&digits=8
 *
 * A line is either a URI, whose label account is the user id, or a user id, whitespace and a URI.
 * Blank lines and lines starting with `#` are ignored. URIs are read by `parseUri` of
 * `@twofold/otp` with the 10-byte legacy secret floor. hotp URIs are skipped: twofold is TOTP only.
 * `ref` is `line N`; `source` is `uri:<hex SHA-256 of the secret>`; `name` is the issuer, else
 * (for a line with its own user id) the label account.
 */

import { parseUri, type TotpUri } from '@twofold/otp';
import {
  assertText,
  checkParameters,
  clipName,
  errorReason,
  MIN_IMPORT_SECRET_BYTES,
  recordLines,
  type SourceLine,
  secretSource,
  skip,
  userIdProblem,
} from './format-support.js';
import type { ImportEntry, ImportReader, ImportRow } from './types.js';

const URI_START = /^otpauth:/i;
const HOTP_START = /^otpauth:\/\/hotp[/?]/i;

/** A line split into its optional user id and its URI. */
interface LineParts {
  userId?: string;
  uri: string;
}

/** `otpauth://...` or `<user id><whitespace><otpauth://...>`; undefined when it is neither. */
function splitLine(text: string): LineParts | undefined {
  if (URI_START.test(text)) return { uri: text };
  const match = /^(\S+)\s+(\S.*)$/.exec(text);
  if (match === null || !URI_START.test(match[2]!)) return undefined;
  return { userId: match[1]!, uri: match[2]! };
}

/** The parsed totp URI, or the reason it cannot be read. */
function readTotpUri(uri: string): TotpUri | string {
  if (HOTP_START.test(uri)) return 'hotp (counter-based) URI: twofold imports TOTP only';
  try {
    const parsed = parseUri(uri, { minSecretBytes: MIN_IMPORT_SECRET_BYTES });
    return parsed.type === 'totp' ? parsed : 'hotp (counter-based) URI: twofold imports TOTP only';
  } catch (error) {
    return errorReason(error, 'not a valid otpauth:// URI');
  }
}

/** The entry of one record line. */
function readLine(line: SourceLine): ImportEntry {
  const ref = `line ${line.number}`;
  const parts = splitLine(line.text);
  if (parts === undefined) return skip(ref, 'not an otpauth:// URI, nor a user id followed by one');
  const parsed = readTotpUri(parts.uri);
  if (typeof parsed === 'string') return skip(ref, parsed, parts.userId);
  const userId = parts.userId ?? parsed.account;
  const userProblem = userIdProblem(userId);
  if (userProblem !== undefined) return skip(ref, userProblem);
  const parameters = checkParameters(parsed);
  if (typeof parameters === 'string') return skip(ref, parameters, userId);
  const row: ImportRow = { ref, userId, source: secretSource('uri', parameters.secret), ...parameters };
  const name = clipName(parsed.issuer ?? (parts.userId === undefined ? undefined : parsed.account));
  if (name !== undefined) row.name = name;
  return { row };
}

async function* entries(text: string): AsyncGenerator<ImportEntry> {
  for (const line of recordLines(text)) yield readLine(line);
}

/**
 * Reads a list of otpauth:// URIs, one per line, optionally each after a user id.
 * @throws TypeError when `text` is not a string
 */
export function readOtpauthList(text: string): ImportReader {
  assertText('readOtpauthList', text);
  return entries(text);
}
