import type { Algorithm } from '../algorithm.js';
import { OtpInvalidJsonError, OtpUriTypeMismatchError } from '../errors.js';
import { OTP_LIMITS } from '../limits.js';
import { buildUri, type OtpType, type ParseUriOptions, parseUri } from '../uri.js';
import { encodeBase32 } from './base32.js';
import { checkMinSecretBytes } from './validate.js';

// The JSON and otpauth:// URI forms of Hotp and Totp, written from a configuration and read back
// into an instance. Both classes call these; their methods only fill in the fields of their type.

/**
 * A configuration as both forms hold it: the fields every type has, then those of its own
 * (`counter` for hotp; `period` and `t0` for totp), in the order the JSON form writes them.
 */
export interface OtpConfig {
  type: OtpType;
  /** The secret bytes; the JSON form writes them as unpadded uppercase base32. */
  secret: Uint8Array;
  algorithm: Algorithm;
  digits: number;
}

/** The JSON form of a configuration `C`: the same fields, the secret as base32. */
export type OtpJsonOf<C extends OtpConfig> = Omit<C, 'secret'> & { secret: string };

/** How one type is read back from its forms. */
export interface OtpReader<Options, Instance> {
  /** The class as error messages name it: `'Hotp'` or `'Totp'`. */
  name: string;
  type: OtpType;
  /** Every field of the JSON form, `type` and `secret` included; any other field is refused. */
  jsonFields: readonly string[];
  /** The fields of the type's own that an otpauth URI carries: hotp `counter`, totp `period`. */
  uriFields: readonly ('counter' | 'period')[];
  /** The constructor: validates the options, throwing a TypeError or RangeError naming a bad one. */
  create(options: Options): Instance;
}

/** The JSON form of `config`: every field in order, the secret as unpadded uppercase base32. */
export function writeJson<C extends OtpConfig>(config: C): OtpJsonOf<C> {
  const { type, secret, algorithm, digits, ...own } = config;
  return { type, secret: encodeBase32(secret), algorithm, digits, ...own } as OtpJsonOf<C>;
}

/**
 * An otpauth:// URI of `config` under `label` (see {@link buildUri}); `config` holds only the
 * fields of its type the URI carries (`counter` for hotp, `period` for totp).
 */
export function writeUri(
  config: OtpConfig & { counter?: number; period?: number },
  label: { issuer?: string; account: string },
): string {
  const { type, secret, algorithm, digits, ...own } = config;
  return buildUri({ type, secret, issuer: label.issuer, account: label.account, algorithm, digits, ...own });
}

/**
 * Reads the untrusted JSON form (a JSON text or a parsed value) into an instance. Missing fields
 * take the constructor's defaults; unknown fields, nulls and invalid values are refused.
 *
 * @throws OtpInvalidJsonError (`OTP_INVALID_JSON`); RangeError for a bad `options.minSecretBytes`
 */
export function readJson<Options, Instance>(
  reader: OtpReader<Options, Instance>,
  json: unknown,
  options: { minSecretBytes?: number },
): Instance {
  const minSecretBytes = checkMinSecretBytes(
    `${reader.name}.fromJSON`,
    options.minSecretBytes ?? OTP_LIMITS.minSecretBytes,
  );
  const record = readJsonRecord(json, reader.type, reader.jsonFields);
  const fields: Record<string, unknown> = { minSecretBytes };
  for (const field of reader.jsonFields) if (field !== 'type') fields[field] = record[field];
  return constructFromJson(() => reader.create(fields as Options));
}

/**
 * Reads an otpauth:// URI of the reader's type into an instance (see {@link parseUri}).
 *
 * @throws OtpInvalidUriError or a subclass; `OTP_URI_TYPE_MISMATCH` for the other type
 */
export function readUri<Options, Instance>(
  reader: OtpReader<Options, Instance>,
  uri: string,
  options: ParseUriOptions,
): Instance {
  const parsed = parseUri(uri, options);
  if (parsed.type !== reader.type) {
    throw new OtpUriTypeMismatchError(`Expected ${reader.type === 'hotp' ? 'an' : 'a'} ${reader.type} URI`);
  }
  const fields: Record<string, unknown> = {
    secret: parsed.secret,
    algorithm: parsed.algorithm,
    digits: parsed.digits,
  };
  for (const field of reader.uriFields) fields[field] = parsed[field];
  fields.minSecretBytes = options.minSecretBytes ?? OTP_LIMITS.minSecretBytes;
  return reader.create(fields as Options);
}

/**
 * Reads the untrusted JSON form of a Totp or Hotp: a JSON text or an already parsed value. It must
 * be a plain object of the right `type`, with a string `secret`, only the listed fields, and no
 * null values (a null is not quietly replaced by a default).
 */
function readJsonRecord(json: unknown, type: OtpType, fields: readonly string[]): Record<string, unknown> {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch {
      // No `cause`: the parser's message quotes the input, which holds the secret.
      throw new OtpInvalidJsonError('The JSON text cannot be parsed');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OtpInvalidJsonError('The JSON must be an object');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!fields.includes(key)) throw new OtpInvalidJsonError(`The ${type} JSON has an unknown field`);
    if (record[key] === null) throw new OtpInvalidJsonError(`The ${type} JSON has a null field`);
  }
  if (record.type !== type) throw new OtpInvalidJsonError(`The JSON type must be '${type}'`);
  if (typeof record.secret !== 'string') throw new OtpInvalidJsonError('The JSON secret must be a string');
  return record;
}

/**
 * Runs a constructor on fields read from JSON, turning its option errors (which name the field,
 * never its value) into {@link OtpInvalidJsonError}: in JSON they are untrusted input, not
 * caller mistakes.
 */
function constructFromJson<T>(construct: () => T): T {
  try {
    return construct();
  } catch (cause) {
    if (cause instanceof TypeError || cause instanceof RangeError) {
      throw new OtpInvalidJsonError('The JSON has an invalid field', { cause });
    }
    throw cause;
  }
}
