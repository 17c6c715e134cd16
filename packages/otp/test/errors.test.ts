import t from 'tap';
import * as otp from '../src/index.js';
import { OtpError, type OtpErrorCode, OtpInvalidUriError } from '../src/index.js';

const errorClasses = Object.entries(otp).filter(
  (entry): entry is [string, typeof otp.OtpMalformedTokenError] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof OtpError,
);

/** Compile-time check: a switch over OtpErrorCode must name every code (else `never` fails). */
function describe(code: OtpErrorCode): string {
  switch (code) {
    case 'OTP_MALFORMED_TOKEN':
    case 'OTP_WRONG_LENGTH':
    case 'OTP_NO_MATCH':
    case 'OTP_REUSED':
      return 'token';
    case 'OTP_INVALID_SECRET':
    case 'OTP_INVALID_JSON':
      return 'configuration';
    case 'OTP_INVALID_URI':
    case 'OTP_URI_WRONG_SCHEME':
    case 'OTP_URI_UNKNOWN_TYPE':
    case 'OTP_URI_TYPE_MISMATCH':
    case 'OTP_URI_INVALID_LABEL':
    case 'OTP_URI_MISSING_ACCOUNT':
    case 'OTP_URI_INVALID_SECRET':
    case 'OTP_URI_UNKNOWN_ALGORITHM':
    case 'OTP_URI_INVALID_DIGITS':
    case 'OTP_URI_INVALID_PERIOD':
    case 'OTP_URI_INVALID_COUNTER':
    case 'OTP_URI_MALFORMED_ENCODING':
    case 'OTP_URI_DUPLICATE_PARAMETER':
    case 'OTP_URI_ISSUER_MISMATCH':
      return 'uri';
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

t.test('each error class has its own code, static and on the instance, and its own name', async (t) => {
  t.equal(errorClasses.length, 20);
  const codes = new Set<string>();
  for (const [name, ErrorClass] of errorClasses) {
    const error = new ErrorClass('x');
    t.equal(error.code, ErrorClass.code, `${name}: instance code equals static code`);
    t.equal(error.name, name, `${name}: name`);
    t.ok(error instanceof Error && error instanceof OtpError, `${name}: is an OtpError`);
    t.type(describe(error.code), 'string');
    codes.add(ErrorClass.code);
  }
  t.equal(codes.size, errorClasses.length, 'codes are unique');
});

t.test('every URI-specific error extends OtpInvalidUriError', async (t) => {
  for (const [name, ErrorClass] of errorClasses.filter(([, E]) => E.code.startsWith('OTP_URI_'))) {
    t.ok(new ErrorClass('x') instanceof OtpInvalidUriError, name);
  }
});

t.test('errors keep a cause and have a default message', async (t) => {
  const cause = new Error('underlying');
  const error = new otp.OtpInvalidSecretError(undefined, { cause });
  t.equal(error.cause, cause);
  t.ok(error.message.length > 0);
  t.equal(new otp.OtpUriDuplicateParameterError('secret').parameter, 'secret');
});

t.test('the OtpError base class is abstract in practice: it carries no code of its own', async (t) => {
  t.equal(OtpError.code, undefined);
});

t.test('the barrel exports exactly the public API', async (t) => {
  t.same(Object.keys(otp).sort(), [
    'ALGORITHMS',
    'Hotp',
    'OTP_LIMITS',
    'OtpError',
    'OtpInvalidJsonError',
    'OtpInvalidSecretError',
    'OtpInvalidUriError',
    'OtpMalformedTokenError',
    'OtpNoMatchError',
    'OtpReusedError',
    'OtpUriDuplicateParameterError',
    'OtpUriInvalidCounterError',
    'OtpUriInvalidDigitsError',
    'OtpUriInvalidLabelError',
    'OtpUriInvalidPeriodError',
    'OtpUriInvalidSecretError',
    'OtpUriIssuerMismatchError',
    'OtpUriMalformedEncodingError',
    'OtpUriMissingAccountError',
    'OtpUriTypeMismatchError',
    'OtpUriUnknownAlgorithmError',
    'OtpUriUnknownTypeError',
    'OtpUriWrongSchemeError',
    'OtpWrongLengthError',
    'Totp',
    'buildUri',
    'decodeSecret',
    'encodeSecret',
    'generateSecret',
    'isAlgorithm',
    'normalizeToken',
    'parseUri',
    'prettySecret',
  ]);
});

t.test('error messages of refused tokens never contain the token', async (t) => {
  const totp = new otp.Totp({ secret: new Uint8Array(20).fill(1) });
  for (const token of ['98765x', '9876543', '987654']) {
    const error = t.throws(() => totp.match(token, { time: 0 })) as Error;
    t.notMatch(error.message, '9876', token);
  }
});
