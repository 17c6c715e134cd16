import { type Algorithm, isAlgorithm } from './algorithm.js';
import {
  OtpInvalidUriError,
  OtpUriDuplicateParameterError,
  OtpUriInvalidCounterError,
  OtpUriInvalidDigitsError,
  OtpUriInvalidLabelError,
  OtpUriInvalidPeriodError,
  OtpUriInvalidSecretError,
  OtpUriIssuerMismatchError,
  OtpUriMalformedEncodingError,
  OtpUriMissingAccountError,
  OtpUriUnknownAlgorithmError,
  OtpUriUnknownTypeError,
  OtpUriWrongSchemeError,
} from './errors.js';
import { decodeBase32, encodeBase32 } from './internal/base32.js';
import {
  checkAlgorithm,
  checkCounter,
  checkDigits,
  checkMinSecretBytes,
  checkPeriod,
} from './internal/validate.js';
import { OTP_LIMITS } from './limits.js';

/** The two OTP types of the Key URI format. */
export type OtpType = 'totp' | 'hotp';

/** What {@link buildUri} writes into an otpauth:// URI. */
export interface BuildUriOptions {
  /** `'totp'` or `'hotp'`. */
  type: OtpType;
  /** The shared secret: bytes, or base32 (re-encoded uppercase without padding). */
  secret: Uint8Array | string;
  /** The account name shown in the app, e.g. an email address. No colon. */
  account: string;
  /** The service name; written as the label prefix and as the `issuer` parameter. No colon. */
  issuer?: string;
  /** Default `'SHA1'` (then left out of the URI). */
  algorithm?: Algorithm;
  /** Default 6 (then left out of the URI). */
  digits?: number;
  /** TOTP only: seconds per step, default 30 (then left out of the URI). */
  period?: number;
  /** HOTP only, required: the next counter the app should use. */
  counter?: number;
}

interface OtpauthUriCommon {
  /** The decoded secret. */
  secret: Uint8Array;
  /** The issuer from the `issuer` parameter or the label prefix (which must agree). */
  issuer?: string;
  /** The account name from the label. */
  account: string;
  algorithm: Algorithm;
  digits: number;
}

/** A parsed totp URI. */
export interface TotpUri extends OtpauthUriCommon {
  type: 'totp';
  /** Seconds per step; 30 when the URI has no `period`. */
  period: number;
  counter?: undefined;
}

/** A parsed hotp URI. */
export interface HotpUri extends OtpauthUriCommon {
  type: 'hotp';
  /** The `counter` parameter: the next counter to use. */
  counter: number;
  period?: undefined;
}

/** What {@link parseUri} returns; narrow on `type`. */
export type OtpauthUri = TotpUri | HotpUri;

/** Options of {@link parseUri}. */
export interface ParseUriOptions {
  /** Shortest secret accepted, in bytes: 10 to 64. Default 16. */
  minSecretBytes?: number;
}

function checkLabelPart(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`buildUri: ${name} must be a non-empty string`);
  }
  if (value.includes(':')) throw new TypeError(`buildUri: ${name} must not contain a colon`);
  return value;
}

/**
 * Builds an otpauth:// URI in the Google Key URI format, for a QR code or a manual entry link.
 * The label is `Issuer:account` with both parts percent-encoded (a space becomes `%20`, never
 * `+`); the `issuer` parameter repeats the prefix; the secret is unpadded base32; algorithm,
 * digits and period are written only when they differ from the defaults.
 *
 * @throws TypeError / RangeError for a bad option, including a colon in `issuer` or `account`
 * @see https://github.com/google/google-authenticator/wiki/Key-Uri-Format
 * @example
 * buildUri({ type: 'totp', secret: 'JBSWY3DPEHPK3PXP', issuer: 'ACME Co', account: 'jane@example.com' });
 * // 'otpauth://totp/ACME%20Co:jane%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co'
 */
