/**
 * Fuzz: generated hostile request bodies over every route of the kit, against a real listening
 * Fastify app and a real Express app, each on memoryStore and on sqlStore over PostgreSQL and
 * MariaDB. Asserts: no 5xx (a 503 would be client input passed off as a store outage), the app still
 * answers, every 4xx in the one error shape, no error logged, Object.prototype untouched, no store
 * call and no host callback given a string it may not hold (control characters, NUL, lone
 * surrogates), and the stored state of an enrolled and a pending user unchanged (their failure
 * counters aside, which wrong codes are meant to raise and the run resets so that bodies keep
 * reaching the engine).
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed); FUZZ_BODIES=<n> sets the count per framework
 * on memoryStore (default 6,000), FUZZ_SQL_BODIES=<n> per framework on each SQL database (default
 * 2,000); FUZZ_STORES=memory,postgres,mariadb picks the stores (default all three);
 * FUZZ_CONCURRENCY=<n> the requests in flight (default 20).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createKeyring, createTwoFactor, type Store, type TwoFactor } from '@twofold/core';
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
} from '@twofold/http-test-suite/helpers';
import tap, { type Test } from 'tap';
import { type ContractApp, FRAMEWORKS, isErrorLogLine, type MakeContractApp } from './apps.js';
import { type FuzzRequest, Generator, type Pools, Rng, ROUTES } from './generate.js';
import {
  checkHostInput,
  isUnholdable,
  type Sightings,
  STORE_TARGETS,
  type StoreName,
  watchStore,
} from './stores.js';

const BODY_LIMIT = 16_384;
const BODIES: Record<StoreName, number> = {
  memory: positiveInt('FUZZ_BODIES', 6_000),
  postgres: positiveInt('FUZZ_SQL_BODIES', 2_000),
  mariadb: positiveInt('FUZZ_SQL_BODIES', 2_000),
};
const STORES = storeNames(process.env.FUZZ_STORES);
const CONCURRENCY = positiveInt('FUZZ_CONCURRENCY', 20);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32BE(0);
/**
 * The fields that must have been sent holding control characters, NUL or lone surrogates (NUL or
 * lone surrogates for passwords) in a run of at least {@link HOSTILE_MIN_BODIES} requests.
 */
const HOSTILE_FIELDS = ['username', 'password', 'email', 'uid', 'token', 'challengeToken', 'refreshToken'];
const HOSTILE_MIN_BODIES = 1000;
/** Failure counters are reset this often (in requests sent), well below lockout.maxFailures. */
const RESET_EVERY = 50;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function storeNames(raw: string | undefined): StoreName[] {
  const all = STORE_TARGETS.map((target) => target.name);
  if (raw === undefined || raw.trim() === '') return all;
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !all.includes(name as StoreName));
  if (unknown.length > 0) throw new TypeError(`FUZZ_STORES: unknown store "${unknown.join('", "')}"`);
  return names as StoreName[];
}

tap.comment(
  `fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED}); requests per framework: ${STORES.map((name) => `${BODIES[name]} on ${name}`).join(', ')}; ${CONCURRENCY} in flight`,
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
  store: StoreName;
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
  /** Requests per field whose JSON value held what no store may be handed. */
  hostileSent: Record<string, number>;
}

/** Every field name of the routes (only these are counted: fuzzed keys would garble the summary). */
const FIELD_NAMES = new Set(ROUTES.flatMap((route) => route.shapes.flat().map(([field]) => field)));

/** The route fields of a JSON object body whose string value no store or host may be handed. */
function hostileFields(request: FuzzRequest): string[] {
  if (typeof request.body !== 'string' || request.body.length > 20_000) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    return [];
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  return Object.entries(parsed)
    .filter(
      ([field, value]) => FIELD_NAMES.has(field) && typeof value === 'string' && isUnholdable(field, value),
    )
    .map(([field]) => field);
}

/** What the run compares before and after: never printed (sealed secrets), only named on a change. */
/**
 * What must not change for a watched user: their status and every stored authenticator, field by
 * field, and the count of recovery codes. One thing may: a user with 2FA on (alice) may get a new
 * pending enrollment from a fuzzed `POST /totp/enroll` with her recent token (adding an app is
 * allowed then), so for an enabled user pending enrollments and the `pending` flag are left out.
 */
