import { OtpInvalidJsonError } from '../errors.js';

/**
 * Reads the untrusted JSON form of a Totp or Hotp: a JSON text or an already parsed value. It must
 * be a plain object of the right `type`, with a string `secret`, only the listed fields, and no
 * null values (a null is not quietly replaced by a default).
 */
export function readJsonRecord(
  json: unknown,
  type: 'totp' | 'hotp',
  fields: readonly string[],
): Record<string, unknown> {
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
export function constructFromJson<T>(construct: () => T): T {
  try {
    return construct();
  } catch (cause) {
    if (cause instanceof TypeError || cause instanceof RangeError) {
      throw new OtpInvalidJsonError('The JSON has an invalid field', { cause });
    }
    throw cause;
  }
}
