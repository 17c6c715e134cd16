import type { Algorithm } from './algorithm.js';
import { OtpError, OtpNoMatchError, OtpReusedError } from './errors.js';
import { encodeBase32 } from './internal/base32.js';
import { highPart, lowPart, sameValue } from './internal/compare.js';
import { type OtpReader, readJson, readUri, writeJson, writeUri } from './internal/forms.js';
import { createTruncatedHmac, type TruncatedHmac } from './internal/hmac.js';
import { formatToken, POWERS_OF_TEN, parseToken } from './internal/token.js';
import {
  checkAlgorithm,
  checkDigits,
  checkInteger,
  checkMinSecretBytes,
  checkPeriod,
  checkSecret,
  checkT0,
  checkTime,
  MAX_TIME_MS,
} from './internal/validate.js';
import { OTP_LIMITS } from './limits.js';
import type { ParseUriOptions } from './uri.js';

/** Options of the {@link Totp} constructor. */
export interface TotpOptions {
  /** The shared secret: bytes or a base32 string; at least `minSecretBytes` bytes. */
  secret: Uint8Array | string;
  /** HMAC hash. Default `'SHA1'`. */
  algorithm?: Algorithm;
  /** Digits per code, 6 to 10. Default 6. */
  digits?: number;
  /** Seconds per time step, 1 to 3600. Default 30. */
  period?: number;
  /** Unix time in whole seconds at which counting starts (RFC 6238 T0). Default 0. */
  t0?: number;
  /** Shortest secret accepted, in bytes, 10 to 64. Default 16; lower it only for legacy secrets. */
  minSecretBytes?: number;
}

/** A freshly generated TOTP code. */
export interface TotpToken {
  /** The code: exactly `digits` ASCII digits, zero-padded. */
  token: string;
  /** The time step the code belongs to. */
  counter: number;
  /** When the step ends, in ms since the epoch. */
  expiresAt: number;
  /** Milliseconds from `time` until `expiresAt`. */
  remainingMs: number;
}

/** Steps accepted on each side of the current one. */
export interface TotpWindow {
  /** Steps before the current one, 0 to 10. */
  past: number;
  /** Steps after the current one, 0 to 10. */
  future: number;
}

const ACCEPTED = 0;
const NO_MATCH = 1;
const REUSED = 2;

/** What one scan of the window found; `counter` is meaningful only when accepted. */
interface Scan {
  outcome: typeof ACCEPTED | typeof NO_MATCH | typeof REUSED;
  counter: number;
  expected: number;
  past: number;
  skewMs: number;
}

/** Options of {@link Totp.match}. */
export interface TotpMatchOptions {
  /** Server time in ms since the epoch, or a Date. Default `Date.now()`. Never take it from a client. */
  time?: number | Date;
  /** Steps accepted around the current one: a number for both sides, or `{ past, future }`; each 0..10. Default 1; 0 is strict mode. */
  window?: number | TotpWindow;
  /** Known offset of the client's clock in seconds, added to `time`. Default 0. */
  skew?: number;
  /** Highest step already used (from your store); steps at or below it are refused as reused. Default: none. */
  lastCounter?: number | null;
}

/** How a token matched. Store `counter` as the new `lastCounter`. */
export interface TotpMatch {
  /** The time step the token belongs to. */
  counter: number;
  /** The current time step (at `time + skew`). */
  expectedCounter: number;
  /** `counter - expectedCounter`: negative for an older code, positive for a newer one. */
  skipped: number;
  /** When the matched step ends, in ms since the epoch. */
  expiresAt: number;
  /**
   * Server time in ms after which this step can no longer be accepted with the same window and
   * skew: the end of step `counter + past`. A replay record for it may be dropped after that.
   */
  cacheUntil: number;
}

/** The JSON form of a {@link Totp}. It holds the secret: seal or protect it at rest. */
export interface TotpJSON {
  type: 'totp';
  /** Unpadded uppercase base32. */
  secret: string;
  algorithm: Algorithm;
  digits: number;
  period: number;
  t0: number;
}

/** Label of an otpauth:// URI. */
export interface OtpUriLabel {
  /** Service name, shown by the app; no colon. */
  issuer?: string;
  /** Account name, e.g. an email address; no colon. */
  account: string;
}

/** Options of the static `fromJSON` and `fromUri` readers. */
export interface OtpReadOptions {
  /** Shortest secret accepted, in bytes, 10 to 64. Default 16. */
  minSecretBytes?: number;
}

const MAX_WINDOW = OTP_LIMITS.maxWindow;

/** Window offsets in order of preference: the current step, then by distance, past before future. */
const OFFSETS: readonly number[] = [0];
for (let distance = 1; distance <= MAX_WINDOW; distance++) (OFFSETS as number[]).push(-distance, distance);

