/**
 * Races across processes: four real app processes (two Fastify, two Express) share one store, first
 * Redis, then PostgreSQL. For each of a TOTP code, a recovery code, a challenge token and a recovery
 * link, 50 concurrent requests spread over the four processes spend the same thing: exactly one may
 * succeed. Three rounds each, a fresh user per race. The processes' logs must hold no secret.
 */
import { randomBytes } from 'node:crypto';
import { generateKey } from '@twofold/core';
import { type Answer, errorProblems, recoveryLink } from '@twofold/http-test-suite/helpers';
import tap, { type Test } from 'tap';
import {
  type AppProcess,
  challenge,
  enable,
  LINK_URL,
  LogBook,
  makeUsers,
  migratedPostgres,
  nextCode,
  sharedRedis,
  startApp,
  tally,
} from './cluster.js';
import type { AppConfig, AppUser, StoreSpec } from './config.js';

const ROUNDS = Number(process.env.TWOFOLD_RACE_ROUNDS ?? 3);
const RACERS = 50;
const KINDS = ['code', 'recoveryCode', 'challenge', 'recoveryLink'] as const;

/** The one success among `answers`, and that every other answer is the expected refusal. */
function judge(
  t: Test,
  answers: Answer[],
  success: number,
  refusals: { status: number; code: string }[],
  what: string,
): void {
  const statuses = answers.map((answer) => answer.status);
  const winners = answers.filter((answer) => answer.status === success);
  t.equal(
    winners.length,
    1,
    `${what}: exactly one ${success} of ${answers.length} (${JSON.stringify(tally(statuses))})`,
  );
  const wrong = answers
    .filter((answer) => answer.status !== success)
    .map((answer) => {
      const problems = refusals.map((refusal) => errorProblems(answer, refusal.status, refusal.code));
      return problems.some((list) => list.length === 0) ? null : problems[0]!.join('; ');
    })
    .filter((problem) => problem !== null);
  t.strictSame(wrong, [], `${what}: every other answer is a refusal in the error shape`);
}

