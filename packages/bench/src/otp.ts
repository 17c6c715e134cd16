/**
 * The @twofold/otp benchmark: TOTP generate and verify (+-1 step window) for SHA-1, SHA-256 and SHA-512,
 * twofold against otplib, otpauth, speakeasy, notp (SHA-1 only) and a plain node:crypto loop, all in one
 * process.
 *
 * Every contender is checked before it is timed: its generated code must equal the reference, a token of
 * the previous, the current and the next step must be accepted and an invalid token refused; the run
 * aborts otherwise, so a fast but wrong contender can never show up in the table.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { type Algorithm, Totp } from '@twofold/otp';
import * as OTPAuth from 'otpauth';
import { generateSync as otplibGenerate, verifySync as otplibVerify } from 'otplib';
import speakeasy from 'speakeasy';
// Internal, not part of the package API: imported from source for the HMAC-core table only.
import { createTruncatedHmac, type HmacOptions } from '../../otp/src/internal/hmac.js';
import {
  formatOps,
  formatRatio,
  type HarnessOptions,
  type Measurement,
  markdownTable,
  measureInterleaved,
  sinkValue,
} from './harness.js';

const ALGORITHMS: readonly Algorithm[] = ['SHA1', 'SHA256', 'SHA512'];
const DIGITS = 6;
const PERIOD_SECONDS = 30;
/** RFC 4226 section 4 (R6): 6-digit codes are the truncated value modulo 10^6. */
const MODULUS = 10 ** DIGITS;

/** A fixed server time, in the middle of a 30 s step (whole seconds, for the libraries that take seconds). */
const NOW_MS = 1_795_000_012_000;
const NOW_SECONDS = NOW_MS / 1000;

/** Secret length per algorithm: the hash size, as RFC 6238 and DESIGN recommend. */
const SECRET_BYTES: Record<Algorithm, number> = { SHA1: 20, SHA256: 32, SHA512: 64 };

/** What a contender offers once set up with a secret and an algorithm. */
interface TotpUnderTest {
  /** The code at `NOW_MS`. */
  generate(): string;
  /** Whether `token` is accepted at `NOW_MS` with one step of tolerance each side. */
  verify(token: string): boolean;
  /** Same as `verify`, but setting the library up from the raw secret first, as a server does per request. */
  verifyFresh(token: string): boolean;
}

interface Contender {
  name: string;
  /** Sets up the contender, or returns why it cannot do this algorithm. */
  setup(algorithm: Algorithm, key: Uint8Array): TotpUnderTest | string;
}

function counterAt(ms: number): number {
  return Math.floor(ms / 1000 / PERIOD_SECONDS);
}

/**
 * The baseline: what a hand-written verifier on node:crypto does. One createHmac per step, RFC 4226
 * truncation, the code as a zero-padded string, compared with the token; verify always computes the
 * three steps of the window.
 */
function nodeCryptoCode(algorithm: Algorithm, key: Uint8Array, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  message.writeUInt32BE(counter >>> 0, 4);
  const mac = createHmac(algorithm.toLowerCase(), key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % MODULUS).padStart(DIGITS, '0');
}

const nodeCryptoLoop: Contender = {
  name: 'node:crypto loop',
  setup(algorithm, key) {
    const verify = (token: string): boolean => {
      const counter = counterAt(NOW_MS);
      let accepted = false;
      for (let offset = -1; offset <= 1; offset++) {
        if (nodeCryptoCode(algorithm, key, counter + offset) === token) accepted = true;
      }
      return accepted;
    };
    return {
      generate: () => nodeCryptoCode(algorithm, key, counterAt(NOW_MS)),
      verify,
      verifyFresh: verify,
    };
  },
};

