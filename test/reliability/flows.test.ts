/**
 * Flow races under concurrency (SECURITY.md §14-§17, §33-§34): bursts of parallel requests against every
 * store (memory, Redis, a Redis Cluster started here, PostgreSQL, MariaDB, a SQLite file) with the
 * kit's DEFAULT lockout and challenge options and the per-IP rate limits on at their defaults. For a
 * shared store one Fastify and one Express process share it and the requests of a burst alternate
 * between them; memory has one process per framework. Every request comes from a client address of
 * its own (X-Forwarded-For, trusted from loopback; IPv4 and IPv6 /64s), so no per-IP limit ever acts
 * and only the per-account lockout and the per-challenge attempt cap stand between an attacker and
 * the codes. Each scenario uses a fresh user:
 *
 * 1. 120 challenges, then 120 wrong TOTP codes at once on POST /2fa/login/verify: at most
 *    `maxFailures` judged (400 TWOFOLD_INVALID_CODE), the rest 429 TWOFOLD_LOCKED; then the right
 *    code is refused with 429 too.
 * 2. The same with wrong recovery codes.
 * 3. Step-up, disable and rotate: a burst of 60 wrong codes each (a user per route), then all three
 *    at once on one user: at most `maxFailures` judged per account.
 * 4. At least 120 wrong guesses on ONE challenge token, 15 in flight at any time: at most
 *    `maxAttempts` judged; the others 401 TWOFOLD_INVALID_CHALLENGE (or 429 once locked); then the
 *    right code is refused on that token too. Five tokens, each of a fresh user.
 * 5. Confirm racing a second enroll: 2FA is never on with a secret whose code was not checked.
 * 6. 30 confirmations of one emailed recovery link at once: exactly one 204, 2FA off.
 * 7. POST /sessions/revoke-all racing 30 refreshes of the user's sessions, three rounds: afterwards
 *    every session started before it is over, including the pairs the racing refreshes handed out
 *    (each refused on GET /status and on /token/refresh).
 * 8. One security key answer (a WebAuthn assertion) sent 50 times at once, three rounds: on
 *    POST /2fa/login/verify exactly one 200, the others 401 TWOFOLD_INVALID_CHALLENGE; on
 *    POST /2fa/step-up exactly one 200, the others 400 or 429.
 * 9. 60 assertions of a key the user never registered, at once, each on its own challenge: at most
 *    `maxFailures` judged, the rest 429; then the user's own key is refused with 429 too.
 * 10. The user's last two authenticators (an app and a key) removed at once, five rounds: exactly
 *    one removal turns 2FA off (200 with fresh tokens), and afterwards no authenticator is left and
 *    a login asks for no second factor.
 * 11. An app confirmed and a key registered at once by a user without 2FA, five rounds: exactly one
 *    answer carries recovery codes (the one that turned 2FA on), those codes log in, and every
 *    authenticator that answered 2xx is listed.
 * 12. 20 sessions of one user, each refreshed once while another session revokes each of them by id
 *    (POST /sessions/:id/revoke), all at once, three rounds: every revoked session is over, including
 *    the pairs its racing refresh handed out, and GET /sessions lists only the revoker's.
 * 14. Delayed email recovery (apps of their own with recovery.delayMs 1.5 s), two rounds: one link
 *    confirmed 20 times at once: exactly one 202, the others 400; then, once due, 15 cancels of it
 *    and 15 password logins at once: either a cancel won (2FA stays on, no login got tokens without
 *    the second factor) or the removal did (2FA off, every cancel refused), never both.
 * 15. One trusted device token sent with 20 password logins at once, three rounds: at most one login
 *    skips the second factor, and afterwards the device is trusted no more (its newest token too).
 * 16. One valid TOTP code sent on 20 challenges of one user at once, three rounds (a fresh user
 *    each): exactly one 200, the others 400 TWOFOLD_INVALID_CODE or 429 TWOFOLD_LOCKED, and the
 *    user's sessions (GET /sessions) grew by exactly one: a login whose code another request spent
 *    first stores no session (the session is written with the step's consumption).
 * 13. Mandatory 2FA with a grace of 5 logins: 40 password logins of a user it covers at once, two
 *    users: exactly 5 answers get full sessions, the other 35 sessions that may only enroll (and
 *    those get 403 TWOFOLD_ENROLLMENT_REQUIRED on GET /sessions).
 *
 * The stores run side by side only where that overlaps waiting: first every store's setup and app
 * processes start at once; then the racing scenarios of one store after the other (in the order
 * below), with nothing else of this file running (the other stores' processes idle); then, once all
 * are done, scenario 14 of every store at once (mostly waiting for its delay), and the processes stop.
 *
 * "Judged" counts the answers that evaluated a code (400 TWOFOLD_INVALID_CODE). The counts of every
 * burst are in the test comments (`# flows <store> ...`); TWOFOLD_FLOWS_REPORT=<file> also writes them
 * as JSON. TWOFOLD_FLOWS_STORES=memory,redis,redis-cluster,postgres,mysql,sqlite and
 * TWOFOLD_FLOWS_SCENARIOS=1,4,... run only some stores and scenarios.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTwoFactor, generateKey, generateRecoveryCodes, memoryStore } from '@twofold/core';
import {
  type Answer,
  codeAt,
  errorProblems,
  must,
  PERIOD_MS,
  recoveryLink,
  successProblems,
  wrongCode,
} from '@twofold/http-test-suite/helpers';
import { type SoftwareAuthenticator, softwareAuthenticator } from '@twofold/http-test-suite/webauthn';
import { migrate } from '@twofold/store-sql';
import { hasCommand, reachBetterSqlite3 } from '@twofold/test-support';
import { startLocalCluster } from '@twofold/test-support/redis';
import tap, { type Test } from 'tap';
import {
  type AppProcess,
  addressSource,
  challenge,
  type Enabled,
  enable,
  forwardedFor,
  LINK_URL,
  LogBook,
  makeUsers,
  migratedPostgres,
  nextCode,
  reportMissing,
  sharedRedis,
  startApp,
} from './cluster.js';
import type { AppConfig, AppUser, StoreSpec } from './config.js';
import { createMysqlPool, endMysqlPool, MARIADB, mysqlQuery } from './mysql.js';

/** The kit's defaults, read from the engine itself: the test sets neither. */
const DEFAULTS = createTwoFactor({
  store: memoryStore(),
  keyring: generateKey(),
  issuer: 'Defaults',
}).options;
const MAX_FAILURES = DEFAULTS.lockout.maxFailures;
const MAX_ATTEMPTS = DEFAULTS.challenge.maxAttempts;

const LOGIN_BURST = 120;
const ROUTE_BURST = 60;
const CHALLENGE_GUESSES = 120;
const CHALLENGE_IN_FLIGHT = 15;
const CHALLENGE_ROUNDS = 5;
/** At most this many times CHALLENGE_GUESSES per token while its attempts are not all judged yet. */
const CHALLENGE_GUESSES_CAP = 4;
const CONFIRM_ROUNDS = 15;
const RECOVERY_RACERS = 30;
const REFRESH_RACERS = 30;
const REVOKE_ROUNDS = 3;
const ASSERTION_COPIES = 50;
const ASSERTION_ROUNDS = 3;
const FORGED_ASSERTIONS = 60;
const REMOVE_ROUNDS = 5;
const SESSION_RACERS = 20;
const SESSION_ROUNDS = 3;
const GRACE_LOGINS = 5;
const GRACE_BURST = 40;
const GRACE_ROUNDS = 2;
const DELAY_MS = 1500;
const DELAY_ROUNDS = 2;
const DELAY_RACERS = 15;
const DEVICE_RACERS = 20;
const DEVICE_ROUNDS = 3;
const ADD_ROUNDS = 5;
const ONE_CODE_RACERS = 20;
const ONE_CODE_ROUNDS = 3;
/** The origin the reliability apps accept security keys from (server.ts). */
const ORIGIN = 'https://reliability.test';

const ONLY = process.env.TWOFOLD_FLOWS_STORES?.split(',').map((name) => name.trim());
const selected = (name: string) => !ONLY || ONLY.includes(name);
const SCENARIOS = process.env.TWOFOLD_FLOWS_SCENARIOS?.split(',').map((name) => name.trim());

// The SQLite store needs better-sqlite3 (an optional dependency): without it only its part is
// skipped. Probed before any test is queued (tap ends the file once its queued tests are done).
const sqlite = selected('sqlite') ? await reachBetterSqlite3(tap, () => import('better-sqlite3')) : undefined;

