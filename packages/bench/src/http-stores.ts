/**
 * HTTP benchmark per store (issue 9): `POST /2fa/login/verify` on memoryStore, Redis and PostgreSQL
 * in the same run, with the bare Fastify route and the same-payload control route of http.ts as the
 * reference. One server process per store (http-server.ts `<store>`), started together; only the one
 * under load does any work. Every verify request is a different user prepared just before its run,
 * so no request is a replay, and the run reports any request that failed.
 */
import type { ChildProcess } from 'node:child_process';
import { formatRatio, type HarnessOptions, markdownTable } from './harness.js';
import { CONNECTIONS, load, median, prepare, type Run, startServer } from './http.js';
import type { StoreKind } from './stores.js';

const CONTENDERS = ['bare', 'sized', 'memory', 'redis', 'postgres'] as const;
type Contender = (typeof CONTENDERS)[number];
const LABELS: Record<Contender, string> = {
  bare: 'bare Fastify JSON route',
  sized: 'same payload sizes, no work',
  memory: 'POST /2fa/login/verify, memoryStore',
  redis: 'POST /2fa/login/verify, Redis',
  postgres: 'POST /2fa/login/verify, PostgreSQL',
};
const STORES: readonly StoreKind[] = ['memory', 'redis', 'postgres'];

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.send({ stop: true });
  });
}

export async function runHttpStoresBench(options: HarnessOptions): Promise<boolean> {
  const quick = options.rounds < 5;
  const rounds = quick ? 1 : 3;
  const seconds = quick ? 1 : 5;
  const servers = new Map<StoreKind, { child: ChildProcess; port: number }>();
  try {
    for (const kind of STORES) servers.set(kind, await startServer(kind));
    const url = (kind: StoreKind, path: string) => `http://127.0.0.1:${servers.get(kind)!.port}${path}`;
    const bareBodies = Array.from({ length: 1000 }, (_, n) => JSON.stringify({ n }));

    // Warm-up, results discarded except the verify rate, which sizes the users prepared per run.
    const perRun = new Map<StoreKind, number>();
    await load(url('memory', '/bare'), bareBodies, 1);
    for (const kind of STORES) {
      const bodies = await prepare(servers.get(kind)!.child, quick ? 2000 : 4000);
      if (kind === 'memory') await load(url(kind, '/sized'), bodies, 1);
      const warm = await load(url(kind, '/2fa/login/verify'), bodies, 1);
      // 1.5x what the warm-up managed, so a run never runs out of fresh users.
      perRun.set(kind, Math.min(30_000, Math.ceil(warm.requestsPerSecond * seconds * 1.5) + 500));
    }

    const runs: Record<Contender, Run[]> = { bare: [], sized: [], memory: [], redis: [], postgres: [] };
    let failed = 0;
    for (let round = 0; round < rounds; round++) {
      const order = CONTENDERS.map((_, index) => CONTENDERS[(index + round) % CONTENDERS.length]!);
      for (const contender of order) {
        let run: Run;
        if (contender === 'bare') {
          run = await load(url('memory', '/bare'), bareBodies, seconds);
        } else {
          // The control route takes verify bodies too; the memory server makes them.
          const kind: StoreKind = contender === 'sized' ? 'memory' : contender;
          const count = contender === 'sized' ? 4000 : perRun.get(kind)!;
          const started = performance.now();
          const bodies = await prepare(servers.get(kind)!.child, count);
          console.error(
            `http-stores round ${round + 1}/${rounds}: ${contender}: ${count} users prepared in ` +
              `${Math.round(performance.now() - started)} ms`,
          );
          const path = contender === 'sized' ? '/sized' : '/2fa/login/verify';
          run = await load(url(kind, path), bodies, seconds);
          if (contender !== 'sized') failed += run.errors + run.non2xx;
        }
        runs[contender].push(run);
      }
    }

    const rps = (contender: Contender) => median(runs[contender].map((run) => run.requestsPerSecond));
    const p99 = (contender: Contender) => median(runs[contender].map((run) => run.p99));
    console.log(
      `\n${rounds} rounds of ${seconds} s per route, ${CONNECTIONS} connections, one server process per ` +
        'store; every verify request is a different pre-enrolled user (rate limits off)\n',
    );
    console.log(
      markdownTable(
        ['route', 'req/s (median)', 'vs bare', 'vs memory', 'p50 ms', 'p99 ms (median)'],
        CONTENDERS.map((contender) => [
          LABELS[contender],
          rps(contender).toFixed(0),
          formatRatio(rps(contender) / rps('bare')),
          contender === 'bare' || contender === 'sized' ? 'n/a' : formatRatio(rps(contender) / rps('memory')),
          median(runs[contender].map((run) => run.p50)).toFixed(1),
          p99(contender).toFixed(1),
        ]),
      ),
    );
    if (failed > 0) console.log(`\n${failed} verify requests failed: the figures are not valid`);
    else console.log('\nevery verify request succeeded');
    // No target of its own: DESIGN.md's HTTP targets are checked by the memory suite (http).
    return failed === 0;
  } finally {
    await Promise.all([...servers.values()].map(({ child }) => stop(child)));
  }
}
