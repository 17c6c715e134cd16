import t from 'tap';
import { memoryStore } from '../src/index.js';
import { codeAt, enrolledUser, flushEvents, interleavingStore, makeEngine } from './helpers.js';

const DAY = 86_400_000;

/** Ada with 2FA and a confirmed delayed recovery: its due time and cancel token. */
async function scheduled(env: ReturnType<typeof makeEngine>, userId = 'user-1') {
  const user = await enrolledUser(env, userId);
  const { token } = await env.twoFactor.createRecoveryToken(userId);
  const result = await env.twoFactor.completeRecovery(userId, token, { delayMs: DAY });
  return { user, token, result: result! };
}

t.test('completeRecovery with delayMs schedules; status shows it; the link is spent', async (t) => {
  const env = makeEngine();
  const seen: string[] = [];
  for (const name of ['recoveryScheduled', 'recoveryCancelled', 'disabled'] as const) {
    env.twoFactor.on(name, () => {
      seen.push(name);
    });
  }
  const { user, token, result } = await scheduled(env);
  t.equal(result.dueAt, env.clock.now() + DAY);
  t.match(result.cancelToken, /^[A-Za-z0-9_-]{43}$/);
  t.match(await env.twoFactor.status(user.userId), {
    enabled: true,
    recoveryPending: { dueAt: new Date(result.dueAt) },
  });
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token, { delayMs: DAY }), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  // A second link while one is scheduled: refused, and the new link is not spent by the refusal.
  const again = await env.twoFactor.createRecoveryToken(user.userId);
  await t.rejects(env.twoFactor.completeRecovery(user.userId, again.token, { delayMs: DAY }), {
    message: /scheduled already/,
  });
  await t.rejects(env.twoFactor.completeRecovery(user.userId, again.token, { delayMs: -1 }), {
    name: 'TypeError',
  });
  env.clock.advance(DAY);
  t.match(
    await env.twoFactor.status(user.userId),
    { enabled: false, recoveryPending: null },
    'due: carried out',
  );
  t.equal(
    await env.store.getNonce(user.userId, 'sessions-revoked-before', env.clock.now()),
    String(env.clock.now() - 1),
  );
  await flushEvents();
  t.strictSame(seen, ['recoveryScheduled', 'disabled']);
});

t.test('cancel: by the link (once), by a second factor; never after it is due', async (t) => {
  const env = makeEngine();
  const cancelled: unknown[] = [];
  env.twoFactor.on('recoveryCancelled', (event) => {
    cancelled.push(event);
  });
  const { user, result } = await scheduled(env);
  for (const bad of [undefined, '', 'x'.repeat(257), 'wrong-token']) {
    await t.rejects(env.twoFactor.cancelRecovery(user.userId, bad), {
      code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
    });
  }
  await env.twoFactor.cancelRecovery(user.userId, result.cancelToken);
  await t.rejects(env.twoFactor.cancelRecovery(user.userId, result.cancelToken), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  env.clock.advance(DAY);
  t.match(await env.twoFactor.status(user.userId), { enabled: true, recoveryPending: null });

  const second = await scheduled(env, 'user-2');
  env.clock.advance(30_000);
  await env.twoFactor.verify('user-2', codeAt(second.user.secret, env.clock.now()));
  t.match(
    await env.twoFactor.status('user-2'),
    { enabled: true, recoveryPending: null },
    'a code cancels it',
  );

  const third = await scheduled(env, 'user-3');
  env.clock.advance(DAY);
  await t.rejects(env.twoFactor.cancelRecovery('user-3', third.result.cancelToken), {
    message: /Too late/,
  });
  t.equal(await env.twoFactor.processDueRecovery('user-3'), true);
  t.equal(await env.twoFactor.processDueRecovery('user-3'), false, 'once');
  await flushEvents();
  t.strictSame(cancelled, [
    { userId: 'user-1', by: 'link' },
    { userId: 'user-2', by: 'second-factor' },
  ]);
});

t.test('processDueRecoveries: every due one across users, pages of batchSize', async (t) => {
  const env = makeEngine();
  for (let index = 0; index < 7; index++) await scheduled(env, `user-${index}`);
  env.clock.advance(DAY / 2);
  await scheduled(env, 'user-late');
  env.clock.advance(DAY / 2);
  t.strictSame(await env.twoFactor.processDueRecoveries({ batchSize: 3 }), { processed: 7, pending: 1 });
  t.match(await env.twoFactor.status('user-0'), { enabled: false });
  t.match(await env.twoFactor.status('user-late'), { enabled: true });
  t.strictSame(await env.twoFactor.processDueRecoveries(), { processed: 0, pending: 1 });
  await t.rejects(env.twoFactor.processDueRecoveries({ batchSize: 0 }), { name: 'TypeError' });
});

t.test('concurrent confirms of one link: exactly one schedules', async (t) => {
  const env = makeEngine({ store: interleavingStore(memoryStore()) });
  const user = await enrolledUser(env);
  for (let round = 0; round < 20; round++) {
    const { token } = await env.twoFactor.createRecoveryToken(user.userId);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => env.twoFactor.completeRecovery(user.userId, token, { delayMs: DAY })),
    );
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: one schedule`);
    const won = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{
      cancelToken: string;
    }>;
    await env.twoFactor.cancelRecovery(user.userId, won.value.cancelToken);
  }
});

t.test('a cancel racing the due removal: exactly one of them wins', async (t) => {
  let both = 0;
  let rounds = 0;
  for (let round = 0; round < 60; round++) {
    const env = makeEngine({ store: interleavingStore(memoryStore()) });
    const { user, result } = await scheduled(env);
    env.clock.advance(DAY - 1);
    // The cancel reads the clock before the due time; the removal starts once the clock passed it.
    const cancel = env.twoFactor.cancelRecovery(user.userId, result.cancelToken).then(
      () => true,
      () => false,
    );
    await new Promise((resolve) => setImmediate(resolve));
    env.clock.advance(1);
    const removed = await env.twoFactor.processDueRecovery(user.userId);
    const wasCancelled = await cancel;
    const enabled = (await env.twoFactor.status(user.userId)).enabled;
    if (wasCancelled && removed) both++;
    t.equal(enabled, !removed, `round ${round}: 2FA is off exactly when the removal won`);
    if (wasCancelled || removed) rounds++;
  }
  t.equal(both, 0, 'never both');
  t.equal(rounds, 60, 'and always one');
});