// ---------------------------------------------------------------------------------------------
// Answers

/** An expected answer: a success status, or an error status with its code. */
type Expected = { status: number; code?: string };

const JUDGED: Expected = { status: 400, code: 'TWOFOLD_INVALID_CODE' };
const LOCKED: Expected = { status: 429, code: 'TWOFOLD_LOCKED' };
const SPENT_CHALLENGE: Expected = { status: 401, code: 'TWOFOLD_INVALID_CHALLENGE' };

const label = (expected: Expected) => `${expected.status}${expected.code ? ` ${expected.code}` : ''}`;

/** Which of `allowed` the answer is (the first whose checks pass), or what is wrong with it. */
function classify(answer: Answer<unknown>, allowed: Expected[]): { match?: Expected; problem?: string } {
  const problems: string[] = [];
  for (const expected of allowed) {
    const found =
      expected.code === undefined
        ? successProblems(answer, expected.status)
        : errorProblems(answer, expected.status, expected.code);
    if (found.length === 0) return { match: expected };
    problems.push(found.join(', '));
  }
  // The code of the answer and what is wrong, never its body (it may hold tokens or recovery codes).
  const code = (answer.body as { code?: unknown } | undefined)?.code;
  return { problem: `${answer.status} ${typeof code === 'string' ? code : '(no code)'}: ${problems[0]}` };
}

/** Every answer's kind counted, e.g. `{ '400 TWOFOLD_INVALID_CODE': 10, '429 TWOFOLD_LOCKED': 110 }`. */
interface Tally {
  counts: Record<string, number>;
  unexpected: string[];
}

function tallyAnswers(answers: Answer<unknown>[], allowed: Expected[]): Tally {
  const counts: Record<string, number> = {};
  const unexpected: string[] = [];
  for (const answer of answers) {
    const { match, problem } = classify(answer, allowed);
    if (match) counts[label(match)] = (counts[label(match)] ?? 0) + 1;
    else {
      counts[`unexpected ${answer.status}`] = (counts[`unexpected ${answer.status}`] ?? 0) + 1;
      unexpected.push(problem!);
    }
  }
  return { counts, unexpected };
}

const judgedIn = (tally: Tally) => tally.counts[label(JUDGED)] ?? 0;

/** One line of the report: a store, a scenario, the figure that matters and every answer's kind. */
interface Row {
  store: string;
  scenario: string;
  figure: string;
  counts: Record<string, number>;
}
const report: Row[] = [];

function record(t: Test, store: string, scenario: string, figure: string, counts: Record<string, number>) {
  report.push({ store, scenario, figure, counts });
  t.comment(`flows ${store} | ${scenario} | ${figure} | ${JSON.stringify(counts)}`);
}

// ---------------------------------------------------------------------------------------------
// One store's run

/** The app processes of one store and what every scenario needs from them. */
class Run {
  private readonly address = addressSource();
  private next = 0;

  constructor(
    readonly name: string,
    readonly apps: AppProcess[],
    readonly logs: LogBook,
    private readonly users: AppUser[],
  ) {}

  /** The app that serves request `index` of a burst: they alternate. */
  app(index: number): AppProcess {
    return this.apps[index % this.apps.length]!;
  }

  /** A user nobody used yet. */
  fresh(): AppUser {
    const user = this.users[this.next++];
    if (!user) throw new Error('more users needed than made');
    return user;
  }

  /** A client address no request of this run used yet. */
  ip(): string {
    return this.address();
  }

  /** `count` requests sent at once, request `i` to `app(i)`; their answers in order. */
  burst<T>(count: number, send: (app: AppProcess, index: number) => Promise<T>): Promise<T[]> {
    return Promise.all(Array.from({ length: count }, (_, index) => send(this.app(index), index)));
  }

  /** A fresh user with 2FA on (enrolled and confirmed through the first app). */
  async enabledUser(): Promise<{ user: AppUser; enabled: Enabled }> {
    const user = this.fresh();
    const enabled = await enable(this.app(0).client, user, this.logs, this.ip());
    return { user, enabled };
  }

  /** A challenge token of `user` from a new address, through `app`. */
  challenge(app: AppProcess, user: AppUser): Promise<string> {
    return challenge(app.client, user, this.logs, this.ip());
  }

  /** POST `path` with `body` (and the access token) from a new address. */
  post(app: AppProcess, path: string, body: unknown, token?: string): Promise<Answer> {
    return app.client.post(path, body, {
      headers: forwardedFor(this.ip()),
      ...(token === undefined ? {} : { token }),
    });
  }

  /** An access token with 2FA (login plus one of the user's recovery codes), keeping the TOTP steps fresh. */
  async signIn(user: AppUser, recoveryCode: string): Promise<string> {
    const challengeToken = await this.challenge(this.app(1), user);
    const answer = must(
      await this.post(this.app(1), '/login/verify', { challengeToken, recoveryCode }),
      200,
      'sign in with a recovery code',
    );
    this.logs.remember(String(answer.accessToken), String(answer.refreshToken));
    return String(answer.accessToken);
  }

  /** Remembers the tokens of successful answers, so that the log check looks for them. */
  remember(answers: Answer[]): void {
    for (const answer of answers) {
      if (answer.status === 200) {
        this.logs.remember(answer.body?.accessToken as string, answer.body?.refreshToken as string);
      }
    }
  }
}

/** Asserts a burst's answers: all allowed, at most `bound` judged. */
function judgeBurst(
  t: Test,
  run: Run,
  scenario: string,
  answers: Answer[],
  allowed: Expected[],
  bound: number,
): void {
  const tally = tallyAnswers(answers, allowed);
  const judged = judgedIn(tally);
  record(t, run.name, scenario, `${judged} of ${answers.length} judged`, tally.counts);
  t.strictSame(
    tally.unexpected,
    [],
    `${scenario}: every answer is one of ${allowed.map(label).join(', ')} in the error shape`,
  );
  t.ok(judged <= bound, `${scenario}: ${judged} of ${answers.length} judged, at most ${bound}`);
}

/** Asserts that a single answer is `expected`. */
function expectAnswer(t: Test, answer: Answer, expected: Expected, what: string): void {
  const { problem } = classify(answer, [expected]);
  t.equal(problem, undefined, `${what}: ${label(expected)}`);
}

// 16. One valid code on many challenges of one user at once: one login, one session.
async function oneCodeManyChallenges(t: Test, run: Run): Promise<void> {
  const counts: Record<string, number> = {};
  let broken = 0;
  for (let round = 1; round <= ONE_CODE_ROUNDS; round++) {
    const scenario = `16 one valid code on ${ONE_CODE_RACERS} challenges (round ${round})`;
    const { user, enabled } = await run.enabledUser();
    // A session to list with, and the sessions there are before the race.
    const lister = await run.signIn(user, enabled.recoveryCodes[0]!);
    const listSessions = async () =>
      (
        must(
          await run.app(0).client.get('/sessions', { token: lister, headers: forwardedFor(run.ip()) }),
          200,
          'list',
        ) as { sessions: { id: string }[] }
      ).sessions.map((session) => session.id);
    const before = await listSessions();
    const tokens = await run.burst(ONE_CODE_RACERS, (app) => run.challenge(app, user));
    const code = nextCode(enabled);
    run.logs.remember(code);
    const answers = await run.burst(ONE_CODE_RACERS, (app, index) =>
      run.post(app, '/login/verify', { challengeToken: tokens[index], code }),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [{ status: 200 }, JUDGED, LOCKED]);
    for (const [kind, count] of Object.entries(tally.counts)) counts[kind] = (counts[kind] ?? 0) + count;
    t.strictSame(tally.unexpected, [], `${scenario}: each 200, 400 or 429`);
    const winners = answers.filter((answer) => answer.status === 200);
    t.equal(winners.length, 1, `${scenario}: exactly one 200`);
    const after = await listSessions();
    const added = after.filter((id) => !before.includes(id));
    const winner = winners[0]?.body?.accessToken;
    t.strictSame(
      added,
      typeof winner === 'string' ? [familyOf(winner)] : [],
      `${scenario}: one session more, the winner's`,
    );
    if (winners.length !== 1 || added.length !== 1) broken++;
  }
  record(
    t,
    run.name,
    '16 one valid code on many challenges',
    `${broken} of ${ONE_CODE_ROUNDS} rounds broken`,
    counts,
  );
}

