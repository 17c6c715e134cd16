/**
 * Recovery request timing (issue item 7, SECURITY.md §31): `POST /2fa/recovery/request` must answer
 * in about the same time whether or not the address belongs to an account with 2FA, so everything that
 * depends on the account has to start only once the answer is sent.
 *
 * For each plugin (Fastify, Express, and Fastify behind a host `onSend` hook that awaits I/O) a real
 * server runs in a child process, with recovery configured as a host would: `findUserByEmail` is a
 * lookup in a SQLite users table (better-sqlite3), the store is `sqlStore` on SQLite, and `sendMail`
 * writes to an outbox table. The client (this process) sends
 * requests one at a time over one keep-alive connection, alternating a known address (each one a
 * different account with 2FA, so every request does the whole work: token, store writes, mail) and an
 * unknown address, and times each from sending the request to the end of the answer. It sends the next
 * request only once the server reports that the work behind the previous one is done, so a request
 * never queues behind the work of the one before. Rate limits are off.
 *
 * `pnpm bench recovery-timing` (300 + 300 requests per plugin); `--quick`: 30 + 30.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeyring, createTwoFactor } from '@twofold/core';
import type { TwofoldHttpOptions } from '@twofold/core/http';
import { Totp } from '@twofold/otp';
import { migrate, sqlStore } from '@twofold/store-sql';
import type { HarnessOptions } from './harness.js';
import { markdownTable } from './harness.js';

/**
 * `fastify-onsend`: Fastify with a host `onSend` hook that awaits real I/O (an audit line appended to a
 * file), as session stores and audit logs do: the write of every answer waits for it.
 */
const FRAMEWORKS = ['fastify', 'express', 'fastify-onsend'] as const;
type Framework = (typeof FRAMEWORKS)[number];

function isFramework(value: unknown): value is Framework {
  return typeof value === 'string' && (FRAMEWORKS as readonly string[]).includes(value);
}

const SERVER_FLAG = 'recovery-timing-server';
const WARMUP_PAIRS = 40;

type ToServer = { prepare: number } | { stop: true };
type FromServer = { port: number } | { emails: string[] } | { done: true };

// ---------------------------------------------------------------------------------------------
// Server (child process)

/** Why the bench cannot run without better-sqlite3 (an optional dependency whose native build may fail). */
const BETTER_SQLITE3_MISSING =
  'recovery-timing needs better-sqlite3, which is not installed or not built: ' +
  'npm_config_nodedir=/usr pnpm rebuild better-sqlite3, or install a C toolchain (python3, make, g++) and run pnpm rebuild better-sqlite3';

/** better-sqlite3's Database class, or the first line of why it cannot be loaded or opened. */
async function loadBetterSqlite3(): Promise<typeof import('better-sqlite3') | { error: string }> {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return Database;
  } catch (error) {
    return { error: String(error instanceof Error ? error.message : error).split('\n')[0]! };
  }
}

