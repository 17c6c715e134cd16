/**
 * Head to head (issue 18): the second step of a login, TOTP, on twofold, on better-auth's
 * `twoFactor` plugin and on the route a team would write by hand (Fastify + @fastify/jwt + otpauth),
 * each on SQLite, PostgreSQL and in memory, with a bare JSON route as the reference. Every kit and
 * database has a server process of its own (http-peers-server.ts); this process only generates the
 * load (autocannon, http.ts `load`) and computes each request's code when it sends it.
 *
 * Before every run the server enrolls fresh users through the kit's own API and signs each in (the
 * first step, not timed); every request of a run is a different user, every answer is checked (a
 * 200 with a session: tokens, or better-auth's session cookie). Server CPU per request is the
 * server's `process.cpuUsage()` (over IPC) across the run, divided by the requests answered; for
 * PostgreSQL it leaves out the database server's own CPU, which is measured beside it (the CPU of
 * every PostgreSQL process of this machine across the run, from /proc; blank where the database runs
 * elsewhere), as is the load generator's own (this process). With PostgreSQL on the same two cores,
 * the sum of the three is what bounds a kit's rate once the cores are busy; the report shows it per
 * kit. Replay is tried once per kit and database: a code just accepted, sent again on a fresh
 * sign-in of the same user.
 *
 * Targets (ratios within the run): on SQLite and on PostgreSQL, twofold >= 10x better-auth's
 * verifies per second, <= 1/10 of its CPU per verify and a lower p99; on memoryStore, twofold's
 * verify CPU <= 2x the bare route's CPU in the same server.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { formatRatio, type HarnessOptions, markdownTable } from './harness.js';
import { CONNECTIONS, load, median, type Run } from './http.js';
import { BETTER_AUTH_ORIGIN } from './http-peers-better-auth.js';
import {
  PEER_DBS,
  PEER_KITS,
  type PeerDb,
  type PeerKit,
  type PeerUser,
  postgresCpuSince,
  type ReplayResult,
  readPostgresCpu,
  totpCode,
} from './http-peers-common.js';

interface Server {
  kit: PeerKit;
  db: PeerDb;
  child: ChildProcess;
  port: number;
}

interface PeerRun extends Run {
  requests: number;
  /** Server CPU (user + system) per request, in microseconds. */
  cpuUs: number;
  /** PostgreSQL's own CPU (its processes on this machine) per request, in microseconds; PostgreSQL runs only. */
  dbCpuUs?: number;
  /** This process's CPU per request (the load generator), in microseconds. */
  loadCpuUs: number;
  failed: number;
  /** The first few answers that failed: status and the start of the body (`load`'s `failures`). */
  failures: readonly string[];
  /** Requests past the prepared users (each one a failure): the run was sized too small. */
  overrun: number;
}

const KIT_LABELS: Record<PeerKit, string> = {
  twofold: 'twofold POST /2fa/login/verify',
  'better-auth': 'better-auth POST /api/auth/two-factor/verify-totp',
  manual: 'hand-written (@fastify/jwt + otpauth)',
};
const PATHS: Record<PeerKit, string> = {
  twofold: '/2fa/login/verify',
  'better-auth': '/api/auth/two-factor/verify-totp',
  manual: '/login/verify',
};

type Contender = { kind: 'kit'; kit: PeerKit; db: PeerDb } | { kind: 'bare' };
const key = (contender: Contender) =>
  contender.kind === 'bare' ? 'bare' : `${contender.kit}/${contender.db}`;

function startPeerServer(kit: PeerKit, db: PeerDb): Promise<Server> {
  const child = fork(fileURLToPath(new URL('./http-peers-server.ts', import.meta.url)), [kit, db], {
    execArgv: ['--conditions=@twofold/source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${kit}/${db} server exited with ${code}`));
    child.once('error', reject);
    child.once('exit', onExit);
    child.once('message', (message: { port?: number; error?: string }) => {
      child.off('exit', onExit);
      if (message.port === undefined) reject(new Error(`${kit}/${db} server: ${message.error}`));
      else resolve({ kit, db, child, port: message.port });
    });
  });
}

/** Asks a server one question over IPC and waits for its answer (one question at a time). */
function ask<T>(server: Server, message: object, field: string): Promise<T> {
  return new Promise((resolve, reject) => {
    server.child.once('message', (answer: Record<string, unknown>) => {
      if (field in answer) resolve(answer[field] as T);
      else reject(new Error(`${server.kit}/${server.db} server: ${String(answer.error)}`));
    });
    server.child.send(message);
  });
}

const cpuOf = async (server: Server) => {
  const usage = await ask<NodeJS.CpuUsage>(server, { cpu: true }, 'cpu');
  return usage.user + usage.system;
};

function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    server.child.once('exit', () => resolve());
    server.child.send({ stop: true });
  });
}