/** How {@link Totp.fromJSON} and {@link Totp.fromUri} read the two forms. */
const TOTP_READER: OtpReader<TotpOptions, Totp> = {
  name: 'Totp',
  type: 'totp',
  jsonFields: ['type', 'secret', 'algorithm', 'digits', 'period', 't0'],
  uriFields: ['period'],
  create: (options) => new Totp(options),
};

/**
 * A time-based one-time password configuration (RFC 6238): a secret and its parameters,
 * validated once. Generates codes and checks them in constant time. Instances are frozen.
 *
 * @example
 * const totp = new Totp({ secret: generateSecret() });
 * const { token } = totp.generate();
 * const match = totp.match(token, { lastCounter: user.lastCounter }); // throws OtpError when refused
 * user.lastCounter = match.counter;
 */
export class Totp {
  /** HMAC hash. */
  readonly algorithm: Algorithm;
  /** Digits per code. */
  readonly digits: number;
  /** Seconds per time step. */
  readonly period: number;
  /** Unix time in seconds at which counting starts. */
  readonly t0: number;
  readonly #key: Uint8Array;
  readonly #hmac: TruncatedHmac;
  readonly #modulus: number;
  readonly #periodMs: number;
  readonly #t0Ms: number;

  /**
   * Validates the options and prepares the HMAC key once.
   *
   * @throws TypeError / RangeError naming the bad option
   */
  constructor(options: TotpOptions) {
    const where = 'Totp';
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`${where}: options must be an object`);
    this.algorithm = checkAlgorithm(where, options.algorithm ?? 'SHA1');
    this.digits = checkDigits(where, options.digits ?? 6);
    this.period = checkPeriod(where, options.period ?? 30);
    this.t0 = checkT0(where, options.t0 ?? 0);
    const minBytes = checkMinSecretBytes(where, options.minSecretBytes ?? OTP_LIMITS.minSecretBytes);
    this.#key = checkSecret(where, options.secret, minBytes);
    this.#hmac = createTruncatedHmac(this.algorithm, this.#key);
    this.#modulus = POWERS_OF_TEN[this.digits]!;
    this.#periodMs = this.period * 1000;
    this.#t0Ms = this.t0 * 1000;
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

  /** The time step containing `ms`; RangeError before `t0`. */
  #counterAt(where: string, ms: number): number {
    const counter = Math.floor((ms - this.#t0Ms) / this.#periodMs);
    if (counter < 0) throw new RangeError(`${where}: time must not be before t0`);
    return counter;
  }

  /** End of step `counter` in ms since the epoch. */
  #stepEnd(counter: number): number {
    return this.#t0Ms + (counter + 1) * this.#periodMs;
  }