// 1 and 2. Parallel wrong second factors on POST /login/verify, each on its own challenge.
async function loginBurst(t: Test, run: Run, kind: 'code' | 'recoveryCode'): Promise<void> {
  const scenario =
    kind === 'code' ? '1 login/verify, wrong TOTP codes' : '2 login/verify, wrong recovery codes';
  const { user, enabled } = await run.enabledUser();
  const tokens = await run.burst(LOGIN_BURST, (app) => run.challenge(app, user));
  const wrongTotp = wrongCode(enabled.secret, Date.now());
  // Well-formed guesses, none of them the user's (60 random bits each); generated 100 at most a call.
  const wrongRecovery = Array.from({ length: LOGIN_BURST }, () => generateRecoveryCodes(1)[0]!);
  const answers = await run.burst(LOGIN_BURST, (app, index) =>
    run.post(
      app,
      '/login/verify',
      kind === 'code'
        ? { challengeToken: tokens[index], code: wrongTotp }
        : { challengeToken: tokens[index], recoveryCode: wrongRecovery[index] },
    ),
  );
  run.remember(answers);
  judgeBurst(t, run, scenario, answers, [JUDGED, LOCKED], MAX_FAILURES);

  const code = nextCode(enabled);
  run.logs.remember(code);
  const right = kind === 'code' ? { code } : { recoveryCode: enabled.recoveryCodes[0] };
  const challengeToken = await run.challenge(run.app(1), user);
  const refused = await run.post(run.app(1), '/login/verify', { challengeToken, ...right });
  run.remember([refused]);
  expectAnswer(
    t,
    refused,
    LOCKED,
    `${scenario}: then the right ${kind === 'code' ? 'code' : 'recovery code'}`,
  );
}

const ROUTES = [
  { name: 'step-up', path: '/step-up' },
  { name: 'disable', path: '/totp/disable' },
  { name: 'rotate', path: '/recovery-codes/rotate' },
] as const;

// 3. Step-up, disable and rotate: wrong codes with a valid access token.
async function routeBursts(t: Test, run: Run): Promise<void> {
  for (const route of ROUTES) {
    const scenario = `3 ${route.name}, wrong codes`;
    const { user, enabled } = await run.enabledUser();
    const accessToken = await run.signIn(user, enabled.recoveryCodes.at(-1)!);
    const wrong = wrongCode(enabled.secret, Date.now());
    const answers = await run.burst(ROUTE_BURST, (app) =>
      run.post(app, route.path, { code: wrong }, accessToken),
    );
    run.remember(answers);
    judgeBurst(t, run, scenario, answers, [JUDGED, LOCKED], MAX_FAILURES);
    const right = nextCode(enabled);
    run.logs.remember(right);
    const refused = await run.post(run.app(0), route.path, { code: right }, accessToken);
    expectAnswer(t, refused, LOCKED, `${scenario}: then the right code`);
  }

  const scenario = '3 step-up + disable + rotate at once';
  const { user, enabled } = await run.enabledUser();
  const accessToken = await run.signIn(user, enabled.recoveryCodes.at(-1)!);
  const wrong = wrongCode(enabled.secret, Date.now());
  const answers = await run.burst(ROUTE_BURST * ROUTES.length, (app, index) =>
    run.post(app, ROUTES[index % ROUTES.length]!.path, { code: wrong }, accessToken),
  );
  run.remember(answers);
  judgeBurst(t, run, scenario, answers, [JUDGED, LOCKED], MAX_FAILURES);
}

// 4. Many wrong guesses on one challenge token, CHALLENGE_IN_FLIGHT at any time; a few tokens, one
// after the other, each of a fresh user (so the account lockout never comes first).
async function oneChallenge(t: Test, run: Run): Promise<void> {
  const perToken: string[] = [];
  const counts: Record<string, number> = {};
  for (let round = 1; round <= CHALLENGE_ROUNDS; round++) {
    const scenario = `4 one challenge token (${round} of ${CHALLENGE_ROUNDS}), wrong codes`;
    const { user, enabled } = await run.enabledUser();
    const challengeToken = await run.challenge(run.app(0), user);
    const wrong = wrongCode(enabled.secret, Date.now());
    const answers: Answer[] = [];
    let sent = 0;
    let judged = 0;
    // Each sender sends its next guess as soon as its last is answered: guesses arrive all the time,
    // also while another one is being judged (most find it in use: 401). They go on until the token
    // had its attempts judged (a slow store holds it longer), then CHALLENGE_GUESSES in all.
    const more = () =>
      sent < CHALLENGE_GUESSES || (judged < MAX_ATTEMPTS && sent < CHALLENGE_GUESSES * CHALLENGE_GUESSES_CAP);
    await Promise.all(
      Array.from({ length: CHALLENGE_IN_FLIGHT }, async () => {
        while (more()) {
          const index = sent++;
          const answer = await run.post(run.app(index), '/login/verify', { challengeToken, code: wrong });
          if (answer.status === JUDGED.status) judged++;
          answers.push(answer);
        }
      }),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [JUDGED, SPENT_CHALLENGE, LOCKED]);
    perToken.push(`${judgedIn(tally)} of ${answers.length}`);
    for (const [kind, count] of Object.entries(tally.counts)) counts[kind] = (counts[kind] ?? 0) + count;
    t.strictSame(tally.unexpected, [], `${scenario}: each 400, 401 TWOFOLD_INVALID_CHALLENGE or 429`);
    t.ok(
      judgedIn(tally) <= MAX_ATTEMPTS,
      `${scenario}: ${judgedIn(tally)} of ${answers.length} judged, at most ${MAX_ATTEMPTS}`,
    );
    const right = nextCode(enabled);
    run.logs.remember(right);
    const refused = await run.post(run.app(1), '/login/verify', { challengeToken, code: right });
    run.remember([refused]);
    const { problem } = classify(refused, [SPENT_CHALLENGE, LOCKED]);
    t.equal(problem, undefined, `${scenario}: then the right code on that token: 401 or 429`);
  }
  record(t, run.name, '4 one challenge token, wrong codes', `${perToken.join(', ')} judged`, counts);
}

// 5. Confirm racing a second enroll.
async function confirmRacingEnroll(t: Test, run: Run): Promise<void> {
  const scenario = '5 confirm racing enroll';
  const outcomes: Record<string, number> = {};
  let onWithUncheckedSecret = 0;
  for (let round = 0; round < CONFIRM_ROUNDS; round++) {
    const user = run.fresh();
    const ip = run.ip();
    const login = must(
      await run
        .app(round)
        .client.post(
          '/login',
          { username: user.username, password: user.password },
          { headers: forwardedFor(ip) },
        ),
      200,
      'login',
    );
    const accessToken = String(login.accessToken);
    const first = must(
      await run.app(round).client.post('/totp/enroll', undefined, {
        token: accessToken,
        headers: forwardedFor(ip),
      }),
      201,
      'enroll A',
    );
    const secretA = String(first.secret);
    const now = Date.now();
    const code = codeAt(secretA, now);
    run.logs.remember(user.password, accessToken, String(login.refreshToken), secretA, code);
    // The second enroll goes to the other process, a little later from round to round, so that it
    // lands before, inside and after the confirm's read-check-write.
    const delayMs = round % 4;
    const [confirmed, second] = await Promise.all([
      run.post(run.app(round), '/totp/confirm', { code }, accessToken),
      new Promise((resolve) => setTimeout(resolve, delayMs)).then(() =>
        run.post(run.app(round + 1), '/totp/enroll', undefined, accessToken),
      ),
    ]);
    const confirmKind = classify(confirmed, [
      { status: 200 },
      { status: 409, code: 'TWOFOLD_NOT_PENDING' },
      JUDGED,
    ]);
    const enrollKind = classify(second, [
      { status: 201 },
      // Once confirm turned 2FA on: the password-only session the enroll came with has ended
      // (SECURITY.md §35), or, read just before that, it is too weak to add an authenticator.
      ...(confirmed.status === 200
        ? [
            { status: 401, code: 'TWOFOLD_UNAUTHORIZED' },
            { status: 401, code: 'TWOFOLD_STEP_UP_REQUIRED' },
          ]
        : []),
    ]);
    t.equal(confirmKind.problem, undefined, `round ${round + 1}: confirm answers 200, 409 or 400`);
    t.equal(
      enrollKind.problem,
      undefined,
      `round ${round + 1}: the second enroll answers 201, or 401 once confirm turned 2FA on`,
    );
    const outcome = `confirm ${confirmed.status}, enroll ${second.status}`;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const secretB = second.status === 201 ? String(second.body.secret) : undefined;
    if (confirmed.status === 200) run.logs.remember(...(confirmed.body.recoveryCodes as string[]));
    if (secretB) run.logs.remember(secretB, String(second.body.prettySecret));

    // What is on now: a login asks for a second factor exactly when 2FA is on.
    const after = must(
      await run.post(run.app(round + 1), '/login', { username: user.username, password: user.password }),
      200,
      'login after the race',
    );
    const on = after.twoFactorRequired === true;
    t.equal(on, confirmed.status === 200, `round ${round + 1}: 2FA is on exactly when confirm answered 200`);
    if (!on) {
      run.logs.remember(String(after.accessToken), String(after.refreshToken));
      continue;
    }
    run.logs.remember(String(after.challengeToken));
    let acceptsB = false;
    if (secretB) {
      const codeB = codeAt(secretB, Date.now());
      run.logs.remember(codeB);
      const withB = await run.post(run.app(round), '/login/verify', {
        challengeToken: String(after.challengeToken),
        code: codeB,
      });
      run.remember([withB]);
      acceptsB = withB.status === 200;
    }
    const codeA = codeAt(secretA, now + PERIOD_MS);
    run.logs.remember(codeA);
    const withA = await run.post(run.app(round), '/login/verify', {
      challengeToken: await run.challenge(run.app(round), user),
      code: codeA,
    });
    run.remember([withA]);
    if (acceptsB || withA.status !== 200) onWithUncheckedSecret++;
    t.notOk(acceptsB, `round ${round + 1}: 2FA is not on with the second enrollment's secret`);
    t.equal(withA.status, 200, `round ${round + 1}: a fresh code of the confirmed secret logs in`);
  }
  record(
    t,
    run.name,
    scenario,
    `on with an unchecked secret ${onWithUncheckedSecret} of ${CONFIRM_ROUNDS}`,
    outcomes,
  );
}