const twofold: Contender = {
  name: 'twofold',
  setup(algorithm, key) {
    const options = { secret: key, algorithm, digits: DIGITS, period: PERIOD_SECONDS };
    const totp = new Totp(options);
    return {
      generate: () => totp.generate(NOW_MS).token,
      verify: (token) => totp.verify(token, { time: NOW_MS, window: 1 }),
      verifyFresh: (token) => new Totp(options).verify(token, { time: NOW_MS, window: 1 }),
    };
  },
};

/** otplib 13, functional sync API with its default crypto plugin (@noble/hashes). No instance to reuse. */
const otplib: Contender = {
  name: 'otplib',
  setup(algorithm, key) {
    const options = {
      secret: key,
      algorithm: algorithm.toLowerCase() as 'sha1' | 'sha256' | 'sha512',
      digits: DIGITS,
      period: PERIOD_SECONDS,
      epoch: NOW_SECONDS,
    };
    // epochTolerance is in seconds: one period each side is exactly the steps current - 1 .. current + 1.
    const verify = (token: string): boolean =>
      otplibVerify({ ...options, token, epochTolerance: PERIOD_SECONDS }).valid;
    return { generate: () => otplibGenerate(options), verify, verifyFresh: verify };
  },
};

/** otpauth 9: a TOTP instance (node:crypto HMAC on Node), validate() with window 1. */
const otpauth: Contender = {
  name: 'otpauth',
  setup(algorithm, key) {
    const buffer = key.slice().buffer;
    const create = () =>
      new OTPAuth.TOTP({
        secret: new OTPAuth.Secret({ buffer }),
        algorithm,
        digits: DIGITS,
        period: PERIOD_SECONDS,
      });
    const totp = create();
    return {
      generate: () => totp.generate({ timestamp: NOW_MS }),
      verify: (token) => totp.validate({ token, timestamp: NOW_MS, window: 1 }) !== null,
      verifyFresh: (token) => create().validate({ token, timestamp: NOW_MS, window: 1 }) !== null,
    };
  },
};

/** speakeasy 2: createHmac per step. It accepts a Buffer secret at runtime (its fastest path). */
const speakeasyContender: Contender = {
  name: 'speakeasy',
  setup(algorithm, key) {
    const secret = Buffer.from(key) as unknown as string;
    const options = {
      secret,
      algorithm: algorithm.toLowerCase() as speakeasy.Algorithm,
      digits: DIGITS,
      step: PERIOD_SECONDS,
      time: NOW_SECONDS,
    };
    const verify = (token: string): boolean => speakeasy.totp.verify({ ...options, token, window: 1 });
    return { generate: () => speakeasy.totp(options), verify, verifyFresh: verify };
  },
};

/** What notp's verify functions return: the offset of the matching step, or null. */
type NotpResult = { delta: number } | null;

/** The part of notp 2 used here (the package has no type declarations). */
interface Notp {
  hotp: {
    gen(key: Buffer, options: { counter: number }): string;
    verify(token: string, key: Buffer, options: { window: number; counter: number }): NotpResult;
  };
  totp: {
    verify(token: string, key: Buffer, options: { window: number; time: number; _t: number }): NotpResult;
  };
}

/**
 * notp 2: createHmac per step, HMAC-SHA-1 and 6 digits only. `totp.verify` computes the step from the clock
 * and hands it to `hotp.verify`, which tries the steps from current - window to current + window and
 * returns at the first match: one HMAC for a previous-step token, two for a current-step one, three for a
 * next-step or an invalid one. notp takes a fixed time (`_t`) only when NODE_ENV is 'test', so the timed
 * call is `hotp.verify` with the step of NOW_MS: `totp.verify` minus the clock read, its fastest path. The
 * setup checks that `totp.verify` at NOW_MS agrees.
 */
