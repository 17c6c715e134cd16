/**
 * `pnpm bench tokens` (opt-in; issue 13): core's hand-written signed tokens
 * (`internal/signed-tokens.ts`, HS256 on node:crypto) against the same tokens on fast-jwt
 * (tokens-fast-jwt.ts), and the rule the issue set: the hand-written code stays only if fast-jwt
 * costs more than 10% of the verify route's throughput.
 *
 * 1. In process: sign and verify of an access token (with the claims of a session) and of a
 *    challenge token, ops/s, interleaved rounds (harness.ts). A third contender for verify builds a
 *    fast-jwt verifier per call with the clock as `clockTimestamp`, the library's way to inject time:
 *    what checking the time inside fast-jwt would cost.
 * 2. `POST /2fa/login/verify` on memoryStore: two servers (http-server.ts), one loading the
 *    fast-jwt port in place of core's tokens (tokens-swap.ts), in alternating runs with autocannon.
 *    Each run sends exactly one request per user prepared just before it on its own server (40,000
 *    users; a run by duration replays codes whenever the machine speeds up, and refused replays are
 *    cheap answers). The figure is the median of the per-round ratios (each round runs both, back
 *    to back).
 */
import os from 'node:os';
import { createKeyring, InvalidChallengeError, InvalidTokenError } from '@twofold/core';
import autocannon from 'autocannon';
import { createVerifier } from 'fast-jwt';
// Internal, not part of the package API: imported from source, as otp.ts does for the HMAC core.
import { CHALLENGE_TOKEN_AUDIENCE, CHALLENGE_TOKEN_TYPE } from '../../core/src/challenge-token.js';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_TYPE } from '../../core/src/http/session-tokens.js';
import { cryptoRandom } from '../../core/src/internal/random.js';
import type { TokenKind } from '../../core/src/internal/signed-tokens.js';
import * as coreTokens from '../../core/src/internal/signed-tokens.js';
import {
  formatOps,
  formatRatio,
  type HarnessOptions,
  type Measurement,
  markdownTable,
  measureInterleaved,
  type Operation,
} from './harness.js';
import { CONNECTIONS, load, prepare, type Run, startServer } from './http.js';
import * as fastJwtTokens from './tokens-fast-jwt.js';

const IMPLEMENTATIONS = [
  { name: 'hand-written (core)', create: coreTokens.createSignedTokens },
  { name: 'fast-jwt 6.3', create: fastJwtTokens.createSignedTokens },
] as const;

const ISSUER = 'Bench';
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const keyring = createKeyring({ keys: { bench: new Uint8Array(32).fill(7) }, current: 'bench' });

/** The two kinds as core makes them (challenge-token.ts, http/session-tokens.ts). */
const ACCESS: TokenKind = {
  purpose: 'access-token',
  type: ACCESS_TOKEN_TYPE,
  audience: ACCESS_TOKEN_AUDIENCE,
  kind: 'access',
  noun: 'access token',
  invalid: (message, options) => new InvalidTokenError(message, options),
};
const CHALLENGE: TokenKind = {
  purpose: 'challenge-token',
  type: CHALLENGE_TOKEN_TYPE,
  audience: CHALLENGE_TOKEN_AUDIENCE,
  kind: 'challenge',
  noun: 'challenge token',
  invalid: (message, options) => new InvalidChallengeError(message, options),
};
/** What session-tokens.ts signs into an access token besides the registered claims. */
const SESSION_CLAIMS = {
  amr: ['pwd', 'otp', 'mfa'],
  auth_time: Math.floor(NOW / 1000),
  fam: 'AAECAwQFBgcICQoLDA0ODw',
  iat_ms: NOW,
};

/** The median; of an even count, the mean of the two middle values. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

interface InProcessCase {
  name: string;
  /** Hand-written (core), fast-jwt, and for verify fast-jwt with a verifier per call. */
  operations: [Operation, Operation] | [Operation, Operation, Operation];
}

