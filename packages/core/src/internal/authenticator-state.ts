import type { AuthenticatorRecord, StoredAuthenticator } from '../store.js';

/** Whether the authenticator counts toward 2FA being on: a confirmed app or any security key. */
export const isActive = (record: StoredAuthenticator): boolean =>
  record.type === 'webauthn' || record.status === 'active';

/** Whether it is a confirmed app (one whose codes verify). */
export const activeTotp = (record: StoredAuthenticator): record is AuthenticatorRecord =>
  record.type === 'totp' && record.status === 'active';
