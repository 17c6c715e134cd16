/**
 * The example apps' settings, from environment variables. A wrong value is a ConfigError whose
 * message names the variable; `main` prints it and exits, without a stack trace.
 */
import { isAbsolute, resolve } from 'node:path';

export type StoreKind = 'pglite' | 'sqlite' | 'redis' | 'postgres' | 'mysql';

export interface ExampleConfig {
  /** HOST (default 127.0.0.1). */
  host: string;
  /** PORT (default 3000; 0 picks a free port). */
  port: number;
  /**
   * DATA_DIR (default ./data): the embedded database (PGlite's folder `pglite`, or the SQLite file
   * `app.db` with STORE=sqlite) and the development keyring.
   */
  dataDir: string;
  /** TWOFOLD_OUTBOX (default ./outbox): where the development mailer writes each mail. */
  outboxDir: string;
  /**
   * PUBLIC_URL (default http://localhost:PORT when HOST is a loopback or any-address, else
   * http://HOST:PORT): the app's address as users see it, for the links sent by mail and for
   * security keys (WebAuthn: its host is the relying party id, its origin the one origin allowed).
   */
  publicUrl: string;
  /**
   * WEBAUTHN (default on): security keys and passkeys as a second factor, bound to PUBLIC_URL's
   * host; null when off. Browsers allow WebAuthn on https, and on http only at localhost.
   */
  webauthn: { rpId: string; origins: string[] } | null;
  /**
   * Why security keys are off although WEBAUTHN was not set to off (PUBLIC_URL is plain http away
   * from localhost, or an IP address): the start logs it as a warning. Null otherwise.
   */
  webauthnOffReason: string | null;
  /**
   * RECOVERY_DELAY (default 0: off): how long after an email recovery is confirmed 2FA goes off, in
   * ms (the kit's `recovery.delayMs`). Given as a duration, `0`, `90s`, `15m`, `24h` or `7d`, at
   * most 30 days; meanwhile a mailed link, or any second factor, cancels it.
   */
  recoveryDelayMs: number;
  /**
   * TRUSTED_DEVICE_DAYS (default 30): how many days a browser a user asked to remember skips the
   * second step (the kit's `trustedDevices.maxAgeDays`); a whole number from 1 to 400, or `0` /
   * `off` to turn remembered browsers off (null).
   */
  trustedDeviceDays: number | null;
  /** STORE (default pglite, embedded in DATA_DIR): where the 2FA state lives. */
  store: StoreKind;
  /** REDIS_URL, for STORE=redis. */
  redisUrl: string | undefined;
  /** DATABASE_URL, for STORE=postgres or STORE=mysql. */
  databaseUrl: string | undefined;
  /** TWOFOLD_TABLE_PREFIX (default twofold_): the 2FA tables' prefix in a SQL store. */
  tablePrefix: string;
  /** TWOFOLD_KEYS: the keyring ("tag:key,..."); without it a development keyring is generated. */
  keys: string | undefined;
  /** TWOFOLD_ISSUER: the name shown in authenticator apps. */
  issuer: string;
  /** NODE_ENV=production: the development keyring is refused. */
  production: boolean;
  /** LOG_LEVEL (default info). */
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}

/** A wrong setting; the message names the environment variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Hosts that mean "this machine": the default PUBLIC_URL says localhost for them. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '0.0.0.0', '::']);
/** A host name WebAuthn takes as a relying party id: a lowercase domain name (not an IP address). */
const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

