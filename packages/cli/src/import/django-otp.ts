/**
 * The django-otp reader of `twofold import`: the TOTP devices of a Django site that uses django-otp
 * 1.x (tables made by its migrations, 1.1 checked), with the users' static tokens as recovery codes.
 * It only reads; it never writes to the Django database nor to the twofold store.
 *
 * Tables read (Django's default names; the user table is Django's own `auth.User`):
 *
 *   auth_user                (id, username, email)
 *   otp_totp_totpdevice      (id, user_id -> auth_user.id, name varchar(64), confirmed bool,
 *                             key varchar(80) hex, step smallint, t0 bigint, digits smallint,
 *                             tolerance smallint, drift smallint, last_t bigint,
 *                             throttling_failure_timestamp, throttling_failure_count)
 *   otp_static_staticdevice  (id, user_id -> auth_user.id, name, confirmed, throttling_*)
 *   otp_static_statictoken   (id, device_id -> otp_static_staticdevice.id, token varchar(16))
 *
 * What becomes of them:
 * - One row per confirmed TOTPDevice, ordered by user id then device id: secret = the hex key,
 *   SHA1 (django-otp knows no other), digits, period = step, t0, lastCounter = last_t, name, and
 *   source `django-otp:totp:<device id>`. django-otp's last_t is the time step of the last code it
 *   accepted, drift included (`TOTP.t()` adds it), -1 when none: exactly twofold's lastCounter, so
 *   a code already used on the Django site is refused after the import too.
 * - The user's static tokens still in the table (django-otp deletes one when it is used) of every
 *   confirmed StaticDevice go as recoveryCodes on the user's first imported TOTP row only.
 * - Skipped, with a reason and never a secret: unconfirmed devices (django-otp does not accept
 *   codes from them either), keys that are not hex or shorter than 10 bytes, digits outside 6-10,
 *   a step outside 1-3600 s, a negative t0, and the static devices of a user who has no imported TOTP
 *   row (twofold keeps recovery codes only beside an authenticator).
 * - tolerance and drift are not carried over: twofold accepts codes within its own window (±1 step
 *   by default) around the server's clock. django-otp's drift (OTP_TOTP_SYNC, on by default) records
 *   the offset of the last accepted code, usually 0 or ±1 from a code typed at a step boundary;
 *   phones keep network time, so a device is imported whatever its drift. One whose clock really
 *   is more than a step off must fix it (or use a recovery code): skipping it would leave the user
 *   with no second factor at all, which is worse.
 * - Throttling state is not carried over: twofold counts its own failures.
 *
 * The twofold user id is the Django user's primary key by default: it never changes, while a
 * username can be renamed and auth_user.email is neither required nor unique. `userField` picks
 * `username` (unique in auth_user) or `email` instead; a device whose user has no email, or shares
 * it with another user, is then skipped rather than given to the wrong twofold user.
 *
 * Reading goes in pages (keyset pagination on the user id): the next `pageSize` user ids that own a
 * device (one query on each device table's user_id index), their auth_user rows, their TOTP devices
 * and their static tokens, so a site with 100,000 users is never held in memory at once. With `userField: 'email'` one grouped query first
 * finds the emails held by more than one user (auth_user.email has no index to look them up by).
 */
import type { SqlDatabase, SqlDialect } from '@twofold/store-sql';
import { CommandError } from '../errors.js';
import { clipName, MIN_IMPORT_SECRET_BYTES } from './format-support.js';
import type { ImportEntry, ImportReader, ImportRow, SkippedRow } from './types.js';

export interface DjangoOtpOptions {
  /** Which auth_user column becomes the twofold user id. Default `id` (the primary key). */
  userField?: 'id' | 'username' | 'email';
  /** Users read per query, 1 to 10,000. Default 1,000. */
  pageSize?: number;
}

const DEFAULT_PAGE_SIZE = 1000;
const MAX_USER_ID_LENGTH = 255;

type DbRow = Record<string, unknown>;
/** Runs one SELECT with `?` placeholders and returns its rows. */
type Query = (text: string, params: readonly unknown[]) => Promise<DbRow[]>;

/** A user id as the queries take it back: a number, or a decimal string past 2^53. */
type UserKey = number | string;

interface DjangoUser {
  /** auth_user.id, as text. */
  pk: string;
  /** The twofold user id, or why there is none. */
  userId: { value: string } | { reason: string };
}

interface TotpDevice {
  id: string;
  userPk: string;
  name: string;
  confirmed: boolean;
  key: string;
  step: number;
  t0: number;
  digits: number;
  lastT: number;
}

interface StaticDevice {
  id: string;
  userPk: string;
  confirmed: boolean;
  tokens: string[];
}