// 6. One recovery link confirmed many times at once.
async function recoveryLinkRace(t: Test, run: Run): Promise<void> {
  const scenario = '6 one recovery link, concurrent confirms';
  const { user } = await run.enabledUser();
  const requester = run.app(1);
  const before = requester.mails.length;
  const requested = await run.post(requester, '/recovery/request', { email: user.email });
  t.equal(requested.status, 202, `${scenario}: recovery requested`);
  const deadline = Date.now() + 10_000;
  while (!requester.mails.slice(before).some((mail) => mail.kind === 'recovery-link')) {
    if (Date.now() > deadline) {
      t.fail(`${scenario}: no recovery mail within 10 s`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const mail = requester.mails.slice(before).find((candidate) => candidate.kind === 'recovery-link')!;
  const { uid, token } = recoveryLink(mail, LINK_URL);
  run.logs.remember(token);
  const answers = await run.burst(RECOVERY_RACERS, (app) =>
    run.post(app, '/recovery/confirm', { uid, token, password: user.password }),
  );
  const tally = tallyAnswers(answers, [
    { status: 204 },
    { status: 400, code: 'TWOFOLD_INVALID_RECOVERY_TOKEN' },
  ]);
  const winners = tally.counts['204'] ?? 0;
  record(t, run.name, scenario, `${winners} of ${RECOVERY_RACERS} succeeded`, tally.counts);
  t.strictSame(tally.unexpected, [], `${scenario}: each 204 or 400 TWOFOLD_INVALID_RECOVERY_TOKEN`);
  t.equal(winners, 1, `${scenario}: exactly one 204 of ${RECOVERY_RACERS}`);
  const login = must(
    await run.post(run.app(0), '/login', { username: user.username, password: user.password }),
    200,
    'login after recovery',
  );
  run.logs.remember(login.accessToken as string, login.refreshToken as string);
  t.equal(login.twoFactorRequired, false, `${scenario}: 2FA is off afterwards`);
}

// 7. Revoke-all racing refreshes: a refresh that read the revocation time just before it was
// written hands out a pair dated after it; that pair must still die with its session.
async function revokeAllRacingRefreshes(t: Test, run: Run): Promise<void> {
  const scenario = '7 revoke-all racing refreshes';
  const user = run.fresh(); // 2FA off: revoke-all needs no code
  const counts: Record<string, number> = {};
  let survivors = 0;
  for (let round = 1; round <= REVOKE_ROUNDS; round++) {
    const sessions = await run.burst(REFRESH_RACERS + 1, (app) =>
      run.post(app, '/login', { username: user.username, password: user.password }),
    );
    run.remember(sessions);
    const tokens = sessions.map((answer) => must(answer, 200, 'login') as Record<string, string>);
    const revoker = tokens[0]!.accessToken!;
    const answers = await run.burst(REFRESH_RACERS + 1, (app, index) =>
      index === 0
        ? run.post(app, '/sessions/revoke-all', {}, revoker)
        : run.post(app, '/token/refresh', { refreshToken: tokens[index]!.refreshToken }),
    );
    run.remember(answers);
    expectAnswer(t, answers[0]!, { status: 204 }, `${scenario}, round ${round}: revoke-all`);
    const refreshes = answers.slice(1);
    const tally = tallyAnswers(refreshes, [{ status: 200 }, { status: 401, code: 'TWOFOLD_INVALID_TOKEN' }]);
    t.strictSame(tally.unexpected, [], `${scenario}, round ${round}: each refresh 200 or 401`);
    for (const [kind, count] of Object.entries(tally.counts)) counts[kind] = (counts[kind] ?? 0) + count;
    // Every pair the racing refreshes handed out belongs to a session the revocation ended.
    for (const answer of refreshes.filter((candidate) => candidate.status === 200)) {
      const pair = answer.body as Record<string, string>;
      const status = await run.app(0).client.get('/status', {
        token: pair.accessToken,
        headers: forwardedFor(run.ip()),
      });
      const again = await run.post(run.app(1), '/token/refresh', { refreshToken: pair.refreshToken });
      if (status.status !== 401 || again.status !== 401) survivors++;
    }
  }
  record(t, run.name, scenario, `${survivors} sessions survived`, counts);
  t.equal(survivors, 0, `${scenario}: no refreshed pair outlives the revocation`);
}

// 8-11. Security keys.

/** A fresh user whose first authenticator is a software security key, registered through `app(0)`. */
async function userWithKey(run: Run): Promise<{
  user: AppUser;
  key: SoftwareAuthenticator;
  recoveryCodes: string[];
  accessToken: string;
}> {
  const user = run.fresh();
  const app = run.app(0);
  const login = must(
    await run.post(app, '/login', { username: user.username, password: user.password }),
    200,
    'login',
  );
  const key = softwareAuthenticator({ algorithm: 'ES256' });
  const options = must(
    await run.post(app, '/webauthn/register/options', { name: 'Key' }, String(login.accessToken)),
    200,
    'registration options',
  );
  const added = must(
    await run.post(
      app,
      '/webauthn/register/verify',
      { response: key.register(options as never, { origin: ORIGIN }) },
      String(login.accessToken),
    ),
    201,
    'registration',
  );
  const recoveryCodes = added.recoveryCodes as string[];
  run.logs.remember(user.password, String(login.accessToken), String(login.refreshToken), ...recoveryCodes);
  run.logs.remember(String(added.accessToken), String(added.refreshToken));
  return { user, key, recoveryCodes, accessToken: String(added.accessToken) };
}

/** WebAuthn request options of a login: a challenge token, then POST /login/options. */
async function loginOptions(run: Run, app: AppProcess, user: AppUser) {
  const challengeToken = await run.challenge(app, user);
  const options = must(await run.post(app, '/login/options', { challengeToken }), 200, 'login options');
  return { challengeToken, webauthn: options.webauthn as never };
}

// 8. One assertion, many copies at once: accepted once.
async function oneAssertionManyTimes(t: Test, run: Run): Promise<void> {
  const counts: Record<string, number> = {};
  let extraWinners = 0;
  for (let round = 1; round <= ASSERTION_ROUNDS; round++) {
    const scenario = `8 one assertion x${ASSERTION_COPIES} on login/verify (round ${round})`;
    const { user, key } = await userWithKey(run);
    const { challengeToken, webauthn } = await loginOptions(run, run.app(1), user);
    const assertion = key.assert(webauthn, { origin: ORIGIN });
    const answers = await run.burst(ASSERTION_COPIES, (app) =>
      run.post(app, '/login/verify', { challengeToken, webauthn: assertion }),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [{ status: 200 }, SPENT_CHALLENGE]);
    for (const [kind, count] of Object.entries(tally.counts)) counts[kind] = (counts[kind] ?? 0) + count;
    t.strictSame(tally.unexpected, [], `${scenario}: each 200 or 401 TWOFOLD_INVALID_CHALLENGE`);
    const winners = tally.counts['200'] ?? 0;
    if (winners !== 1) extraWinners++;
    t.equal(winners, 1, `${scenario}: exactly one 200`);

    // The same outside a login: one answer to the step-up options, many copies.
    const signedIn = answers.find((answer) => answer.status === 200)?.body?.accessToken as string | undefined;
    if (!signedIn) continue;
    const stepUpOptions = must(
      await run.post(run.app(0), '/webauthn/authenticate/options', {}, signedIn),
      200,
      'step-up options',
    );
    const stepUpAssertion = key.assert(stepUpOptions as never, { origin: ORIGIN });
    const stepUps = await run.burst(ASSERTION_COPIES, (app) =>
      run.post(app, '/step-up', { webauthn: stepUpAssertion }, signedIn),
    );
    run.remember(stepUps);
    const stepUpTally = tallyAnswers(stepUps, [{ status: 200 }, JUDGED, LOCKED]);
    t.strictSame(stepUpTally.unexpected, [], `${scenario}, step-up: each 200, 400 or 429`);
    t.equal(stepUpTally.counts['200'] ?? 0, 1, `${scenario}, step-up: exactly one 200`);
    if ((stepUpTally.counts['200'] ?? 0) !== 1) extraWinners++;
  }
  record(
    t,
    run.name,
    '8 one assertion, many copies',
    `${extraWinners} rounds with other than one 200`,
    counts,
  );
}

// 9. Assertions of a key the user never registered, in parallel, each on its own challenge.
async function forgedAssertions(t: Test, run: Run): Promise<void> {
  const scenario = `9 login/verify, ${FORGED_ASSERTIONS} assertions of an unregistered key`;
  const { user, key } = await userWithKey(run);
  const stranger = softwareAuthenticator({ algorithm: 'ES256' });
  const logins = await run.burst(FORGED_ASSERTIONS, (app) => loginOptions(run, app, user));
  const answers = await run.burst(FORGED_ASSERTIONS, (app, index) => {
    const { challengeToken, webauthn } = logins[index]!;
    // The stranger answers as if it were the user's key (its own signature over the right challenge).
    const forged = stranger.assert({ ...(webauthn as object), allowCredentials: [] } as never, {
      origin: ORIGIN,
    });
    const claimed = key.assert(webauthn, { origin: ORIGIN });
    return run.post(app, '/login/verify', {
      challengeToken,
      webauthn: { ...forged, id: claimed.id, rawId: claimed.rawId },
    });
  });
  run.remember(answers);
  judgeBurst(t, run, scenario, answers, [JUDGED, LOCKED], MAX_FAILURES);
  const { challengeToken, webauthn } = await loginOptions(run, run.app(1), user);
  const refused = await run.post(run.app(1), '/login/verify', {
    challengeToken,
    webauthn: key.assert(webauthn, { origin: ORIGIN }),
  });
  run.remember([refused]);
  expectAnswer(t, refused, LOCKED, `${scenario}: then the user's own key`);
}

// 10. The last two authenticators removed at once.
async function lastTwoRemoved(t: Test, run: Run): Promise<void> {
  const scenario = '10 last two authenticators removed at once';
  const counts: Record<string, number> = {};
  let broken = 0;
  for (let round = 1; round <= REMOVE_ROUNDS; round++) {
    const { user, recoveryCodes, accessToken } = await userWithKey(run);
    // A second authenticator: an app, confirmed with the fresh session of the registration.
    const enrollment = must(
      await run.post(run.app(0), '/totp/enroll', { name: 'App' }, accessToken),
      201,
      'enroll an app',
    );
    const code = codeAt(String(enrollment.secret), Date.now());
    run.logs.remember(String(enrollment.secret), String(enrollment.prettySecret), code);
    must(await run.post(run.app(0), '/totp/confirm', { code }, accessToken), 200, 'confirm the app');
    const list = must(
      await run.app(1).client.get('/authenticators', { token: accessToken, headers: forwardedFor(run.ip()) }),
      200,
      'list',
    );
    const ids = (list.authenticators as { id: string }[]).map((entry) => entry.id);
    t.equal(ids.length, 2, `${scenario} (round ${round}): two authenticators to begin with`);
    const answers = await Promise.all(
      ids.map((id, index) =>
        run.post(
          run.app(index),
          `/authenticators/${id}/remove`,
          { recoveryCode: recoveryCodes[index] },
          accessToken,
        ),
      ),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [
      { status: 200 },
      { status: 204 },
      // The other removal came first and turned 2FA off before this one was checked.
      { status: 404, code: 'TWOFOLD_NOT_FOUND' },
      { status: 409, code: 'TWOFOLD_NOT_ENABLED' },
      JUDGED,
    ]);
    const outcome = answers
      .map((answer) => answer.status)
      .sort()
      .join('+');
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    t.strictSame(tally.unexpected, [], `${scenario} (round ${round}): each 200, 204, 404, 409 or 400`);
    const offs = tally.counts['200'] ?? 0;
    t.equal(offs, 1, `${scenario} (round ${round}): exactly one removal turned 2FA off`);
    const login = must(
      await run.post(run.app(1), '/login', { username: user.username, password: user.password }),
      200,
      'login afterwards',
    );
    run.remember([{ status: 200, body: login } as Answer]);
    t.equal(login.twoFactorRequired, false, `${scenario} (round ${round}): 2FA is off afterwards`);
    if (offs !== 1 || login.twoFactorRequired !== false) broken++;
  }
  record(t, run.name, scenario, `${broken} of ${REMOVE_ROUNDS} rounds broken`, counts);
}

// 11. An app and a key added at once by a user without 2FA.
async function twoAddedAtOnce(t: Test, run: Run): Promise<void> {
  const scenario = '11 an app and a key added at once';
  const counts: Record<string, number> = {};
  let broken = 0;
  for (let round = 1; round <= ADD_ROUNDS; round++) {
    const user = run.fresh();
    const login = must(
      await run.post(run.app(0), '/login', { username: user.username, password: user.password }),
      200,
      'login',
    );
    const token = String(login.accessToken);
    run.logs.remember(user.password, token, String(login.refreshToken));
    const enrollment = must(await run.post(run.app(0), '/totp/enroll', {}, token), 201, 'enroll');
    const code = codeAt(String(enrollment.secret), Date.now());
    run.logs.remember(String(enrollment.secret), String(enrollment.prettySecret), code);
    const key = softwareAuthenticator({ algorithm: 'EdDSA' });
    const options = must(await run.post(run.app(1), '/webauthn/register/options', {}, token), 200, 'options');
    const registration = key.register(options as never, { origin: ORIGIN });
    const answers = await Promise.all([
      run.post(run.app(0), '/totp/confirm', { code }, token),
      run.post(run.app(1), '/webauthn/register/verify', { response: registration }, token),
    ]);
    run.remember(answers);
    const tally = tallyAnswers(answers, [
      { status: 200 },
      { status: 201 },
      // The other one turned 2FA on first: this password-only session ended, or is too weak to add.
      { status: 401, code: 'TWOFOLD_UNAUTHORIZED' },
      { status: 401, code: 'TWOFOLD_STEP_UP_REQUIRED' },
    ]);
    t.strictSame(tally.unexpected, [], `${scenario} (round ${round}): each 200, 201 or 401`);
    const withCodes = answers.filter((answer) => Array.isArray(answer.body?.recoveryCodes));
    for (const answer of withCodes) run.logs.remember(...(answer.body.recoveryCodes as string[]));
    const outcome = answers
      .map((answer) => `${answer.status}${answer.body?.recoveryCodes ? '+codes' : ''}`)
      .join(', ');
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    t.equal(withCodes.length, 1, `${scenario} (round ${round}): exactly one answer turned 2FA on`);
    const added = answers.filter((answer) => answer.status === 200 || answer.status === 201).length;
    let codesWork = false;
    if (withCodes.length === 1) {
      const challengeToken = await run.challenge(run.app(1), user);
      const recoveryCode = (withCodes[0]!.body.recoveryCodes as string[])[0];
      const verified = await run.post(run.app(1), '/login/verify', { challengeToken, recoveryCode });
      run.remember([verified]);
      codesWork = verified.status === 200;
      t.equal(verified.status, 200, `${scenario} (round ${round}): the recovery codes it showed log in`);
      if (codesWork) {
        const status = must(
          await run.app(0).client.get('/status', {
            token: String(verified.body.accessToken),
            headers: forwardedFor(run.ip()),
          }),
          200,
          'status',
        );
        const listed = (status.authenticators as { totp: number; webauthn: number }) ?? {
          totp: 0,
          webauthn: 0,
        };
        t.equal(listed.totp + listed.webauthn, added, `${scenario} (round ${round}): every 2xx is listed`);
      }
    }
    if (withCodes.length !== 1 || !codesWork) broken++;
  }
  record(t, run.name, scenario, `${broken} of ${ADD_ROUNDS} rounds broken`, counts);
}

// 12. Revoking one session by id while it refreshes: the refresh swaps the session's token between
// the revocation's read and its write; the session must end anyway, and stay out of the list.
async function revokeOneRacingRefresh(t: Test, run: Run): Promise<void> {
  const scenario = '12 revoke one session racing its refresh';
  const user = run.fresh(); // 2FA off: sessions from the password alone
  const counts: Record<string, number> = {};
  let survivors = 0;
  let listedWrong = 0;
  for (let round = 1; round <= SESSION_ROUNDS; round++) {
    const logins = await run.burst(SESSION_RACERS + 1, (app) =>
      run.post(app, '/login', { username: user.username, password: user.password }),
    );
    run.remember(logins);
    const pairs = logins.map((answer) => must(answer, 200, 'login') as Record<string, string>);
    const revoker = pairs[0]!.accessToken!;
    const families = pairs.map((pair) => familyOf(pair.accessToken!));
    const before = must(
      await run.app(0).client.get('/sessions', { token: revoker, headers: forwardedFor(run.ip()) }),
      200,
      'list',
    ) as { sessions: { id: string; current: boolean; ip: string | null }[] };
    const listedBefore = new Set(before.sessions.map((session) => session.id));
    t.ok(
      families.every((family) => listedBefore.has(family)),
      `${scenario}, round ${round}: every new session is listed`,
    );
    t.equal(
      before.sessions.find((session) => session.current)?.id,
      families[0],
      `${scenario}, round ${round}: the revoker's own is current`,
    );
    // Each racing pair: a revocation of session i by the revoker and a refresh of session i.
    const answers = await run.burst(SESSION_RACERS * 2, (app, index) => {
      const target = 1 + Math.floor(index / 2);
      return index % 2 === 0
        ? run.post(app, `/sessions/${families[target]}/revoke`, undefined, revoker)
        : run.post(app, '/token/refresh', { refreshToken: pairs[target]!.refreshToken });
    });
    run.remember(answers);
    const revokes = answers.filter((_, index) => index % 2 === 0);
    const refreshes = answers.filter((_, index) => index % 2 === 1);
    const revokeTally = tallyAnswers(revokes, [{ status: 204 }]);
    t.strictSame(revokeTally.unexpected, [], `${scenario}, round ${round}: each revocation 204`);
    const tally = tallyAnswers(refreshes, [{ status: 200 }, { status: 401, code: 'TWOFOLD_INVALID_TOKEN' }]);
    t.strictSame(tally.unexpected, [], `${scenario}, round ${round}: each refresh 200 or 401`);
    for (const [kind, count] of Object.entries(tally.counts)) counts[kind] = (counts[kind] ?? 0) + count;
    for (const [index, answer] of refreshes.entries()) {
      const pair = answer.status === 200 ? (answer.body as Record<string, string>) : pairs[index + 1]!;
      const status = await run.app(0).client.get('/status', {
        token: pair.accessToken,
        headers: forwardedFor(run.ip()),
      });
      const again = await run.post(run.app(1), '/token/refresh', { refreshToken: pair.refreshToken });
      if (status.status !== 401 || again.status !== 401) survivors++;
    }
    const after = must(
      await run.app(1).client.get('/sessions', { token: revoker, headers: forwardedFor(run.ip()) }),
      200,
      'list',
    ) as { sessions: { id: string }[] };
    const left = after.sessions.map((session) => session.id).filter((id) => families.includes(id));
    if (left.length !== 1 || left[0] !== families[0]) listedWrong++;
    // The revoker signs out too, so the next round lists only its own sessions.
    must(await run.post(run.app(0), `/sessions/${families[0]}/revoke`, undefined, revoker), 204, 'own');
  }
  record(t, run.name, scenario, `${survivors} sessions survived, ${listedWrong} lists wrong`, counts);
  t.equal(survivors, 0, `${scenario}: no revoked session, nor a pair its refresh got, goes on`);
  t.equal(listedWrong, 0, `${scenario}: afterwards the list holds only the revoker's session`);
}

// 13. Grace logins of a mandatory-2FA policy: each login is counted atomically as it is judged.
async function graceLoginsBurst(t: Test, run: Run, users: AppUser[]): Promise<void> {
  const scenario = `13 ${GRACE_BURST} logins at once, grace of ${GRACE_LOGINS} logins`;
  const counts: Record<string, number> = {};
  let wrong = 0;
  for (const user of users) {
    const answers = await run.burst(GRACE_BURST, (app) =>
      run.post(app, '/login', { username: user.username, password: user.password }),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [{ status: 200 }]);
    t.strictSame(tally.unexpected, [], `${scenario}: every login 200`);
    const full = answers.filter((answer) => answer.body?.enrollmentRequired === false);
    const restricted = answers.filter((answer) => answer.body?.enrollmentRequired === true);
    const outcome = `${full.length} full, ${restricted.length} enrollment only`;
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    if (full.length !== GRACE_LOGINS || restricted.length !== GRACE_BURST - GRACE_LOGINS) wrong++;
    const sample = restricted[0]?.body?.accessToken;
    if (typeof sample === 'string') {
      const refused = await run
        .app(1)
        .client.get('/sessions', { token: sample, headers: forwardedFor(run.ip()) });
      expectAnswer(
        t,
        refused,
        { status: 403, code: 'TWOFOLD_ENROLLMENT_REQUIRED' },
        `${scenario}: a restricted session`,
      );
    }
  }
  record(
    t,
    run.name,
    scenario,
    `${wrong} of ${users.length} users got other than ${GRACE_LOGINS} full sessions`,
    counts,
  );
  t.equal(wrong, 0, `${scenario}: exactly ${GRACE_LOGINS} full sessions per user`);
}

// 14. Delayed recovery: confirm twice, and cancel racing the removal when it comes due. `apps` are
// the store's processes with recovery.delayMs DELAY_MS (started with its others, see `flows`).
async function delayedRecoveryRaces(t: Test, run: Run, apps: AppProcess[]): Promise<void> {
  const scenario = '14 delayed recovery: confirm twice, cancel racing the due removal';
  const delayed = new Run(
    `${run.name}-delayed`,
    apps,
    run.logs,
    Array.from({ length: DELAY_ROUNDS }, () => run.fresh()),
  );
  const counts: Record<string, number> = {};
  let broken = 0;
  for (let round = 1; round <= DELAY_ROUNDS; round++) {
    const { user } = await delayed.enabledUser();
    const requester = delayed.app(1);
    const before = requester.mails.length;
    must(await delayed.post(requester, '/recovery/request', { email: user.email }), 202, 'request');
    const link = await waitForMail(requester, before, 'recovery-link');
    if (!link) {
      t.fail(`${scenario}: no recovery mail within 10 s`);
      return;
    }
    const { uid, token } = recoveryLink(link, LINK_URL);
    run.logs.remember(token);
    const confirms = await delayed.burst(SESSION_RACERS, (app) =>
      delayed.post(app, '/recovery/confirm', { uid, token, password: user.password }),
    );
    const confirmTally = tallyAnswers(confirms, [
      { status: 202 },
      { status: 400, code: 'TWOFOLD_INVALID_RECOVERY_TOKEN' },
    ]);
    t.strictSame(confirmTally.unexpected, [], `${scenario}, round ${round}: each confirm 202 or 400`);
    const scheduled = confirmTally.counts['202'] ?? 0;
    const confirmer = confirms.findIndex((answer) => answer.status === 202);
    if (scheduled !== 1 || confirmer < 0) {
      broken++;
      continue;
    }
    // The cancel link goes out from the app that scheduled it.
    const cancelMail = await waitForMail(delayed.app(confirmer), 0, 'recovery-cancel-link', uid);
    if (!cancelMail) {
      t.fail(`${scenario}: no cancel mail within 10 s`);
      return;
    }
    const fragment = new URLSearchParams(
      new URL(cancelMail.text.slice(cancelMail.text.indexOf(`${LINK_URL}#`)).split(/\s/)[0]!).hash.slice(1),
    );
    const cancel = { uid, token: fragment.get('cancel') ?? '' };
    run.logs.remember(cancel.token);
    // Around the moment it comes due: pairs of a cancel and a login (a login carries a due removal
    // out), one pair every millisecond from 3 ms before it.
    const dueAt = Date.parse(String(confirms[confirmer]!.body?.dueAt));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now() - 3)));
    const answers = await delayed.burst(DELAY_RACERS * 2, async (app, index) => {
      await new Promise((resolve) => setTimeout(resolve, Math.floor(index / 2)));
      return index % 2 === 0
        ? delayed.post(app, '/recovery/cancel', cancel)
        : delayed.post(app, '/login', { username: user.username, password: user.password });
    });
    delayed.remember(answers);
    const cancels = answers.filter((_, index) => index % 2 === 0);
    const logins = answers.filter((_, index) => index % 2 === 1);
    const cancelTally = tallyAnswers(cancels, [
      { status: 204 },
      { status: 400, code: 'TWOFOLD_INVALID_RECOVERY_TOKEN' },
    ]);
    t.strictSame(cancelTally.unexpected, [], `${scenario}, round ${round}: each cancel 204 or 400`);
    const cancelled = cancelTally.counts['204'] ?? 0;
    const passwordOnly = logins.filter(
      (answer) => answer.status === 200 && answer.body?.twoFactorRequired === false,
    );
    // Afterwards, once surely due, the state: on (a cancel won) or off (the removal won).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now() + 10)));
    const after = must(
      await delayed.post(delayed.app(0), '/login', { username: user.username, password: user.password }),
      200,
      'login after',
    );
    delayed.remember([{ status: 200, body: after } as Answer]);
    const off = after.twoFactorRequired === false;
    const outcome = off
      ? `removed (${passwordOnly.length} password-only logins)`
      : `cancelled (${cancelled} cancels won)`;
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    const consistent = off ? cancelled === 0 : cancelled === 1 && passwordOnly.length === 0;
    if (!consistent) broken++;
  }
  await Promise.all(apps.map((app) => app.stop()));
  record(t, run.name, scenario, `${broken} of ${DELAY_ROUNDS} rounds broken`, counts);
  t.equal(broken, 0, `${scenario}: one schedule per link, and a cancel or the removal, never both`);
}

