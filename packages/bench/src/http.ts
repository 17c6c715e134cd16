/**
 * HTTP benchmark (issue 6, DESIGN.md performance targets): a bare Fastify JSON route against
 * `POST /2fa/login/verify` on memoryStore, in the same run, with autocannon. The server runs in a
 * child process (http-server.ts); this process only generates load. Rounds alternate bare and
 * verify; each verify round uses users prepared just before it, one request per user.
 *
 * Targets: verify >= 80% of the bare route's requests per second (issue 6; DESIGN.md says 60%),
 * and verify p99 latency <= 1.3x the bare route's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { formatRatio, type HarnessOptions, markdownTable } from './harness.js';

export interface Run {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export const CONNECTIONS = 10;

/** How many failed answers of a run `load` keeps (status and the start of the body) for the report. */
const FAILURES_KEPT = 5;

/**
 * `sized` is a control: a Fastify route that takes the verify request body and answers a body of
 * the size of a token pair, doing nothing else. It separates what the larger payloads cost from
 * what the second factor costs.
 */
const CONTENDERS = ['bare', 'sized', 'verify'] as const;
type Contender = (typeof CONTENDERS)[number];
const PATHS: Record<Contender, string> = { bare: '/bare', sized: '/sized', verify: '/2fa/login/verify' };
const LABELS: Record<Contender, string> = {
  bare: 'bare Fastify JSON route',
  sized: 'same payload sizes, no work',
  verify: 'POST /2fa/login/verify',
};

/**
 * Starts http-server.ts in a child process on `store` (memory, redis or postgres). `imports`: modules
 * the child loads first (after tsx), e.g. tokens-swap.ts.
 */
export function startServer(
  store = 'memory',
  imports: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(new URL('./http-server.ts', import.meta.url)), [store], {
    // BENCH_CPU_PROF=dir writes a V8 CPU profile of the server there (open it in Chrome DevTools).
    execArgv: [
      '--conditions=@twofold/source',
      '--import',
      'tsx',
      ...imports.flatMap((module) => ['--import', module]),
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`benchmark server exited with ${code}`)));
    child.once('message', (message: { port: number }) => resolve({ child, port: message.port }));
  });
}

export function prepare(child: ChildProcess, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    child.once('message', (message: { bodies: string[] }) => resolve(message.bodies));
    child.send({ prepare: count });
  });
}

/** One request of a run, built when it is sent: its body and any headers of its own (a cookie). */
export interface LoadRequest {
  body: string;
  headers?: Record<string, string>;
}

export interface LoadOptions {
  /** Builds the n-th request of the run (instead of `bodies[n % bodies.length]`). */
  request?: (n: number) => LoadRequest;
  /** Headers of every request, besides `content-type: application/json`. */
  headers?: Record<string, string>;
  /**
   * Stop after this many requests instead of after `seconds` (the rate is then over the time from
   * the start to the last answer, measured here: autocannon ends such a run at its next 1 s sample
   * tick, so its own duration is the run's rounded up to a whole second): for runs whose every
   * request needs a prepared user, so that a machine faster than the warm-up foresaw never sends a
   * request past the last one.
   */
  amount?: number;
  /** Checks each answer; `refused` counts the 2xx answers it rejects. */
  check?: (status: number, body: string, headers: IncomingHttpHeaders) => boolean;
}

