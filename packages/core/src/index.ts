export { type ChallengeClaims, createChallengeTokens } from './challenge-token.js';
export {
  type AddedAuthenticator,
  type AdminActor,
  type AdminStatus,
  type AuthenticatorInfo,
  type Challenge,
  type CompleteChallengeOptions,
  createTwoFactor,
  type Enrollment,
  type FactorAmr,
  type LoginOptions,
  type SecondFactor,
  TOTP_AUTHENTICATOR_ID,
  type TwoFactor,
  type TwoFactorStatus,
  type VerifiedFactor,
} from './engine.js';
export {
  AlreadyEnabledError,
  AuthenticatorLimitError,
  EnrollmentRequiredError,
  InvalidChallengeError,
  InvalidCodeError,
  InvalidCredentialsError,
  InvalidInputError,
  InvalidRecoveryTokenError,
  InvalidRegistrationError,
  InvalidTokenError,
  isTwofoldError,
  LockedError,
  NotEnabledError,
  NotFoundError,
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
export {
  type ImportAuthenticatorInput,
  type ImportedAuthenticator,
  importedAuthenticatorId,
} from './import.js';
export { isActive as isActiveAuthenticator } from './internal/authenticator-state.js';
export { type BeginSecondFactorSteps, beginSecondFactorInSteps } from './internal/store-steps.js';
export { createKeyring, generateKey, type Keyring, parseKeyring } from './keyring.js';
export { memoryStore } from './memory-store.js';
export {
  DEFAULT_MESSAGES,
  escapeHtml,
  type MessageContext,
  type MessageDetails,
  type MessageRenderer,
  type MessageType,
  NOTICE_TYPES,
  type NoticeDetails,
  type NoticeMessage,
  type NoticeMessages,
  type NoticeType,
  type SecurityNotice,
} from './notices.js';
export {
  parseOptions,
  type ResolvedOptions,
  type TwoFactorOptions,
  twoFactorOptionsSchema,
} from './options.js';
export { QR_OPTIONS, QR_QUIET_ZONE, type QrModules, qrModules, renderQrSvg, svgDataUri } from './qr.js';
export {
  generateRecoveryCodes,
  hashImportedCode,
  hashRecoveryCode,
  normalizeImportedCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_ALPHABET,
  recoveryCodeHashCandidates,
} from './recovery-codes.js';
export type {
  AddAuthenticatorOutcome,
  AddWebAuthnCredentialInput,
  AttemptState,
  AuthenticatorAlgorithm,
  AuthenticatorRecord,
  AuthenticatorType,
  BeginSecondFactorInput,
  BeginSecondFactorResult,
  ConfirmAuthenticatorInput,
  CounterState,
  FinishSecondFactorInput,
  NonceEntry,
  NonceWrite,
  PendingAuthenticator,
  RemoveAuthenticatorOutcome,
  Store,
  StoredAuthenticator,
  WebAuthnCredentialRecord,
  WebAuthnUse,
} from './store.js';
export type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  WebAuthnOptions,
} from './webauthn.js';
