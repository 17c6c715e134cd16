import t from 'tap';
import { memoryStore, type Store } from '../src/index.js';
import { codeAt, enrolledUser, makeEngine, wrongCode } from './helpers.js';

/** A memoryStore whose operations can be made to throw like a dead database driver. */
function flakyStore() {
  const inner = memoryStore();
  const state = { down: false };
  const store = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (state.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
        return value.apply(target, args);
      };
    },
  }) as Store;
  return { store, state };
}

t.test('a store that throws makes every flow fail closed with STORE_UNAVAILABLE', async (t) => {
  const { store, state } = flakyStore();
  const env = makeEngine({ store });
  const user = await enrolledUser(env);
  const id = user.enrollment.authenticatorId;
  state.down = true;
  const code = codeAt(user.secret, env.clock.now());
  const flows: [string, () => Promise<unknown>][] = [
    ['verify', () => env.twoFactor.verify(user.userId, code)],
    ['useRecoveryCode', () => env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0])],
    ['enroll', () => env.twoFactor.enroll('someone-else')],
    ['status', () => env.twoFactor.status(user.userId)],
    ['disable', () => env.twoFactor.disable(user.userId, { code })],
    ['confirm', () => env.twoFactor.confirm(user.userId, code)],
    ['listAuthenticators', () => env.twoFactor.listAuthenticators(user.userId)],
    ['renameAuthenticator', () => env.twoFactor.renameAuthenticator(user.userId, id, 'Phone')],
    ['removeAuthenticator', () => env.twoFactor.removeAuthenticator(user.userId, id, { code })],
    ['createRecoveryToken', () => env.twoFactor.createRecoveryToken(user.userId)],
  ];
  for (const [name, flow] of flows) {
    await t.rejects(flow(), { code: 'TWOFOLD_STORE_UNAVAILABLE' }, name);
  }
  state.down = false;
  await t.resolves(env.twoFactor.verify(user.userId, code), 'works again when the store returns');
  t.match(await env.twoFactor.listAuthenticators(user.userId), [{ id, name: 'Authenticator app' }]);
});

t.test('no error message contains a secret, a code or a recovery code', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const user = await enrolledUser(env);
  const code = codeAt(user.secret, env.clock.now());
  const wrong = wrongCode(user.secret, env.clock.now());
  const errors: Error[] = [];
  const collect = (promise: Promise<unknown>) => promise.catch((error: Error) => errors.push(error));
  const badName = `Phone\u0007${user.secret}`;
  await collect(env.twoFactor.confirm(user.userId, code));
  await collect(env.twoFactor.verify(user.userId, wrong));
  await collect(env.twoFactor.useRecoveryCode(user.userId, 'ZZZZ-ZZZZ-ZZZZ'));
  await collect(env.twoFactor.enroll(user.userId, { name: badName }));
  await collect(env.twoFactor.renameAuthenticator(user.userId, user.enrollment.authenticatorId, badName));
  await collect(env.twoFactor.renameAuthenticator(user.userId, code, 'Phone'));
  await collect(
    env.twoFactor.removeAuthenticator(user.userId, code, { recoveryCode: user.recoveryCodes[0] }),
  );
  await collect(env.twoFactor.completeChallenge('not-a-token', { code }));
  await collect(env.twoFactor.completeRecovery(user.userId, 'wrong-token'));
  await collect(
    env.twoFactor.removeAuthenticator(user.userId, user.enrollment.authenticatorId, { code: wrong }),
  );
  await collect(env.twoFactor.verify(user.userId, wrong));
  await collect(env.twoFactor.verify(user.userId, code));
  t.strictSame(
    errors.map((error) => (error as Error & { code: string }).code),
    [
      'TWOFOLD_NOT_PENDING',
      'TWOFOLD_INVALID_CODE',
      'TWOFOLD_INVALID_CODE',
      'TWOFOLD_INVALID_INPUT',
      'TWOFOLD_INVALID_INPUT',
      'TWOFOLD_NOT_FOUND',
      'TWOFOLD_NOT_FOUND',
      'TWOFOLD_INVALID_CHALLENGE',
      'TWOFOLD_INVALID_RECOVERY_TOKEN',
      'TWOFOLD_INVALID_CODE',
      'TWOFOLD_LOCKED',
      'TWOFOLD_LOCKED',
    ],
  );
  for (const error of errors) {
    const text = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`;
    for (const secret of [
      user.secret,
      code,
      wrong,
      badName,
      'ZZZZ-ZZZZ-ZZZZ',
      'wrong-token',
      ...user.recoveryCodes,
    ]) {
      t.notMatch(text, secret, `${error.constructor.name} does not echo input`);
    }
  }
});