const notpContender: Contender = {
  name: 'notp',
  setup(algorithm, key) {
    if (algorithm !== 'SHA1') return 'notp supports HMAC-SHA-1 only';
    const notp = createRequire(import.meta.url)('notp') as Notp;
    const secret = Buffer.from(key);
    const counter = counterAt(NOW_MS);
    // hotp.verify writes to its options (options.counter): each call gets a fresh object, as in totp.verify.
    const verify = (token: string): boolean =>
      notp.hotp.verify(token, secret, { window: 1, counter }) !== null;
    const viaTotp = (token: string): NotpResult => {
      const saved = process.env.NODE_ENV;
      process.env.NODE_ENV = 'test';
      try {
        return notp.totp.verify(token, secret, { window: 1, time: PERIOD_SECONDS, _t: NOW_MS });
      } finally {
        if (saved === undefined) delete process.env.NODE_ENV;
        else process.env.NODE_ENV = saved;
      }
    };
    const tokens = tokensFor(algorithm, key);
    const deltas = [tokens.previous, tokens.current, tokens.next, tokens.invalid].map(
      (token) => viaTotp(token)?.delta ?? null,
    );
    if (deltas.join() !== '-1,0,1,') {
      throw new Error(`notp totp.verify at NOW_MS gave deltas ${deltas.join()}, expected -1,0,1,null`);
    }
    return { generate: () => notp.hotp.gen(secret, { counter }), verify, verifyFresh: verify };
  },
};

/** twofold first (the subject), the baseline last. */
const CONTENDERS: readonly Contender[] = [
  twofold,
  otplib,
  otpauth,
  speakeasyContender,
  notpContender,
  nodeCryptoLoop,
];
const PEERS = ['otplib', 'otpauth', 'speakeasy', 'notp'] as const;

interface BenchCase {
  name: string;
  run(subject: TotpUnderTest): unknown;
  /** Whether the target of at least 2x the node:crypto loop applies (verify of an invalid token). */
  twiceLoopTarget: boolean;
}

/** Tokens for the checks and cases: previous, current and next step, and one that matches no nearby step. */
function tokensFor(algorithm: Algorithm, key: Uint8Array) {
  const counter = counterAt(NOW_MS);
  const nearby = new Set<string>();
  for (let offset = -3; offset <= 3; offset++) nearby.add(nodeCryptoCode(algorithm, key, counter + offset));
  const current = nodeCryptoCode(algorithm, key, counter);
  let invalidValue = (Number(current) + MODULUS / 2) % MODULUS;
  while (nearby.has(String(invalidValue).padStart(DIGITS, '0'))) invalidValue = (invalidValue + 1) % MODULUS;
  return {
    current,
    previous: nodeCryptoCode(algorithm, key, counter - 1),
    next: nodeCryptoCode(algorithm, key, counter + 1),
    invalid: String(invalidValue).padStart(DIGITS, '0'),
  };
}

function casesFor(tokens: ReturnType<typeof tokensFor>): BenchCase[] {
  return [
    { name: 'generate', run: (s) => s.generate(), twiceLoopTarget: false },
    { name: 'verify current', run: (s) => s.verify(tokens.current), twiceLoopTarget: false },
    { name: 'verify previous', run: (s) => s.verify(tokens.previous), twiceLoopTarget: false },
    { name: 'verify next', run: (s) => s.verify(tokens.next), twiceLoopTarget: false },
    { name: 'verify invalid', run: (s) => s.verify(tokens.invalid), twiceLoopTarget: true },
    {
      name: 'verify previous, new instance',
      run: (s) => s.verifyFresh(tokens.previous),
      twiceLoopTarget: false,
    },
    {
      name: 'verify invalid, new instance',
      run: (s) => s.verifyFresh(tokens.invalid),
      twiceLoopTarget: false,
    },
  ];
}

/**
 * Throws unless the contender generates the reference code, accepts the three valid tokens and refuses the
 * invalid one.
 */
