/**
 * Security notices: what the kit tells a user about changes to their account's protection, through
 * the host's `notify` hook (a mail, a push message, an entry in the account's activity page). Each
 * notice carries its text already written (subject, plain text, HTML), from a table of messages the
 * host can override per type, e.g. to translate them; the recovery mails of the HTTP layer are
 * written from the same table. A notice never holds a secret, a code, a recovery code or a token.
 */
import { z } from 'zod';
import type { TwoFactorEvents } from './events.js';

/** The kinds of notice, each with what it reports in `details`. */
export interface NoticeDetails {
  /** The first authenticator was added: two-factor authentication is on. */
  'two-factor-enabled': Record<string, never>;
  /** Two-factor authentication was turned off by the user (with a second factor). */
  'two-factor-disabled': { via: 'code' | 'recovery-code' | 'webauthn' };
  /** Another authenticator was added (2FA was on already). */
  'authenticator-added': { authenticatorId: string; type: 'totp' | 'webauthn' };
  /** An authenticator was removed and others are left. */
  'authenticator-removed': { authenticatorId: string };
  /** The recovery codes were replaced by a new set. */
  'recovery-codes-rotated': Record<string, never>;
  /** A recovery code was used to sign in or confirm an action; `remaining` are left. */
  'recovery-code-used': { remaining: number };
  /** Too many wrong second factors: attempts are refused until `until` (ms). */
  locked: { until: number };
  /** An email recovery link was requested (the link itself goes only to the account's address). */
  'recovery-requested': { expiresAt: number };
  /** A delayed email recovery was confirmed: 2FA goes off at `dueAt` unless cancelled. */
  'recovery-scheduled': { dueAt: number };
  /** A delayed email recovery was cancelled: by its cancel link, or by a successful second factor. */
  'recovery-cancelled': { by: 'link' | 'second-factor' };
  /** Two-factor authentication was turned off through the emailed recovery link. */
  'recovery-completed': Record<string, never>;
  /** A device was trusted: it may sign in with the password alone until its trust ends. */
  'trusted-device-added': { deviceId: string; name: string | null };
  /** An operator turned two-factor authentication off (`resetTwoFactor`). */
  'two-factor-reset': { actor: string; reason: string | null };
}

export type NoticeType = keyof NoticeDetails;

/** Every notice type, in a stable order (documentation, validation). */
export const NOTICE_TYPES = [
  'two-factor-enabled',
  'two-factor-disabled',
  'authenticator-added',
  'authenticator-removed',
  'recovery-codes-rotated',
  'recovery-code-used',
  'locked',
  'recovery-requested',
  'recovery-scheduled',
  'recovery-cancelled',
  'recovery-completed',
  'trusted-device-added',
  'two-factor-reset',
] as const satisfies readonly NoticeType[];

/** A written message: a mail's subject, its plain text and its HTML. */
export interface NoticeMessage {
  subject: string;
  text: string;
  html: string;
}

/** What the kit hands the host's `notify` hook. */
export type SecurityNotice = {
  [T in NoticeType]: {
    type: T;
    userId: string;
    /** When it happened, ms since the epoch. */
    at: number;
    details: Readonly<NoticeDetails[T]>;
  } & NoticeMessage;
}[NoticeType];

/** What a message renderer gets: the site's name, when it happened, and the notice's details. */
export interface MessageContext<D> {
  /** The `issuer` option: the site's name. */
  issuer: string;
  /** When it happened, ms since the epoch. */
  at: number;
  details: Readonly<D>;
}

/** The details of the two recovery mails the HTTP layer sends through `recovery.sendMail`. */
export interface RecoveryMailDetails {
  /** The mailed link; holds the recovery token, so the `recovery-link` message is never logged. */
  'recovery-link': { link: string; expiresAt: number };
  /** A delayed recovery's mail: when 2FA goes off, and the link that cancels it (a secret too). */
  'recovery-cancel-link': { link: string; dueAt: number };
}

/** The messages that can be overridden: every notice, and the recovery link mail. */
export type MessageDetails = NoticeDetails & RecoveryMailDetails;
export type MessageType = keyof MessageDetails;

export type MessageRenderer<T extends MessageType> = (
  context: MessageContext<MessageDetails[T]>,
) => NoticeMessage;

/** Overrides of the default (English) messages, by type. */
export type NoticeMessages = { [T in MessageType]?: MessageRenderer<T> };

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const IF_NOT_YOU =
  'If this was not you, sign in and check your account, or contact support: someone may know your password.';

