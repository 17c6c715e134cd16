export { ALGORITHMS, type Algorithm, isAlgorithm } from './algorithm.js';
export {
  OtpError,
  type OtpErrorCode,
  type OtpErrorOptions,
  OtpInvalidJsonError,
  OtpInvalidSecretError,
  OtpInvalidUriError,
  OtpMalformedTokenError,
  OtpNoMatchError,
  OtpReusedError,
  OtpUriDuplicateParameterError,
  OtpUriInvalidCounterError,
  OtpUriInvalidDigitsError,
  OtpUriInvalidLabelError,
  OtpUriInvalidPeriodError,
  OtpUriInvalidSecretError,
  OtpUriIssuerMismatchError,
  OtpUriMalformedEncodingError,
  OtpUriMissingAccountError,
  OtpUriTypeMismatchError,
  OtpUriUnknownAlgorithmError,
  OtpUriUnknownTypeError,
  OtpUriWrongSchemeError,
  OtpWrongLengthError,
} from './errors.js';
export {
  Hotp,
  type HotpJSON,
  type HotpMatch,
  type HotpMatchOptions,
  type HotpOptions,
  type HotpResyncOptions,
} from './hotp.js';
export { OTP_LIMITS } from './limits.js';
export {
  type DecodeSecretOptions,
  decodeSecret,
  encodeSecret,
  type GenerateSecretOptions,
  generateSecret,
  prettySecret,
  type SecretEncoding,
} from './secret.js';
export { normalizeToken } from './token.js';
export {
  type OtpReadOptions,
  type OtpUriLabel,
  Totp,
  type TotpJSON,
  type TotpMatch,
  type TotpMatchOptions,
  type TotpOptions,
  type TotpToken,
  type TotpWindow,
} from './totp.js';
export {
  type BuildUriOptions,
  buildUri,
  type HotpUri,
  type OtpauthUri,
  type OtpType,
  type ParseUriOptions,
  parseUri,
  type TotpUri,
} from './uri.js';