export function buildUri(options: BuildUriOptions): string {
  const where = 'buildUri';
  const { type } = options;
  if (type !== 'totp' && type !== 'hotp') throw new TypeError(`${where}: type must be 'totp' or 'hotp'`);
  let secret: Uint8Array;
  if (options.secret instanceof Uint8Array) {
    secret = options.secret;
  } else if (typeof options.secret === 'string') {
    try {
      secret = decodeBase32(options.secret);
    } catch (cause) {
      throw new TypeError(`${where}: secret must be a Uint8Array or a base32 string`, { cause });
    }
  } else {
    throw new TypeError(`${where}: secret must be a Uint8Array or a base32 string`);
  }
  if (secret.length === 0) throw new RangeError(`${where}: secret must not be empty`);
  const account = checkLabelPart('account', options.account);
  const issuer = options.issuer === undefined ? undefined : checkLabelPart('issuer', options.issuer);
  const algorithm = checkAlgorithm(where, options.algorithm ?? 'SHA1');
  const digits = checkDigits(where, options.digits ?? 6);

  const label =
    issuer === undefined
      ? encodeURIComponent(account)
      : `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  let uri = `otpauth://${type}/${label}?secret=${encodeBase32(secret)}`;
  if (issuer !== undefined) uri += `&issuer=${encodeURIComponent(issuer)}`;
  if (algorithm !== 'SHA1') uri += `&algorithm=${algorithm}`;
  if (digits !== 6) uri += `&digits=${digits}`;
  if (type === 'totp') {
    if (options.counter !== undefined) throw new TypeError(`${where}: counter is for hotp only`);
    const period = checkPeriod(where, options.period ?? 30);
    if (period !== 30) uri += `&period=${period}`;
  } else {
    if (options.period !== undefined) throw new TypeError(`${where}: period is for totp only`);
    uri += `&counter=${checkCounter(where, 'counter', options.counter)}`;
  }
  return uri;
}

/** Percent-decodes one URI component; `+` means a space in the query (form encoding). */
function decodeComponent(text: string, plusIsSpace: boolean): string {
  try {
    return decodeURIComponent(plusIsSpace ? text.replaceAll('+', ' ') : text);
  } catch (cause) {
    throw new OtpUriMalformedEncodingError(undefined, { cause });
  }
}

const DIGITS_ONLY = /^[0-9]+$/;

/** Reads an unsigned decimal parameter; NaN when it is not one. */
function readUnsigned(text: string): number {
  return DIGITS_ONLY.test(text) ? Number(text) : Number.NaN;
}

/**
 * Parses an otpauth:// URI (Google Key URI format): lenient where the URIs other software writes
 * differ but mean one thing, strict where a value is wrong. Accepted: the issuer in the label, in
 * the parameter, or both when equal; an empty label prefix (`:account`) as no issuer; `%3A` as
 * the label separator and spaces before the account; `+` or `%20` for spaces in the query; any
 * case for the scheme, type, algorithm and secret; a secret with non-zero unused trailing bits;
 * an empty parameter (`digits=`) as an absent one; unknown parameters (such as `image`) ignored.
 *
 * @param uri - the URI, e.g. scanned from a QR code
 * @param options.minSecretBytes - shortest secret accepted, default 16, never below 10
 * @throws OtpInvalidUriError or one of its subclasses, each with its own `code`: wrong scheme,
 *   unknown type, bad label, missing account, missing or invalid secret, unknown algorithm, bad
 *   digits, bad period, bad or missing hotp counter, malformed percent-encoding, a duplicated
 *   parameter, an issuer mismatch
 * @example
 * const parsed = parseUri('otpauth://totp/ACME:jane?secret=JBSWY3DPEHPK3PXP', { minSecretBytes: 10 });
 * // { type: 'totp', issuer: 'ACME', account: 'jane', algorithm: 'SHA1', digits: 6, period: 30, secret: Uint8Array(10) }
 */