/** Whether an answer of the second step is a 200 with a session. */
function checker(kit: PeerKit) {
  return (status: number, body: string, headers: IncomingHttpHeaders): boolean => {
    if (status !== 200) return false;
    if (kit !== 'better-auth') return body.includes('"accessToken":"');
    const setCookie = headers['set-cookie'] ?? [];
    const cookies = Array.isArray(setCookie) ? setCookie : [setCookie];
    return body.includes('"token":"') && cookies.some((cookie) => /session_token=[^;]/.test(cookie));
  };
}

/**
 * One timed run against `server`: each request is the next prepared user, with the code of the
 * current 30 s step (computed for the two steps a run can span before it starts), until every user
 * was sent once. `seconds` is what the sizing aimed at; the rate is over the time the run took.
 */
async function timedRun(
  server: Server,
  path: string,
  users: readonly PeerUser[],
  seconds: number,
): Promise<PeerRun> {
  const step = Math.floor(Date.now() / 30_000);
  const codes = users.map((user) => [
    totpCode(user.secret, step * 30_000),
    totpCode(user.secret, (step + 1) * 30_000),
  ]);
  const before = await cpuOf(server);
  const databaseBefore = server.db === 'postgres' ? readPostgresCpu() : undefined;
  const loadBefore = process.cpuUsage();
  // Every prepared user once: a run that goes faster than sized ends early instead of reusing users.
  const run = await load(`http://127.0.0.1:${server.port}${path}`, [], seconds, {
    amount: users.length,
    ...(server.kit === 'better-auth' ? { headers: { origin: BETTER_AUTH_ORIGIN } } : {}),
    request(n) {
      const user = users[n % users.length]!;
      const code = codes[n % users.length]![Math.floor(Date.now() / 30_000) > step ? 1 : 0]!;
      return {
        body: JSON.stringify({ ...user.body, code }),
        ...(user.cookie ? { headers: { cookie: user.cookie } } : {}),
      };
    },
    check: checker(server.kit),
  });
  const loadUsed = process.cpuUsage(loadBefore);
  const database = databaseBefore === undefined ? undefined : postgresCpuSince(databaseBefore);
  const cpu = (await cpuOf(server)) - before;
  const answered = Math.max(run.requests, 1);
  return {
    ...run,
    cpuUs: cpu / answered,
    ...(database === undefined ? {} : { dbCpuUs: database / answered }),
    loadCpuUs: perRequest(loadUsed, answered),
    // Past the prepared users a request reuses one and is refused: it counts as a non-2xx answer.
    failed: run.errors + run.non2xx + run.refused,
    overrun: Math.max(0, run.requests - users.length),
  };
}

async function bareRun(server: Server, seconds: number): Promise<PeerRun> {
  const bodies = Array.from({ length: 1000 }, (_, n) => JSON.stringify({ n }));
  const before = await cpuOf(server);
  const loadBefore = process.cpuUsage();
  const run = await load(`http://127.0.0.1:${server.port}/bare`, bodies, seconds);
  const used = process.cpuUsage(loadBefore);
  const cpu = (await cpuOf(server)) - before;
  const answered = Math.max(run.requests, 1);
  return {
    ...run,
    cpuUs: cpu / answered,
    loadCpuUs: perRequest(used, answered),
    failed: run.errors + run.non2xx,
    overrun: 0,
  };
}

