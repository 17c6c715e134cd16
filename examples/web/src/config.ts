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
  /** PUBLIC_URL (default http://HOST:PORT): the address in links sent by mail. */
  publicUrl: string;
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

const STORES: readonly StoreKind[] = ['pglite', 'sqlite', 'redis', 'postgres', 'mysql'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

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

  const publicUrl = (
    value('PUBLIC_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  ).replace(/\/+$/, '');
  checkUrl('PUBLIC_URL', publicUrl, ['http:', 'https:'], 'https://app.example.com');

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
