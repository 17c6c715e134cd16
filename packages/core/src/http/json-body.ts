/**
 * The request body rules of the HTTP contract: which requests carry a body, which media types,
 * charsets and encodings are JSON, and how the text becomes a value. One home for both plugins: they
 * must answer every request with the same bytes, and the contract suite
 * (packages/http-test-suite/src/parity.ts) holds them to it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidInputError } from '../errors.js';
import { UnsupportedMediaTypeError } from './errors.js';

/** The messages of the body errors the adapters raise themselves. */
export const BODY_MESSAGES = {
  notJson: 'The request body must be JSON (Content-Type: application/json)',
  notUtf8: 'The request body must be JSON in UTF-8',
  compressed: 'The request body must not be compressed (Content-Encoding is not supported)',
  invalidJson: 'The request body is not valid JSON',
  lengthMismatch: 'The request body does not match the Content-Length header',
  unreadable: 'The request body could not be read',
  tooLarge: (limit: number) => `The request body is larger than ${limit} bytes`,
} as const;

/** A request has a body when it says so: a Transfer-Encoding, or a Content-Length other than 0. */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** `application/json` or `application/<anything>+json`, any case, whatever the parameters. */
function isJsonMediaType(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    type === 'application/json' ||
    (type.startsWith('application/') && type.endsWith('+json') && type.length > 'application/+json'.length)
  );
}

/** The `charset` parameter of a Content-Type, lower case and unquoted; undefined when there is none. */
function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const value = parameter.slice(equals + 1).trim();
    const unquoted =
      value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    return unquoted.toLowerCase();
  }
  return undefined;
}

/**
 * Why the body of a request cannot be read as JSON, from its headers alone (so before reading it):
 * not a JSON media type, a charset other than UTF-8 (`utf-8` or `utf8`, any case; none means UTF-8),
 * or a Content-Encoding other than identity. A 415 each; undefined when the body may be read.
 */
export function bodyHeaderProblem(headers: IncomingHttpHeaders): UnsupportedMediaTypeError | undefined {
  if (!hasBody(headers)) return undefined;
  const contentType = headers['content-type'] ?? '';
  if (!isJsonMediaType(contentType)) {
    return new UnsupportedMediaTypeError(BODY_MESSAGES.notJson);
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    return new UnsupportedMediaTypeError(BODY_MESSAGES.notUtf8);
  }
  const encoding = (headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    return new UnsupportedMediaTypeError(BODY_MESSAGES.compressed);
  }
  return undefined;
}

/**
 * The value of a body's text. An empty text is no body (undefined); a leading BOM is ignored; any JSON
 * value comes back as it is (the route table decides what it accepts, e.g. `null` as no body where no
 * field is needed). A `__proto__` key, or a `constructor` holding a `prototype`, anywhere in it is
 * refused naming the key, so no hook of the host is ever handed such an object.
 * @throws InvalidInputError (400)
 */
export function parseJsonText(text: string): unknown {
  if (text === '') return undefined;
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidInputError('body', BODY_MESSAGES.invalidJson);
  }
  if (json.includes('__proto__') || json.includes('constructor')) refusePrototypeKeys(value);
  return value;
}

function refusePrototypeKeys(root: unknown): void {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      const poisoned =
        key === '__proto__' ||
        (key === 'constructor' &&
          typeof child === 'object' &&
          child !== null &&
          Object.hasOwn(child, 'prototype'));
      if (poisoned) throw new InvalidInputError(key, `"${key}" is not an allowed field`);
      pending.push(child);
    }
  }
}
