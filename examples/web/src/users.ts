/**
 * The example's own accounts: a `users` table in SQLite (id, username, email, password_hash), with
 * usernames and emails unique regardless of case. This is the host app's user model that the
 * twofold callbacks (`authenticate`, `findUserByEmail`, `getUserEmail`, `verifyPassword`) look into.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { hashPassword, verifyPassword } from './password.js';

export interface UsersTable {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  created_at: number;
}

export interface UsersDatabase {
  users: UsersTable;
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
  /** The user id for a correct username and password, else null (in about the same time). */
  authenticate(username: string, password: string): Promise<string | null>;
  byId(userId: string): Promise<User | null>;
  byEmail(email: string): Promise<User | null>;
  /** Checks a user's password (recovery needs the emailed link AND the password). */
  checkPassword(userId: string, password: string): Promise<boolean>;
}

/** Creates the table when it is missing and returns the accounts. */
export async function createUsers(db: Kysely<UsersDatabase>): Promise<Users> {
  await sql`
    CREATE TABLE IF NOT EXISTS users (
      id TEXT PRIMARY KEY,
      username TEXT NOT NULL UNIQUE COLLATE NOCASE,
      email TEXT NOT NULL UNIQUE COLLATE NOCASE,
      password_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`.execute(db);

  // Checked against when the username is unknown, so that a wrong username costs as long as a
  // wrong password and the answer time does not tell which accounts exist.
  const decoyHash = await hashPassword(randomUUID());

  const columns = ['id', 'username', 'email'] as const;
  const find = (column: 'id' | 'email', value: string) =>
    db.selectFrom('users').select(columns).where(column, '=', value).executeTakeFirst();

  async function passwordMatches(hash: string | undefined, password: string): Promise<boolean> {
    const matches = await verifyPassword(hash ?? decoyHash, password);
    return hash !== undefined && matches;
  }

  return {
    async create({ username, email, password }) {
      const user = { id: randomUUID(), username, email };
      const password_hash = await hashPassword(password);
      try {
        await db
          .insertInto('users')
          .values({ ...user, password_hash, created_at: Date.now() })
          .execute();
      } catch (error) {
        const taken = takenField(error);
        if (taken) throw new AccountTakenError(taken);
        throw error;
      }
      return user;
    },

    async authenticate(username, password) {
      const row = await db
        .selectFrom('users')
        .select(['id', 'password_hash'])
        .where('username', '=', username)
        .executeTakeFirst();
      return (await passwordMatches(row?.password_hash, password)) ? row!.id : null;
    },

    async byId(userId) {
      return (await find('id', userId)) ?? null;
    },

    async byEmail(email) {
      return (await find('email', email)) ?? null;
    },

    async checkPassword(userId, password) {
      const row = await db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', userId)
        .executeTakeFirst();
      return passwordMatches(row?.password_hash, password);
    },
  };
}

/** Which unique column a failed insert collided on, from SQLite's "UNIQUE constraint failed: users.x". */
function takenField(error: unknown): 'username' | 'email' | null {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' || typeof message !== 'string') return null;
  if (message.includes('users.username')) return 'username';
  if (message.includes('users.email')) return 'email';
  return null;
}