function checkContender(name: string, subject: TotpUnderTest, tokens: ReturnType<typeof tokensFor>): void {
  const failures: string[] = [];
  if (subject.generate() !== tokens.current) failures.push('generate differs from the reference code');
  for (const verify of [subject.verify, subject.verifyFresh]) {
    if (!verify(tokens.current)) failures.push('current-step token refused');
    if (!verify(tokens.previous)) failures.push('previous-step token refused');
    if (!verify(tokens.next)) failures.push('next-step token refused');
    if (verify(tokens.invalid)) failures.push('invalid token accepted');
  }
  if (failures.length > 0) throw new Error(`${name} failed its correctness check: ${failures.join('; ')}`);
}

interface CaseResult {
  algorithm: Algorithm;
  caseName: string;
  twiceLoopTarget: boolean;
  /** By contender name; absent when the contender cannot do the algorithm. */
  results: Map<string, Measurement>;
}

/** Runs the whole suite and prints the tables. Returns false when a target is missed. */
export async function runOtpBench(options: HarnessOptions): Promise<boolean> {
  const results: CaseResult[] = [];
  const skipped: string[] = [];
  for (const algorithm of ALGORITHMS) {
    const key = new Uint8Array(randomBytes(SECRET_BYTES[algorithm]));
    const tokens = tokensFor(algorithm, key);
    const subjects: { name: string; subject: TotpUnderTest }[] = [];
    for (const contender of CONTENDERS) {
      const subject = contender.setup(algorithm, key);
      if (typeof subject === 'string') {
        skipped.push(`${contender.name} skipped for ${algorithm}: ${subject}`);
        continue;
      }
      checkContender(`${contender.name} (${algorithm})`, subject, tokens);
      subjects.push({ name: contender.name, subject });
    }
    for (const benchCase of casesFor(tokens)) {
      const operations = subjects.map(
        ({ subject }) =>
          () =>
            benchCase.run(subject),
      );
      const measurements = measureInterleaved(operations, options);
      const byName = new Map(subjects.map(({ name }, i) => [name, measurements[i]!]));
      results.push({
        algorithm,
        caseName: benchCase.name,
        twiceLoopTarget: benchCase.twiceLoopTarget,
        results: byName,
      });
      const line = subjects
        .map(({ name }) => `${name} ${formatOps(byName.get(name)!.opsPerSecond)}`)
        .join(', ');
      console.error(`  ${algorithm} ${benchCase.name}: ${line}`);
    }
  }
  for (const line of skipped) console.log(line);
  const met = printReport(results);
  printHmacCore(options);
  console.log(`\n(sink ${sinkValue()})`);
  return met;
}

/**
 * Context for the tables above: the HMAC core alone, three steps of a +-1 window, without token parsing,
 * formatting or errors. twofold's internal createTruncatedHmac (key states prepared once) against
 * createHmac per step with the same RFC 4226 truncation. The compressions run in WebAssembly by default;
 * the JavaScript fallback (used where WebAssembly is unavailable) is measured too.
 */
