/**
 * The example's own accounts: a `users` table (id, username, email, password_hash), with usernames
 * and emails unique regardless of case, in PostgreSQL (PGlite, the default) or SQLite: on
 * PostgreSQL unique indexes on `lower(username)` and `lower(email)`, and lookups compare
 * `lower(...)` to `lower(...)`; on SQLite the columns are COLLATE NOCASE. This is the host app's user model that the
 * twofold callbacks (`authenticate`, `findUserByEmail`, `getUserEmail`, `verifyPassword`) look into.
 *
 * Next to it, `pending_signups`: signups waiting for their owner to open the link mailed to the
 * address (see signup.ts). A pending signup reserves nothing: neither its username nor its email
 * is unique there, and only the token's SHA-256 is stored.
 */
import { randomUUID } from 'node:crypto';
import { type Expression, type Kysely, PostgresAdapter, type SqlBool, sql } from 'kysely';
import { hashPassword, verifyPassword } from './password.js';

export interface UsersTable {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  created_at: number;
}

export interface PendingSignupsTable {
  /** SHA-256 (hex) of the token in the mailed link. */
  token_hash: string;
  username: string;
  email: string;
  password_hash: string;
  expires_at: number;
}

export interface UsersDatabase {
  users: UsersTable;
  pending_signups: PendingSignupsTable;
}

/** A signup waiting for its link to be opened. */
export interface PendingSignup {
  username: string;
  email: string;
  passwordHash: string;
}

export interface User {
  id: string;
  username: string;
  email: string;
}

/** A username or email that another account has (the unique index said so). */
export class AccountTakenError extends Error {
  override name = 'AccountTakenError';
  constructor(readonly field: 'username' | 'email') {
    super(`That ${field} is already taken`);
  }
}

export interface Users {
  /** Creates an account. @throws AccountTakenError */
  create(input: { username: string; email: string; password: string }): Promise<User>;
  /** Creates an account from an already hashed password. @throws AccountTakenError */
  insert(input: PendingSignup): Promise<User>;
  /** Whether an account has this username (regardless of case). Pending signups do not count. */
  usernameTaken(username: string): Promise<boolean>;
  /** The user id for a correct username and password, else null (in about the same time). */
  authenticate(username: string, password: string): Promise<string | null>;
  byId(userId: string): Promise<User | null>;
  byEmail(email: string): Promise<User | null>;
  /** Checks a user's password (recovery needs the emailed link AND the password). */
  checkPassword(userId: string, password: string): Promise<boolean>;
  /** Keeps a signup until `expiresAt` (ms), under the SHA-256 of its link's token. */
  addPendingSignup(tokenHash: string, signup: PendingSignup, expiresAt: number): Promise<void>;
  /** Takes a pending signup out, once: null when the token hash is unknown, used or expired. */
  takePendingSignup(tokenHash: string, now: number): Promise<PendingSignup | null>;
  /** Deletes the pending signups that expired before `now`. */
  prunePendingSignups(now: number): Promise<void>;
}

