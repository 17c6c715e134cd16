/** What each engine event carries. Payloads never contain a secret, code or token. */
export interface TwoFactorEvents {
  /** A pending enrollment was created (or replaced). */
  enrolled: { userId: string; expiresAt: number };
  /** The user's first authenticator was added: two-factor authentication is now on. */
  confirmed: { userId: string };
  /** A second factor was accepted. */
  verified: { userId: string; method: 'totp' | 'recovery-code' | 'webauthn' };
  /**
   * An authenticator was added (confirmed, or a security key registered). `enabled`: it was the
   * first, and turned 2FA on (`confirmed` follows).
   */
  authenticatorAdded: {
    userId: string;
    authenticatorId: string;
    type: 'totp' | 'webauthn';
    enabled: boolean;
  };
  /** An authenticator was removed. `last`: it was the last one, and 2FA is off (`disabled` follows). */
  authenticatorRemoved: { userId: string; authenticatorId: string; last: boolean };
  /**
   * A second factor was refused. `reason` tells a wrong code from a replayed one or a malformed
   * one; HTTP answers do not (SECURITY.md §13). `failures` is the consecutive count so far.
   */
  failed: {
    userId: string;
    /** `password`: a step-up with the password, for a user without 2FA. */
    method: 'totp' | 'recovery-code' | 'webauthn' | 'password';
    reason: 'invalid' | 'malformed' | 'replayed';
    failures: number;
  };
  /** Consecutive failures reached the limit: attempts are refused until `until`. */
  locked: { userId: string; until: number };
  /** A recovery code was used; `remaining` are left. */
  recoveryCodeUsed: { userId: string; remaining: number };
  /** The recovery codes were replaced by a new set. */
  recoveryCodesRotated: { userId: string };
  /** Two-factor authentication was turned off. */
  disabled: { userId: string; via: 'code' | 'recovery-code' | 'webauthn' | 'email-recovery' | 'admin' };
  /** An operator turned 2FA off with `resetTwoFactor` (`disabled` with `via: 'admin'` came first). */
  reset: { userId: string; actor: string; reason: string | null };
  /**
   * An operator action (`adminStatus`, `unlock`, `resetTwoFactor`), for the audit log: who did what
   * to which account, and what it changed.
   */
  audit: {
    action: 'status' | 'unlock' | 'reset';
    userId: string;
    /** Who acted, as the caller named them (an operator's login, `cli:<user>`...). */
    actor: string;
    reason: string | null;
    /** When, ms since the epoch. */
    at: number;
    /** Whether it changed anything: a lock ended, 2FA turned off; always false for `status`. */
    changed: boolean;
  };
  /** An email recovery link was issued. */
  recoveryRequested: { userId: string; expiresAt: number };
  /** A device was trusted after a second factor (the HTTP layer's trusted devices): it may skip the second factor. */
  deviceTrusted: { userId: string; deviceId: string; name: string | null };
  /** A delayed email recovery was confirmed: 2FA goes off at `dueAt` unless cancelled. */
  recoveryScheduled: { userId: string; dueAt: number };
  /** A delayed email recovery was cancelled: by its cancel link, or by a successful second factor. */
  recoveryCancelled: { userId: string; by: 'link' | 'second-factor' };
  /**
   * An authenticator from another system was imported (`importAuthenticator`). `enabled`: it was the
   * user's first, and turned 2FA on. No notice is sent for it: a bulk import is not news to the user.
   */
  imported: { userId: string; authenticatorId: string; source: string; enabled: boolean };
  /** A secret sealed under an older key was re-sealed under the current one. */
  resealed: { userId: string; tag: string };
}

export type TwoFactorEventName = keyof TwoFactorEvents;
export type TwoFactorListener<E extends TwoFactorEventName> = (payload: TwoFactorEvents[E]) => unknown;

/**
 * Delivers events to listeners after the flow has moved on: each listener runs in its own
 * macrotask, so a throwing, rejecting or slow listener never breaks or delays a flow.
 */
export class EventHub {
  readonly #listeners = new Map<TwoFactorEventName, Set<TwoFactorListener<TwoFactorEventName>>>();
  readonly #onError: (error: unknown, event: string) => void;

  constructor(onError?: (error: unknown, event: string) => void) {
    this.#onError =
      onError ??
      ((_error, event) =>
        process.emitWarning(`A twofold "${event}" event listener failed`, {
          code: 'TWOFOLD_LISTENER_ERROR',
        }));
  }

  /** Adds a listener; returns a function that removes it. */
  on<E extends TwoFactorEventName>(event: E, listener: TwoFactorListener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as TwoFactorListener<TwoFactorEventName>);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<E extends TwoFactorEventName>(event: E, listener: TwoFactorListener<E>): void {
    this.#listeners.get(event)?.delete(listener as TwoFactorListener<TwoFactorEventName>);
  }

  emit<E extends TwoFactorEventName>(event: E, payload: TwoFactorEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    const frozen = Object.freeze({ ...payload });
    for (const listener of set) {
      setImmediate(() => {
        try {
          const result = listener(frozen);
          if (result instanceof Promise) result.catch((error: unknown) => this.#report(error, event));
        } catch (error) {
          this.#report(error, event);
        }
      });
    }
  }

  /** Reports an error of work done for an event (a listener, the notify hook) to `onError`. */
  report(error: unknown, event: string): void {
    this.#report(error, event);
  }

  #report(error: unknown, event: string): void {
    try {
      this.#onError(error, event);
    } catch {
      // An error handler that throws must not crash the process either.
    }
  }
}
