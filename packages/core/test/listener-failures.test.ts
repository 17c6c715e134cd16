import t from 'tap';
import { codeAt, enrolledUser, flushEvents, makeEngine } from './helpers.js';

t.test(
  'without onListenerError, a failing listener becomes a process warning naming the event',
  async (t) => {
    const env = makeEngine();
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    t.teardown(() => {
      process.off('warning', onWarning);
    });
    env.twoFactor.on('enrolled', () => {
      throw new Error('listener bug with a secret-looking detail');
    });

    const enrollment = await env.twoFactor.enroll('user-1', { label: 'ada@example.com' });
    t.type(enrollment.secret, 'string', 'the flow itself succeeds');
    await flushEvents();
    await new Promise((resolve) => setImmediate(resolve)); // emitWarning reports on a later tick

    const ours = warnings.filter((w) => (w as { code?: string }).code === 'TWOFOLD_LISTENER_ERROR');
    t.equal(ours.length, 1);
    t.equal(ours[0]?.message, 'A twofold "enrolled" event listener failed');
    t.notMatch(ours[0]?.message, /secret-looking/, "the warning does not repeat the listener's error");
  },
);

t.test('an onListenerError that throws is contained: flows and other listeners go on', async (t) => {
  let handled = 0;
  const env = makeEngine({
    onListenerError: () => {
      handled++;
      throw new Error('the error handler is broken too');
    },
  });
  const seen: string[] = [];
  env.twoFactor.on('verified', () => {
    throw new Error('listener bug');
  });
  env.twoFactor.on('verified', (payload) => {
    seen.push(payload.userId);
  });

  const user = await enrolledUser(env);
  await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now()));
  await flushEvents();

  t.equal(handled, 1, 'the handler was called once, for the failing listener');
  t.same(seen, ['user-1'], 'the other listener still ran');
  env.clock.advance(30_000);
  const again = await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now()));
  await flushEvents();
  t.equal(again.method, 'totp', 'later flows still work');
  t.equal(handled, 2);
});