/** True when `db` speaks PostgreSQL (PGlite or a server); otherwise it is SQLite. */
function isPostgres(db: Kysely<UsersDatabase>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Creates the tables when they are missing, in SQLite's or PostgreSQL's dialect. */
async function createTables(db: Kysely<UsersDatabase>, postgres: boolean): Promise<void> {
  if (postgres) {
    // Milliseconds since 1970 need 64 bits (PostgreSQL's INTEGER has 32).
    await sql`
      CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        email TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`.execute(db);
    await sql`CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower ON users (lower(username))`.execute(db);
    await sql`CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower ON users (lower(email))`.execute(db);
  } else {
    await sql`
      CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
      )`.execute(db);
  }
  await sql`
    CREATE TABLE IF NOT EXISTS pending_signups (
      token_hash TEXT PRIMARY KEY,
      username TEXT NOT NULL,
      email TEXT NOT NULL,
      password_hash TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS pending_signups_expires_at ON pending_signups (expires_at)`.execute(
    db,
  );
}

/** Creates the tables when they are missing and returns the accounts. */
export async function createUsers(db: Kysely<UsersDatabase>): Promise<Users> {
  const postgres = isPostgres(db);
  await createTables(db, postgres);

  /** `column` equals `value` regardless of case (SQLite's columns are NOCASE already). */
  const sameText = (column: 'username' | 'email', value: string): Expression<SqlBool> =>
    postgres
      ? sql<SqlBool>`lower(${sql.ref(column)}) = lower(${value})`
      : sql<SqlBool>`${sql.ref(column)} = ${value}`;

  // Checked against when the username is unknown, so that a wrong username costs as long as a
  // wrong password and the answer time does not tell which accounts exist.
  const decoyHash = await hashPassword(randomUUID());

  const columns = ['id', 'username', 'email'] as const;
  const findById = (userId: string) =>
    db.selectFrom('users').select(columns).where('id', '=', userId).executeTakeFirst();
  const findByEmail = (email: string) =>
    db.selectFrom('users').select(columns).where(sameText('email', email)).executeTakeFirst();

  async function passwordMatches(hash: string | undefined, password: string): Promise<boolean> {
    const matches = await verifyPassword(hash ?? decoyHash, password);
    return hash !== undefined && matches;
  }

  async function insert({ username, email, passwordHash }: PendingSignup): Promise<User> {
    const user = { id: randomUUID(), username, email };
    try {
      await db
        .insertInto('users')
        .values({ ...user, password_hash: passwordHash, created_at: Date.now() })
        .execute();
    } catch (error) {
      const taken = takenField(error, postgres);
      if (taken) throw new AccountTakenError(taken);
      throw error;
    }
    return user;
  }

  return {
    async create({ username, email, password }) {
      return insert({ username, email, passwordHash: await hashPassword(password) });
    },

    insert,

    async usernameTaken(username) {
      const row = await db
        .selectFrom('users')
        .select('id')
        .where(sameText('username', username))
        .executeTakeFirst();
      return row !== undefined;
    },

    async authenticate(username, password) {
      const row = await db
        .selectFrom('users')
        .select(['id', 'password_hash'])
        .where(sameText('username', username))
        .executeTakeFirst();
      return (await passwordMatches(row?.password_hash, password)) ? row!.id : null;
    },

    async byId(userId) {
      return (await findById(userId)) ?? null;
    },

    async byEmail(email) {
      return (await findByEmail(email)) ?? null;
    },

    async checkPassword(userId, password) {
      const row = await db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', userId)
        .executeTakeFirst();
      return passwordMatches(row?.password_hash, password);
    },

    async addPendingSignup(tokenHash, { username, email, passwordHash }, expiresAt) {
      await db
        .insertInto('pending_signups')
        .values({
          token_hash: tokenHash,
          username,
          email,
          password_hash: passwordHash,
          expires_at: expiresAt,
        })
        .execute();
    },

    async takePendingSignup(tokenHash, now) {
      // One statement: of two requests with the same token, one gets the row.
      const row = await db
        .deleteFrom('pending_signups')
        .where('token_hash', '=', tokenHash)
        .returning(['username', 'email', 'password_hash', 'expires_at'])
        .executeTakeFirst();
      if (!row || Number(row.expires_at) <= now) return null;
      return { username: row.username, email: row.email, passwordHash: row.password_hash };
    },

    async prunePendingSignups(now) {
      await db.deleteFrom('pending_signups').where('expires_at', '<=', now).execute();
    },
  };
}

/**
 * Which unique column a failed insert collided on: from SQLite's "UNIQUE constraint failed:
 * users.x", or from PostgreSQL's unique violation (23505) on the index `users_x_lower`.
 */
function takenField(error: unknown, postgres: boolean): 'username' | 'email' | null {
  const { code, message, constraint } = (error ?? {}) as {
    code?: unknown;
    message?: unknown;
    constraint?: unknown;
  };
  if (postgres) {
    if (code !== '23505') return null;
    const name = typeof constraint === 'string' ? constraint : typeof message === 'string' ? message : '';
    if (name.includes('users_username_lower')) return 'username';
    if (name.includes('users_email_lower')) return 'email';
    return null;
  }
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' || typeof message !== 'string') return null;
  if (message.includes('users.username')) return 'username';
  if (message.includes('users.email')) return 'email';
  return null;
}
