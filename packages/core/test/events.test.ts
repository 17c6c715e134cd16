import t from 'tap';
import { codeAt, enrolledUser, flushEvents, makeEngine } from './helpers.js';

t.test('every flow emits its event with the documented payload', async (t) => {
  const env = makeEngine();
  const seen: [string, unknown][] = [];
  for (const name of [
    'enrolled',
    'confirmed',
    'authenticatorAdded',
    'authenticatorRemoved',
    'verified',
    'failed',
    'recoveryCodeUsed',
    'recoveryCodesRotated',
    'disabled',
    'recoveryRequested',
  ] as const) {
    env.twoFactor.on(name, (payload) => {
      seen.push([name, payload]);
    });
  }
  const user = await enrolledUser(env);
  await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now()));
  await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())).catch(() => {});
  await env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]);
  env.clock.advance(30_000);
  await env.twoFactor.rotateRecoveryCodes(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  await env.twoFactor.createRecoveryToken(user.userId);
  env.clock.advance(30_000);
  await env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  await flushEvents();
  t.same(
    seen.map(([name]) => name),
    [
      'enrolled',
      'authenticatorAdded',
      'confirmed',
      'verified',
      'failed',
      'verified',
      'recoveryCodeUsed',
      'verified',
      'recoveryCodesRotated',
      'recoveryRequested',
      'verified',
      'disabled',
    ],
  );
  t.strictSame(seen[0]![1], { userId: user.userId, expiresAt: user.enrollment.expiresAt });
  t.strictSame(seen[1]![1], {
    userId: user.userId,
    authenticatorId: user.enrollment.authenticatorId,
    type: 'totp',
    enabled: true,
  });
  t.strictSame(seen[2]![1], { userId: user.userId });
  t.strictSame(seen[3]![1], { userId: user.userId, method: 'totp' });
  t.match(seen[4]![1], { userId: user.userId, method: 'totp', reason: 'replayed', failures: 1 });
  t.match(seen[6]![1], { userId: user.userId, remaining: 9 });
  t.match(seen[11]![1], { userId: user.userId, via: 'code' });
  const serialized = JSON.stringify(seen);
  t.notMatch(serialized, user.secret, 'no secret in any event');
  for (const code of user.recoveryCodes) t.notMatch(serialized, code, 'no recovery code in any event');
});

t.test('a throwing listener never breaks the flow, and its error reaches onListenerError', async (t) => {
  const errors: [unknown, string][] = [];
  const env = makeEngine({ onListenerError: (error, event) => errors.push([error, event]) });
  env.twoFactor.on('enrolled', () => {
    throw new Error('listener bug');
  });
  env.twoFactor.on('confirmed', async () => {
    throw new Error('async listener bug');
  });
  const user = await enrolledUser(env);
  t.equal((await env.twoFactor.status(user.userId)).enabled, true);
  await flushEvents();
  t.same(
    errors.map(([error, event]) => [(error as Error).message, event]),
    [
      ['listener bug', 'enrolled'],
      ['async listener bug', 'confirmed'],
    ],
  );
});

t.test('a slow listener does not delay the flow: listeners run after the flow returns', async (t) => {
  const env = makeEngine();
  let listenerStarted = false;
  env.twoFactor.on('enrolled', () => {
    listenerStarted = true;
    return new Promise(() => {}); // never settles
  });
  await env.twoFactor.enroll('user-1');
  t.equal(listenerStarted, false, 'the flow resolved before the listener ran');
  await flushEvents();
  t.equal(listenerStarted, true);
});

t.test('off and the returned unsubscribe remove listeners', async (t) => {
  const env = makeEngine();
  let calls = 0;
  const listener = () => {
    calls++;
  };
  const unsubscribe = env.twoFactor.on('enrolled', listener);
  unsubscribe();
  env.twoFactor.on('enrolled', listener);
  env.twoFactor.off('enrolled', listener);
  await env.twoFactor.enroll('user-1');
  await flushEvents();
  t.equal(calls, 0);
});