  /**
   * The code for the step containing `time`.
   *
   * @param time - ms since the epoch or a Date; default `Date.now()`
   * @example
   * const rfc = new Totp({ secret: new TextEncoder().encode('12345678901234567890'), digits: 8 });
   * rfc.generate(59_000); // { token: '94287082', counter: 1, expiresAt: 60000, remainingMs: 1000 }
   */
  generate(time?: number | Date): TotpToken {
    const now = checkTime('Totp#generate', time);
    const counter = this.#counterAt('Totp#generate', now);
    const expiresAt = this.#stepEnd(counter);
    return {
      token: formatToken(this.#hmac(counter) % this.#modulus, this.digits),
      counter,
      expiresAt,
      remainingMs: expiresAt - now,
    };
  }

  /**
   * Checks a token against every step of the window, in constant time: each candidate is
   * computed and compared, without early exit; the preferred match (current step first, then by
   * distance, past before future) is chosen afterwards.
   *
   * @param token - the code as typed (spaces and hyphens allowed) or a non-negative integer
   * @param options.time - server time, default `Date.now()`
   * @param options.window - default 1 (one step each side), at most 10; 0 is strict
   * @param options.skew - client clock offset in seconds, default 0
   * @param options.lastCounter - last used step; at or below it a code is refused as reused
   * @returns the match; save `counter` as the next `lastCounter`
   * @throws OtpMalformedTokenError, OtpWrongLengthError, OtpNoMatchError, OtpReusedError
   * @throws TypeError / RangeError for a bad option
   * @example
   * try {
   *   const { counter } = totp.match(input, { lastCounter });
   *   await store.consumeCounter(userId, counter);
   * } catch (err) {
   *   if (err instanceof OtpError) return reject(err.code); // OTP_NO_MATCH, OTP_REUSED, ...
   *   throw err;
   * }
   */
  match(token: string | number, options: TotpMatchOptions = {}): TotpMatch {
    const scan = this.#scan('Totp#match', token, options);
    if (scan.outcome === NO_MATCH) throw new OtpNoMatchError();
    if (scan.outcome === REUSED) throw new OtpReusedError();
    const chosen = scan.counter;
    return {
      counter: chosen,
      expectedCounter: scan.expected,
      skipped: chosen - scan.expected,
      expiresAt: this.#stepEnd(chosen),
      cacheUntil: this.#stepEnd(chosen + scan.past) - scan.skewMs,
    };
  }

  /**
   * {@link Totp.match} as a boolean: `false` for every refused token (any {@link OtpError}).
   * Bad options still throw. Prefer `match` when you keep `lastCounter` (you need its `counter`).
   * A wrong code costs no exception here, so refusing one is as cheap as accepting one.
   */
  verify(token: string | number, options: TotpMatchOptions = {}): boolean {
    try {
      return this.#scan('Totp#verify', token, options).outcome === ACCEPTED;
    } catch (err) {
      if (err instanceof OtpError) return false;
      throw err;
    }
  }

  /** The work of match and verify, reporting a refusal as an outcome rather than an exception. */
  #scan(where: string, token: string | number, options: TotpMatchOptions): Scan {
    let past: number = OTP_LIMITS.defaultWindow;
    let future: number = OTP_LIMITS.defaultWindow;
    const window = options.window;
    if (typeof window === 'number') {
      past = future = checkInteger(where, 'window', window, 0, MAX_WINDOW);
    } else if (typeof window === 'object' && window !== null) {
      past = checkInteger(where, 'window.past', window.past, 0, MAX_WINDOW);
      future = checkInteger(where, 'window.future', window.future, 0, MAX_WINDOW);
    } else if (window !== undefined) {
      throw new TypeError(`${where}: window must be a number of steps or { past, future }`);
    }
    const skew = options.skew ?? 0;
    if (typeof skew !== 'number') throw new TypeError(`${where}: skew must be a number of seconds`);
    const skewMs = skew * 1000;
    const now = checkTime(where, options.time) + skewMs;
    if (!(now >= -MAX_TIME_MS && now <= MAX_TIME_MS)) {
      throw new RangeError(`${where}: skew must keep time within the range of a Date`);
    }
    const lastCounter = options.lastCounter ?? -1;
    if (!Number.isSafeInteger(lastCounter)) {
      throw new RangeError(`${where}: lastCounter must be a safe integer, null or undefined`);
    }
    const expected = this.#counterAt(where, now);

    const value = parseToken(token, this.digits);
    const low = lowPart(value);
    const high = highPart(value);
    const hmac = this.#hmac;
    const modulus = this.#modulus;
    let matched = 0;
    let accepted = 0;
    let chosen = 0;
    const candidates = 2 * Math.max(past, future) + 1;
    for (let i = 0; i < candidates; i++) {
      // Branches in this loop depend only on the window and the counters, never on the secret.
      const offset = OFFSETS[i]!;
      if (offset < -past || offset > future) continue;
      const counter = expected + offset;
      if (counter < 0) continue;
      const equal = sameValue(hmac(counter) % modulus, low, high);
      const usable = equal & (counter > lastCounter ? 1 : 0);
      chosen += counter * (usable & (accepted ^ 1));
      accepted |= usable;
      matched |= equal;
    }
    const outcome = accepted === 1 ? ACCEPTED : matched === 0 ? NO_MATCH : REUSED;
    return { outcome, counter: chosen, expected, past, skewMs };
  }

  /** The JSON form, secret included as base32: protect it at rest. */
  toJSON(): TotpJSON {
    return writeJson({
      type: 'totp',
      secret: this.#key,
      algorithm: this.algorithm,
      digits: this.digits,
      period: this.period,
      t0: this.t0,
    });
  }

  /**
   * Reads the JSON form (an object or a JSON text). Missing fields take the defaults; unknown
   * fields, nulls and invalid values are refused.
   *
   * @throws OtpInvalidJsonError (`OTP_INVALID_JSON`)
   * @example
   * const totp = Totp.fromJSON(JSON.stringify(new Totp({ secret })));
   */
  static fromJSON(json: TotpJSON | string, options: OtpReadOptions = {}): Totp {
    return readJson(TOTP_READER, json, options);
  }

  /**
   * An otpauth://totp/ URI for authenticator apps (see {@link buildUri}).
   *
   * @throws RangeError when `t0` is not 0: the URI format cannot carry it
   * @example
   * totp.toUri({ issuer: 'ACME Co', account: 'jane@example.com' });
   */
  toUri(label: OtpUriLabel): string {
    if (this.t0 !== 0)
      throw new RangeError('Totp#toUri: t0 must be 0; otpauth URIs cannot carry a start time');
    return writeUri(
      {
        type: 'totp',
        secret: this.#key,
        algorithm: this.algorithm,
        digits: this.digits,
        period: this.period,
      },
      label,
    );
  }

  /**
   * Reads an otpauth://totp/ URI (see {@link parseUri}); use `parseUri` to get the label too.
   *
   * @throws OtpInvalidUriError or a subclass; `OTP_URI_TYPE_MISMATCH` for an hotp URI
   */
  static fromUri(uri: string, options: ParseUriOptions = {}): Totp {
    return readUri(TOTP_READER, uri, options);
  }
}
