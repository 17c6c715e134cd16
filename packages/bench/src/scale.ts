/**
 * Scale benchmark (issue 9): `engine.verify` latency with 1,000 against 1,000,000 enrolled users, on
 * Redis and on PostgreSQL. Target: p99 with 1M users within 1.5x of p99 with 1k users.
 *
 * The users are bulk-loaded in each store's own layout (Redis: a pipeline of HSET/SADD per user in
 * the key layout of @twofold/store-redis; PostgreSQL: multi-row inserts into the tables of
 * @twofold/store-sql, migrated by its own `migrate`), as confirmed TOTP users with 10 recovery code
 * hashes each, and then read back through the store API before anything is timed. Every user's TOTP
 * secret is derived from the user id with a fixed key, and sealed with a fixed keyring, so a loaded
 * set stays usable by later runs: it is kept (under `twofold-bench:scale-*` keys and `bench_scale_*`
 * tables) and reused when complete. `--fresh` reloads it; `--clean` deletes it all and measures
 * nothing.
 *
 * Method: one process, one verify in flight (latency, not throughput). In every round each size
 * gets the same number of verifies, alternating one verify on the small set and one on the large
 * set, each on a different random user with its current code. The engine's clock moves one TOTP
 * step per round, so a user may come back in a later round without being a replay.
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  createKeyring,
  createTwoFactor,
  type Store,
  TOTP_AUTHENTICATOR_ID,
  type TwoFactor,
} from '@twofold/core';
import { Totp } from '@twofold/otp';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore } from '@twofold/store-sql';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { formatRatio, type HarnessOptions, markdownTable } from './harness.js';
import { deleteRedisPrefix, dropSqlPrefix, postgresPool, redisClient } from './stores.js';

type Backend = 'redis' | 'postgres';
const BACKENDS: readonly Backend[] = ['redis', 'postgres'];
const STEP_MS = 30_000;
const RECOVERY_CODES = 10;
const KEYRING = createKeyring({ keys: { bench: new Uint8Array(32).fill(11) }, current: 'bench' });
const SECRET_KEY = 'twofold-bench-scale-secrets';
const META_TABLE = 'bench_scale_meta';
const REDIS_META = 'twofold-bench:scale-meta:';

function userId(n: number): string {
  return `scale-user-${n}`;
}

/** The user's TOTP secret, derived so that a later run can compute every loaded user's codes. */
function secretOf(user: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', SECRET_KEY).update(user).digest().subarray(0, 20));
}

function label(size: number): string {
  return size >= 1_000_000 ? `${size / 1_000_000}m` : `${size / 1000}k`;
}

const redisPrefix = (size: number) => `twofold-bench:scale-${label(size)}:`;
const sqlPrefix = (size: number) => `bench_scale_${label(size)}_`;

/** Same as @twofold/store-redis's (internal) user tag: base64url of the id's UTF-16 code units. */
function redisUserKey(prefix: string, user: string): string {
  return `${prefix}{${Buffer.from(user, 'utf16le').toString('base64url')}}:`;
}

/**
 * Recovery code hashes of the stored size and shape (`<tag>.<43 base64url chars>`). They are never
 * used by verify, so random ones stand in for real HMACs (which would cost 10 HMACs per user).
 */
function fakeRecoveryHashes(): string[] {
  const bytes = randomBytes(32 * RECOVERY_CODES);
  return Array.from(
    { length: RECOVERY_CODES },
    (_, i) => `${KEYRING.currentTag}.${bytes.subarray(i * 32, i * 32 + 32).toString('base64url')}`,
  );
}

interface Meta {
  users: number;
  loadMs: number;
  clockMark: number;
}

interface Backing {
  readMeta(size: number): Promise<Meta | null>;
  writeMeta(size: number, meta: Meta): Promise<void>;
  drop(size: number): Promise<void>;
  load(size: number, progress: (done: number) => void): Promise<void>;
  open(size: number): Promise<Store>;
  footprint(sizes: readonly number[]): Promise<string>;
  close(): Promise<void>;
}

