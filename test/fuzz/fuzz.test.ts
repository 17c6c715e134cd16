/**
 * Fuzz: generated hostile request bodies over every route of the kit, against a real listening
 * Fastify app and a real Express app on memoryStore. Asserts: no 5xx, the app still answers, every
 * 4xx in the one error shape, no error logged, Object.prototype untouched, and the stored state of
 * an enrolled and a pending user unchanged (their failure counters aside, which wrong codes are
 * meant to raise and the run resets so that bodies keep reaching the engine).
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed); FUZZ_BODIES=<n> sets the count per framework
 * (default 10,000); FUZZ_CONCURRENCY=<n> the requests in flight (default 20).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createKeyring, createTwoFactor, memoryStore, type Store, type TwoFactor } from '@twofold/core';
import tap, { type Test } from 'tap';
import {
  type Answer,
  algNone,
  codeAt,
  errorShapeProblems,
  KitClient,
  mailFixture,
  must,
  resignWithWrongKey,
  tamper,
  type User,
  usersFixture,
} from '../http-contract/helpers.js';
import { type ContractApp, FRAMEWORKS, isErrorLogLine, type MakeContractApp } from './apps.js';
import { type FuzzRequest, Generator, type Pools, Rng, ROUTES } from './generate.js';

const BODY_LIMIT = 16_384;
const BODIES = positiveInt('FUZZ_BODIES', 10_000);
const CONCURRENCY = positiveInt('FUZZ_CONCURRENCY', 20);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
/** Failure counters are reset this often (in requests sent), well below lockout.maxFailures. */
const RESET_EVERY = 50;
const TOTP_ID = 'totp';

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

tap.comment(
  `fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED}); ${BODIES} requests per framework, ${CONCURRENCY} in flight`,
);

interface Problem {
  index: number;
  route: string;
  strategy: string;
  status: number | 'no answer';
  problem: string;
}

export interface FuzzSummary {
  framework: string;
  seed: number;
  sent: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  serverErrors: number;
  noAnswer: number;
  problems: number;
  ms: number;
  /** Summed request time per generator: where the run spends its time. */
  msByStrategy: Record<string, number>;
}

/** What the run compares before and after: never printed (sealed secrets), only named on a change. */
async function snapshot(engine: TwoFactor, store: Store, users: User[]) {
  const now = Date.now();
  const state: Record<string, Record<string, unknown>> = {};
  for (const user of users) {
    const record = await store.getAuthenticator(user.userId, TOTP_ID, now);
    state[user.username] = {
      status: JSON.stringify(await engine.status(user.userId)),
      recoveryCodes: await store.countRecoveryCodes(user.userId),
      ...Object.fromEntries(
        Object.entries(record ?? { missing: true }).map(([key, value]) => [`record.${key}`, value]),
      ),
    };
  }
  return state;
}

function changedFields(
  before: Record<string, Record<string, unknown>>,
  after: Record<string, Record<string, unknown>>,
) {
  const changed: string[] = [];
  for (const [user, fields] of Object.entries(before)) {
    const later = after[user] ?? {};
    for (const key of new Set([...Object.keys(fields), ...Object.keys(later)])) {
      if (JSON.stringify(fields[key]) !== JSON.stringify(later[key])) changed.push(`${user}: ${key}`);
    }
  }
  return changed;
}

function prototypeFingerprint(): string {
  const names = (target: object) => Object.getOwnPropertyNames(target).sort().join(',');
  return createHash('sha256')
    .update(
      [
        names(Object.prototype),
        names(Array.prototype),
        names(Function.prototype),
        names(String.prototype),
      ].join('|'),
    )
    .digest('hex');
}