/** A message of a subject and paragraphs of plain text; the HTML is the same paragraphs, escaped. */
function plain(subject: string, ...paragraphs: string[]): NoticeMessage {
  return {
    subject,
    text: `${paragraphs.join('\n\n')}\n`,
    html: paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`).join('\n'),
  };
}

const when = (at: number): string => `${new Date(at).toISOString().replace('T', ' ').slice(0, 16)} UTC`;

const FACTOR_NAMES = {
  code: 'a code from an authenticator app',
  'recovery-code': 'a recovery code',
  webauthn: 'a security key or passkey',
} as const;

/** The default messages, in English. */
export const DEFAULT_MESSAGES: { [T in MessageType]: MessageRenderer<T> } = {
  'two-factor-enabled': ({ issuer, at }) =>
    plain(
      `${issuer}: two-factor authentication is on`,
      `Two-factor authentication was turned on for your ${issuer} account (${when(at)}). Signing in now needs a second factor as well as your password.`,
      IF_NOT_YOU,
    ),
  'two-factor-disabled': ({ issuer, at, details }) =>
    plain(
      `${issuer}: two-factor authentication was turned off`,
      `Two-factor authentication was turned off for your ${issuer} account (${when(at)}), confirmed with ${FACTOR_NAMES[details.via]}. Every session was signed out.`,
      IF_NOT_YOU,
    ),
  'authenticator-added': ({ issuer, at, details }) =>
    plain(
      `${issuer}: a new ${details.type === 'webauthn' ? 'security key or passkey' : 'authenticator app'} was added`,
      `A new ${details.type === 'webauthn' ? 'security key or passkey' : 'authenticator app'} can now sign in to your ${issuer} account as a second factor (${when(at)}).`,
      IF_NOT_YOU,
    ),
  'authenticator-removed': ({ issuer, at }) =>
    plain(
      `${issuer}: an authenticator was removed`,
      `An authenticator was removed from your ${issuer} account (${when(at)}). Two-factor authentication stays on with the others.`,
      IF_NOT_YOU,
    ),
  'recovery-codes-rotated': ({ issuer, at }) =>
    plain(
      `${issuer}: new recovery codes`,
      `New recovery codes were made for your ${issuer} account (${when(at)}); the old ones no longer work.`,
      IF_NOT_YOU,
    ),
  'recovery-code-used': ({ issuer, at, details }) =>
    plain(
      `${issuer}: a recovery code was used`,
      `A recovery code of your ${issuer} account was used (${when(at)}). ${details.remaining === 1 ? '1 code is' : `${details.remaining} codes are`} left${details.remaining <= 3 ? ': make new ones in your account settings soon' : ''}.`,
      IF_NOT_YOU,
    ),
  locked: ({ issuer, details }) =>
    plain(
      `${issuer}: sign-in paused after wrong codes`,
      `Too many wrong second-factor codes were entered for your ${issuer} account. Further attempts are refused until ${when(details.until)}.`,
      'If this was not you, someone may know your password: change it once you can sign in.',
    ),
  'recovery-requested': ({ issuer, at }) =>
    plain(
      `${issuer}: turning off two-factor authentication was requested`,
      `Someone asked for a link to turn off two-factor authentication on your ${issuer} account (${when(at)}). The link was mailed to the account's address only.`,
      'If this was not you, ignore the link: nothing changes unless it is used with your password.',
    ),
  'recovery-scheduled': ({ issuer, details }) =>
    plain(
      `${issuer}: two-factor authentication will be turned off`,
      `An emailed recovery link and your password were used to turn off two-factor authentication on your ${issuer} account. It goes off at ${when(details.dueAt)}.`,
      'If this was not you, cancel it with the link we mailed, or simply sign in with your second factor: either stops it.',
    ),
  'recovery-cancelled': ({ issuer, at, details }) =>
    plain(
      `${issuer}: turning off two-factor authentication was cancelled`,
      `The scheduled removal of two-factor authentication from your ${issuer} account was cancelled (${when(at)}), ${details.by === 'link' ? 'with the cancel link' : 'by a sign-in with a second factor'}. It stays on.`,
      'If you did not ask for the removal, someone may know your password and have access to your mailbox: change both.',
    ),
  'recovery-completed': ({ issuer, at }) =>
    plain(
      `${issuer}: two-factor authentication was turned off`,
      `Two-factor authentication was turned off for your ${issuer} account through an emailed recovery link (${when(at)}). Every session was signed out. Turn it on again in your account settings.`,
      'If this was not you, change your password and your email password at once, and contact support.',
    ),
  'trusted-device-added': ({ issuer, at, details }) =>
    plain(
      `${issuer}: a device was remembered`,
      `A device${details.name ? ` ("${details.name}")` : ''} was remembered after a sign-in with your second factor (${when(at)}): it can sign in to your ${issuer} account with the password alone for a while. You can remove it in your account settings.`,
      IF_NOT_YOU,
    ),
  'two-factor-reset': ({ issuer, at }) =>
    plain(
      `${issuer}: two-factor authentication was reset by support`,
      `Our support team turned off two-factor authentication for your ${issuer} account (${when(at)}), and every session was signed out. Turn it on again in your account settings.`,
      'If you did not ask for this, contact support at once.',
    ),
  'recovery-cancel-link': ({ issuer, details }) => ({
    subject: `${issuer}: two-factor authentication will be turned off`,
    text:
      `Two-factor authentication on your ${issuer} account will be turned off at ${when(details.dueAt)}, as asked with an emailed recovery link and your password.\n\n` +
      `If it was not you, open this link before then to cancel it (or sign in with your second factor):\n\n${details.link}\n`,
    html:
      `<p>Two-factor authentication on your ${escapeHtml(issuer)} account will be turned off at ${when(details.dueAt)}, as asked with an emailed recovery link and your password.</p>\n` +
      `<p>If it was not you, open <a href="${escapeHtml(details.link)}">this link</a> before then to cancel it (or sign in with your second factor).</p>`,
  }),
  'recovery-link': ({ issuer, details }) => ({
    subject: `${issuer}: turn off two-factor authentication`,
    text:
      `Someone (hopefully you) asked to turn off two-factor authentication for your ${issuer} account.\n\n` +
      `To do so, open this link before ${when(details.expiresAt)} and enter your password:\n\n${details.link}\n\n` +
      'If it was not you, ignore this mail: nothing changes on your account.\n',
    html:
      `<p>Someone (hopefully you) asked to turn off two-factor authentication for your ${escapeHtml(issuer)} account.</p>\n` +
      `<p>To do so, open <a href="${escapeHtml(details.link)}">this link</a> before ${when(details.expiresAt)} and enter your password.</p>\n` +
      '<p>If it was not you, ignore this mail: nothing changes on your account.</p>',
  }),
};