// 15. A trusted device token used many times at once: the rotation is a compare-and-set.
async function deviceTokenBurst(t: Test, run: Run): Promise<void> {
  const scenario = `15 one device token x${DEVICE_RACERS} on POST /login`;
  const counts: Record<string, number> = {};
  let broken = 0;
  const { user, enabled } = await run.enabledUser();
  for (let round = 1; round <= DEVICE_ROUNDS; round++) {
    const challengeToken = await run.challenge(run.app(0), user);
    const remembered = must(
      await run.post(run.app(0), '/login/verify', {
        challengeToken,
        recoveryCode: enabled.recoveryCodes[round],
        rememberDevice: true,
      }),
      200,
      'remember the device',
    );
    run.remember([{ status: 200, body: remembered } as Answer]);
    const deviceToken = String(remembered.deviceToken);
    run.logs.remember(deviceToken);
    const answers = await run.burst(DEVICE_RACERS, (app) =>
      run.post(app, '/login', { username: user.username, password: user.password, deviceToken }),
    );
    run.remember(answers);
    const tally = tallyAnswers(answers, [{ status: 200 }]);
    t.strictSame(tally.unexpected, [], `${scenario}, round ${round}: every login 200`);
    const skipped = answers.filter((answer) => answer.body?.twoFactorRequired === false);
    for (const answer of skipped) run.logs.remember(String(answer.body?.deviceToken));
    const outcome = `${skipped.length} skipped`;
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    // The newest token (the winner's, if any) must not skip any more: the copies used it up.
    const newest = skipped[0] ? String(skipped[0].body?.deviceToken) : deviceToken;
    const after = must(
      await run.post(run.app(1), '/login', {
        username: user.username,
        password: user.password,
        deviceToken: newest,
      }),
      200,
      'login after',
    );
    if (skipped.length > 1 || after.twoFactorRequired !== true) broken++;
  }
  record(t, run.name, scenario, `${broken} of ${DEVICE_ROUNDS} rounds broken`, counts);
  t.equal(broken, 0, `${scenario}: at most one skips, and the reused device is trusted no more`);
}

