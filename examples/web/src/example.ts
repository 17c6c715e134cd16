/**
 * Everything the two example apps share on the server, assembled from the settings: the databases,
 * the users, the keyring, the mailer, and the options both plugins take (they adapt the same
 * HTTP layer, so the options are the same). Each app adds only its framework's plumbing.
 */

import type { SecurityNotice, Store } from '@twofold/core';
import type { TwofoldMail } from '@twofold/core/http';
import type { Redis } from 'ioredis';
import type { ExampleConfig } from './config.js';
import { warnIfOpen } from './files.js';
import { loadKeyring } from './keyring.js';
import type { Log } from './log.js';
import { outboxMailer } from './mailer.js';
import { createSignup, type JsonAnswer } from './signup.js';
import { openDatabases } from './store.js';
import { createUsers, type User, type Users } from './users.js';

/**
 * The page a recovery link opens; the kit appends `#uid=...&token=...`, and to a delayed recovery's
 * cancel link `#uid=...&cancel=...`.
 */
export const RECOVER_PAGE = '/recover.html';

/** The options the example gives @twofold/fastify and @twofold/express alike. */
export interface SharedTwofoldOptions {
  store: Store;
  keyring: string;
  issuer: string;
  authenticate(credentials: { username: string; password: string }): Promise<string | null>;
  label(userId: string): Promise<string>;
  recovery: {
    findUserByEmail(email: string): Promise<{ userId: string; email: string } | null>;
    getUserEmail(userId: string): Promise<string | null>;
    verifyPassword(userId: string, password: string): Promise<boolean>;
    sendMail(mail: TwofoldMail): Promise<void>;
    linkUrl: string;
    /** RECOVERY_DELAY: 0 turns 2FA off at once; else it goes off that long after the confirm. */
    delayMs: number;
  };
  /** Security notices, mailed to the account's address (see notify in createExample). */
  notify(notice: SecurityNotice): Promise<void>;
  rateLimit: { redis?: Redis };
  /** Security keys and passkeys, for PUBLIC_URL's host (absent with WEBAUTHN=off). */
  webauthn?: { rpId: string; origins: string[] };
  /** Remembered browsers, TRUSTED_DEVICE_DAYS (absent when off). */
  trustedDevices?: { maxAgeDays: number };
}

export interface Example {
  config: ExampleConfig;
  users: Users;
  /** Spread into the plugin's options. */
  twofoldOptions: SharedTwofoldOptions;
  /** Where the 2FA state lives, for the startup log. */
  storeDescription: string;
  /** POST /signup: 202 "check your mail", the same whether or not the address has an account. */
  signup(body: unknown): Promise<JsonAnswer>;
  /** POST /signup/confirm: creates the account from the mailed link's token. */
  confirmSignup(body: unknown): Promise<JsonAnswer>;
  /** GET /me: the signed-in user's account (no password hash). */
  me(userId: string): Promise<User | null>;
  close(): Promise<void>;
}

/** Opens the databases (migrating the SQL schema) and builds the shared parts. */
export async function createExample(config: ExampleConfig, log: Log): Promise<Example> {
  // Folders the example creates are mode 700; one that was there before is only warned about.
  warnIfOpen(config.dataDir, 'DATA_DIR', log);
  warnIfOpen(config.outboxDir, 'TWOFOLD_OUTBOX', log);
  if (config.webauthnOffReason) log('warn', config.webauthnOffReason);
  const keyring = loadKeyring(config, log);
  const databases = await openDatabases(config);
  try {
    const users = await createUsers(databases.usersDb);
    // The schema is written: whatever files the embedded database made by now are mode 600 too.
    databases.restrictFiles();
    const sendMail = outboxMailer(config.outboxDir, log);
    const signup = createSignup({
      users,
      sendMail,
      publicUrl: config.publicUrl,
      appName: config.issuer,
      log,
    });
    const twofoldOptions: SharedTwofoldOptions = {
      store: databases.store,
      keyring,
      issuer: config.issuer,
      authenticate: ({ username, password }) => users.authenticate(username, password),
      // The account name shown in the authenticator app, next to the issuer.
      label: async (userId) => (await users.byId(userId))?.username ?? userId,
      recovery: {
        findUserByEmail: async (email) => {
          const user = await users.byEmail(email);
          return user ? { userId: user.id, email: user.email } : null;
        },
        getUserEmail: async (userId) => (await users.byId(userId))?.email ?? null,
        verifyPassword: (userId, password) => users.checkPassword(userId, password),
        sendMail,
        linkUrl: `${config.publicUrl}${RECOVER_PAGE}`,
        delayMs: config.recoveryDelayMs,
      },
      // Every security notice is mailed to the account's address, but for `recovery-requested` and
      // `recovery-scheduled`: the recovery link mail, and with RECOVERY_DELAY the cancel link mail
      // (`recovery-cancel-link`, with the time 2FA goes off), to that same address, say it already.
      notify: async (notice) => {
        if (notice.type === 'recovery-requested' || notice.type === 'recovery-scheduled') return;
        const to = (await users.byId(notice.userId))?.email;
        if (!to) return;
        await sendMail({
          kind: notice.type,
          userId: notice.userId,
          to,
          subject: notice.subject,
          text: notice.text,
        });
      },
      rateLimit: databases.redis ? { redis: databases.redis } : {},
      ...(config.webauthn
        ? { webauthn: { rpId: config.webauthn.rpId, origins: [...config.webauthn.origins] } }
        : {}),
      ...(config.trustedDeviceDays !== null
        ? { trustedDevices: { maxAgeDays: config.trustedDeviceDays } }
        : {}),
    };
    return {
      config,
      users,
      twofoldOptions,
      storeDescription: databases.description,
      signup: (body) => signup.request(body),
      confirmSignup: (body) => signup.confirm(body),
      me: (userId) => users.byId(userId),
      close: () => databases.close(),
    };
  } catch (error) {
    await databases.close();
    throw error;
  }
}