async function races(t: Test, store: StoreSpec): Promise<void> {
  const keyring = generateKey();
  const logs = new LogBook();
  logs.remember(keyring, keyring.slice(keyring.indexOf(':') + 1));
  const users = makeUsers(ROUNDS * KINDS.length, 'racer');
  const base: Omit<AppConfig, 'framework'> = {
    store,
    keyring,
    users,
    // Losers of a race are failures; they must not lock the account the next race needs.
    lockout: { maxFailures: 100, durationMs: 60_000 },
    challenge: { maxAttempts: 5 },
    rateLimit: false,
    trustProxy: false,
    linkUrl: LINK_URL,
  };
  const apps: AppProcess[] = await Promise.all([
    startApp(t, { ...base, framework: 'fastify' }, logs, 'fastify-1'),
    startApp(t, { ...base, framework: 'fastify' }, logs, 'fastify-2'),
    startApp(t, { ...base, framework: 'express' }, logs, 'express-1'),
    startApp(t, { ...base, framework: 'express' }, logs, 'express-2'),
  ]);
  const app = (index: number) => apps[index % apps.length]!;
  const spread = <T>(send: (target: AppProcess, index: number) => Promise<T>) =>
    Promise.all(Array.from({ length: RACERS }, (_, index) => send(app(index), index)));

  let next = 0;
  const fresh = (): AppUser => users[next++]!;

  for (let round = 1; round <= ROUNDS; round++) {
    // A TOTP code: 50 challenges of one user, the same code on each.
    {
      const user = fresh();
      const enabled = await enable(app(round).client, user, logs);
      const tokens = await spread((target) => challenge(target.client, user, logs));
      const code = nextCode(enabled);
      logs.remember(code);
      const answers = await spread((target, index) =>
        target.client.post('/login/verify', { challengeToken: tokens[index], code }),
      );
      judge(
        t,
        answers,
        200,
        [{ status: 400, code: 'TWOFOLD_INVALID_CODE' }],
        `round ${round}, one TOTP code`,
      );
      for (const answer of answers)
        logs.remember(answer.body.accessToken as string, answer.body.refreshToken as string);
    }
    // A recovery code: 50 challenges, the same recovery code on each.
    {
      const user = fresh();
      const enabled = await enable(app(round + 1).client, user, logs);
      const tokens = await spread((target) => challenge(target.client, user, logs));
      const recoveryCode = enabled.recoveryCodes[0]!;
      const answers = await spread((target, index) =>
        target.client.post('/login/verify', { challengeToken: tokens[index], recoveryCode }),
      );
      judge(
        t,
        answers,
        200,
        [{ status: 400, code: 'TWOFOLD_INVALID_CODE' }],
        `round ${round}, one recovery code`,
      );
      const winner = answers.find((answer) => answer.status === 200);
      if (winner) {
        const accessToken = String(winner.body.accessToken);
        logs.remember(accessToken, String(winner.body.refreshToken));
        const status = await app(round).client.get('/status', { token: accessToken });
        t.equal(
          status.body.recoveryCodesRemaining,
          enabled.recoveryCodes.length - 1,
          `round ${round}: one recovery code spent, no more`,
        );
      }
    }
    // A challenge token: 50 uses of one token with the same valid code.
    {
      const user = fresh();
      const enabled = await enable(app(round + 2).client, user, logs);
      const challengeToken = await challenge(app(round).client, user, logs);
      const code = nextCode(enabled);
      logs.remember(code);
      const answers = await spread((target) => target.client.post('/login/verify', { challengeToken, code }));
      judge(
        t,
        answers,
        200,
        [
          { status: 401, code: 'TWOFOLD_INVALID_CHALLENGE' },
          { status: 400, code: 'TWOFOLD_INVALID_CODE' },
        ],
        `round ${round}, one challenge token`,
      );
      for (const answer of answers)
        logs.remember(answer.body.accessToken as string, answer.body.refreshToken as string);
    }
    // A recovery link: 50 confirmations of one emailed link with the password.
    {
      const user = fresh();
      await enable(app(round + 3).client, user, logs);
      const requester = app(round);
      const mailsBefore = requester.mails.length;
      const requested = await requester.client.post('/recovery/request', { email: user.email });
      t.equal(requested.status, 202, `round ${round}: recovery requested`);
      const deadline = Date.now() + 10_000;
      while (requester.mails.length === mailsBefore && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const mail = requester.mails.slice(mailsBefore).find((candidate) => candidate.kind === 'recovery-link');
      if (!mail) {
        t.fail(`round ${round}: no recovery mail within 10 s`);
        continue;
      }
      const { uid, token } = recoveryLink(mail, LINK_URL);
      logs.remember(token);
      const answers = await spread((target) =>
        target.client.post('/recovery/confirm', { uid, token, password: user.password }),
      );
      judge(
        t,
        answers,
        204,
        [{ status: 400, code: 'TWOFOLD_INVALID_RECOVERY_TOKEN' }],
        `round ${round}, one recovery link`,
      );
      const login = await app(round + 1).client.post('/login', {
        username: user.username,
        password: user.password,
      });
      t.equal(login.body.twoFactorRequired, false, `round ${round}: 2FA is off after the recovery`);
      logs.remember(login.body.accessToken as string, login.body.refreshToken as string);
    }
  }

  await Promise.all(apps.map((target) => target.stop()));
  logs.check(t);
}

tap.test('races on Redis', async (t) => {
  const prefix = `twofold-reliability:${randomBytes(6).toString('hex')}:`;
  const redis = await sharedRedis(t, prefix);
  if (!redis) return;
  await races(t, { kind: 'redis', prefix });
});

tap.test('races on PostgreSQL', async (t) => {
  const prefix = `tfrel${randomBytes(4).toString('hex')}_`;
  if (!(await migratedPostgres(t, prefix))) return;
  await races(t, { kind: 'postgres', prefix });
});