export async function load(
  url: string,
  bodies: readonly string[],
  seconds: number,
  options: LoadOptions = {},
): Promise<Run & { requests: number; refused: number; failures: string[] }> {
  let next = 0;
  let refused = 0;
  const failures: string[] = [];
  const { request: build, check } = options;
  const started = performance.now();
  let lastAnswer = started;
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    ...(options.amount === undefined ? { duration: seconds } : { amount: options.amount }),
    headers: { 'content-type': 'application/json', ...options.headers },
    requests: [
      {
        // Past the last prepared body the run would replay codes (and count as failed): prepare enough.
        setupRequest: (request) => {
          if (!build) return { ...request, body: bodies[next++ % bodies.length] };
          const { body, headers } = build(next++);
          return { ...request, body, ...(headers ? { headers: { ...request.headers, ...headers } } : {}) };
        },
        // Only where needed: a response hook makes autocannon keep every body.
        ...(check || options.amount !== undefined
          ? {
              onResponse: (status: number, body: string, _context: object, headers?: IncomingHttpHeaders) => {
                lastAnswer = performance.now();
                const success = status >= 200 && status < 300;
                const accepted = success && (!check || check(status, body, headers ?? {}));
                if (success && !accepted) refused++;
                // The first few answers that failed, to tell why: an error's body; never the body of a
                // 2xx the check refused, which may hold a token.
                if (!accepted && failures.length < FAILURES_KEPT) {
                  failures.push(
                    success
                      ? `${status} (refused by the check)`
                      : `${status} ${body.replace(/\s+/g, ' ').slice(0, 160)}`,
                  );
                }
              },
            }
          : {}),
      },
    ],
  });
  const elapsedSeconds = options.amount === undefined ? seconds : (lastAnswer - started) / 1000;
  return {
    requestsPerSecond: result.requests.total / elapsedSeconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
    refused,
    failures,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function runHttpBench(options: HarnessOptions): Promise<boolean> {
  const quick = options.rounds < 5;
  const rounds = quick ? 1 : 5;
  const seconds = quick ? 1 : 5;
  // Users for the 1 s warm-up runs: more than the verify route serves in a second on any machine seen.
  const warmRequests = quick ? 4000 : 25_000;
  const { child, port } = await startServer();
  try {
    const runs: Record<Contender, Run[]> = { bare: [], sized: [], verify: [] };
    const bareBodies = Array.from({ length: warmRequests }, (_, n) => JSON.stringify({ n }));
    const url = (contender: Contender) => `http://127.0.0.1:${port}${PATHS[contender]}`;
    // Warm-up: every route, results discarded but for the verify rate, which sizes the rounds: each
    // round prepares 1.5x the users the route served per second in the warm-up, times `seconds`.
    await load(url('bare'), bareBodies, 1);
    const warmBodies = await prepare(child, warmRequests);
    await load(url('sized'), warmBodies, 1);
    const warmVerify = await load(url('verify'), warmBodies, 1);
    const requests = Math.max(warmRequests, Math.ceil(warmVerify.requestsPerSecond * seconds * 1.5));
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      const bodies = await prepare(child, requests);
      console.error(
        `http round ${round + 1}/${rounds}: ${requests} users prepared in ${Math.round(performance.now() - started)} ms`,
      );
      // Rotate the order so no contender always runs first (or right after preparation).
      const order = CONTENDERS.map((_, index) => CONTENDERS[(index + round) % CONTENDERS.length]!);
      for (const contender of order) {
        runs[contender].push(await load(url(contender), contender === 'bare' ? bareBodies : bodies, seconds));
      }
    }
    const failed = runs.verify.reduce((sum, run) => sum + run.errors + run.non2xx, 0);
    const rps = (contender: Contender) => median(runs[contender].map((run) => run.requestsPerSecond));
    const p99 = (contender: Contender) => median(runs[contender].map((run) => run.p99));
    const rpsRatio = rps('verify') / rps('bare');
    const p99Ratio = p99('verify') / Math.max(p99('bare'), 1);
    console.log(
      `\n${rounds} rounds of ${seconds} s per route, ${CONNECTIONS} connections, server in a child ` +
        'process; every verify request is a different pre-enrolled user (memoryStore, rate limits off)\n',
    );
    console.log(
      markdownTable(
        ['route', 'req/s (median)', 'vs bare', 'p50 ms', 'p99 ms (median)'],
        CONTENDERS.map((contender) => [
          LABELS[contender],
          rps(contender).toFixed(0),
          formatRatio(rps(contender) / rps('bare')),
          median(runs[contender].map((run) => run.p50)).toFixed(1),
          p99(contender).toFixed(1),
        ]),
      ),
    );
    const rpsMet = rpsRatio >= 0.8;
    const p99Met = p99Ratio <= 1.3;
    console.log(
      `\nverify / bare req/s: ${formatRatio(rpsRatio)} (target >= 0.80x): ${rpsMet ? 'met' : 'MISSED'}`,
    );
    console.log(
      `verify / bare p99:   ${formatRatio(p99Ratio)} (target <= 1.30x): ${p99Met ? 'met' : 'MISSED'}`,
    );
    if (failed > 0) console.log(`${failed} verify requests failed: the figures are not valid`);
    return rpsMet && p99Met && failed === 0;
  } finally {
    child.send({ stop: true });
  }
}