async function snapshot(engine: TwoFactor, store: Store, users: User[]) {
  const now = Date.now();
  const state: Record<string, Record<string, unknown>> = {};
  for (const user of users) {
    const { pending, ...status } = await engine.status(user.userId);
    const records = (await store.listAuthenticators(user.userId, now)).filter(
      (record) => !status.enabled || record.type === 'webauthn' || record.status === 'active',
    );
    state[user.username] = {
      status: JSON.stringify(status.enabled ? status : { ...status, pending }),
      recoveryCodes: await store.countRecoveryCodes(user.userId),
      authenticators: records.map((record) => record.id).join(','),
      ...Object.fromEntries(
        records.flatMap((record) =>
          Object.entries(record).map(([key, value]) => [`${record.id}.${key}`, value]),
        ),
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

interface FuzzRun {
  framework: string;
  make: MakeContractApp;
  storeName: StoreName;
  /** A fresh store of its own for this run. */
  store: Store;
  bodies: number;
}

async function fuzzFramework(t: Test, { framework, make, storeName, store: rawStore, bodies }: FuzzRun) {
  const name = `${framework} on ${storeName}`;
  // Which store calls and host callbacks were given a string they may not hold, and how often.
  const unholdable: Sightings = new Map();
  const store = watchStore(rawStore, unholdable);
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
      authenticate: (input) => {
        checkHostInput(unholdable, 'authenticate', { ...input });
        return users.authenticate(input);
      },
      recovery: {
        findUserByEmail: (email) => {
          checkHostInput(unholdable, 'findUserByEmail', { email });
          return users.findUserByEmail(email);
        },
        getUserEmail: (userId) => {
          checkHostInput(unholdable, 'getUserEmail', { userId });
          return users.getUserEmail(userId);
        },
        verifyPassword: (userId, password) => {
          checkHostInput(unholdable, 'verifyPassword', { userId, password });
          return users.verifyPassword(userId, password);
        },
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
  const alicePasswordOnly = String((await login(alice)).accessToken);
  const aliceSecret = String(
    must(
      await kit.post('/totp/enroll', undefined, { token: alicePasswordOnly }),
      201,
      'POST /totp/enroll (alice)',
    ).secret,
  );
  const confirmed = must(
    await kit.post<{ recoveryCodes: string[]; accessToken?: unknown; refreshToken?: unknown }>(
      '/totp/confirm',
      { code: codeAt(aliceSecret, Date.now()) },
      { token: alicePasswordOnly },
    ),
    200,
    'POST /totp/confirm (alice)',
  );
  const { recoveryCodes } = confirmed;
  // Turning 2FA on may end the user's sessions and hand the caller fresh tokens: go on with those.
  const aliceAccess = typeof confirmed.accessToken === 'string' ? confirmed.accessToken : alicePasswordOnly;
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
  const hostileSent: Record<string, number> = {};
  const send = async (request: FuzzRequest) => {
    for (const field of hostileFields(request)) hostileSent[field] = (hostileSent[field] ?? 0) + 1;
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
    while (next < bodies) {
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
  t.equal(status.status, 200, `${name}: still answering after the run`);
  await resetFailures();
  const after = await snapshot(engine, store, watched);
  t.same(changedFields(before, after), [], `${name}: enrolled and pending users' stored state unchanged`);
  t.equal(prototypeFingerprint(), prototypeBefore, `${name}: no property added to the built-in prototypes`);
  const probe = {} as Record<string, unknown>;
  t.same(
    ['polluted', 'isAdmin', 'code', 'recoveryCode', 'challengeToken'].filter(
      (key) => probe[key] !== undefined,
    ),
    [],
    `${name}: a fresh object inherits none of the fuzzed keys`,
  );
  const errorLines = app.logs.slice(logLinesBefore).filter(isErrorLogLine);
  // The lines themselves are shown on failure: the test below checks they hold no secret.
  t.same(errorLines.slice(0, 5), [], `${name}: no error logged (first 5 shown)`);
  const secrets = [
    aliceSecret,
    bobSecret,
    ...recoveryCodes,
    alice.password,
    bob.password,
    carol.password,
    aliceAccess,
    alicePasswordOnly,
    ...[confirmed.refreshToken].filter((token): token is string => typeof token === 'string'),
    bobAccess,
    ...pools.refreshTokens,
  ];
  t.equal(
    app.logs.filter((line) => secrets.some((secret) => line.includes(secret))).length,
    0,
    `${name}: logs hold no secret, recovery code, password or token`,
  );
  t.equal(sent, bodies, `${name}: ${bodies} requests sent`);
  t.same(
    ROUTES.map((route) => `${route.method} ${route.path}`).filter((route) => !routesSeen.has(route)),
    [],
    `${name}: every route fuzzed`,
  );
  t.equal(serverErrors, 0, `${name}: no 5xx`);
  if (bodies >= HOSTILE_MIN_BODIES) {
    t.same(
      HOSTILE_FIELDS.filter((field) => !hostileSent[field]),
      [],
      `${name}: every id, token, name and password field was sent with NUL, control characters or lone surrogates`,
    );
  }
  t.same(
    Object.fromEntries(unholdable),
    {},
    `${name}: no store call or host callback given control characters, NUL or lone surrogates`,
  );
  t.equal(noAnswer, 0, `${name}: every request answered`);
  t.same(problems.slice(0, 20), [], `${name}: every 4xx in the error shape (first 20 problems shown)`);

  const summary: FuzzSummary = {
    framework,
    store: storeName,
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
    hostileSent,
  };
  t.comment(`fuzz summary ${JSON.stringify(summary)}`);
}

for (const target of STORE_TARGETS.filter((candidate) => STORES.includes(candidate.name))) {
  await tap.test(`fuzz on ${target.name}`, async (t) => {
    const database = await target.open(t);
    if (!database) return; // reported by open(): a skip naming the server, or a failure under CI
    const started = Date.now();
    for (const { name: framework, make } of FRAMEWORKS) {
      await t.test(`${framework} on ${target.name} (seed ${SEED})`, async (t) =>
        fuzzFramework(t, {
          framework,
          make,
          storeName: target.name,
          store: await database.freshStore(t),
          bodies: BODIES[target.name],
        }),
      );
    }
    t.comment(`fuzz on ${target.name}: ${Date.now() - started} ms for both frameworks`);
  });
}