/**
 * Reads the django-otp devices of the Django database `db` (a pg Pool, a mysql2 pool or a
 * better-sqlite3 Database, as `openDatabase` returns them) in a stable order.
 */
export function readDjangoOtp(
  db: SqlDatabase,
  dialect: SqlDialect,
  options: DjangoOtpOptions = {},
): ImportReader {
  const userField = options.userField ?? 'id';
  if (!['id', 'username', 'email'].includes(userField)) {
    throw new TypeError(`readDjangoOtp: userField must be 'id', 'username' or 'email'`);
  }
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000) {
    throw new TypeError('readDjangoOtp: pageSize must be an integer from 1 to 10000');
  }
  const query = queryFunction(db, dialect);
  return readPages(query, userField, pageSize);
}

async function* readPages(
  query: Query,
  userField: 'id' | 'username' | 'email',
  pageSize: number,
): AsyncGenerator<ImportEntry> {
  const sharedEmails = userField === 'email' ? await readSharedEmails(query) : new Map<string, number>();
  let after: UserKey | undefined;
  for (;;) {
    const ids = await readOwnerPage(query, pageSize, after);
    if (ids.length === 0) return;
    const first = ids[0]!;
    const last = ids[ids.length - 1]!;
    const users = await readUsers(query, ids, userField, sharedEmails);
    const totp = await readTotpDevices(query, first, last);
    const statics = await readStaticDevices(query, first, last);
    for (const id of ids) {
      const pk = String(id);
      const user = users.get(pk) ?? { pk, userId: { reason: `auth_user has no row id=${pk}` } };
      yield* userEntries(user, totp.get(pk) ?? [], statics.get(pk) ?? []);
    }
    after = last;
  }
}

/**
 * The entries of one user: its TOTP devices in id order, then what becomes of its static devices.
 * A user without a twofold user id (no email, say) has every device skipped with that reason.
 */
function* userEntries(
  user: DjangoUser,
  devices: readonly TotpDevice[],
  statics: readonly StaticDevice[],
): Generator<ImportEntry> {
  let recoveryCodes: string[] | undefined = unusedTokens(statics);
  let imported = false;
  for (const device of devices) {
    const entry = totpEntry(user, device, recoveryCodes);
    if ('row' in entry) {
      imported = true;
      recoveryCodes = undefined;
    }
    yield entry;
  }
  for (const device of statics) {
    const reason = 'reason' in user.userId ? user.userId.reason : staticSkipReason(device, imported);
    if (reason !== undefined) yield { skip: staticSkip(user, device, reason) };
  }
}

/** The tokens of the user's confirmed static devices, once each, in device and token order. */
function unusedTokens(statics: readonly StaticDevice[]): string[] | undefined {
  const tokens = new Set<string>();
  for (const device of statics) {
    if (device.confirmed) for (const token of device.tokens) tokens.add(token);
  }
  return tokens.size > 0 ? [...tokens] : undefined;
}

function totpEntry(user: DjangoUser, device: TotpDevice, recoveryCodes: string[] | undefined): ImportEntry {
  const ref = `otp_totp_totpdevice id=${device.id}`;
  if (!('value' in user.userId)) return { skip: { ref, reason: user.userId.reason } };
  const userId = user.userId.value;
  const reason = totpSkipReason(device);
  if (reason !== undefined) return { skip: { ref, userId, reason } };
  const row: ImportRow = {
    ref,
    userId,
    source: `django-otp:totp:${device.id}`,
    secret: Uint8Array.from(Buffer.from(device.key, 'hex')),
    algorithm: 'SHA1',
    digits: device.digits,
    period: device.step,
    t0: device.t0,
  };
  if (device.lastT >= 0) row.lastCounter = device.lastT;
  const name = clipName(device.name.trim());
  if (name !== undefined) row.name = name;
  if (recoveryCodes !== undefined) row.recoveryCodes = recoveryCodes;
  return { row };
}

/** Why a TOTP device cannot be imported; undefined when it can. Never quotes the key. */
function totpSkipReason(device: TotpDevice): string | undefined {
  if (!device.confirmed) return 'the TOTP device is not confirmed (django-otp does not accept its codes)';
  if (!/^(?:[0-9a-f]{2})+$/i.test(device.key)) return 'the key is not a hex string';
  const bytes = device.key.length / 2;
  if (bytes < MIN_IMPORT_SECRET_BYTES) {
    return `the key is ${bytes} bytes; twofold needs at least ${MIN_IMPORT_SECRET_BYTES}`;
  }
  if (!Number.isInteger(device.digits) || device.digits < 6 || device.digits > 10) {
    return `digits is ${device.digits}; twofold accepts 6 to 10`;
  }
  if (!Number.isInteger(device.step) || device.step < 1 || device.step > 3600) {
    return `step is ${device.step} s; twofold accepts 1 to 3600`;
  }
  if (!Number.isSafeInteger(device.t0) || device.t0 < 0) {
    return `t0 is ${device.t0}; twofold counts time steps from 0 or later`;
  }
  return undefined;
}

