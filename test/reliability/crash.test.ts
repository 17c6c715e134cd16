/**
 * kill -9 during confirm: a Fastify app process on a SQLite file (sqlStore over better-sqlite3),
 * then on Redis. Each iteration enrolls a fresh user, sends POST /2fa/totp/confirm with a valid code
 * and SIGKILLs the process 0 to ~1x a confirm's duration after the request left (varied across
 * iterations, scaled to the process's own warm-up enrollment),
 * restarts it, and reads the user's state straight from the store: 2FA active always comes with a
 * full set of recovery codes, and recovery codes never exist without active 2FA. The restarted
 * process must agree (a login asks for the second factor exactly when 2FA is active). At most
 * MAX_ITERATIONS per store, within about BUDGET_MS but never fewer than MIN_ITERATIONS. The
 * processes' logs must hold no secret.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTwoFactor, generateKey, type Store } from '@twofold/core';
import { codeAt, must } from '@twofold/http-test-suite/helpers';
import { redisStore } from '@twofold/store-redis';
import { migrate, sqlStore } from '@twofold/store-sql';
import { reachBetterSqlite3 } from '@twofold/test-support';
import tap, { type Test } from 'tap';
import { type AppProcess, enable, LINK_URL, LogBook, makeUsers, sharedRedis, startApp } from './cluster.js';
import type { AppConfig, StoreSpec } from './config.js';

const MAX_ITERATIONS = Number(process.env.TWOFOLD_CRASH_ITERATIONS ?? 12);
const BUDGET_MS = Number(process.env.TWOFOLD_CRASH_BUDGET_MS ?? 10_000);
/** Kills per store whatever the budget (a slow machine takes longer, never fewer). */
const MIN_ITERATIONS = Math.min(5, MAX_ITERATIONS);
const RECOVERY_CODES = 10;
const STANDBY = 2;

// The SQLite part needs better-sqlite3 (an optional dependency): without it only that part is skipped.
const { db: Database, skip: sqliteSkip } = await reachBetterSqlite3(tap, () => import('better-sqlite3'));