export function parseUri(uri: string, options: ParseUriOptions = {}): OtpauthUri {
  const minSecretBytes = checkMinSecretBytes('parseUri', options.minSecretBytes ?? OTP_LIMITS.minSecretBytes);
  if (typeof uri !== 'string') throw new OtpInvalidUriError('The URI must be a string');
  if (uri.length > OTP_LIMITS.maxUriLength) throw new OtpInvalidUriError('The URI is too long');

  const colon = uri.indexOf(':');
  if (colon < 0) throw new OtpInvalidUriError('The URI has no scheme');
  if (uri.slice(0, colon).toLowerCase() !== 'otpauth') throw new OtpUriWrongSchemeError();
  if (!uri.startsWith('//', colon + 1)) throw new OtpInvalidUriError('The URI must start with otpauth://');
  if (uri.includes('#')) throw new OtpInvalidUriError('The URI must not have a fragment');

  const rest = uri.slice(colon + 3);
  const question = rest.indexOf('?');
  const path = question < 0 ? rest : rest.slice(0, question);
  const query = question < 0 ? '' : rest.slice(question + 1);

  const slash = path.indexOf('/');
  const type = (slash < 0 ? path : path.slice(0, slash)).toLowerCase();
  if (type !== 'totp' && type !== 'hotp') throw new OtpUriUnknownTypeError();

  // Label: "account" or "issuer:account" (separator literal or %3A), spaces allowed before account.
  // An empty prefix (":account") is no issuer, as pyotp, passlib and otpauth read it; the issuer
  // parameter may then give one (passlib and otpauth take it; pyotp 2.6 calls it a mismatch).
  const label = slash < 0 ? '' : decodeComponent(path.slice(slash + 1), false);
  const separator = label.indexOf(':');
  let labelIssuer: string | undefined;
  let account = label;
  if (separator >= 0) {
    if (label.includes(':', separator + 1)) {
      throw new OtpUriInvalidLabelError('The URI label has more than one colon');
    }
    labelIssuer = label.slice(0, separator) || undefined;
    account = label.slice(separator + 1).replace(/^ +/, '');
  }
  if (account === '') throw new OtpUriMissingAccountError();

  // An empty value (`digits=`) reads as an absent parameter, as in pyotp and passlib (whose
  // parse_qsl drops blank values): the default for algorithm, digits, period and issuer, "no
  // secret" for secret and, for hotp, "no counter", which stays an error (the Key URI format
  // requires it; pyotp alone would silently start at 0). A duplicate is refused even when empty.
  const params = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = decodeComponent(equals < 0 ? part : part.slice(0, equals), true);
    const value = equals < 0 ? '' : decodeComponent(part.slice(equals + 1), true);
    if (params.has(name)) throw new OtpUriDuplicateParameterError(name);
    params.set(name, value);
  }
  const param = (name: string): string | undefined => params.get(name) || undefined;

  const secretText = param('secret');
  if (secretText === undefined) {
    throw new OtpUriInvalidSecretError('The URI has no secret');
  }
  let secret: Uint8Array;
  try {
    secret = decodeBase32(secretText);
  } catch (cause) {
    throw new OtpUriInvalidSecretError('The URI secret is not base32', { cause });
  }
  if (secret.length < minSecretBytes) throw new OtpUriInvalidSecretError('The URI secret is too short');

  const algorithmText = param('algorithm');
  const algorithm = algorithmText === undefined ? 'SHA1' : algorithmText.toUpperCase();
  if (!isAlgorithm(algorithm)) throw new OtpUriUnknownAlgorithmError();

  const digitsText = param('digits');
  const digits = digitsText === undefined ? 6 : readUnsigned(digitsText);
  if (!(digits >= OTP_LIMITS.minDigits && digits <= OTP_LIMITS.maxDigits)) {
    throw new OtpUriInvalidDigitsError();
  }

  const issuerParam = param('issuer');
  if (issuerParam !== undefined && labelIssuer !== undefined && issuerParam !== labelIssuer) {
    throw new OtpUriIssuerMismatchError();
  }
  const issuer = issuerParam ?? labelIssuer;
  const common: OtpauthUriCommon = { secret, account, algorithm, digits };
  if (issuer !== undefined) common.issuer = issuer;

  if (type === 'totp') {
    const periodText = param('period');
    const period = periodText === undefined ? 30 : readUnsigned(periodText);
    if (!(period >= OTP_LIMITS.minPeriod && period <= OTP_LIMITS.maxPeriod)) {
      throw new OtpUriInvalidPeriodError();
    }
    return { type, ...common, period };
  }
  const counterText = param('counter');
  const counter = counterText === undefined ? Number.NaN : readUnsigned(counterText);
  if (!Number.isSafeInteger(counter)) throw new OtpUriInvalidCounterError();
  return { type, ...common, counter };
}