function inProcessCases(): InProcessCase[] {
  const made = IMPLEMENTATIONS.map(({ create }) => ({
    access: create(keyring, ISSUER, ACCESS, cryptoRandom),
    challenge: create(keyring, ISSUER, CHALLENGE, cryptoRandom),
  }));
  const accessToken = made[0]!.access.sign('user-1', SESSION_CLAIMS, NOW, 900).token;
  const challengeToken = made[0]!.challenge.sign('user-1', {}, NOW, 120).token;
  const forged = `${accessToken.slice(0, -2)}${accessToken.endsWith('AA') ? 'QA' : 'AA'}`;
  // Both must accept each other's tokens and refuse the forged one, or the comparison means nothing.
  for (const { access, challenge } of made) {
    for (const signer of made) {
      const otherAccess = signer.access.sign('user-1', SESSION_CLAIMS, NOW, 900).token;
      const otherChallenge = signer.challenge.sign('user-1', {}, NOW, 120).token;
      if (
        access.verify(otherAccess, NOW).sub !== 'user-1' ||
        challenge.verify(otherChallenge, NOW).sub !== 'user-1'
      ) {
        throw new Error('tokens bench: the implementations do not accept each other');
      }
    }
    try {
      access.verify(forged, NOW);
      throw new Error('tokens bench: a forged token verified');
    } catch (error) {
      if (!(error instanceof InvalidTokenError) || error.reason !== 'signature') throw error;
    }
  }

  const perCall = (token: string, kind: TokenKind) => {
    const key = Buffer.from(keyring.deriveKey(kind.purpose, 'bench'));
    return () =>
      createVerifier({
        key,
        algorithms: ['HS256'],
        checkTyp: kind.type,
        allowedIss: ISSUER,
        allowedAud: kind.audience,
        requiredClaims: ['iss', 'aud', 'sub', 'jti', 'iat', 'exp'],
        clockTimestamp: NOW,
      })(token);
  };
  const refuse =
    (verify: () => unknown): Operation =>
    () => {
      try {
        verify();
        return 0;
      } catch {
        return 1;
      }
    };
  const [own, fast] = made as [(typeof made)[0], (typeof made)[0]];
  return [
    {
      name: 'access token: sign',
      operations: [own, fast].map(
        ({ access }) =>
          () =>
            access.sign('user-1', SESSION_CLAIMS, NOW, 900).token,
      ) as [Operation, Operation],
    },
    {
      name: 'access token: verify',
      operations: [
        () => own.access.verify(accessToken, NOW).exp,
        () => fast.access.verify(accessToken, NOW).exp,
        perCall(accessToken, ACCESS),
      ],
    },
    {
      name: 'access token: refuse a forged signature',
      operations: [
        refuse(() => own.access.verify(forged, NOW)),
        refuse(() => fast.access.verify(forged, NOW)),
      ],
    },
    {
      name: 'challenge token: sign',
      operations: [
        () => own.challenge.sign('user-1', {}, NOW, 120).token,
        () => fast.challenge.sign('user-1', {}, NOW, 120).token,
      ],
    },
    {
      name: 'challenge token: verify',
      operations: [
        () => own.challenge.verify(challengeToken, NOW).exp,
        () => fast.challenge.verify(challengeToken, NOW).exp,
        perCall(challengeToken, CHALLENGE),
      ],
    },
  ];
}

function runInProcess(options: HarnessOptions): number {
  const loadBefore = loadAverage();
  const rows: string[][] = [];
  let verifyRatio = 1;
  for (const { name, operations } of inProcessCases()) {
    const [own, fast, perCall] = measureInterleaved(operations, options) as [
      Measurement,
      Measurement,
      Measurement?,
    ];
    const spread = ({ samples }: Measurement) =>
      `${formatOps(Math.min(...samples))}-${formatOps(Math.max(...samples))}`;
    rows.push([
      name,
      formatOps(own.opsPerSecond),
      spread(own),
      formatOps(fast.opsPerSecond),
      spread(fast),
      formatRatio(fast.opsPerSecond / own.opsPerSecond),
      perCall ? formatOps(perCall.opsPerSecond) : 'n/a',
    ]);
    if (name === 'access token: verify') verifyRatio = fast.opsPerSecond / own.opsPerSecond;
  }
  console.log(
    `\nIn process, ops/s (median of the rounds; min-max of the rounds), load average (1, 5, 15 min) ` +
      `before: ${loadBefore}, after: ${loadAverage()}\n`,
  );
  console.log(
    markdownTable(
      [
        'case',
        IMPLEMENTATIONS[0].name,
        'rounds',
        IMPLEMENTATIONS[1].name,
        'rounds',
        'fast-jwt / hand-written',
        'fast-jwt, verifier per call',
      ],
      rows,
    ),
  );
  return verifyRatio;
}

interface RouteContender {
  name: string;
  imports: string[];
}

const ROUTE_CONTENDERS: RouteContender[] = [
  { name: IMPLEMENTATIONS[0].name, imports: [] },
  { name: IMPLEMENTATIONS[1].name, imports: [new URL('./tokens-swap.ts', import.meta.url).href] },
];

/** Which implementation signed a token: the hand-written code puts `iss` right after `tf`, fast-jwt last. */
function signedBy(body: string): string {
  const { challengeToken } = JSON.parse(body) as { challengeToken: string };
  const claims = Object.keys(JSON.parse(Buffer.from(challengeToken.split('.')[1]!, 'base64url').toString()));
  return claims[1] === 'iss' ? IMPLEMENTATIONS[0].name : IMPLEMENTATIONS[1].name;
}