async function fuzzFramework(t: Test, framework: string, make: MakeContractApp) {
  const store = memoryStore();
  const engine = createTwoFactor({
    store,
    keyring: createKeyring({ keys: { z1: randomBytes(32) }, current: 'z1' }),
    issuer: 'Fuzz Co',
    lockout: { maxFailures: 100, durationMs: 60_000 },
  });
  const users = usersFixture();
  const mail = mailFixture();
  const alice = users.add('alice'); // 2FA on
  const bob = users.add('bob'); // enrollment pending
  const carol = users.add('carol'); // no 2FA; her tokens may be spent freely
  const app: ContractApp = await make({
    twofold: {
      twoFactor: engine,
      authenticate: users.authenticate,
      recovery: {
        findUserByEmail: users.findUserByEmail,
        getUserEmail: users.getUserEmail,
        verifyPassword: users.verifyPassword,
        sendMail: mail.sendMail,
        linkUrl: 'https://app.example.test/recover',
        maxRequestsPerHour: 20,
      },
      rateLimit: { max: 100_000, sensitiveMax: 10_000, timeWindowMs: 3_600_000 },
      bodyLimit: BODY_LIMIT,
    },
  });
  t.teardown(() => app.close());
  const kit = new KitClient(app);

  // Setup through the routes: carol signed in, bob pending, alice enabled.
  const login = async (user: User) =>
    must(await kit.post('/login', { username: user.username, password: user.password }), 200, 'POST /login');
  const carolLogins = await Promise.all([1, 2, 3, 4, 5].map(() => login(carol)));
  const bobAccess = String((await login(bob)).accessToken);
  const bobSecret = String(
    must(await kit.post('/totp/enroll', undefined, { token: bobAccess }), 201, 'POST /totp/enroll (bob)')
      .secret,
  );
  const aliceAccess = String((await login(alice)).accessToken);
  const aliceSecret = String(
    must(await kit.post('/totp/enroll', undefined, { token: aliceAccess }), 201, 'POST /totp/enroll (alice)')
      .secret,
  );
  const { recoveryCodes } = must(
    await kit.post<{ recoveryCodes: string[] }>(
      '/totp/confirm',
      { code: codeAt(aliceSecret, Date.now()) },
      { token: aliceAccess },
    ),
    200,
    'POST /totp/confirm (alice)',
  );
  const challenges: string[] = [];
  for (let i = 0; i < 20; i++) challenges.push(String((await login(alice)).challengeToken));

  // Codes any user could have now (+-3 steps), recomputed as time moves.
  let liveStep = -1;
  let live = new Set<string>();
  const isLiveCode = (code: string) => {
    const step = Math.floor(Date.now() / 30_000);
    if (step !== liveStep) {
      live = new Set(
        [aliceSecret, bobSecret].flatMap((secret) =>
          [-3, -2, -1, 0, 1, 2, 3].map((steps) => codeAt(secret, Date.now() + steps * 30_000)),
        ),
      );
      liveStep = step;
    }
    return live.has(code.normalize('NFKC').replace(/\D/g, ''));
  };

  const carolAccess = String(carolLogins[0]?.accessToken);
  const pools: Pools = {
    usernames: [alice.username, bob.username, carol.username, 'nobody', ''],
    passwords: [alice.password, bob.password, carol.password, 'wrong password'],
    emails: [alice.email, bob.email, carol.email, 'nobody@example.test'],
    uids: [alice.userId, bob.userId, carol.userId, 'u-nobody'],
    accessTokens: {
      enrolled: [aliceAccess],
      pending: [bobAccess],
      scratch: carolLogins.map((pair) => String(pair.accessToken)),
    },
    refreshTokens: carolLogins.map((pair) => String(pair.refreshToken)),
    challengeTokens: challenges,
    forgedTokens: [
      algNone(aliceAccess),
      algNone(aliceAccess, 'x'),
      tamper(aliceAccess, { sub: bob.userId }),
      tamper(carolAccess, { sub: alice.userId, amr: ['mfa'] }),
      tamper(challenges[0] ?? aliceAccess, { exp: 4_102_444_800 }),
      resignWithWrongKey(aliceAccess),
      resignWithWrongKey(challenges[0] ?? aliceAccess, { typ: 'twofold-access+jwt' }),
      `${aliceAccess.split('.').slice(0, 2).join('.')}.`,
    ],
    isLiveCode,
  };

  const watched = [alice, bob];
  const resetFailures = () =>
    Promise.all([alice, bob, carol].map((user) => store.resetCounter(user.userId, 'failures')));
  await resetFailures();
  const before = await snapshot(engine, store, watched);
  const prototypeBefore = prototypeFingerprint();
  const logLinesBefore = app.logs.length;

  const rng = new Rng(SEED);
  const generator = new Generator(rng, pools, BODY_LIMIT);
  const statuses: Record<string, number> = {};
  const codes: Record<string, number> = {};
  const problems: Problem[] = [];
  const routesSeen = new Set<string>();
  let serverErrors = 0;
  let noAnswer = 0;
  let sent = 0;

  const msByStrategy: Record<string, number> = {};
  const send = async (request: FuzzRequest) => {
    const sentAt = performance.now();
    const headers: Record<string, string> = {};
    if (request.contentType !== undefined) headers['content-type'] = request.contentType;
    if (request.authorization !== undefined) headers.authorization = request.authorization;
    const label = `${request.route.method} ${request.route.path}`;
    routesSeen.add(label);
    const note = (status: Problem['status'], problem: string) =>
      problems.push({ index: request.index, route: label, strategy: request.strategy, status, problem });
    let answer: Answer<Record<string, unknown> | undefined>;
    try {
      // Strings without a content type go as bytes, so fetch adds no text/plain of its own.
      const body =
        typeof request.body === 'string' && request.contentType === undefined
          ? new TextEncoder().encode(request.body)
          : request.body;
      const response = await fetch(kit.url(request.route.path), {
        method: request.route.method,
        headers,
        body,
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      answer = {
        status: response.status,
        headers: response.headers,
        text,
        body: parsed as Record<string, unknown>,
      };
    } catch (error) {
      noAnswer++;
      note('no answer', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      return;
    }
    msByStrategy[request.strategy] = (msByStrategy[request.strategy] ?? 0) + performance.now() - sentAt;
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    if (answer.status >= 500) {
      serverErrors++;
      note(answer.status, `server error ${String(answer.body?.code ?? '')}`);
    }
    if (answer.status >= 400) {
      const code = String(answer.body?.code ?? '(none)');
      codes[code] = (codes[code] ?? 0) + 1;
      for (const problem of errorShapeProblems(answer)) note(answer.status, problem);
    } else if (answer.status === 200) {
      // Keep the pools fresh with what the app issues.
      const body = answer.body ?? {};
      if (typeof body.challengeToken === 'string') {
        pools.challengeTokens.push(body.challengeToken);
        if (pools.challengeTokens.length > 100) pools.challengeTokens.shift();
      }
      if (typeof body.refreshToken === 'string' && request.route.path !== '/login/verify') {
        pools.refreshTokens.push(body.refreshToken);
        if (pools.refreshTokens.length > 100) pools.refreshTokens.shift();
      }
    }
  };

  const started = Date.now();
  let next = 0;
  let resetting: Promise<unknown> = Promise.resolve();
  const worker = async () => {
    while (next < BODIES) {
      const request = generator.next();
      next++;
      if (next % RESET_EVERY === 0) resetting = resetting.then(resetFailures);
      sent++;
      await send(request);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await resetting;
  const ms = Date.now() - started;

  // Still answering, state unchanged, nothing polluted, nothing logged as an error.
  const status = await kit.get('/status', { token: aliceAccess });
  t.equal(status.status, 200, `${framework}: still answering after the run`);
  await resetFailures();
  const after = await snapshot(engine, store, watched);
  t.same(
    changedFields(before, after),
    [],
    `${framework}: enrolled and pending users' stored state unchanged`,
  );
  t.equal(
    prototypeFingerprint(),
    prototypeBefore,
    `${framework}: no property added to the built-in prototypes`,
  );
  const probe = {} as Record<string, unknown>;
  t.same(
    ['polluted', 'isAdmin', 'code', 'recoveryCode', 'challengeToken'].filter(
      (key) => probe[key] !== undefined,
    ),
    [],
    `${framework}: a fresh object inherits none of the fuzzed keys`,
  );
  const errorLines = app.logs.slice(logLinesBefore).filter(isErrorLogLine);
  t.equal(errorLines.length, 0, `${framework}: no error logged`);
  const secrets = [
    aliceSecret,
    bobSecret,
    ...recoveryCodes,
    alice.password,
    bob.password,
    carol.password,
    aliceAccess,
    bobAccess,
    ...pools.refreshTokens,
  ];
  t.equal(
    app.logs.filter((line) => secrets.some((secret) => line.includes(secret))).length,
    0,
    `${framework}: logs hold no secret, recovery code, password or token`,
  );
  t.equal(sent, BODIES, `${framework}: ${BODIES} requests sent`);
  t.same(
    ROUTES.map((route) => `${route.method} ${route.path}`).filter((route) => !routesSeen.has(route)),
    [],
    `${framework}: every route fuzzed`,
  );
  t.equal(serverErrors, 0, `${framework}: no 5xx`);
  t.equal(noAnswer, 0, `${framework}: every request answered`);
  t.same(problems.slice(0, 20), [], `${framework}: every 4xx in the error shape (first 20 problems shown)`);

  const summary: FuzzSummary = {
    framework,
    seed: SEED,
    sent,
    statuses,
    codes,
    serverErrors,
    noAnswer,
    problems: problems.length,
    ms,
    msByStrategy: Object.fromEntries(
      Object.entries(msByStrategy).map(([key, value]) => [key, Math.round(value)]),
    ),
  };
  t.comment(`fuzz summary ${JSON.stringify(summary)}`);
}

for (const { name, make } of FRAMEWORKS) {
  await tap.test(`fuzz ${name} (seed ${SEED})`, (t) => fuzzFramework(t, name, make));
}