/** The `messages` option: an object of renderer functions, by message type. */
export const noticeMessagesSchema = (
  z.strictObject(
    Object.fromEntries(
      [...NOTICE_TYPES, 'recovery-link', 'recovery-cancel-link'].map((type) => [
        type,
        z
          .custom<unknown>(
            (value) => typeof value === 'function',
            'must be a function (context => { subject, text, html })',
          )
          .optional(),
      ]),
    ),
  ) as unknown as z.ZodType<NoticeMessages, NoticeMessages>
).optional();

/**
 * Writes the message of `type`: the host's override when it gave one, else the default. A host
 * renderer that throws or answers something other than three strings falls back to the default,
 * and `onError` hears of it: a notice is never lost to a broken translation.
 */
export function renderMessage<T extends MessageType>(
  messages: NoticeMessages | undefined,
  type: T,
  context: MessageContext<MessageDetails[T]>,
  onError: (error: unknown) => void,
): NoticeMessage {
  const override = messages?.[type] as MessageRenderer<T> | undefined;
  if (override) {
    try {
      const message = override(context);
      if (
        typeof message === 'object' &&
        message !== null &&
        typeof message.subject === 'string' &&
        typeof message.text === 'string' &&
        typeof message.html === 'string'
      ) {
        return { subject: message.subject, text: message.text, html: message.html };
      }
      onError(new TypeError(`The "${type}" message must answer { subject, text, html } as strings`));
    } catch (error) {
      onError(error);
    }
  }
  return (DEFAULT_MESSAGES[type] as MessageRenderer<T>)(context);
}

/**
 * The notice an engine event makes, or null for events that make none (or that another event's
 * notice covers: the first authenticator added is `two-factor-enabled`; the last one removed is
 * `two-factor-disabled`).
 */
export function noticeOf<E extends keyof TwoFactorEvents>(
  event: E,
  payload: TwoFactorEvents[E],
): { type: NoticeType; details: Record<string, unknown> } | null {
  const data = payload as Record<string, unknown>;
  switch (event) {
    case 'confirmed':
      return { type: 'two-factor-enabled', details: {} };
    case 'authenticatorAdded':
      return data.enabled
        ? null
        : {
            type: 'authenticator-added',
            details: { authenticatorId: data.authenticatorId, type: data.type },
          };
    case 'authenticatorRemoved':
      return data.last
        ? null
        : { type: 'authenticator-removed', details: { authenticatorId: data.authenticatorId } };
    case 'disabled':
      if (data.via === 'email-recovery') return { type: 'recovery-completed', details: {} };
      if (data.via === 'admin') return null; // `reset` says it, with the actor.
      return { type: 'two-factor-disabled', details: { via: data.via } };
    case 'recoveryCodesRotated':
      return { type: 'recovery-codes-rotated', details: {} };
    case 'recoveryCodeUsed':
      return { type: 'recovery-code-used', details: { remaining: data.remaining } };
    case 'locked':
      return { type: 'locked', details: { until: data.until } };
    case 'recoveryRequested':
      return { type: 'recovery-requested', details: { expiresAt: data.expiresAt } };
    case 'recoveryScheduled':
      return { type: 'recovery-scheduled', details: { dueAt: data.dueAt } };
    case 'recoveryCancelled':
      return { type: 'recovery-cancelled', details: { by: data.by } };
    case 'deviceTrusted':
      return { type: 'trusted-device-added', details: { deviceId: data.deviceId, name: data.name } };
    case 'reset':
      return { type: 'two-factor-reset', details: { actor: data.actor, reason: data.reason } };
    default:
      return null;
  }
}