/** Waits (10 s at most) for a mail of `kind` (to `uid`, when given) among `app`'s mails from `from` on. */
async function waitForMail(app: AppProcess, from: number, kind: string, uid?: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const mail = app.mails
      .slice(from)
      .find((candidate) => candidate.kind === kind && (uid === undefined || candidate.userId === uid));
    if (mail || Date.now() > deadline) return mail;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The session (refresh family) an access token belongs to: its `fam` claim. */
function familyOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8'));
  return String(payload.fam);
}

// ---------------------------------------------------------------------------------------------
// The schedule of the store runs

/** A promise and the function that settles it (once; later calls do nothing). */
function signal(): { promise: Promise<void>; settle: () => void } {
  let settle!: () => void;
  const promise = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return { promise, settle };
}

/** One store's place in the {@link Schedule}. */
interface Slot {
  /** Its setup is done and its processes listen (or it ended early): the races may begin. */
  ready(): void;
  /** Resolves when it may race: every store ready, and every store queued before it done racing. */
  turn(): Promise<void>;
  /** Its racing scenarios are over: the next store's turn. */
  raced(): void;
  /** Resolves once every store is done racing. */
  afterAll(): Promise<void>;
}

/**
 * When the stores' runs do what, so that mostly waiting overlaps and no burst of scenarios 1-13 and
 * 15 shares the machine with other work of this file: first every store's setup (servers,
 * migrations) and process starts at once; then the racing scenarios one store at a time, in the
 * order the stores were queued, as if each ran alone; then, once every store is done racing,
 * scenario 14 of every store at once (it mostly waits for its delay). A slot is taken when its test
 * is queued; `seal()` once all are.
 */