function redisBacking(redis: Redis): Backing {
  return {
    async readMeta(size) {
      const fields = await redis.hgetall(`${REDIS_META}${label(size)}`);
      if (!fields.users) return null;
      return {
        users: Number(fields.users),
        loadMs: Number(fields.loadMs),
        clockMark: Number(fields.clockMark),
      };
    },
    async writeMeta(size, meta) {
      await redis.hset(`${REDIS_META}${label(size)}`, {
        users: meta.users,
        loadMs: meta.loadMs,
        clockMark: meta.clockMark,
      });
    },
    async drop(size) {
      await redis.del(`${REDIS_META}${label(size)}`);
      await deleteRedisPrefix(redis, redisPrefix(size));
    },
    async load(size, progress) {
      const prefix = redisPrefix(size);
      const now = Date.now();
      const stamp = String(now);
      const counter = String(Math.floor(now / STEP_MS) - 1);
      const batch = 2000;
      let inFlight: Promise<unknown> = Promise.resolve();
      for (let start = 0; start < size; start += batch) {
        const pipeline = redis.pipeline();
        for (let n = start; n < Math.min(size, start + batch); n++) {
          const user = userId(n);
          const key = redisUserKey(prefix, user);
          pipeline.hset(`${key}a:${TOTP_AUTHENTICATOR_ID}`, {
            status: 'active',
            sealedSecret: KEYRING.seal(secretOf(user), user),
            algorithm: 'SHA1',
            digits: '6',
            period: '30',
            lastCounter: counter,
            createdAt: stamp,
            confirmedAt: stamp,
            lastUsedAt: stamp,
          });
          pipeline.sadd(`${key}ai`, TOTP_AUTHENTICATOR_ID);
          pipeline.sadd(`${key}rc`, ...fakeRecoveryHashes());
        }
        // One pipeline on the wire while the next is built.
        await inFlight;
        inFlight = pipeline.exec().then((results) => {
          const failed = results?.find(([error]) => error !== null);
          if (failed) throw failed[0];
        });
        progress(Math.min(size, start + batch));
      }
      await inFlight;
    },
    async open(size) {
      return redisStore({ client: redis, prefix: redisPrefix(size) });
    },
    async footprint() {
      const info = await redis.info('memory');
      const used = /used_memory:(\d+)/.exec(info)?.[1];
      return `Redis used_memory (whole server): ${used ? (Number(used) / 2 ** 20).toFixed(0) : '?'} MiB`;
    },
    async close() {
      await redis.quit();
    },
  };
}

