/**
 * completeChallenge's `sessionNonces`: the session a login starts is written with the store call that
 * spends the code's time step (Store.finishSecondFactor) when nothing else is left to store, after the
 * factor otherwise, and never for a factor that is refused.
 */
import t from 'tap';
import {
  createKeyring,
  memoryStore,
  type NonceWrite,
  type Store,
  type VerifiedFactor,
} from '../src/index.js';
import { OPTIONAL_STORE_METHODS } from '../src/options.js';
import { codeAt, enrolledUser, interleavingStore, makeEngine, wrongCode } from './helpers.js';

/** A store that records the name of every operation called on it, in order. */
function recording(inner: Store, without: readonly string[] = []) {
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (typeof property === 'string' && without.includes(property)) return undefined;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        calls.push(property);
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return { store, calls };
}

/** A session's two nonces, as the HTTP layer makes them, and what the callback was asked. */
function session(name: string, expiresAt: number) {
  const asked: VerifiedFactor[] = [];
  const nonces: NonceWrite[] = [
    { key: `${name}:meta`, value: `meta of ${name}`, expiresAt },
    { key: `${name}:family`, value: `family of ${name}`, expiresAt },
  ];
  return {
    asked,
    nonces,
    options: {
      sessionNonces: (verified: VerifiedFactor) => {
        asked.push(verified);
        return nonces;
      },
    },
  };
}

/** The values of `nonces`' keys in `store` now (null for an absent one). */
function stored(store: Store, userId: string, nonces: readonly NonceWrite[], now: number) {
  return Promise.all(nonces.map(({ key }) => store.getNonce(userId, key, now)));
}

const HOUR = 3_600_000;

t.test("a code's login writes its session in the call that spends the step: two store calls", async (t) => {
  const { store, calls } = recording(memoryStore());
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  const login = session('s1', env.clock.now() + HOUR);
  calls.length = 0;
  const verified = await env.twoFactor.completeChallenge(
    challengeToken,
    { code: codeAt(user.secret, env.clock.now()) },
    login.options,
  );
  t.strictSame(calls, ['beginSecondFactor', 'finishSecondFactor'], calls.join(', '));
  t.strictSame(login.asked, [verified], 'asked once, with the verified factor');
  t.match(verified, { userId: user.userId, method: 'totp', amr: 'otp' });
  t.strictSame(
    await stored(store, user.userId, login.nonces, env.clock.now()),
    login.nonces.map((nonce) => nonce.value),
    'the session is stored',
  );
});

t.test('a refused code stores no session', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const now = env.clock.now();
  const wrong = session('wrong', now + HOUR);
  await t.rejects(
    env.twoFactor.completeChallenge(
      (await env.twoFactor.createChallenge(user.userId)).challengeToken,
      { code: wrongCode(user.secret, now) },
      wrong.options,
    ),
    { code: 'TWOFOLD_INVALID_CODE' },
  );
  t.strictSame(wrong.asked, [], 'a wrong code: not asked');
  t.strictSame(await stored(env.store, user.userId, wrong.nonces, now), [null, null], 'nothing stored');

  const code = codeAt(user.secret, now);
  await env.twoFactor.completeChallenge((await env.twoFactor.createChallenge(user.userId)).challengeToken, {
    code,
  });
  const replayed = session('replayed', now + HOUR);
  await t.rejects(
    env.twoFactor.completeChallenge(
      (await env.twoFactor.createChallenge(user.userId)).challengeToken,
      { code },
      replayed.options,
    ),
    { code: 'TWOFOLD_INVALID_CODE' },
  );
  // The spent step shows in the authenticator read at the start; a step spent by a concurrent login
  // after that read is the concurrent tests' case below.
  t.strictSame(replayed.asked, [], 'a code whose step was spent: not asked');
  t.strictSame(
    await stored(env.store, user.userId, replayed.nonces, now),
    [null, null],
    'a code whose step was spent: nothing stored',
  );
});