function printHmacCore(options: HarnessOptions): void {
  const variants: { label: string; algorithm: Algorithm; hmacOptions: HmacOptions }[] = [
    { label: 'SHA1 (WebAssembly)', algorithm: 'SHA1', hmacOptions: {} },
    { label: 'SHA1 (JavaScript fallback)', algorithm: 'SHA1', hmacOptions: { wasm: false } },
    { label: 'SHA256 (WebAssembly)', algorithm: 'SHA256', hmacOptions: {} },
    { label: 'SHA256 (JavaScript fallback)', algorithm: 'SHA256', hmacOptions: { wasm: false } },
    { label: 'SHA512 (WebAssembly)', algorithm: 'SHA512', hmacOptions: {} },
    { label: 'SHA512 (JavaScript fallback)', algorithm: 'SHA512', hmacOptions: { wasm: false } },
  ];
  const rows: string[][] = [];
  for (const { label, algorithm, hmacOptions } of variants) {
    const key = new Uint8Array(randomBytes(SECRET_BYTES[algorithm]));
    const counter = counterAt(NOW_MS);
    const fast = createTruncatedHmac(algorithm, key, hmacOptions);
    const message = Buffer.alloc(8);
    const name = algorithm.toLowerCase();
    const perStep = (step: number): number => {
      message.writeUInt32BE(Math.floor(step / 2 ** 32), 0);
      message.writeUInt32BE(step >>> 0, 4);
      const mac = createHmac(name, key).update(message).digest();
      return mac.readUInt32BE(mac[mac.length - 1]! & 0x0f) & 0x7fffffff;
    };
    for (let step = counter - 1; step <= counter + 1; step++) {
      if (fast(step) !== perStep(step))
        throw new Error(`createTruncatedHmac differs from createHmac (${label})`);
    }
    const [core, baseline] = measureInterleaved(
      [
        () => fast(counter - 1) ^ fast(counter) ^ fast(counter + 1),
        () => perStep(counter - 1) ^ perStep(counter) ^ perStep(counter + 1),
      ],
      options,
    );
    rows.push([
      label,
      formatOps(core!.opsPerSecond),
      formatOps(baseline!.opsPerSecond),
      formatRatio(core!.opsPerSecond / baseline!.opsPerSecond),
    ]);
  }
  console.log('\n### HMAC core alone: 3 steps (ops/s), no token handling\n');
  console.log(markdownTable(['algorithm', 'createTruncatedHmac', 'createHmac per step', 'speed-up'], rows));
}

function printReport(results: readonly CaseResult[]): boolean {
  const ops = (result: CaseResult, name: string): number | undefined =>
    result.results.get(name)?.opsPerSecond;
  const cell = (value: number | undefined, format: (n: number) => string): string =>
    value === undefined ? 'n/a' : format(value);

  console.log('\n### ops/s (median of the rounds, higher is better)\n');
  console.log(
    markdownTable(
      ['algorithm', 'case', ...CONTENDERS.map((c) => c.name)],
      results.map((r) => [
        r.algorithm,
        r.caseName,
        ...CONTENDERS.map((c) => cell(ops(r, c.name), formatOps)),
      ]),
    ),
  );

  console.log("\n### twofold speed-up (twofold ops/s divided by the other's)\n");
  const behindPeers: string[] = [];
  const belowTwiceLoop: string[] = [];
  const rows = results.map((r) => {
    const subject = ops(r, 'twofold')!;
    const ratio = (name: string): number | undefined => {
      const other = ops(r, name);
      return other === undefined ? undefined : subject / other;
    };
    for (const peer of PEERS) {
      const versus = ratio(peer);
      if (versus !== undefined && versus <= 1) {
        behindPeers.push(`${r.algorithm} ${r.caseName} vs ${peer} (${formatRatio(versus)})`);
      }
    }
    const versusLoop = ratio(nodeCryptoLoop.name);
    if (r.twiceLoopTarget && versusLoop !== undefined && versusLoop < 2) {
      belowTwiceLoop.push(`${r.algorithm} ${r.caseName} (${formatRatio(versusLoop)})`);
    }
    return [
      r.algorithm,
      r.caseName,
      ...[...PEERS, nodeCryptoLoop.name].map((name) => cell(ratio(name), formatRatio)),
    ];
  });
  console.log(
    markdownTable(['algorithm', 'case', ...PEERS.map((p) => `vs ${p}`), `vs ${nodeCryptoLoop.name}`], rows),
  );

  const aheadOfPeers = behindPeers.length === 0;
  const invalidTarget = belowTwiceLoop.length === 0;
  console.log('\n### targets\n');
  console.log(`- twofold ahead of every peer in every case: ${aheadOfPeers ? 'met' : 'MISSED'}`);
  for (const miss of behindPeers) console.log(`  - behind: ${miss}`);
  console.log(`- verify invalid at least 2x the ${nodeCryptoLoop.name}: ${invalidTarget ? 'met' : 'MISSED'}`);
  for (const miss of belowTwiceLoop) console.log(`  - below 2x: ${miss}`);
  return aheadOfPeers && invalidTarget;
}
