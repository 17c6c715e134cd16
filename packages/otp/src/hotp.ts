import type { Algorithm } from './algorithm.js';
import { OtpNoMatchError } from './errors.js';
import { encodeBase32 } from './internal/base32.js';
import { highPart, lowPart, sameValue } from './internal/compare.js';
import { type OtpReader, readJson, readUri, writeJson, writeUri } from './internal/forms.js';
import { createTruncatedHmac, type TruncatedHmac } from './internal/hmac.js';
import { formatToken, POWERS_OF_TEN, parseToken } from './internal/token.js';
import {
  checkAlgorithm,
  checkCounter,
  checkDigits,
  checkInteger,
  checkMinSecretBytes,
  checkSecret,
} from './internal/validate.js';
import { OTP_LIMITS } from './limits.js';
import type { OtpReadOptions, OtpUriLabel } from './totp.js';
import type { ParseUriOptions } from './uri.js';

/** Options of the {@link Hotp} constructor. */
export interface HotpOptions {
  /** The shared secret: bytes or a base32 string; at least `minSecretBytes` bytes. */
  secret: Uint8Array | string;
  /** HMAC hash. Default `'SHA1'`. */
  algorithm?: Algorithm;
  /** Digits per code, 6 to 10. Default 6. */
  digits?: number;
  /**
   * The next counter, as stored with this configuration: written by `toJSON` and `toUri`, read
   * by `fromJSON` and `fromUri`. `generate` and `match` take their counter explicitly. Default 0.
   */
  counter?: number;
  /** Shortest secret accepted, in bytes, 10 to 64. Default 16; lower it only for legacy secrets. */
  minSecretBytes?: number;
}

/** Options of {@link Hotp.match}. */
export interface HotpMatchOptions {
  /** The next expected counter (from your store). */
  counter: number;
  /** Further counters also tried after `counter`, 0 to 10. Default 2. */
  lookAhead?: number;
}

/** How a token matched. Store `next` as the new counter. */
export interface HotpMatch {
  /** The counter the token belongs to. */
  counter: number;
  /** `counter + 1`: the counter to expect next time. */
  next: number;
}

/** Options of {@link Hotp.resync}. */
export interface HotpResyncOptions {
  /** The next expected counter (from your store). */
  counter: number;
  /** How far past `counter` the first code may be, 0 to 1000. Default 100. */
  maxLookAhead?: number;
}

/** The JSON form of an {@link Hotp}. It holds the secret: seal or protect it at rest. */
export interface HotpJSON {
  type: 'hotp';
  /** Unpadded uppercase base32. */
  secret: string;
  algorithm: Algorithm;
  digits: number;
  counter: number;
}

/** How {@link Hotp.fromJSON} and {@link Hotp.fromUri} read the two forms. */
const HOTP_READER: OtpReader<HotpOptions, Hotp> = {
  name: 'Hotp',
  type: 'hotp',
  jsonFields: ['type', 'secret', 'algorithm', 'digits', 'counter'],
  uriFields: ['counter'],
  create: (options) => new Hotp(options),
};

/**
 * An event-based one-time password configuration (RFC 4226): a secret and its parameters,
 * validated once. The counter lives in your store; it moves only on success, to `match().next`.
 * Instances are frozen.
 *
 * @example
 * const hotp = new Hotp({ secret });
 * const { next } = hotp.match(input, { counter: device.counter }); // throws OtpError when refused
 * device.counter = next;
 */
export class Hotp {
  /** HMAC hash. */
  readonly algorithm: Algorithm;
  /** Digits per code. */
  readonly digits: number;
  /** The stored next counter, for serialisation (see {@link HotpOptions.counter}). */
  readonly counter: number;
  readonly #key: Uint8Array;
  readonly #hmac: TruncatedHmac;
  readonly #modulus: number;