t.test("a recovery code's login stores its session after the code is spent", async (t) => {
  const { store, calls } = recording(memoryStore());
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  const login = session('rc', env.clock.now() + HOUR);
  calls.length = 0;
  const verified = await env.twoFactor.completeChallenge(
    challengeToken,
    { recoveryCode: user.recoveryCodes[0] },
    login.options,
  );
  t.equal(verified.method, 'recovery-code');
  t.strictSame(login.asked, [verified], 'asked once, with the verified factor');
  t.ok(calls.indexOf('putNonces') > calls.indexOf('consumeRecoveryCode'), calls.join(', '));
  t.strictSame(
    await stored(store, user.userId, login.nonces, env.clock.now()),
    login.nonces.map((nonce) => nonce.value),
    'the session is stored',
  );
});

t.test('a login whose secret is resealed under a new key stores its session after the reseal', async (t) => {
  const keyA = new Uint8Array(32).fill(1);
  const inner = memoryStore();
  const before = makeEngine({ store: inner, keyring: createKeyring({ keys: { a: keyA }, current: 'a' }) });
  const user = await enrolledUser(before);
  const { store, calls } = recording(inner);
  const env = makeEngine({
    store,
    keyring: createKeyring({ keys: { b: new Uint8Array(32).fill(2), a: keyA }, current: 'b' }),
  });
  env.clock.advance(before.clock.now() - env.clock.now());
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  const login = session('reseal', env.clock.now() + HOUR);
  calls.length = 0;
  await env.twoFactor.completeChallenge(
    challengeToken,
    { code: codeAt(user.secret, env.clock.now()) },
    login.options,
  );
  t.strictSame(
    calls,
    ['beginSecondFactor', 'consumeCounterAndReset', 'replaceSealedSecret', 'putNonces'],
    calls.join(', '),
  );
  t.strictSame(
    await stored(inner, user.userId, login.nonces, env.clock.now()),
    login.nonces.map((nonce) => nonce.value),
    'the session is stored',
  );
});

t.test('a store without the optional operations stores the session one call at a time', async (t) => {
  const { store, calls } = recording(memoryStore(), OPTIONAL_STORE_METHODS);
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  const login = session('plain', env.clock.now() + HOUR);
  calls.length = 0;
  await env.twoFactor.completeChallenge(
    challengeToken,
    { code: codeAt(user.secret, env.clock.now()) },
    login.options,
  );
  t.notOk(
    calls.some((call) => (OPTIONAL_STORE_METHODS as readonly string[]).includes(call)),
    'no optional operation called',
  );
  t.strictSame(
    calls.slice(-4),
    ['consumeCounter', 'resetCounterIfUnchanged', 'putNonce', 'putNonce'],
    calls.join(', '),
  );
  t.strictSame(
    await stored(store, user.userId, login.nonces, env.clock.now()),
    login.nonces.map((nonce) => nonce.value),
    'the session is stored',
  );
});

for (const [name, without] of [
  ['memoryStore', []],
  ['a store without finishSecondFactor', ['finishSecondFactor']],
  ['a store without the optional operations', OPTIONAL_STORE_METHODS],
] as const) {
  t.test(
    `${name}: of 20 concurrent logins of one user with one code, one succeeds and one session is stored`,
    async (t) => {
      // Each operation stays atomic, but the flows interleave their calls as they would over a network.
      const inner = memoryStore();
      const { store } = recording(interleavingStore(inner), without);
      const env = makeEngine({ store });
      const user = await enrolledUser(env);
      const now = env.clock.now();
      const code = codeAt(user.secret, now);
      const tokens = await Promise.all(
        Array.from({ length: 20 }, () => env.twoFactor.createChallenge(user.userId)),
      );
      const logins = tokens.map((_, i) => session(`c${i}`, now + HOUR));
      const results = await Promise.allSettled(
        tokens.map(({ challengeToken }, i) =>
          env.twoFactor.completeChallenge(challengeToken, { code }, logins[i]!.options),
        ),
      );
      const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
      t.equal(won.length, 1, 'exactly one login succeeded');
      const storedSessions: number[] = [];
      for (const [i, login] of logins.entries()) {
        const values = await stored(inner, user.userId, login.nonces, now);
        if (values.some((value) => value !== null)) storedSessions.push(i);
      }
      t.strictSame(storedSessions, won, "only the winner's session is stored");
    },
  );
}
