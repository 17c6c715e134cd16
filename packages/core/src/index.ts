export { type ChallengeClaims, createChallengeTokens } from './challenge-token.js';
export {
  type Challenge,
  createTwoFactor,
  type Enrollment,
  type SecondFactor,
  TOTP_AUTHENTICATOR_ID,
  type TwoFactor,
  type TwoFactorStatus,
  type VerifiedFactor,
} from './engine.js';
export {
  AlreadyEnabledError,
  InvalidChallengeError,
  InvalidCodeError,
  InvalidCredentialsError,
  InvalidInputError,
  InvalidRecoveryTokenError,
  InvalidTokenError,
  isTwofoldError,
  LockedError,
  NotEnabledError,
  NotPendingError,
  SealBrokenError,
  StepUpRequiredError,
  StoreUnavailableError,
  type TokenRefusalReason,
  type TwofoldCoreErrorCode,
  TwofoldError,
  type TwofoldErrorCode,
  type TwofoldErrorCodeExtensions,
  UnauthorizedError,
  UnknownKeyError,
} from './errors.js';
export type { TwoFactorEventName, TwoFactorEvents, TwoFactorListener } from './events.js';
export { createKeyring, generateKey, type Keyring, parseKeyring } from './keyring.js';
export { memoryStore } from './memory-store.js';
export {
  parseOptions,
  type ResolvedOptions,
  type TwoFactorOptions,
  twoFactorOptionsSchema,
} from './options.js';
export { QR_OPTIONS, QR_QUIET_ZONE, type QrModules, qrModules, renderQrSvg, svgDataUri } from './qr.js';
export {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_ALPHABET,
  recoveryCodeHashCandidates,
} from './recovery-codes.js';
export type {
  AttemptState,
  AuthenticatorAlgorithm,
  AuthenticatorRecord,
  ConfirmAuthenticatorInput,
  CounterState,
  PendingAuthenticator,
  Store,
} from './store.js';