const STORES: readonly StoreKind[] = ['pglite', 'sqlite', 'redis', 'postgres', 'mysql'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** The units of a duration setting, in ms. */
const DURATION_UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** The longest RECOVERY_DELAY: the kit's limit for `recovery.delayMs`. */
const MAX_RECOVERY_DELAY_MS = 30 * DURATION_UNITS.d;

/**
 * Reads the settings from `env`; relative paths are taken from `cwd`.
 * @example const config = loadConfig(process.env, process.cwd(), { issuer: 'twofold Fastify example' });
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  cwd: string,
  defaults: { issuer: string },
): ExampleConfig {
  const value = (name: string) => {
    const text = env[name]?.trim();
    return text === undefined || text === '' ? undefined : text;
  };
  const path = (name: string, fallback: string) => {
    const given = value(name) ?? fallback;
    return isAbsolute(given) ? given : resolve(cwd, given);
  };

  const host = value('HOST') ?? '127.0.0.1';
  const portText = value('PORT') ?? '3000';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
    throw new ConfigError(`PORT must be a port number from 0 to 65535 (got "${portText}")`);
  }
  const port = Number(portText);

  const store = (value('STORE') ?? 'pglite').toLowerCase() as StoreKind;
  if (!STORES.includes(store)) {
    throw new ConfigError(`STORE must be one of ${STORES.join(', ')} (got "${value('STORE')}")`);
  }
  const redisUrl = value('REDIS_URL');
  const databaseUrl = value('DATABASE_URL');
  if (store === 'redis') checkUrl('REDIS_URL', redisUrl, ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
  if (store === 'postgres') {
    checkUrl('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:'], 'postgres://user@127.0.0.1:5432/app');
  }
  if (store === 'mysql') {
    checkUrl('DATABASE_URL', databaseUrl, ['mysql:', 'mariadb:'], 'mysql://root@127.0.0.1:3306/app');
  }

  const tablePrefix = value('TWOFOLD_TABLE_PREFIX') ?? 'twofold_';
  if (!/^[a-z][a-z0-9_]{0,29}$/.test(tablePrefix)) {
    throw new ConfigError(
      'TWOFOLD_TABLE_PREFIX must be a lowercase letter, then up to 29 lowercase letters, digits or underscores',
    );
  }

  // The default address names localhost rather than 127.0.0.1: browsers allow security keys on
  // http only there (and 127.0.0.1 is an IP address, which cannot be a WebAuthn relying party id).
  const defaultHost = LOCAL_HOSTS.has(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const publicUrl = (value('PUBLIC_URL') ?? `http://${defaultHost}:${port}`).replace(/\/+$/, '');
  checkUrl('PUBLIC_URL', publicUrl, ['http:', 'https:'], 'https://app.example.com');
  const { webauthn, webauthnOffReason } = webauthnSettings(value('WEBAUTHN'), publicUrl);

  const recoveryDelayMs = recoveryDelay(value('RECOVERY_DELAY'));
  const trustedDeviceDays = trustedDays(value('TRUSTED_DEVICE_DAYS'));

  const logLevel = (value('LOG_LEVEL') ?? 'info').toLowerCase() as ExampleConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${value('LOG_LEVEL')}")`);
  }

  return {
    host,
    port,
    dataDir: path('DATA_DIR', 'data'),
    outboxDir: path('TWOFOLD_OUTBOX', 'outbox'),
    publicUrl,
    webauthn,
    webauthnOffReason,
    recoveryDelayMs,
    trustedDeviceDays,
    store,
    redisUrl,
    databaseUrl,
    tablePrefix,
    keys: value('TWOFOLD_KEYS'),
    issuer: value('TWOFOLD_ISSUER') ?? defaults.issuer,
    production: value('NODE_ENV') === 'production',
    logLevel,
  };
}

/**
 * WEBAUTHN (on or off, default on) and the relying party it makes of PUBLIC_URL: the id is its
 * host, the one origin its origin. A PUBLIC_URL that cannot carry WebAuthn (http away from
 * localhost, an IP address) is an error when WEBAUTHN=on was asked for, and turns it off (with the
 * reason, for the log) when it was only the default.
 */
function webauthnSettings(
  setting: string | undefined,
  publicUrl: string,
): Pick<ExampleConfig, 'webauthn' | 'webauthnOffReason'> {
  const wanted = (setting ?? 'on').toLowerCase();
  if (wanted !== 'on' && wanted !== 'off') {
    throw new ConfigError(`WEBAUTHN must be on or off (got "${setting}")`);
  }
  if (wanted === 'off') return { webauthn: null, webauthnOffReason: null };
  const url = new URL(publicUrl);
  const host = url.hostname;
  const problem =
    IPV4.test(host) || host.startsWith('[')
      ? `its host ${host} is an IP address; security keys need a domain name (localhost, or the site's own)`
      : !DOMAIN.test(host)
        ? `its host ${host} is not a domain name security keys can use`
        : url.protocol === 'http:' && host !== 'localhost'
          ? 'browsers allow security keys only on https (or http://localhost)'
          : null;
  if (problem === null) return { webauthn: { rpId: host, origins: [url.origin] }, webauthnOffReason: null };
  const reason = `PUBLIC_URL ${url.origin}: ${problem}`;
  if (setting !== undefined)
    throw new ConfigError(`WEBAUTHN=on does not work with ${reason}; set WEBAUTHN=off`);
  return { webauthn: null, webauthnOffReason: `security keys and passkeys are off: ${reason}` };
}

/**
 * RECOVERY_DELAY in ms: `0` (the default, off), or a whole number of seconds, minutes, hours or
 * days (`90s`, `15m`, `24h`, `7d`), at most 30 days. A bare number other than 0 is refused: its
 * unit would be a guess.
 */
function recoveryDelay(setting: string | undefined): number {
  if (setting === undefined) return 0;
  const match = /^(\d{1,9})\s*([smhd])?$/.exec(setting.toLowerCase());
  const count = Number(match?.[1]);
  const unit = match?.[2] as keyof typeof DURATION_UNITS | undefined;
  if (match === null || (unit === undefined && count !== 0)) {
    throw new ConfigError(
      `RECOVERY_DELAY must be 0 (off) or a duration with its unit, e.g. 90s, 15m, 24h or 7d (got "${setting}")`,
    );
  }
  const ms = unit === undefined ? 0 : count * DURATION_UNITS[unit];
  if (ms > MAX_RECOVERY_DELAY_MS) {
    throw new ConfigError(`RECOVERY_DELAY must be at most 30 days, 30d (got "${setting}")`);
  }
  return ms;
}

/**
 * TRUSTED_DEVICE_DAYS: a whole number of days from 1 to 400 (default 30), or `0` / `off` (null:
 * remembered browsers off).
 */
function trustedDays(setting: string | undefined): number | null {
  if (setting === undefined) return 30;
  const text = setting.toLowerCase();
  if (text === 'off') return null;
  const days = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (days === 0) return null;
  if (!(days >= 1 && days <= 400)) {
    throw new ConfigError(
      `TRUSTED_DEVICE_DAYS must be a whole number of days from 1 to 400, or 0 / off (got "${setting}")`,
    );
  }
  return days;
}

function checkUrl(name: string, url: string | undefined, protocols: string[], example: string): void {
  if (url === undefined) throw new ConfigError(`${name} is required here, e.g. ${name}=${example}`);
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new ConfigError(`${name} is not a valid URL (e.g. ${example})`);
  }
  if (!protocols.includes(protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
}