/**
 * Sends each body once, over CONNECTIONS connections, and measures the rate from the first request
 * sent to the last answer received (autocannon's own `duration` and its end come in whole seconds).
 */
async function loadEach(url: string, bodies: readonly string[]): Promise<Run> {
  let next = 0;
  let first = 0;
  let last = 0;
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    amount: bodies.length,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request) => {
          if (next === 0) first = performance.now();
          return { ...request, body: bodies[next++] };
        },
        onResponse: () => {
          last = performance.now();
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.total / ((last - first) / 1000),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function runRoute(options: HarnessOptions): Promise<{ ratio: number; failed: number }> {
  const quick = options.rounds < 5;
  const rounds = quick ? 2 : 8;
  /** Requests (and so users) per run: 4 to 8 s of requests on the machines seen. */
  const requests = quick ? 3000 : 40_000;
  const warmRequests = quick ? 4000 : 25_000;
  const servers = await Promise.all(ROUTE_CONTENDERS.map(({ imports }) => startServer('memory', imports)));
  const loads: string[] = [loadAverage()];
  try {
    const url = (index: number) => `http://127.0.0.1:${servers[index]!.port}/2fa/login/verify`;
    // Warm-up, 2 s per server by duration (replays do not matter here), after checking that each
    // server runs the implementation it is named for.
    for (const [index, { child }] of servers.entries()) {
      const bodies = await prepare(child, warmRequests);
      if (signedBy(bodies[0]!) !== ROUTE_CONTENDERS[index]!.name) {
        throw new Error(`tokens bench: server ${index} does not run ${ROUTE_CONTENDERS[index]!.name}`);
      }
      await load(url(index), bodies, 2);
    }
    const runs: Run[][] = ROUTE_CONTENDERS.map(() => []);
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) {
        const bodies = await prepare(servers[index]!.child, requests);
        runs[index]!.push(await loadEach(url(index), bodies));
      }
      ratios.push(runs[1]![round]!.requestsPerSecond / runs[0]![round]!.requestsPerSecond);
      loads.push(loadAverage());
      console.error(
        `tokens route round ${round + 1}/${rounds}: fast-jwt / hand-written ${formatRatio(ratios.at(-1)!)}`,
      );
    }
    const failed = runs.flat().reduce((sum, run) => sum + run.errors + run.non2xx, 0);
    console.log(
      `\nPOST /2fa/login/verify, memoryStore, ${rounds} rounds per implementation (alternating order), ` +
        `${CONNECTIONS} connections, ${requests} users per run, one request each; ` +
        `load average (1, 5, 15 min) at the start and after each round: ${loads.join(' | ')}\n`,
    );
    const rps = (index: number) => runs[index]!.map((run) => run.requestsPerSecond);
    console.log(
      markdownTable(
        [
          'implementation',
          'req/s (median)',
          'req/s (min-max)',
          'p50 ms',
          'p99 ms (median)',
          'failed',
          'every round',
        ],
        ROUTE_CONTENDERS.map(({ name }, index) => [
          name,
          median(rps(index)).toFixed(0),
          `${Math.min(...rps(index)).toFixed(0)}-${Math.max(...rps(index)).toFixed(0)}`,
          median(runs[index]!.map((run) => run.p50)).toFixed(1),
          median(runs[index]!.map((run) => run.p99)).toFixed(1),
          String(runs[index]!.reduce((sum, run) => sum + run.errors + run.non2xx, 0)),
          rps(index)
            .map((value) => value.toFixed(0))
            .join(' '),
        ]),
      ),
    );
    console.log(
      `\nfast-jwt / hand-written req/s per round: ${ratios.map(formatRatio).join(' ')}; median ${formatRatio(median(ratios))}`,
    );
    if (failed > 0) console.log(`${failed} verify requests failed: the figures are not valid`);
    return { ratio: median(ratios), failed };
  } finally {
    for (const { child } of servers) child.send({ stop: true });
  }
}

/** Runs both parts and applies the rule; a run with failed requests is reported as not valid. */
export async function runTokensBench(options: HarnessOptions): Promise<boolean> {
  const verifyRatio = runInProcess(options);
  const { ratio, failed } = await runRoute(options);
  const cost = 1 - ratio;
  console.log(
    `\nIn process, fast-jwt verifies an access token at ${formatRatio(verifyRatio)} the hand-written rate. ` +
      `On the verify route it costs ${(cost * 100).toFixed(1)}% of the throughput in this run (rule: the ` +
      `hand-written code stays only above 10%: ${cost > 0.1 ? 'it stays' : 'move to fast-jwt'}).`,
  );
  return failed === 0;
}