  /**
   * Validates the options and prepares the HMAC key once.
   *
   * @throws TypeError / RangeError naming the bad option
   */
  constructor(options: HotpOptions) {
    const where = 'Hotp';
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`${where}: options must be an object`);
    this.algorithm = checkAlgorithm(where, options.algorithm ?? 'SHA1');
    this.digits = checkDigits(where, options.digits ?? 6);
    this.counter = checkCounter(where, 'counter', options.counter ?? 0);
    const minBytes = checkMinSecretBytes(where, options.minSecretBytes ?? OTP_LIMITS.minSecretBytes);
    this.#key = checkSecret(where, options.secret, minBytes);
    this.#hmac = createTruncatedHmac(this.algorithm, this.#key);
    this.#modulus = POWERS_OF_TEN[this.digits]!;
    Object.freeze(this);
  }

  /** A copy of the secret bytes. */
  get secret(): Uint8Array {
    return this.#key.slice();
  }

  /** The secret as unpadded uppercase base32. */
  get base32(): string {
    return encodeBase32(this.#key);
  }

  /**
   * The code for `counter`.
   *
   * @param counter - a non-negative safe integer
   * @example
   * new Hotp({ secret: new TextEncoder().encode('12345678901234567890') }).generate(0); // '755224'
   */
  generate(counter: number): string {
    const value = checkCounter('Hotp#generate', 'counter', counter);
    return formatToken(this.#hmac(value) % this.#modulus, this.digits);
  }

  /**
   * Checks a token against `counter` and the `lookAhead` counters after it, in constant time;
   * the lowest matching counter wins.
   *
   * @param options.counter - the next expected counter
   * @param options.lookAhead - further counters tried, default 2, at most 10
   * @returns the matched counter and `next` (= matched + 1) to store
   * @throws OtpMalformedTokenError, OtpWrongLengthError, OtpNoMatchError
   * @throws TypeError / RangeError for a bad option
   */
  match(token: string | number, options: HotpMatchOptions): HotpMatch {
    const where = 'Hotp#match';
    const start = checkCounter(where, 'counter', options?.counter);
    const lookAhead = checkInteger(
      where,
      'lookAhead',
      options.lookAhead ?? OTP_LIMITS.defaultLookAhead,
      0,
      OTP_LIMITS.maxLookAhead,
    );
    if (!Number.isSafeInteger(start + lookAhead + 1)) throw new RangeError(`${where}: counter is too large`);
    const value = parseToken(token, this.digits);
    const low = lowPart(value);
    const high = highPart(value);
    let found = 0;
    let chosen = 0;
    for (let counter = start; counter <= start + lookAhead; counter++) {
      const equal = sameValue(this.#hmac(counter) % this.#modulus, low, high);
      chosen += counter * (equal & (found ^ 1));
      found |= equal;
    }
    if (found === 0) throw new OtpNoMatchError();
    return { counter: chosen, next: chosen + 1 };
  }

  /**
   * Resynchronises a counter that drifted beyond the look-ahead (RFC 4226 7.4): asks for two
   * CONSECUTIVE codes and finds them within `maxLookAhead` counters, in constant time.
   *
   * @param token1 - a code, then `token2` the code right after it
   * @param options.counter - the stored next counter
   * @param options.maxLookAhead - how far past `counter` `token1` may be, default 100, at most 1000
   * @returns `counter` = the counter of `token2`, `next` = the counter to store
   * @throws OtpMalformedTokenError, OtpWrongLengthError, OtpNoMatchError
   * @example
   * const { next } = hotp.resync(first, second, { counter: device.counter });
   */
  resync(token1: string | number, token2: string | number, options: HotpResyncOptions): HotpMatch {
    const where = 'Hotp#resync';
    const start = checkCounter(where, 'counter', options?.counter);
    const maxLookAhead = checkInteger(
      where,
      'maxLookAhead',
      options.maxLookAhead ?? OTP_LIMITS.defaultResyncLookAhead,
      0,
      OTP_LIMITS.maxResyncLookAhead,
    );
    if (!Number.isSafeInteger(start + maxLookAhead + 2))
      throw new RangeError(`${where}: counter is too large`);
    const first = parseToken(token1, this.digits);
    const second = parseToken(token2, this.digits);
    const firstLow = lowPart(first);
    const firstHigh = highPart(first);
    const secondLow = lowPart(second);
    const secondHigh = highPart(second);
    let previousIsFirst = 0;
    let found = 0;
    let chosen = 0;
    for (let counter = start; counter <= start + maxLookAhead + 1; counter++) {
      const code = this.#hmac(counter) % this.#modulus;
      const pair = previousIsFirst & sameValue(code, secondLow, secondHigh);
      chosen += counter * (pair & (found ^ 1));
      found |= pair;
      previousIsFirst = sameValue(code, firstLow, firstHigh);
    }
    if (found === 0) throw new OtpNoMatchError();
    return { counter: chosen, next: chosen + 1 };
  }

  /** The JSON form, secret included as base32: protect it at rest. */
  toJSON(): HotpJSON {
    return writeJson({
      type: 'hotp',
      secret: this.#key,
      algorithm: this.algorithm,
      digits: this.digits,
      counter: this.counter,
    });
  }

  /**
   * Reads the JSON form (an object or a JSON text). Missing fields take the defaults; unknown
   * fields, nulls and invalid values are refused.
   *
   * @throws OtpInvalidJsonError (`OTP_INVALID_JSON`)
   */
  static fromJSON(json: HotpJSON | string, options: OtpReadOptions = {}): Hotp {
    return readJson(HOTP_READER, json, options);
  }

  /**
   * An otpauth://hotp/ URI for authenticator apps (see {@link buildUri}).
   *
   * @param label.counter - the counter to write, default this instance's `counter`
   */
  toUri(label: OtpUriLabel & { counter?: number }): string {
    return writeUri(
      {
        type: 'hotp',
        secret: this.#key,
        algorithm: this.algorithm,
        digits: this.digits,
        counter: label.counter ?? this.counter,
      },
      label,
    );
  }

  /**
   * Reads an otpauth://hotp/ URI (see {@link parseUri}); its `counter` becomes this instance's.
   *
   * @throws OtpInvalidUriError or a subclass; `OTP_URI_TYPE_MISMATCH` for a totp URI
   */
  static fromUri(uri: string, options: ParseUriOptions = {}): Hotp {
    return readUri(HOTP_READER, uri, options);
  }
}