/** Sends the confirm request; SIGKILLs the app `delayMs` after the request is flushed. */
function confirmAndKill(
  app: AppProcess,
  accessToken: string,
  code: string,
  delayMs: number,
): Promise<number | null> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ code });
    const url = new URL('/2fa/totp/confirm', app.origin);
    const sent = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${accessToken}`,
        },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? null));
        response.once('error', () => resolve(null));
      },
    );
    sent.once('error', () => resolve(null));
    sent.once('finish', () => {
      // Busy-wait for sub-millisecond delays: timers are too coarse here.
      const until = process.hrtime.bigint() + BigInt(Math.round(delayMs * 1e6));
      while (process.hrtime.bigint() < until) {
        // spin
      }
      app.crash();
    });
    sent.end(body);
  });
}

async function crashLoop(t: Test, spec: StoreSpec, store: Store): Promise<void> {
  const keyring = generateKey();
  const logs = new LogBook();
  logs.remember(keyring, keyring.slice(keyring.indexOf(':') + 1));
  const users = makeUsers(MAX_ITERATIONS, 'crash');
  // One more user per process, enabled as soon as it listens, so the crash hits warm code paths.
  const warmers = makeUsers(MAX_ITERATIONS + STANDBY + 1, 'warm');
  const config: AppConfig = {
    framework: 'fastify',
    store: spec,
    keyring,
    users: [...users, ...warmers],
    lockout: { maxFailures: 100 },
    rateLimit: false,
    trustProxy: false,
    linkUrl: LINK_URL,
  };
  const engine = createTwoFactor({ store, keyring, issuer: 'Reliability' });
  const outcomes = { answered: 0, killedActive: 0, killedPending: 0 };
  const violations: string[] = [];
  const started = Date.now();

  // Processes start while the previous one works (starting one takes seconds under tsx): the
  // restart after each kill is the next of STANDBY processes already listening and warmed up.
  let started_ = 0;
  const launch = async (): Promise<{ app: AppProcess; confirmMs: number }> => {
    const number = started_++;
    const next = await startApp(t, config, logs, `app ${number + 1}`);
    const began = performance.now();
    await enable(next.client, warmers[number]!, logs);
    // An upper bound of how long a confirm takes in this process (the whole enable, cold).
    return { app: next, confirmMs: performance.now() - began };
  };
  const launchQuietly = () => {
    const launched = launch();
    // A start that fails while nobody waits for it must not become an unhandled rejection.
    launched.catch(() => {});
    return launched;
  };
  const standby = Array.from({ length: STANDBY }, launchQuietly);
  const take = () => {
    const next = standby.shift()!;
    standby.push(launchQuietly());
    return next;
  };
  let { app, confirmMs } = await take();
  let iterations = 0;
  for (const [index, user] of users.entries()) {
    // At least MIN_ITERATIONS kills however slow the machine; more while the budget lasts.
    if (iterations >= MIN_ITERATIONS && Date.now() - started > BUDGET_MS) break;
    iterations++;
    // From 0 to ~60% of the cold enroll-and-confirm time of this process: kills before, during and after it.
    const delayMs = Math.round(((index % 11) / 16) * Math.min(confirmMs, 40) * 100) / 100;
    const login = must(
      await app.client.post('/login', { username: user.username, password: user.password }),
      200,
      'login',
    );
    const accessToken = String(login.accessToken);
    const enrollment = must(
      await app.client.post('/totp/enroll', undefined, { token: accessToken }),
      201,
      'enroll',
    );
    const secret = String(enrollment.secret);
    const code = codeAt(secret, Date.now());
    logs.remember(
      user.password,
      accessToken,
      String(login.refreshToken),
      secret,
      String(enrollment.prettySecret),
      code,
    );

    const status = await confirmAndKill(app, accessToken, code, delayMs);
    await app.exited;
    ({ app, confirmMs } = await take());

    const now = Date.now();
    const record = await store.getAuthenticator(user.userId, String(enrollment.authenticatorId), now);
    const codes = await store.countRecoveryCodes(user.userId);
    const active = record?.status === 'active';
    const seen = await engine.status(user.userId);
    if (status === 200) outcomes.answered++;
    else if (active) outcomes.killedActive++;
    else outcomes.killedPending++;

    const where = `iteration ${index + 1} (kill after ${delayMs} ms, answer ${status ?? 'none'})`;
    if (active && codes !== RECOVERY_CODES)
      violations.push(`${where}: 2FA active with ${codes} recovery codes`);
    if (!active && codes !== 0) violations.push(`${where}: ${codes} recovery codes without active 2FA`);
    if (status === 200 && !active) violations.push(`${where}: confirm answered 200 but 2FA is not active`);
    if (seen.enabled !== active || seen.recoveryCodesRemaining !== (active ? RECOVERY_CODES : 0)) {
      violations.push(`${where}: status ${JSON.stringify(seen)} disagrees with the store`);
    }
    // The restarted process sees the same state: a second factor is asked for exactly when active.
    const again = must(
      await app.client.post('/login', { username: user.username, password: user.password }),
      200,
      'login again',
    );
    logs.remember(again.challengeToken as string, again.accessToken as string, again.refreshToken as string);
    if (again.twoFactorRequired !== active) violations.push(`${where}: the restarted app disagrees on 2FA`);
  }
  await app.stop();
  // The standbys still starting: stopped once listening (teardown also covers a failed start).
  await Promise.allSettled(standby.map(async (waiting) => (await waiting).app.stop()));

  t.strictSame(violations, [], `${iterations} kills during confirm: state always consistent`);
  t.comment(
    `${iterations} iterations in ${Date.now() - started} ms: ${outcomes.answered} answered 200 before the kill, ` +
      `${outcomes.killedActive} killed after the commit (active), ${outcomes.killedPending} killed before it (pending)`,
  );
  logs.check(t);
}

tap.test('kill -9 during confirm, SQLite file', { skip: sqliteSkip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'twofold-crash-'));
  const file = join(dir, 'twofold.db');
  const prefix = 'tfcrash_';
  const db = new Database!(file);
  db.pragma('busy_timeout = 5000');
  t.teardown(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await migrate(db, { prefix });
  const store = await sqlStore({ db, prefix });
  await crashLoop(t, { kind: 'sqlite', file, prefix }, store);
});

tap.test('kill -9 during confirm, Redis', async (t) => {
  const prefix = `twofold-crash:${Date.now().toString(36)}:`;
  const redis = await sharedRedis(t, prefix);
  if (!redis) return;
  await crashLoop(t, { kind: 'redis', prefix }, redisStore({ client: redis, prefix }));
});
