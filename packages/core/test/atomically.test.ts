/**
 * completeChallenge on a store with `atomically` (store-sql on better-sqlite3): the whole second step
 * runs inside it, and every store call of the step goes to the store it hands over, never to the
 * store itself, which waits meanwhile (a call there would wait on itself). Each way a code or a
 * recovery code can go is walked on a memoryStore whose `atomically` fails the test on any outer call
 * made while work runs; a security key's answer is judged outside, as before.
 */
import t from 'tap';
import { createKeyring, InvalidCodeError, memoryStore, type NonceWrite, type Store } from '../src/index.js';
import { codeAt, enrolledUser, makeEngine, wrongCode } from './helpers.js';

/** memoryStore with an `atomically` that logs every call, inside (`in:`) and outside (`out:`). */
function batchingStore(inner: Store = memoryStore()) {
  const log: string[] = [];
  let running = 0;
  const logged = (prefix: 'in' | 'out'): Store =>
    new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        return (...args: unknown[]) => {
          log.push(`${prefix}:${property}`);
          if (prefix === 'out' && running > 0) log.push('OUTER CALL INSIDE ATOMICALLY');
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
  const view = logged('in');
  const outer = logged('out');
  const store: Store = new Proxy(outer, {
    get(target, property, receiver) {
      if (property !== 'atomically') return Reflect.get(target, property, receiver);
      return async <T>(work: (store: Store) => Promise<T>) => {
        log.push('atomically');
        running++;
        try {
          return await work(view);
        } finally {
          running--;
          log.push('settled');
        }
      };
    },
  });
  return { store, inner, log };
}

const HOUR = 3_600_000;
const sessionOf = (name: string, expiresAt: number) => ({
  sessionNonces: (): NonceWrite[] => [{ key: `${name}:family`, value: name, expiresAt }],
});

/** The log between `atomically` and `settled`, and whether anything came before or after it. */
function inside(log: readonly string[]) {
  const start = log.indexOf('atomically');
  const end = log.indexOf('settled');
  return { calls: log.slice(start + 1, end), outside: [...log.slice(0, start), ...log.slice(end + 1)] };
}

type Env = ReturnType<typeof makeEngine>;
type Factor = Parameters<Env['twoFactor']['completeChallenge']>[1];

/**
 * A login's second step for `userId` with the factor made from the current time, the log cleared
 * just before it: the calls made inside `atomically` and outside it, and the time used. With
 * `session`, the step also stores a session-family nonce of that name (an hour ahead).
 */
async function secondStep(
  env: Env,
  log: string[],
  userId: string,
  factor: (now: number) => Factor,
  session?: string,
) {
  const { challengeToken } = await env.twoFactor.createChallenge(userId);
  log.length = 0;
  const now = env.clock.now();
  const hooks = session === undefined ? undefined : sessionOf(session, now + HOUR);
  const outcome = await env.twoFactor.completeChallenge(challengeToken, factor(now), hooks).then(
    () => undefined,
    (error: unknown) => error,
  );
  return { ...inside(log), now, challengeToken, error: outcome };
}

t.test('a code accepted: begin and finish inside atomically, nothing outside', async (t) => {
  const { store, inner, log } = batchingStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const step = await secondStep(env, log, user.userId, (now) => ({ code: codeAt(user.secret, now) }), 'ok');
  t.equal(step.error, undefined, 'accepted');
  t.strictSame(step.calls, ['in:beginSecondFactor', 'in:finishSecondFactor'], step.calls.join(', '));
  t.strictSame(step.outside, [], 'no call outside it');
  t.equal(await inner.getNonce(user.userId, 'ok:family', step.now), 'ok', 'the session is stored');
});

t.test('a wrong code: counted, the claim given back, inside atomically; the token then works', async (t) => {
  const { store, inner, log } = batchingStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const step = await secondStep(env, log, user.userId, (now) => ({ code: wrongCode(user.secret, now) }));
  t.type(step.error, InvalidCodeError, 'refused');
  t.strictSame(step.calls, ['in:beginSecondFactor', 'in:deleteNonce'], step.calls.join(', '));
  t.strictSame(step.outside, [], 'no call outside it');
  t.equal((await inner.getCounter(user.userId, 'failures', step.now))?.count, 1, 'the failure is counted');
  await env.twoFactor.completeChallenge(step.challengeToken, { code: codeAt(user.secret, step.now) });
  t.pass('the same challenge token then takes the right code');
});

t.test('a recovery code: spent and counted inside atomically, with the session', async (t) => {
  const { store, inner, log } = batchingStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const step = await secondStep(
    env,
    log,
    user.userId,
    () => ({ recoveryCode: user.recoveryCodes[0]! }),
    'rc',
  );
  t.equal(step.error, undefined, 'accepted');
  t.ok(
    step.calls.includes('in:consumeRecoveryCode') && step.calls.includes('in:putNonces'),
    step.calls.join(', '),
  );
  t.strictSame(step.outside, [], 'no call outside it');
  t.equal(await inner.countRecoveryCodes(user.userId), user.recoveryCodes.length - 1, 'the code is spent');
});

t.test('a delayed recovery in progress is cancelled inside atomically', async (t) => {
  const { store, inner, log } = batchingStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  await env.twoFactor.completeRecovery(user.userId, token, { delayMs: HOUR });
  const step = await secondStep(env, log, user.userId, (now) => ({ code: codeAt(user.secret, now) }), 'due');
  t.equal(step.error, undefined, 'accepted');
  t.ok(step.calls.includes('in:takeNonce'), `the schedule taken inside: ${step.calls.join(', ')}`);
  t.strictSame(step.outside, [], 'no call outside it');
  t.equal(await env.twoFactor.processDueRecovery(user.userId), false, 'nothing left to carry out');
  t.equal((await inner.listAuthenticators(user.userId, step.now)).length, 1, '2FA stays on');
});

t.test('a secret resealed under a new key: the reseal inside atomically', async (t) => {
  const keyA = new Uint8Array(32).fill(1);
  const { store, log } = batchingStore();
  const before = makeEngine({ store, keyring: createKeyring({ keys: { a: keyA }, current: 'a' }) });
  const user = await enrolledUser(before);
  const env = makeEngine({
    store,
    keyring: createKeyring({ keys: { b: new Uint8Array(32).fill(2), a: keyA }, current: 'b' }),
  });
  env.clock.advance(before.clock.now() - env.clock.now());
  const step = await secondStep(
    env,
    log,
    user.userId,
    (now) => ({ code: codeAt(user.secret, now) }),
    'reseal',
  );
  t.equal(step.error, undefined, 'accepted');
  t.ok(step.calls.includes('in:replaceSealedSecret'), step.calls.join(', '));
  t.strictSame(step.outside, [], 'no call outside it');
});

t.test('locked out: the refusal comes from inside atomically, and nothing is called outside', async (t) => {
  const { store, log } = batchingStore();
  const env = makeEngine({ store, lockout: { maxFailures: 3 } });
  const user = await enrolledUser(env);
  for (let i = 0; i < 3; i++) {
    const wrong = await secondStep(env, log, user.userId, (now) => ({ code: wrongCode(user.secret, now) }));
    t.type(wrong.error, InvalidCodeError, `wrong code ${i + 1} refused`);
  }
  const step = await secondStep(env, log, user.userId, (now) => ({ code: codeAt(user.secret, now) }));
  t.match(step.error, { code: 'TWOFOLD_LOCKED' }, 'the right code is refused: locked');
  t.strictSame(step.calls, ['in:beginSecondFactor', 'in:deleteNonce'], step.calls.join(', '));
  t.strictSame(step.outside, [], 'no call outside it');
});

t.test('outside a login, verify, useRecoveryCode and verifySecondFactor run inside atomically', async (t) => {
  const { store, inner, log } = batchingStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const now = env.clock.now();
  const checks: [string, () => Promise<unknown>, string][] = [
    [
      'verify',
      () => env.twoFactor.verify(user.userId, codeAt(user.secret, now)),
      'in:consumeCounterAndReset',
    ],
    [
      'useRecoveryCode',
      () => env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]!),
      'in:consumeRecoveryCode',
    ],
    [
      'verifySecondFactor',
      () => env.twoFactor.verifySecondFactor(user.userId, { code: codeAt(user.secret, now, 1) }),
      'in:consumeCounterAndReset',
    ],
  ];
  for (const [name, check, spends] of checks) {
    log.length = 0;
    await check();
    const { calls, outside } = inside(log);
    t.equal(calls[0], 'in:beginSecondFactor', `${name}: begins inside`);
    t.ok(calls.includes(spends), `${name}: ${calls.join(', ')}`);
    t.strictSame(outside, [], `${name}: no call outside it`);
  }
  log.length = 0;
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, now)), InvalidCodeError);
  t.equal((await inner.getCounter(user.userId, 'failures', now))?.count, 1, 'a replayed code is counted');
  t.strictSame(inside(log).outside, [], 'and refused inside');
});

t.test('a malformed user id rejects (never throws) on a store with atomically', async (t) => {
  const { store } = batchingStore();
  const env = makeEngine({ store });
  for (const [name, call] of [
    ['verify', () => env.twoFactor.verify('', '123456')],
    ['useRecoveryCode', () => env.twoFactor.useRecoveryCode('', 'abcd-efgh')],
    ['verifySecondFactor', () => env.twoFactor.verifySecondFactor('', { code: '123456' })],
  ] as const) {
    let pending: Promise<unknown> | undefined;
    t.doesNotThrow(() => {
      pending = call();
    }, `${name}: no synchronous throw`);
    await t.rejects(pending!, { code: 'TWOFOLD_INVALID_INPUT' }, `${name}: rejects`);
  }
});