/** Why a static device yields a skip entry; undefined when its tokens went onto a TOTP row. */
function staticSkipReason(device: StaticDevice, imported: boolean): string | undefined {
  if (!device.confirmed) return 'the static device is not confirmed (django-otp does not accept its tokens)';
  if (imported) return undefined;
  const tokens = device.tokens.length === 1 ? '1 unused token' : `${device.tokens.length} unused tokens`;
  return `the user has no imported TOTP device to attach the ${tokens} of this static device to (twofold keeps recovery codes only beside an authenticator)`;
}

function staticSkip(user: DjangoUser, device: StaticDevice, reason: string): SkippedRow {
  const skip: SkippedRow = { ref: `otp_static_staticdevice id=${device.id}`, reason };
  if ('value' in user.userId) skip.userId = user.userId.value;
  return skip;
}

// --- Queries -------------------------------------------------------------------------------------

/**
 * The emails (lower-cased) that more than one auth_user row holds, with how many: one grouped scan
 * (auth_user.email has no index). Letter case is ignored, as MySQL's default collation ignores it.
 */
async function readSharedEmails(query: Query): Promise<Map<string, number>> {
  const rows = await query(
    `select lower(email) as email, count(*) as users from auth_user
     where email <> '' group by lower(email) having count(*) > 1`,
    [],
  );
  return new Map(rows.map((row) => [String(row.email), Number(row.users)]));
}

/**
 * The next page: the ids of up to `limit` users after `after` who own a TOTP or static device, in
 * order. Each device table is read by its user_id index, `limit` rows at most; when one of them
 * filled its limit, users past the last id it reached may be missing from it, so the page stops
 * there. (A single auth_user query with EXISTS on both tables makes PostgreSQL hash all the
 * devices for every page.)
 */
async function readOwnerPage(query: Query, limit: number, after: UserKey | undefined): Promise<UserKey[]> {
  let cap: bigint | undefined;
  const ids = new Map<string, UserKey>();
  for (const table of ['otp_totp_totpdevice', 'otp_static_staticdevice']) {
    const rows = await query(
      `select user_id from ${table} ${after === undefined ? '' : 'where user_id > ?'}
       order by user_id limit ${limit}`,
      after === undefined ? [] : [after],
    );
    for (const row of rows) {
      const id = userKey(row.user_id);
      ids.set(String(id), id);
    }
    if (rows.length === limit) {
      const reached = BigInt(userKey(rows[rows.length - 1]!.user_id));
      if (cap === undefined || reached < cap) cap = reached;
    }
  }
  const sorted = [...ids.values()].sort((a, b) => compareKeys(BigInt(a), BigInt(b)));
  return sorted.filter((id) => cap === undefined || BigInt(id) <= cap).slice(0, limit);
}

/** The auth_user rows of `ids`, by id as text. */
async function readUsers(
  query: Query,
  ids: readonly UserKey[],
  userField: 'id' | 'username' | 'email',
  sharedEmails: ReadonlyMap<string, number>,
): Promise<Map<string, DjangoUser>> {
  const rows = await query(
    `select id, username, email from auth_user where id in (${ids.map(() => '?').join(', ')})`,
    ids,
  );
  const users = new Map<string, DjangoUser>();
  for (const row of rows) {
    const pk = String(row.id);
    users.set(pk, { pk, userId: twofoldUserId(row, userField, sharedEmails) });
  }
  return users;
}

/** A user id from the database as a query parameter: a number when it is exact, else its digits. */
function userKey(value: unknown): UserKey {
  if (typeof value === 'number') return value;
  const text = String(value);
  if (!/^-?\d+$/.test(text)) throw new CommandError(`auth_user id ${JSON.stringify(text)} is not an integer`);
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : text;
}