const spread = (values: readonly number[], digits = 0) =>
  `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;

/** The load generator's CPU (user + system, microseconds) per request answered. */
const perRequest = (usage: NodeJS.CpuUsage, answered: number) => (usage.user + usage.system) / answered;

/** PostgreSQL's CPU per request of the runs that measured it. */
const databaseCpus = (runs: readonly PeerRun[]) =>
  runs.flatMap((run) => (run.dbCpuUs === undefined ? [] : [run.dbCpuUs]));

/** PostgreSQL's CPU per request of some runs, median and spread; empty where it was not measured. */
function databaseCell(runs: readonly PeerRun[]): string {
  const measured = databaseCpus(runs);
  return measured.length === 0 ? '' : `${median(measured).toFixed(0)} (${spread(measured)})`;
}

export async function runHttpPeersBench(options: HarnessOptions): Promise<boolean> {
  const quick = options.rounds < 5;
  const rounds = quick ? 1 : 4;
  // Quick mode (a smoke test, under 2 minutes) runs half a second per contender, on fewer users.
  const seconds = quick ? 0.5 : 5;
  const servers = new Map<string, Server>();
  try {
    for (const db of PEER_DBS) {
      for (const kit of PEER_KITS) servers.set(`${kit}/${db}`, await startPeerServer(kit, db));
    }
    const serverOf = (contender: Contender) =>
      servers.get(contender.kind === 'bare' ? 'twofold/memory' : key(contender))!;
    const contenders: Contender[] = [
      { kind: 'bare' },
      ...PEER_DBS.flatMap((db) => PEER_KITS.map((kit): Contender => ({ kind: 'kit', kit, db }))),
    ];

    // Warm-up, results discarded except the rate, which sizes the users prepared per run: 3x the
    // warm-up's rate at first (a 1 s warm-up can run at half the later rate), then 1.4x the fastest
    // run so far. A run ends when its users are used up (each request needs a user of its own), so a
    // round on a machine faster than foreseen is shorter, never invalid.
    const perRun = new Map<string, number>();
    const size = (rate: number, factor: number) =>
      Math.min(quick ? 12_000 : 40_000, Math.max(100, Math.ceil(rate * seconds * factor)));
    await bareRun(serverOf({ kind: 'bare' }), quick ? 0.5 : 1);
    for (const contender of contenders) {
      if (contender.kind === 'bare') continue;
      const server = serverOf(contender);
      const count = contender.kit === 'better-auth' ? (quick ? 50 : 300) : quick ? 600 : 3000;
      const started = performance.now();
      const users = await ask<PeerUser[]>(server, { prepare: count }, 'users');
      const warm = await timedRun(server, PATHS[contender.kit], users, quick ? 0.5 : 1);
      // Only the answers that succeeded count.
      const served = (warm.requestsPerSecond * (warm.requests - warm.failed)) / Math.max(warm.requests, 1);
      // better-auth's enrollment is slow (its memory adapter copies its database per write): in quick
      // mode at most 350 of its users per run (more than it serves in half a second here).
      const sized = size(served, 3);
      perRun.set(key(contender), quick && contender.kit === 'better-auth' ? Math.min(350, sized) : sized);
      console.error(
        `http-peers warm-up ${key(contender)}: ${count} users in ${Math.round(performance.now() - started)} ms, ` +
          `${warm.requestsPerSecond.toFixed(0)} req/s (${warm.failed} failed) -> ${perRun.get(key(contender))} users per run`,
      );
    }

    // Replay, once per kit and database: the same code on a fresh sign-in.
    const replays = new Map<string, ReplayResult>();
    for (const contender of contenders) {
      if (contender.kind === 'kit') {
        replays.set(key(contender), await ask<ReplayResult>(serverOf(contender), { replay: true }, 'replay'));
      }
    }

    const runs = new Map<string, PeerRun[]>(contenders.map((contender) => [key(contender), []]));
    for (let round = 0; round < rounds; round++) {
      const order = contenders.map((_, index) => contenders[(index + round) % contenders.length]!);
      for (const contender of order) {
        const server = serverOf(contender);
        let run: PeerRun;
        if (contender.kind === 'bare') {
          run = await bareRun(server, seconds);
        } else {
          const count = perRun.get(key(contender))!;
          const started = performance.now();
          const users = await ask<PeerUser[]>(server, { prepare: count }, 'users');
          console.error(
            `http-peers round ${round + 1}/${rounds}: ${key(contender)}: ${count} users prepared in ` +
              `${Math.round(performance.now() - started)} ms`,
          );
          run = await timedRun(server, PATHS[contender.kit], users, seconds);
          perRun.set(key(contender), Math.max(count, size(run.requestsPerSecond, 1.4)));
        }
        console.error(
          `  ${key(contender)}: ${run.requestsPerSecond.toFixed(0)} req/s, p99 ${run.p99} ms, ` +
            `${run.cpuUs.toFixed(0)} us CPU/req` +
            (run.dbCpuUs === undefined ? '' : ` (+ ${run.dbCpuUs.toFixed(0)} us PostgreSQL)`) +
            `, load generator ${run.loadCpuUs.toFixed(0)} us/req, ${run.failed} failed` +
            (run.overrun > 0 ? ` (${run.overrun} past the prepared users)` : ''),
        );
        for (const failure of run.failures) console.error(`    failed answer: ${failure}`);
        runs.get(key(contender))!.push(run);
      }
    }

    const of = (name: string) => runs.get(name)!;
    const med = (name: string, pick: (run: PeerRun) => number) => median(of(name).map(pick));
    // better-auth on memory is shown for the record only (its memory adapter copies its database per
    // write, so it slows down as users are enrolled and its requests time out): its failures are
    // reported in its row, and do not void the figures the targets are read from.
    const RECORD_ONLY = 'better-auth/memory';
    /** The failed requests of every round of `name`; 0 for a contender that did not run. */
    const failuresOf = (name: string) => (runs.get(name) ?? []).reduce((sum, run) => sum + run.failed, 0);
    const failed = [...runs.keys()]
      .filter((name) => name !== RECORD_ONLY)
      .reduce((sum, name) => sum + failuresOf(name), 0);
    console.log(
      `\n${rounds} round(s) of ${seconds} s per contender, alternating, ${CONNECTIONS} connections; one server ` +
        'process per kit and database; every request a different user enrolled through the kit, its code ' +
        'computed when sent; medians of the rounds (spread: min-max across rounds)\n',
    );
    const rows: string[][] = [];
    for (const contender of contenders) {
      const name = key(contender);
      rows.push([
        contender.kind === 'bare' ? 'bare Fastify JSON route (twofold server)' : KIT_LABELS[contender.kit],
        contender.kind === 'bare' ? 'n/a' : contender.db,
        med(name, (run) => run.requestsPerSecond).toFixed(0),
        spread(of(name).map((run) => run.requestsPerSecond)),
        med(name, (run) => run.p50).toFixed(1),
        med(name, (run) => run.p99).toFixed(1),
        med(name, (run) => run.cpuUs).toFixed(0),
        spread(of(name).map((run) => run.cpuUs)),
        databaseCell(of(name)),
        med(name, (run) => run.loadCpuUs).toFixed(0),
        String(failuresOf(name)),
      ]);
    }
    console.log(
      markdownTable(
        [
          'route',
          'db',
          'req/s',
          'req/s spread',
          'p50 ms',
          'p99 ms',
          'CPU us/req',
          'CPU spread',
          'PostgreSQL CPU us/req',
          'load generator CPU us/req',
          'failed',
        ],
        rows,
      ),
    );

    let met = true;
    console.log('\nRatios (medians of this run):\n');
    const ratioRows: string[][] = [];
    for (const db of PEER_DBS) {
      const tf = `twofold/${db}`;
      const ba = `better-auth/${db}`;
      const hw = `manual/${db}`;
      const rps = (name: string) => med(name, (run) => run.requestsPerSecond);
      const cpu = (name: string) => med(name, (run) => run.cpuUs);
      const p99 = (name: string) => med(name, (run) => run.p99);
      const rpsRatio = rps(tf) / rps(ba);
      const cpuRatio = cpu(tf) / cpu(ba);
      ratioRows.push([
        db,
        formatRatio(rpsRatio),
        formatRatio(cpuRatio),
        `${p99(tf).toFixed(0)} vs ${p99(ba).toFixed(0)}`,
        formatRatio(rps(tf) / rps(hw)),
        formatRatio(cpu(tf) / cpu(hw)),
      ]);
      if (db !== 'memory') {
        const dbMet = rpsRatio >= 10 && cpuRatio <= 0.1 && p99(tf) < p99(ba);
        met &&= dbMet;
        console.error(`${db}: ${dbMet ? 'met' : 'MISSED'}`);
      }
    }
    console.log(
      markdownTable(
        [
          'db',
          'req/s twofold / better-auth',
          'CPU twofold / better-auth',
          'p99 ms twofold vs better-auth',
          'req/s twofold / hand-written',
          'CPU twofold / hand-written',
        ],
        ratioRows,
      ),
    );
    for (const db of PEER_DBS) {
      if (db === 'memory') continue;
      const tf = `twofold/${db}`;
      const ba = `better-auth/${db}`;
      const rpsRatio = med(tf, (run) => run.requestsPerSecond) / med(ba, (run) => run.requestsPerSecond);
      const cpuRatio = med(tf, (run) => run.cpuUs) / med(ba, (run) => run.cpuUs);
      const p99Lower = med(tf, (run) => run.p99) < med(ba, (run) => run.p99);
      console.log(
        `\n${db}: req/s ${formatRatio(rpsRatio)} (target >= 10x): ${rpsRatio >= 10 ? 'met' : 'MISSED'}; ` +
          `CPU ${formatRatio(cpuRatio)} (target <= 0.10x): ${cpuRatio <= 0.1 ? 'met' : 'MISSED'}; ` +
          `lower p99: ${p99Lower ? 'met' : 'MISSED'}`,
      );
    }
    // PostgreSQL runs beside the servers and the load generator on this machine: the rate a kit
    // reaches once the cores are busy follows all the CPU a verify costs here, not its server's alone.
    const machineRows = PEER_KITS.flatMap((kit) => {
      const name = `${kit}/postgres`;
      const database = databaseCpus(of(name));
      if (database.length === 0) return [];
      const server = med(name, (run) => run.cpuUs);
      const generator = med(name, (run) => run.loadCpuUs);
      return [{ kit, server, database: median(database), generator }];
    });
    const total = (row: (typeof machineRows)[number]) => row.server + row.database + row.generator;
    const tfMachine = machineRows.find((row) => row.kit === 'twofold');
    const baMachine = machineRows.find((row) => row.kit === 'better-auth');
    if (tfMachine && baMachine) {
      console.log(
        '\nPostgreSQL: all the CPU of this machine per verify (medians; PostgreSQL runs here too):\n',
      );
      console.log(
        markdownTable(
          ['kit', 'server us', 'PostgreSQL us', 'load generator us', 'total us'],
          machineRows.map((row) => [
            KIT_LABELS[row.kit],
            row.server.toFixed(0),
            row.database.toFixed(0),
            row.generator.toFixed(0),
            total(row).toFixed(0),
          ]),
        ),
      );
      const totalRatio = total(tfMachine) / total(baMachine);
      const databaseRatio = tfMachine.database / baMachine.database;
      console.log(
        `\ntwofold / better-auth: PostgreSQL's CPU ${formatRatio(databaseRatio)}, all of it ` +
          `${formatRatio(totalRatio)}: with every core busy, the rate ratio this machine allows is about ` +
          `${formatRatio(1 / totalRatio)} (the rates' own ratio is above it only while cores are idle)`,
      );
    }
    const bareCpu = med('bare', (run) => run.cpuUs);
    const memoryRatio = med('twofold/memory', (run) => run.cpuUs) / bareCpu;
    met &&= memoryRatio <= 2;
    console.log(
      `\nmemoryStore: twofold verify CPU / bare route CPU (same server): ${formatRatio(memoryRatio)} ` +
        `(${med('twofold/memory', (run) => run.cpuUs).toFixed(0)} vs ${bareCpu.toFixed(0)} us; target <= 2x): ` +
        `${memoryRatio <= 2 ? 'met' : 'MISSED'}`,
    );

    console.log('\nReplay (a code just accepted, sent again on a fresh sign-in of the same user):\n');
    console.log(
      markdownTable(
        ['kit', 'db', 'first', 'replayed', 'refused', 'replay got a session'],
        [...replays].map(([name, replay]) => {
          const [kit, db] = name.split('/');
          return [
            kit!,
            db!,
            String(replay.firstStatus),
            String(replay.secondStatus),
            replay.secondStatus === 200 ? 'no' : 'yes',
            replay.secondSession ? 'yes' : 'no',
          ];
        }),
      ),
    );
    const twofoldRefuses = [...replays].every(
      ([name, replay]) =>
        !name.startsWith('twofold/') || (replay.firstStatus === 200 && replay.secondStatus !== 200),
    );
    if (!twofoldRefuses) console.log('\ntwofold accepted a replayed code: a bug');
    const recordOnly = failuresOf(RECORD_ONLY);
    if (failed > 0) console.log(`\n${failed} requests failed: the figures are not valid`);
    else if (recordOnly === 0) console.log('\nevery timed request answered 200 with a session');
    else console.log(`\nevery timed request but ${RECORD_ONLY}'s answered 200 with a session`);
    if (recordOnly > 0) console.log(`${RECORD_ONLY} (for the record only): ${recordOnly} requests failed`);
    return met && twofoldRefuses && failed === 0;
  } finally {
    await Promise.all([...servers.values()].map(stop));
  }
}
