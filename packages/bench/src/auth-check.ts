/**
 * `pnpm bench auth-check`: what the revocation check costs on the authenticated path.
 *
 * Since sign-out is immediate, every check of an access token (`app.twofoldAuthenticate`,
 * `requireAuth`, `POST /token/verify`) reads two records besides verifying the signature: the
 * session's refresh family and the user's revocation time, in parallel. This measures
 * `tokens.verifyAccess` per store, next to the same call over a store that answers at once from
 * memory without any bookkeeping (`signature only`: the signature, the claims, and two resolved
 * promises, which is what the check cost before it read the store).
 *
 * Two figures per contender: the latency of one check at a time (median and p99 of 2,000), and the
 * throughput with 32 checks in flight (median of 5 rounds of 1 s). Stores unreachable are reported
 * and skipped.
 */
import { generateKey, type Store } from '@twofold/core';
import { createTwofoldHttp } from '@twofold/core/http';
import type { HarnessOptions } from './harness.js';
import { openBenchStore, STORE_KINDS } from './stores.js';

interface Row {
  contender: string;
  p50Us: number;
  p99Us: number;
  checksPerSecond: number;
}

/** A store whose reads answer a live value at once: the check without any store work. */
function instantStore(): Store {
  const live = async () => 'live';
  const none = async () => null;
  return new Proxy({} as Store, {
    get(_target, property) {
      if (property === 'getNonce') {
        return async (_userId: string, key: string) => (key.startsWith('refresh:') ? live() : none());
      }
      return async () => true;
    },
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(contender: string, store: Store, options: HarnessOptions): Promise<Row> {
  const http = createTwofoldHttp({
    store,
    keyring: generateKey(),
    issuer: 'Bench',
    authenticate: async () => null,
    rateLimit: false,
  });
  // A real session in the store under test (the instant store needs none).
  const { accessToken } = await http.tokens.issue('bench-user', ['pwd', 'otp', 'mfa'], Date.now());
  const header = `Bearer ${accessToken}`;
  const quick = options.rounds < 5;
  for (let i = 0; i < (quick ? 50 : 500); i++) await http.authorize(header);

  const latencies: number[] = [];
  for (let i = 0; i < (quick ? 200 : 2_000); i++) {
    const start = process.hrtime.bigint();
    await http.authorize(header);
    latencies.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  latencies.sort((a, b) => a - b);

  const rates: number[] = [];
  const roundMs = quick ? 100 : 1_000;
  for (let round = 0; round < (quick ? 2 : 5); round++) {
    let done = 0;
    const until = performance.now() + roundMs;
    const worker = async () => {
      while (performance.now() < until) {
        await http.authorize(header);
        done++;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: 32 }, worker));
    rates.push(done / ((performance.now() - started) / 1000));
  }
  rates.sort((a, b) => a - b);
  return {
    contender,
    p50Us: quantile(latencies, 0.5),
    p99Us: quantile(latencies, 0.99),
    checksPerSecond: rates[Math.floor(rates.length / 2)]!,
  };
}

export async function runAuthCheckBench(options: HarnessOptions): Promise<boolean> {
  const rows: Row[] = [await measure('signature only (no store work)', instantStore(), options)];
  for (const kind of STORE_KINDS) {
    let opened: Awaited<ReturnType<typeof openBenchStore>>;
    try {
      opened = await openBenchStore(kind);
    } catch (error) {
      console.log(`- ${kind}: skipped (${(error as Error).message})`);
      continue;
    }
    try {
      rows.push(await measure(`${kind}Store`, opened.store, options));
    } finally {
      await opened.dispose();
    }
  }
  const base = rows[0]!;
  console.log('\n## auth-check: verifying an access token, with the revocation check\n');
  console.log(
    '| contender | p50 (us) | p99 (us) | p50 added (us) | checks/s, 32 in flight | vs signature only |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(
      `| ${row.contender} | ${row.p50Us.toFixed(1)} | ${row.p99Us.toFixed(1)} | ` +
        `${(row.p50Us - base.p50Us).toFixed(1)} | ${Math.round(row.checksPerSecond).toLocaleString('en')} | ` +
        `${(row.checksPerSecond / base.checksPerSecond).toFixed(2)}x |`,
    );
  }
  return true;
}
