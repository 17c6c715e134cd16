/**
 * The stores the fuzz suite runs on: memoryStore, and sqlStore on the machine's PostgreSQL and
 * MariaDB. Each SQL run migrates tables under a prefix of its own and drops every table of that
 * prefix at teardown. A server that does not answer is a skip naming it, or a failure under CI=true
 * (`reportMissing` of the reliability suite).
 *
 * Also here: watchers that record any store call or host callback that receives a string it may
 * not be able to hold (control characters, NUL, lone surrogates), so the fuzz can assert none did.
 */
import { randomBytes } from 'node:crypto';
import { memoryStore, type Store } from '@twofold/core';
import { migrate, sqlStore } from '@twofold/store-sql';
import pg from 'pg';
import type { Test } from 'tap';
import { isListening, POSTGRES, reportMissing } from '../reliability/cluster.js';
import { createMysqlPool, endMysqlPool, MARIADB, mysqlQuery } from '../reliability/mysql.js';

export type StoreName = 'memory' | 'postgres' | 'mariadb';

/** A database the suite reached: a fresh store per framework run, and its release. */
export interface OpenDatabase {
  /** A store on fresh tables; they are dropped at `t`'s teardown. */
  freshStore(t: Test): Promise<Store>;
  close(): Promise<void>;
}

export interface StoreTarget {
  name: StoreName;
  /**
   * Opens the database, its release registered on `t`. Undefined when the server is missing (then
   * already reported on `t`: a skip naming it, or a failure under CI=true).
   */
  open(t: Test): Promise<OpenDatabase | undefined>;
}

/** A table prefix no other run uses (letters, digits and `_` only: safe to quote as a name). */
function uniquePrefix(): string {
  return `tffuzz${Date.now().toString(36)}${randomBytes(3).toString('hex')}_`;
}

const memory: StoreTarget = {
  name: 'memory',
  async open() {
    return { freshStore: async () => memoryStore(), close: async () => {} };
  },
};

const postgres: StoreTarget = {
  name: 'postgres',
  async open(t) {
    const where = `PostgreSQL at ${POSTGRES.host}:${POSTGRES.port} (database ${POSTGRES.database}, user ${POSTGRES.user})`;
    if (!(await isListening(POSTGRES.host, POSTGRES.port))) return void reportMissing(t, where);
    const pool = new pg.Pool({ ...POSTGRES, max: 10, connectionTimeoutMillis: 3000 });
    // An idle client losing its connection must not crash the run; queries report their own errors.
    pool.on('error', () => {});
    if (
      !(await pool.query('select 1').then(
        () => true,
        () => false,
      ))
    ) {
      await pool.end();
      return void reportMissing(t, where);
    }
    const close = () => pool.end();
    t.teardown(close);
    return {
      async freshStore(t) {
        const prefix = uniquePrefix();
        t.teardown(async () => {
          const { rows } = await pool.query<{ name: string }>(
            `select table_name as name from information_schema.tables
             where table_schema = current_schema() and left(table_name, length($1)) = $1`,
            [prefix],
          );
          for (const { name } of rows) await pool.query(`drop table if exists "${name}" cascade`);
        });
        await migrate(pool, { prefix });
        return sqlStore({ db: pool, prefix });
      },
      close,
    };
  },
};

const mariadb: StoreTarget = {
  name: 'mariadb',
  async open(t) {
    const where = `MariaDB at ${MARIADB.host}:${MARIADB.port} (database ${MARIADB.database}, user ${MARIADB.user})`;
    if (!(await isListening(MARIADB.host, MARIADB.port))) return void reportMissing(t, where);
    const pool = createMysqlPool();
    if (
      !(await mysqlQuery(pool, 'select 1').then(
        () => true,
        () => false,
      ))
    ) {
      await endMysqlPool(pool);
      return void reportMissing(t, where);
    }
    const close = () => endMysqlPool(pool);
    t.teardown(close);
    return {
      async freshStore(t) {
        const prefix = uniquePrefix();
        t.teardown(async () => {
          const rows = await mysqlQuery<{ name: string }[]>(
            pool,
            `select table_name as name from information_schema.tables
             where table_schema = database() and left(table_name, char_length(?)) = ?`,
            [prefix, prefix],
          );
          // One statement, so no foreign key between them can get in the way of the order.
          const names = rows.map(({ name }) => `\`${name}\``);
          if (names.length > 0) await mysqlQuery(pool, `drop table if exists ${names.join(', ')}`);
        });
        await migrate(pool, { prefix });
        return sqlStore({ db: pool, prefix });
      },
      close,
    };
  },
};

export const STORE_TARGETS: readonly StoreTarget[] = [memory, postgres, mariadb];

// ---------------------------------------------------------------------------------------------
// Watching what reaches the store and the host

/** C0/C1 control characters (NUL included) and DEL, or a lone surrogate (`u` mode: only lone ones). */
const CONTROL_OR_LONE_SURROGATE = /[\p{Cc}\p{Cs}]/u;
const LONE_SURROGATE = /\p{Cs}/u;

/** What a password may not hold: NUL or a lone surrogate (other control characters it may). */
const unholdablePassword = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text);
const unholdable = (text: string) => CONTROL_OR_LONE_SURROGATE.test(text);

/** The strings in `value`: itself, or inside arrays and plain objects (a few levels deep). */
function strings(value: unknown, depth = 0): string[] {
  if (typeof value === 'string') return [value];
  if (depth > 4 || value === null || typeof value !== 'object') return [];
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.flatMap((child) => strings(child, depth + 1));
}

/** Where a bad string was seen, e.g. `store.getNonce`: never the value (it may hold a token). */
export type Sightings = Map<string, number>;

function see(sightings: Sightings, where: string): void {
  sightings.set(where, (sightings.get(where) ?? 0) + 1);
}

/** Whether `text`, the value of `field`, holds what the store or host may not be handed. */
export function isUnholdable(field: string, text: string): boolean {
  return field === 'password' ? unholdablePassword(text) : unholdable(text);
}

/** `store` with every method call checked for strings it may not hold; sightings go to `sightings`. */
export function watchStore(store: Store, sightings: Sightings): Store {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (args.some((arg) => strings(arg).some(unholdable))) see(sightings, `store.${String(property)}`);
        return value.apply(target, args);
      };
    },
  });
}

/**
 * Checks a host callback's string arguments: `password` under the password rule (NUL and lone
 * surrogates), everything else under the strict one.
 */
export function checkHostInput(sightings: Sightings, where: string, input: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(input)) {
    if (strings(value).some((text) => isUnholdable(name, text))) see(sightings, `${where} ${name}`);
  }
}
