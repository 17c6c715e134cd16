import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';

// Options are checked once, when the store is created; nothing here connects anywhere.

const client = new Redis({ lazyConnect: true });
tap.teardown(() => client.disconnect());

tap.test('malformed options are a TypeError naming the option', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['no options', undefined, /\(options\)/],
    ['no client', {}, /"client"/],
    [
      'a client that is not ioredis',
      { client: { get() {} } },
      /"client" must be an ioredis Redis or Cluster/,
    ],
    ['a prefix with an opening brace', { client, prefix: 'app{' }, /"prefix" must not contain "\{" or "\}"/],
    ['a prefix with a closing brace', { client, prefix: 'a}pp:' }, /"prefix"/],
    ['a prefix that is not a string', { client, prefix: 42 }, /"prefix"/],
    ['a timeout of zero', { client, operationTimeoutMs: 0 }, /"operationTimeoutMs"/],
    ['a fractional timeout', { client, operationTimeoutMs: 1.5 }, /"operationTimeoutMs"/],
    ['a timeout over a minute', { client, operationTimeoutMs: 60_001 }, /"operationTimeoutMs"/],
    ['a timeout as a string', { client, operationTimeoutMs: '2000' }, /"operationTimeoutMs"/],
    ['an unknown option', { client, timeout: 5 }, /timeout/],
  ];
  for (const [name, options, message] of cases) {
    t.throws(() => redisStore(options as never), { name: 'TypeError', message }, name);
  }
});

tap.test('client, prefix and operationTimeoutMs within bounds are accepted', async (t) => {
  const cases: [string, object][] = [
    ['only a client', { client }],
    ['an empty prefix', { client, prefix: '' }],
    ['the timeout bounds', { client, operationTimeoutMs: 1 }],
    ['the upper timeout bound', { client, operationTimeoutMs: 60_000 }],
  ];
  for (const [name, options] of cases) {
    t.doesNotThrow(() => redisStore(options as never), name);
  }
});

tap.test('an empty user id is refused with TWOFOLD_INVALID_INPUT before anything is sent', async (t) => {
  const store = redisStore({ client });
  await t.rejects(store.getNonce('', 'k', Date.now()), { code: 'TWOFOLD_INVALID_INPUT', field: 'userId' });
  await t.rejects(store.countRecoveryCodes(''), { code: 'TWOFOLD_INVALID_INPUT', field: 'userId' });
  t.equal(client.status, 'wait', 'the lazy client was never asked to connect');
});

tap.test('close does not close the client', async (t) => {
  await redisStore({ client }).close?.();
  t.equal(client.status, 'wait');
});