function compareKeys(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The twofold user id of an auth_user row, or why it has none. */
function twofoldUserId(
  row: DbRow,
  userField: 'id' | 'username' | 'email',
  sharedEmails: ReadonlyMap<string, number>,
): DjangoUser['userId'] {
  const pk = String(row.id);
  if (userField === 'id') return { value: pk };
  const value = typeof row[userField] === 'string' ? (row[userField] as string) : '';
  if (value === '') return { reason: `auth_user id=${pk} has no ${userField}` };
  if (value.length > MAX_USER_ID_LENGTH) {
    return {
      reason: `the ${userField} of auth_user id=${pk} is longer than ${MAX_USER_ID_LENGTH} characters`,
    };
  }
  const sharing = userField === 'email' ? sharedEmails.get(value.toLowerCase()) : undefined;
  if (sharing !== undefined) {
    return {
      reason: `the email of auth_user id=${pk} is shared by ${sharing} users (letter case aside); import by id or username`,
    };
  }
  return { value };
}

/** The TOTP devices of the users with ids first..last, grouped by user, in device id order. */
async function readTotpDevices(
  query: Query,
  first: UserKey,
  last: UserKey,
): Promise<Map<string, TotpDevice[]>> {
  const rows = await query(
    `select id, user_id, name, confirmed, "key", step, t0, digits, last_t
     from otp_totp_totpdevice where user_id >= ? and user_id <= ? order by user_id, id`,
    [first, last],
  );
  return groupBy(
    rows.map((row) => ({
      id: String(row.id),
      userPk: String(row.user_id),
      name: typeof row.name === 'string' ? row.name : '',
      confirmed: isTrue(row.confirmed),
      key: String(row.key ?? '').trim(),
      step: Number(row.step),
      t0: Number(row.t0),
      digits: Number(row.digits),
      lastT: Number(row.last_t),
    })),
  );
}

/** The static devices (with their remaining tokens) of the users with ids first..last. */
async function readStaticDevices(
  query: Query,
  first: UserKey,
  last: UserKey,
): Promise<Map<string, StaticDevice[]>> {
  const rows = await query(
    `select d.id, d.user_id, d.confirmed, t.token from otp_static_staticdevice d
     left join otp_static_statictoken t on t.device_id = d.id
     where d.user_id >= ? and d.user_id <= ? order by d.user_id, d.id, t.id`,
    [first, last],
  );
  const devices: StaticDevice[] = [];
  for (const row of rows) {
    const id = String(row.id);
    let device = devices[devices.length - 1];
    if (device?.id !== id) {
      device = { id, userPk: String(row.user_id), confirmed: isTrue(row.confirmed), tokens: [] };
      devices.push(device);
    }
    if (typeof row.token === 'string' && row.token !== '') device.tokens.push(row.token);
  }
  return groupBy(devices);
}

function groupBy<T extends { userPk: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.userPk);
    if (group) group.push(item);
    else groups.set(item.userPk, [item]);
  }
  return groups;
}

/** A boolean column as each driver returns it: true/false, 1/0, or '1'/'0'. */
function isTrue(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't';
}

// --- Drivers -------------------------------------------------------------------------------------

interface RowsResult {
  rows: DbRow[];
}
type Callback = (error: Error | null, rows: unknown) => void;

/**
 * One SELECT over the driver behind `db`: a pg Pool (or PGlite), a mysql2 pool (callback or
 * promise API) or a better-sqlite3 Database. Queries are written with `?` placeholders; PostgreSQL
 * gets `$1, $2...`. A Kysely instance is not accepted: the CLI passes the driver it opened.
 */
function queryFunction(db: SqlDatabase, dialect: SqlDialect): Query {
  const target = db as unknown as Record<string, unknown>;
  if (typeof target.selectFrom === 'function') {
    throw new TypeError(
      'readDjangoOtp: pass the pg, mysql2 or better-sqlite3 connection, not a Kysely instance',
    );
  }
  const failed = (error: unknown): never => {
    throw new CommandError(`cannot read the django-otp tables: ${(error as Error).message}`, {
      cause: error,
    });
  };
  switch (dialect) {
    case 'sqlite': {
      const sqlite = target as unknown as { prepare(text: string): { all(params: unknown[]): DbRow[] } };
      return async (text, params) => {
        try {
          return sqlite.prepare(text).all([...params]);
        } catch (error) {
          return failed(error);
        }
      };
    }
    case 'postgres': {
      const pg = target as unknown as { query(text: string, params: unknown[]): Promise<RowsResult> };
      return (text, params) =>
        pg.query(numberedPlaceholders(text), [...params]).then((result) => result.rows, failed);
    }
    case 'mysql': {
      const pool = (
        typeof (target.pool as Record<string, unknown> | undefined)?.query === 'function'
          ? target.pool
          : target
      ) as { query(text: string, params: unknown[], callback: Callback): void };
      // `key` is a reserved word that the queries quote the standard way ("key"); MySQL and MariaDB
      // read that as a string unless ANSI_QUOTES is on, so identifiers are back-quoted for them.
      return (text, params) =>
        new Promise<DbRow[]>((resolve, reject) => {
          pool.query(text.replaceAll('"', '`'), [...params], (error, rows) =>
            error ? reject(error) : resolve(rows as DbRow[]),
          );
        }).catch(failed);
    }
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2...` (the queries here have no `?` in literals). */
function numberedPlaceholders(text: string): string {
  let index = 0;
  return text.replaceAll('?', () => `$${++index}`);
}