function postgresBacking(pool: pg.Pool): Backing {
  const ensureMeta = () =>
    pool.query(
      `create table if not exists ${META_TABLE} (prefix text primary key, users integer not null,
       load_ms integer not null, clock_mark bigint not null)`,
    );
  return {
    async readMeta(size) {
      await ensureMeta();
      const { rows } = await pool.query<{ users: number; load_ms: number; clock_mark: string }>(
        `select users, load_ms, clock_mark from ${META_TABLE} where prefix = $1`,
        [sqlPrefix(size)],
      );
      const row = rows[0];
      return row ? { users: row.users, loadMs: row.load_ms, clockMark: Number(row.clock_mark) } : null;
    },
    async writeMeta(size, meta) {
      await ensureMeta();
      await pool.query(
        `insert into ${META_TABLE} (prefix, users, load_ms, clock_mark) values ($1, $2, $3, $4)
         on conflict (prefix) do update set users = $2, load_ms = $3, clock_mark = $4`,
        [sqlPrefix(size), meta.users, Math.round(meta.loadMs), meta.clockMark],
      );
    },
    async drop(size) {
      await ensureMeta();
      await pool.query(`delete from ${META_TABLE} where prefix = $1`, [sqlPrefix(size)]);
      await dropSqlPrefix(pool, sqlPrefix(size));
    },
    async load(size, progress) {
      const prefix = sqlPrefix(size);
      await migrate(pool, { prefix });
      const now = Date.now();
      const counter = Math.floor(now / STEP_MS) - 1;
      const salt = randomBytes(16).toString('hex');
      const batch = 5000;
      let next = 0;
      let done = 0;
      // Two connections insert batches side by side, without waiting for the WAL flush.
      const worker = async () => {
        const client = await pool.connect();
        try {
          await client.query('set synchronous_commit = off');
          for (;;) {
            const start = next;
            next += batch;
            if (start >= size) return;
            const users: string[] = [];
            const sealed: string[] = [];
            for (let n = start; n < Math.min(size, start + batch); n++) {
              const user = userId(n);
              users.push(user);
              sealed.push(KEYRING.seal(secretOf(user), user));
            }
            await client.query('begin');
            await client.query(
              `insert into ${prefix}authenticators (user_id, id, status, sealed_secret, algorithm, digits,
                 period, last_counter, created_at, confirmed_at, last_used_at, expires_at)
               select u, $3, 'active', s, 'SHA1', 6, 30, $4, $5, $5, $5, null
               from unnest($1::text[], $2::text[]) as t(u, s)`,
              [users, sealed, TOTP_AUTHENTICATOR_ID, counter, now],
            );
            // Hashes of the stored size and shape, made on the server: tag '.' base64url(SHA-256).
            await client.query(
              `insert into ${prefix}recovery_codes (user_id, code_hash)
               select u, $2 || '.' || rtrim(translate(encode(sha256(convert_to(u || '/' || n || '/' || $3,
                 'UTF8')), 'base64'), '+/', '-_'), '=')
               from unnest($1::text[]) as u, generate_series(1, ${RECOVERY_CODES}) as n`,
              [users, KEYRING.currentTag, salt],
            );
            await client.query('commit');
            done += users.length;
            progress(done);
          }
        } finally {
          client.release();
        }
      };
      await Promise.all([worker(), worker()]);
      await pool.query(`analyze ${prefix}authenticators, ${prefix}recovery_codes`);
    },
    async open(size) {
      return await sqlStore({ db: pool, prefix: sqlPrefix(size) });
    },
    async footprint(sizes) {
      const parts: string[] = [];
      for (const size of sizes) {
        const prefix = sqlPrefix(size);
        const { rows } = await pool.query<{ bytes: string }>(
          `select pg_total_relation_size($1) + pg_total_relation_size($2) as bytes`,
          [`${prefix}authenticators`, `${prefix}recovery_codes`],
        );
        parts.push(`${label(size)}: ${(Number(rows[0]!.bytes) / 2 ** 20).toFixed(0)} MiB`);
      }
      return `PostgreSQL tables with indexes: ${parts.join(', ')}`;
    },
    async close() {
      await pool.end();
    },
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface SizeResult {
  size: number;
  loadNote: string;
  latencies: number[];
}

/** `size` distinct random user numbers below `population` (all of them, shuffled, if it is smaller). */
function sample(population: number, count: number): number[] {
  if (count >= population) {
    const all = Array.from({ length: population }, (_, n) => n);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all;
  }
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(Math.random() * population));
  return [...picked];
}

async function ensureLoaded(
  backing: Backing,
  backend: Backend,
  size: number,
  fresh: boolean,
): Promise<string> {
  const meta = fresh ? null : await backing.readMeta(size);
  if (meta?.users === size) {
    return `reused (loaded earlier in ${(meta.loadMs / 1000).toFixed(1)} s)`;
  }
  await backing.drop(size);
  const started = performance.now();
  let reported = 0;
  await backing.load(size, (done) => {
    if (done - reported >= 100_000 || done === size) {
      reported = done;
      console.error(
        `scale: ${backend} ${label(size)}: ${done} users loaded, ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  });
  const loadMs = performance.now() - started;
  await backing.writeMeta(size, { users: size, loadMs, clockMark: 0 });
  return `loaded now in ${(loadMs / 1000).toFixed(1)} s`;
}

/** Reads a few loaded users back through the store: proves the bulk layout is the store's own. */
async function checkLoaded(store: Store, size: number, now: number): Promise<void> {
  for (const n of sample(size, 5)) {
    const user = userId(n);
    const record = await store.getAuthenticator(user, TOTP_AUTHENTICATOR_ID, now);
    if (record?.status !== 'active') throw new Error(`scale: ${user} is not an active user in the store`);
    const { plaintext } = KEYRING.open(record.sealedSecret, user);
    if (Buffer.compare(Buffer.from(plaintext), Buffer.from(secretOf(user))) !== 0) {
      throw new Error(`scale: ${user} has an unexpected secret`);
    }
    if ((await store.countRecoveryCodes(user)) !== RECOVERY_CODES) {
      throw new Error(`scale: ${user} does not have ${RECOVERY_CODES} recovery codes`);
    }
  }
}

async function cleanAll(sizes: readonly number[]): Promise<void> {
  const redis = redisClient();
  const pool = postgresPool(2);
  try {
    for (const size of sizes) {
      await redisBacking(redis).drop(size);
      await postgresBacking(pool).drop(size);
    }
    await pool.query(`drop table if exists ${META_TABLE}`);
  } finally {
    await redis.quit();
    await pool.end();
  }
}

async function measureBackend(
  backend: Backend,
  sizes: readonly [number, number],
  rounds: number,
  perRound: number,
  fresh: boolean,
): Promise<{ results: SizeResult[]; footprint: string }> {
  const backing = backend === 'redis' ? redisBacking(redisClient()) : postgresBacking(postgresPool(10));
  try {
    const notes: string[] = [];
    for (const size of sizes) notes.push(await ensureLoaded(backing, backend, size, fresh));
    const metas = await Promise.all(sizes.map((size) => backing.readMeta(size)));
    // Start past every step an earlier run consumed, in the middle of a step.
    const firstTime = Math.max(Date.now(), ...metas.map((meta) => (meta?.clockMark ?? 0) + STEP_MS));
    let time = Math.floor(firstTime / STEP_MS) * STEP_MS + STEP_MS / 2;
    const stores = await Promise.all(sizes.map((size) => backing.open(size)));
    for (let k = 0; k < sizes.length; k++) await checkLoaded(stores[k]!, sizes[k]!, time);
    const engines: TwoFactor[] = stores.map((store) =>
      createTwoFactor({ store, keyring: KEYRING, issuer: 'Bench', clock: () => time }),
    );
    const latencies: number[][] = sizes.map(() => []);
    // Round 0 warms up (connections, JIT, caches) and is not counted.
    for (let round = 0; round <= rounds; round++) {
      const picks = sizes.map((size) => sample(size, perRound));
      const codes = picks.map((users) =>
        users.map((n) => new Totp({ secret: secretOf(userId(n)) }).generate(time).token),
      );
      for (let i = 0; i < perRound; i++) {
        for (let j = 0; j < sizes.length; j++) {
          const k = (i + j + round) % sizes.length;
          const user = userId(picks[k]![i % picks[k]!.length]!);
          const started = performance.now();
          await engines[k]!.verify(user, codes[k]![i % codes[k]!.length]);
          const elapsed = performance.now() - started;
          if (round > 0) latencies[k]!.push(elapsed);
        }
      }
      if (round > 0) console.error(`scale: ${backend} round ${round}/${rounds} done`);
      time += STEP_MS;
    }
    for (const size of sizes) {
      const meta = await backing.readMeta(size);
      await backing.writeMeta(size, { users: size, loadMs: meta?.loadMs ?? 0, clockMark: time });
    }
    return {
      results: sizes.map((size, k) => ({ size, loadNote: notes[k]!, latencies: latencies[k]! })),
      footprint: await backing.footprint(sizes),
    };
  } finally {
    await backing.close();
  }
}

export async function runScaleBench(options: HarnessOptions): Promise<boolean> {
  const argv = process.argv.slice(2);
  const quick = options.rounds < 5;
  const sizes: [number, number] = quick ? [1000, 20_000] : [1000, 1_000_000];
  if (argv.includes('--clean')) {
    await cleanAll([1000, 20_000, 1_000_000]);
    console.log(
      '\nDeleted every loaded scale data set (Redis keys twofold-bench:scale-*, tables bench_scale_*).',
    );
    return true;
  }
  const fresh = argv.includes('--fresh');
  const rounds = quick ? 2 : 8;
  const perRound = quick ? 200 : 1000;
  let allMet = true;
  console.log(
    `\nengine.verify, one in flight; ${rounds} rounds (after one warm-up round) of ${perRound} verifies ` +
      `per data set, alternating between the ${label(sizes[0])} and ${label(sizes[1])} sets, a different ` +
      'random user each; users bulk-loaded with 10 recovery codes each\n',
  );
  const rows: string[][] = [];
  const footprints: string[] = [];
  for (const backend of BACKENDS) {
    const { results, footprint } = await measureBackend(backend, sizes, rounds, perRound, fresh);
    footprints.push(footprint);
    const p99s: number[] = [];
    for (const result of results) {
      const sorted = Float64Array.from(result.latencies).sort();
      const mean = result.latencies.reduce((sum, value) => sum + value, 0) / result.latencies.length;
      p99s.push(percentile(sorted, 99));
      rows.push([
        backend,
        result.size.toLocaleString('en-US'),
        result.loadNote,
        String(sorted.length),
        percentile(sorted, 50).toFixed(3),
        percentile(sorted, 90).toFixed(3),
        percentile(sorted, 99).toFixed(3),
        mean.toFixed(3),
      ]);
    }
    const ratio = p99s[1]! / p99s[0]!;
    const met = ratio <= 1.5;
    allMet &&= met;
    rows.push([
      backend,
      `p99 ${label(sizes[1])} / ${label(sizes[0])}`,
      met ? 'met' : 'MISSED',
      '',
      '',
      '',
      formatRatio(ratio),
      '',
    ]);
  }
  console.log(
    markdownTable(['store', 'users', 'data set', 'verifies', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms'], rows),
  );
  console.log(`\n${footprints.join('\n')}`);
  console.log(
    `\ntarget: p99 with ${label(sizes[1])} users <= 1.50x p99 with ${label(sizes[0])}: ${allMet ? 'met' : 'MISSED'}`,
  );
  return allMet;
}