async function serve(framework: Framework): Promise<void> {
  const Database = await loadBetterSqlite3();
  if ('error' in Database) {
    // Checked by the client before starting a server too: one line, no stack trace.
    console.error(`${BETTER_SQLITE3_MISSING} (${Database.error})`);
    process.exit(2);
  }
  const hostDb = new Database(':memory:');
  hostDb.exec(
    'create table users (id text primary key, email text not null unique);' +
      'create table outbox (id integer primary key, recipient text not null, subject text not null, body text not null)',
  );
  const findUser = hostDb.prepare<[string], { userId: string; email: string }>(
    'select id as userId, email from users where email = ?',
  );
  const emailOf = hostDb.prepare<[string], { email: string }>('select email from users where id = ?');
  const addUser = hostDb.prepare<[string, string]>('insert into users (id, email) values (?, ?)');
  const queueMail = hostDb.prepare<[string, string, string]>(
    'insert into outbox (recipient, subject, body) values (?, ?, ?)',
  );

  const storeDb = new Database(':memory:');
  await migrate(storeDb);
  const store = await sqlStore({ db: storeDb });
  const keyring = createKeyring({ keys: { bench: new Uint8Array(32).fill(9) }, current: 'bench' });
  const engine = createTwoFactor({ store, keyring, issuer: 'Bench' });
  const done = () => setImmediate(() => process.send!({ done: true } satisfies FromServer));

  const options = {
    twoFactor: engine,
    authenticate: async () => null,
    rateLimit: false as const,
    recovery: {
      async findUserByEmail(email: string) {
        const user = findUser.get(email) ?? null;
        // An unknown address: nothing more happens for this request.
        if (user === null) done();
        return user;
      },
      getUserEmail: async (userId: string) => emailOf.get(userId)?.email ?? null,
      verifyPassword: async () => false,
      async sendMail(mail: { to: string; subject: string; text: string }) {
        queueMail.run(mail.to, mail.subject, mail.text);
        done();
      },
      linkUrl: 'https://bench.example.test/recover',
      maxRequestsPerHour: 20,
    },
  } satisfies TwofoldHttpOptions;

  let nextUser = 0;
  async function prepare(count: number): Promise<string[]> {
    const emails: string[] = [];
    for (let i = 0; i < count; i++) {
      const userId = `user-${nextUser++}`;
      const email = `${userId}@bench.example.test`;
      addUser.run(userId, email);
      const { secret } = await engine.enroll(userId);
      await engine.confirm(userId, new Totp({ secret }).generate(Date.now()).token);
      emails.push(email);
    }
    return emails;
  }

  let close: () => Promise<void>;
  let port: number;
  if (framework !== 'express') {
    const { default: Fastify } = await import('fastify');
    const { default: twofold } = await import('@twofold/fastify');
    const app = Fastify({ logger: false });
    if (framework === 'fastify-onsend') {
      const auditDir = await mkdtemp(join(tmpdir(), 'twofold-recovery-timing-'));
      const auditLog = join(auditDir, 'audit.log');
      app.addHook('onSend', async (request, reply, payload) => {
        await appendFile(auditLog, `${Date.now()} ${request.method} ${request.url} ${reply.statusCode}\n`);
        return payload;
      });
      app.addHook('onClose', async () => {
        await rm(auditDir, { recursive: true, force: true });
      });
    }
    await app.register(twofold, options);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    close = () => app.close();
  } else {
    const { default: express } = await import('express');
    const { twofold } = await import('@twofold/express');
    const app = express();
    app.use('/2fa', twofold(options));
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    port = (server.address() as AddressInfo).port;
    close = () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
  }

  process.on('message', (message: ToServer) => {
    if ('stop' in message) {
      void close()
        .then(() => store.close())
        .finally(() => process.exit(0));
      return;
    }
    void prepare(message.prepare).then((emails) => process.send!({ emails } satisfies FromServer));
  });
  process.send!({ port } satisfies FromServer);
}

// ---------------------------------------------------------------------------------------------
// Client (this process)

interface Server {
  child: ChildProcess;
  port: number;
  /** Resolves with the next message of `kind` from the server. */
  next<K extends 'emails' | 'done'>(kind: K): Promise<Extract<FromServer, Record<K, unknown>>>;
}

async function startServer(framework: Framework): Promise<Server> {
  const child = fork(fileURLToPath(import.meta.url), [SERVER_FLAG, framework], {
    execArgv: ['--conditions=@twofold/source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: FromServer[] = [];
  const waiters: { resolve(): void; reject(error: Error): void }[] = [];
  let failure: Error | undefined;
  child.on('message', (message: FromServer) => {
    inbox.push(message);
    for (const waiter of waiters.splice(0)) waiter.resolve();
  });
  const fail = (error: Error) => {
    failure = error;
    for (const waiter of waiters.splice(0)) waiter.reject(error);
  };
  child.once('error', fail);
  child.once('exit', (code) => fail(new Error(`recovery-timing server exited with ${code}`)));
  const take = async <M extends FromServer>(has: (message: FromServer) => boolean): Promise<M> => {
    for (;;) {
      const index = inbox.findIndex(has);
      if (index >= 0) return inbox.splice(index, 1)[0] as M;
      if (failure) throw failure;
      await new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject });
      });
    }
  };
  const next = <K extends 'emails' | 'done'>(kind: K) =>
    take<Extract<FromServer, Record<K, unknown>>>((message) => kind in message);
  const { port } = await take<{ port: number }>((message) => 'port' in message);
  return { child, port, next };
}