class Schedule {
  private readonly readies: Promise<void>[] = [];
  private readonly raceds: Promise<void>[] = [];
  private readonly sealed = signal();

  slot(): Slot {
    const ready = signal();
    const raced = signal();
    const earlier = [...this.raceds];
    this.readies.push(ready.promise);
    this.raceds.push(raced.promise);
    const all = (promises: () => Promise<void>[]) =>
      this.sealed.promise.then(() => Promise.all(promises())).then(() => undefined);
    return {
      ready: ready.settle,
      turn: () => all(() => [...this.readies, ...earlier]),
      raced: raced.settle,
      afterAll: () => all(() => this.raceds),
    };
  }

  seal(): void {
    this.sealed.settle();
  }
}

/** Runs the tasks given to it, at most `limit` at a time, the others in the order they came. */
function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active < limit) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The place goes straight to the next one waiting, if any.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/**
 * The app starts of every store, a few at a time: a start is mostly CPU (loading the sources), so
 * more at once would only make each of them slower (and nearer the 60 s limit of `startApp`).
 */
const starting = limiter(Math.max(2, availableParallelism() * 2));

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Starts the apps of one store (`frameworks`, one process each, and as many with recovery.delayMs
 * DELAY_MS for scenario 14) and runs every scenario on them, each part when `slot` says.
 */
