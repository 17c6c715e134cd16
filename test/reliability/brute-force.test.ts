/**
 * Brute force from many addresses: one app process (Fastify, then Express) that believes
 * X-Forwarded-For from loopback, per-IP rate limits on (defaults), lockout after LIMIT failures.
 * Wrong codes for one account, each from another client address (IPv4, and IPv6 in distinct /64s,
 * each with a new login), so the per-IP limits never trigger first: the account locks after LIMIT
 * failures (429 TWOFOLD_LOCKED) and the right code is refused while locked. Then the same with 20
 * wrong codes sent at once. The process's logs must hold no secret.
 */
import { generateKey } from '@twofold/core';
import { type Answer, codeAt, errorProblems, PERIOD_MS, wrongCode } from '@twofold/http-test-suite/helpers';
import tap, { type Test } from 'tap';
import {
  type AppProcess,
  enable,
  LINK_URL,
  LogBook,
  makeUsers,
  nextCode,
  startApp,
  tally,
} from './cluster.js';
import type { AppConfig, AppUser } from './config.js';

const LIMIT = 7;
const PARALLEL = 20;

/** The `index`-th client address: IPv4 from the documentation ranges, or IPv6 in its own /64. */
function address(index: number): string {
  return index % 2 === 0
    ? `198.51.${100 + (index % 3)}.${(index % 250) + 1}`
    : `2001:db8:${(0x100 + index).toString(16)}::${(index % 250) + 1}`;
}

/** POST /login then /login/verify with `code`, both from `ip`. */
async function attempt(
  app: AppProcess,
  user: AppUser,
  ip: string,
  code: string,
  logs: LogBook,
): Promise<Answer> {
  const headers = { 'x-forwarded-for': ip };
  const login = await app.client.post(
    '/login',
    { username: user.username, password: user.password },
    { headers },
  );
  if (login.status !== 200) return login;
  const challengeToken = String(login.body.challengeToken);
  logs.remember(challengeToken);
  const answer = await app.client.post('/login/verify', { challengeToken, code }, { headers });
  logs.remember(answer.body?.accessToken as string, answer.body?.refreshToken as string);
  return answer;
}

async function bruteForce(t: Test, framework: AppConfig['framework']): Promise<void> {
  const keyring = generateKey();
  const logs = new LogBook();
  logs.remember(keyring, keyring.slice(keyring.indexOf(':') + 1));
  const [serial, parallel] = makeUsers(2, 'brute') as [AppUser, AppUser];
  const app = await startApp(
    t,
    {
      framework,
      store: { kind: 'memory' },
      keyring,
      users: [serial, parallel],
      lockout: { maxFailures: LIMIT, durationMs: 600_000 },
      challenge: { maxAttempts: 5 },
      rateLimit: {},
      trustProxy: true,
      linkUrl: LINK_URL,
    },
    logs,
    framework,
  );
  let ip = 0;

  // One wrong code at a time, each from a new address after a new login.
  {
    const enabled = await enable(app.client, serial, logs);
    const wrong = wrongCode(enabled.secret, Date.now());
    const statuses: number[] = [];
    for (let failure = 1; failure <= LIMIT; failure++) {
      const answer = await attempt(app, serial, address(ip++), wrong, logs);
      statuses.push(answer.status);
      t.strictSame(
        errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'),
        [],
        `wrong code ${failure} of ${LIMIT}: 400`,
      );
    }
    const another = await attempt(app, serial, address(ip++), wrong, logs);
    t.strictSame(
      errorProblems(another, 429, 'TWOFOLD_LOCKED'),
      [],
      `failure ${LIMIT + 1}: 429 TWOFOLD_LOCKED`,
    );
    const right = nextCode(enabled);
    logs.remember(right);
    const refused = await attempt(app, serial, address(ip++), right, logs);
    t.strictSame(
      errorProblems(refused, 429, 'TWOFOLD_LOCKED'),
      [],
      'the right code from a new address: 429 TWOFOLD_LOCKED',
    );
    t.ok(Number(refused.headers.get('retry-after')) > 0, 'with Retry-After');
    const current = codeAt(enabled.secret, Date.now());
    logs.remember(current);
    const alsoRefused = await attempt(app, serial, address(ip++), current, logs);
    t.strictSame(errorProblems(alsoRefused, 429, 'TWOFOLD_LOCKED'), [], 'the current code too');
    t.comment(
      `serial: ${ip} addresses, answers ${JSON.stringify(tally([...statuses, another.status, refused.status]))}`,
    );
  }

  // PARALLEL wrong codes at once, each from its own address.
  {
    const enabled = await enable(app.client, parallel, logs);
    const wrong = wrongCode(enabled.secret, Date.now() + PERIOD_MS);
    const first = ip;
    ip += PARALLEL;
    const answers = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) =>
        attempt(app, parallel, address(first + index), wrong, logs),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    const unexpected = answers
      .map((answer) => [
        errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'),
        errorProblems(answer, 429, 'TWOFOLD_LOCKED'),
      ])
      .filter(([invalid, locked]) => invalid!.length > 0 && locked!.length > 0);
    t.strictSame(
      unexpected,
      [],
      `${PARALLEL} parallel wrong codes: each 400 or 429 TWOFOLD_LOCKED (${JSON.stringify(tally(statuses))})`,
    );
    t.ok(
      statuses.filter((status) => status === 400).length >= LIMIT,
      `at least ${LIMIT} counted as wrong codes`,
    );
    const right = nextCode(enabled);
    logs.remember(right);
    const refused = await attempt(app, parallel, address(ip++), right, logs);
    t.strictSame(
      errorProblems(refused, 429, 'TWOFOLD_LOCKED'),
      [],
      'then the right code: 429 TWOFOLD_LOCKED',
    );
  }

  await app.stop();
  const used = Array.from({ length: ip }, (_, index) => address(index));
  t.strictSame(
    used.filter((client) => !logs.lines.some((line) => line.includes(`"${client}"`))),
    [],
    `the app saw all ${ip} client addresses (X-Forwarded-For believed from loopback)`,
  );
  logs.check(t);
}

tap.test('brute force on Fastify (trustProxy 127.0.0.1)', (t) => bruteForce(t, 'fastify'));
tap.test("brute force on Express (trust proxy 'loopback')", (t) => bruteForce(t, 'express'));