/** One request, timed from sending it to the end of the answer, in ms. */
function timedRequest(agent: http.Agent, port: number, email: string): Promise<number> {
  const body = JSON.stringify({ email });
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/2fa/recovery/request',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          if (response.statusCode === 202) resolve(ms);
          else reject(new Error(`POST /2fa/recovery/request answered ${response.statusCode}`));
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * p;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

interface Timing {
  framework: Framework;
  known: number[];
  unknown: number[];
}

async function measure(framework: Framework, pairs: number): Promise<Timing> {
  const server = await startServer(framework);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    server.child.send({ prepare: WARMUP_PAIRS + pairs } satisfies ToServer);
    const { emails } = await server.next('emails');
    const known: number[] = [];
    const unknown: number[] = [];
    const one = async (email: string) => {
      const done = server.next('done');
      const ms = await timedRequest(agent, server.port, email);
      await done;
      return ms;
    };
    for (let pair = 0; pair < WARMUP_PAIRS + pairs; pair++) {
      const knownEmail = emails[pair]!;
      const unknownEmail = `nobody-${pair}@bench.example.test`;
      // Alternate which one goes first, so neither always follows the other.
      const order = pair % 2 === 0 ? [knownEmail, unknownEmail] : [unknownEmail, knownEmail];
      for (const email of order) {
        const ms = await one(email);
        if (pair < WARMUP_PAIRS) continue;
        (email === knownEmail ? known : unknown).push(ms);
      }
    }
    return { framework, known, unknown };
  } finally {
    agent.destroy();
    server.child.send({ stop: true } satisfies ToServer);
  }
}

export async function runRecoveryTimingBench(options: HarnessOptions): Promise<boolean> {
  const sqlite = await loadBetterSqlite3();
  if ('error' in sqlite) {
    console.error(`${BETTER_SQLITE3_MISSING} (${sqlite.error})`);
    console.log(`\nNot run: ${BETTER_SQLITE3_MISSING}.`);
    return false;
  }
  const quick = options.rounds < 5;
  const pairs = quick ? 30 : 300;
  const timings: Timing[] = [];
  for (const framework of FRAMEWORKS) {
    const started = performance.now();
    timings.push(await measure(framework, pairs));
    console.error(
      `recovery-timing ${framework}: ${2 * pairs} requests in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  console.log(
    `\n${pairs} requests for known addresses (each a different account with 2FA) and ${pairs} for unknown ` +
      'ones, interleaved, one at a time over one keep-alive connection; server in a child process ' +
      '(findUserByEmail: SQLite lookup; store: sqlStore on SQLite; sendMail: SQLite outbox); client-side ' +
      'time from sending the request to the end of the answer, in ms\n',
  );
  const ms = (value: number) => value.toFixed(3);
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
  console.log(
    markdownTable(
      ['plugin', 'known median', 'unknown median', 'median diff', 'known p90', 'unknown p90', 'p90 diff'],
      timings.map(({ framework, known, unknown }) => [
        framework,
        ms(percentile(known, 0.5)),
        ms(percentile(unknown, 0.5)),
        signed(percentile(known, 0.5) - percentile(unknown, 0.5)),
        ms(percentile(known, 0.9)),
        ms(percentile(unknown, 0.9)),
        signed(percentile(known, 0.9) - percentile(unknown, 0.9)),
      ]),
    ),
  );
  // No pass/fail target: the figures are recorded in RELIABILITY.md.
  return true;
}

if (process.argv[2] === SERVER_FLAG && process.send) {
  const framework = process.argv[3];
  if (!isFramework(framework)) throw new Error(`recovery-timing server: unknown framework "${framework}"`);
  await serve(framework);
}