async function flows(
  t: Test,
  name: string,
  store: StoreSpec,
  frameworks: AppConfig['framework'][],
  slot: Slot,
  began: number,
): Promise<void> {
  const keyring = generateKey();
  const logs = new LogBook();
  logs.remember(keyring, keyring.slice(keyring.indexOf(':') + 1));
  const users = makeUsers(
    9 +
      CHALLENGE_ROUNDS +
      CONFIRM_ROUNDS +
      ASSERTION_ROUNDS +
      1 +
      REMOVE_ROUNDS +
      ADD_ROUNDS +
      1 +
      DELAY_ROUNDS +
      1 +
      ONE_CODE_ROUNDS,
    'flow',
  );
  const mandatoryUsers = makeUsers(GRACE_ROUNDS, 'mandatory');
  const config: Omit<AppConfig, 'framework'> = {
    store,
    keyring,
    users: [...users, ...mandatoryUsers],
    // The defaults of lockout and challenge: nothing set on purpose.
    rateLimit: {},
    trustProxy: true,
    linkUrl: LINK_URL,
    mandatory: { userIds: mandatoryUsers.map((user) => user.userId), graceLogins: GRACE_LOGINS },
    trustedDevices: { maxAgeDays: 30 },
  };
  const wanted = (title: string) => !SCENARIOS || SCENARIOS.includes(title.slice(0, title.indexOf('.')));
  const delayedTitle = '14. delayed recovery: confirm twice, cancel racing the removal';
  const start = (extra: Partial<AppConfig>, suffix: string) =>
    frameworks.map((framework) =>
      starting(() => startApp(t, { ...config, ...extra, framework }, logs, `${name}${suffix}-${framework}`)),
    );
  // Scenario 14's apps of their own start now too, while nothing races.
  const starts = start({}, '');
  const delayedStarts = wanted(delayedTitle) ? start({ recoveryDelayMs: DELAY_MS }, '-delayed') : [];
  // Every start settles before a failed one ends the test, so that each process is stopped by the
  // teardown it registered.
  await Promise.allSettled([...starts, ...delayedStarts]);
  const apps = await Promise.all(starts);
  const delayedApps = await Promise.all(delayedStarts);
  const run = new Run(name, apps, logs, users);

  const scenarios: [string, (t: Test) => Promise<void>][] = [
    ['1. wrong TOTP codes in parallel on login/verify', (t) => loginBurst(t, run, 'code')],
    ['2. wrong recovery codes in parallel on login/verify', (t) => loginBurst(t, run, 'recoveryCode')],
    ['3. wrong codes in parallel on step-up, disable, rotate', (t) => routeBursts(t, run)],
    ['4. wrong codes in parallel on one challenge token', (t) => oneChallenge(t, run)],
    ['5. confirm racing a second enroll', (t) => confirmRacingEnroll(t, run)],
    ['6. one recovery link confirmed in parallel', (t) => recoveryLinkRace(t, run)],
    ['7. revoke-all racing refreshes', (t) => revokeAllRacingRefreshes(t, run)],
    ['8. one security key answer sent many times at once', (t) => oneAssertionManyTimes(t, run)],
    ['9. unregistered keys in parallel on login/verify', (t) => forgedAssertions(t, run)],
    ['10. the last two authenticators removed at once', (t) => lastTwoRemoved(t, run)],
    ['11. an app and a key added at once', (t) => twoAddedAtOnce(t, run)],
    ['12. one session revoked by id while it refreshes', (t) => revokeOneRacingRefresh(t, run)],
    ['13. grace logins of mandatory 2FA at once', (t) => graceLoginsBurst(t, run, mandatoryUsers)],
    ['15. one trusted device token used many times at once', (t) => deviceTokenBurst(t, run)],
    ['16. one valid code on many challenges at once', (t) => oneCodeManyChallenges(t, run)],
  ];
  slot.ready();
  await slot.turn();
  const racingFrom = Date.now();
  for (const [title, scenario] of scenarios) if (wanted(title)) await t.test(title, scenario);
  const racing = Date.now() - racingFrom;
  slot.raced();

  // Scenario 14 of every store at once, while the racing apps stop.
  await slot.afterAll();
  const delayedFrom = Date.now();
  const stopped = Promise.all(apps.map((app) => app.stop()));
  if (wanted(delayedTitle)) await t.test(delayedTitle, (t) => delayedRecoveryRaces(t, run, delayedApps));
  await Promise.all([stopped, ...delayedApps.map((app) => app.stop())]);
  logs.check(t);
  const delayed = wanted(delayedTitle)
    ? `, then ${seconds(Date.now() - delayedFrom)} at scenario 14 with the other stores`
    : '';
  t.comment(
    `flows ${name}: ${seconds(racing)} racing alone${delayed}, ${seconds(Date.now() - began)} in all`,
  );
}

const schedule = new Schedule();
/** The store names in the order their tests are queued: the order of the report. */
const storeOrder: string[] = [];
/** The store tests, queued all at once below (once the pool has a place for each). */
const storeTests: (() => void)[] = [];

/**
 * Adds the test of a store; `body` sets the store up and calls `flows` with the slot. The slot is
 * settled whatever happens (a missing server, a failed setup, a skipped or filtered test), so that
 * no other store waits for it.
 */
function storeTest(
  title: string,
  name: string,
  skip: string | false | undefined,
  body: (t: Test, slot: Slot, began: number) => Promise<void>,
): void {
  storeOrder.push(name);
  storeTests.push(() => {
    const slot = schedule.slot();
    const settle = () => {
      slot.ready();
      slot.raced();
    };
    void tap
      .test(title, { skip }, async (t) => {
        try {
          await body(t, slot, Date.now());
        } finally {
          settle();
        }
      })
      .then(settle, settle);
  });
}

const runPrefix = randomBytes(4).toString('hex');

if (selected('memory')) {
  storeTest('flow races on memory, Fastify', 'memory-fastify', undefined, (t, slot, began) =>
    flows(t, 'memory-fastify', { kind: 'memory' }, ['fastify'], slot, began),
  );
  storeTest('flow races on memory, Express', 'memory-express', undefined, (t, slot, began) =>
    flows(t, 'memory-express', { kind: 'memory' }, ['express'], slot, began),
  );
}

if (selected('redis'))
  storeTest('flow races on Redis', 'redis', undefined, async (t, slot, began) => {
    const prefix = `twofold-flows:${runPrefix}:`;
    const redis = await sharedRedis(t, prefix);
    if (!redis) return;
    await flows(t, 'redis', { kind: 'redis', prefix }, ['fastify', 'express'], slot, began);
  });

if (selected('redis-cluster'))
  storeTest(
    'flow races on a Redis Cluster (3 masters, started here)',
    'redis-cluster',
    undefined,
    async (t, slot, began) => {
      const missing = [];
      if (!(await hasCommand('redis-server'))) missing.push('redis-server');
      if (!(await hasCommand('redis-cli'))) missing.push('redis-cli');
      if (missing.length > 0)
        return reportMissing(t, `${missing.join(' and ')} (on PATH, to start a Redis Cluster)`);
      const cluster = await startLocalCluster();
      // The whole cluster is this test's own: stopping it removes every key.
      t.teardown(() => cluster.stop());
      await flows(
        t,
        'redis-cluster',
        { kind: 'redis-cluster', ports: [...cluster.ports], prefix: `twofold-flows:${runPrefix}:` },
        ['fastify', 'express'],
        slot,
        began,
      );
    },
  );

if (selected('postgres'))
  storeTest('flow races on PostgreSQL', 'postgres', undefined, async (t, slot, began) => {
    const prefix = `tfflow${runPrefix}_`;
    if (!(await migratedPostgres(t, prefix))) return;
    await flows(t, 'postgres', { kind: 'postgres', prefix }, ['fastify', 'express'], slot, began);
  });

if (selected('mysql'))
  storeTest('flow races on MariaDB', 'mysql', undefined, async (t, slot, began) => {
    const pool = createMysqlPool({ connectionLimit: 2 });
    const reachable = await mysqlQuery(pool, 'select 1').then(
      () => true,
      () => false,
    );
    if (!reachable) {
      await endMysqlPool(pool).catch(() => undefined);
      return reportMissing(t, `MariaDB at ${MARIADB.host}:${MARIADB.port} (database ${MARIADB.database})`);
    }
    const prefix = `tfflow${runPrefix}_`;
    t.teardown(async () => {
      const rows = await mysqlQuery<{ name: string }[]>(
        pool,
        'select table_name as name from information_schema.tables where table_schema = ? and left(table_name, ?) = ?',
        [MARIADB.database, prefix.length, prefix],
      );
      for (const { name } of rows) await mysqlQuery(pool, `drop table if exists \`${name}\``);
      await endMysqlPool(pool);
    });
    await migrate(pool, { prefix });
    await flows(t, 'mysql', { kind: 'mysql', prefix }, ['fastify', 'express'], slot, began);
  });

if (selected('sqlite'))
  storeTest('flow races on a SQLite file', 'sqlite', sqlite?.skip, async (t, slot, began) => {
    const dir = await mkdtemp(join(tmpdir(), 'twofold-flows-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'twofold.db');
    const prefix = 'tfflow_';
    const Database = sqlite!.db!;
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    await migrate(db, { prefix });
    db.close();
    await flows(t, 'sqlite', { kind: 'sqlite', file, prefix }, ['fastify', 'express'], slot, began);
  });

// The store tests run at once (see `Schedule`): each needs a place in the pool from the start.
tap.jobs = Math.max(1, storeTests.length);
for (const queue of storeTests) queue();
schedule.seal();

tap.teardown(() => {
  const file = process.env.TWOFOLD_FLOWS_REPORT;
  // Scenario 14 of every store runs at once: the rows go back into the stores' order.
  const rows = [...report].sort((a, b) => storeOrder.indexOf(a.store) - storeOrder.indexOf(b.store));
  if (file) writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
});
