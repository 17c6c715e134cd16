// Options are validated when twofold() is called: a wrong one throws a TypeError naming it.
import { createTwoFactor, memoryStore } from '@twofold/core';
import t from 'tap';
import twofoldDefault, { type TwofoldExpressOptions, twofold } from '../src/index.js';
import { authenticate, testKeyring } from './helpers.js';

const base = () => ({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme', authenticate });

t.test('the default export and the named export are the same function', async (t) => {
  t.equal(twofoldDefault, twofold);
});

t.test('valid options give a Router with every route of the table', async (t) => {
  const router = twofold(base());
  t.equal(typeof router, 'function', 'an Express router is a middleware function');
  t.equal(typeof router.use, 'function');
  const routes = router.stack
    .filter((layer) => layer.route)
    .map(
      (layer) =>
        `${Object.keys((layer.route as unknown as { methods: object }).methods)[0]} ${layer.route!.path}`,
    );
  t.same(
    routes,
    router.http.routes.map((route) => `${route.method.toLowerCase()} ${route.path}`),
  );
});

t.test('wrong options throw at creation, naming the option', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['log not a function', { log: 'console' }, /"log" must be a function/],
    ['prefix', { prefix: '/2fa' }, /"prefix" does not apply to Express/],
    ['unknown option', { trustProxy: true }, /unknown option "trustProxy"/],
    ['missing store', { store: undefined }, /"store"/],
    ['issuer with a colon', { issuer: 'Acme:Inc' }, /"issuer" must not contain a colon/],
    ['window too wide', { totp: { window: 10 } }, /"totp\.window"/],
    ['body limit too small', { bodyLimit: 10 }, /"bodyLimit"/],
    ['sensitiveMax zero', { rateLimit: { sensitiveMax: 0 } }, /"rateLimit\.sensitiveMax"/],
    [
      'redis not a client',
      { rateLimit: { redis: { host: 'localhost' } } },
      /"rateLimit\.redis" must be an ioredis client/,
    ],
    ['getUserId not a function', { getUserId: 'sub' }, /"getUserId" must be a function/],
    ['step-up age too short', { stepUp: { maxAgeSeconds: 5 } }, /"stepUp\.maxAgeSeconds"/],
    ['no authenticate nor getUserId', { authenticate: undefined }, /"authenticate" .*or "getUserId"/],
  ];
  for (const [name, change, message] of cases) {
    t.throws(
      () => twofold({ ...base(), ...change } as TwofoldExpressOptions),
      { name: 'TypeError', message },
      name,
    );
  }
  for (const notOptions of [undefined, null, 'opts', []]) {
    t.throws(() => twofold(notOptions as never), { name: 'TypeError', message: /Invalid twofold options/ });
  }
});

t.test('an engine instead of the engine options', async (t) => {
  const engine = createTwoFactor({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme' });
  t.equal(twofold({ twoFactor: engine, authenticate }).engine, engine);
  t.throws(() => twofold({ twoFactor: engine, issuer: 'Other', authenticate } as never), {
    name: 'TypeError',
    message: /either "twoFactor" or the engine options/,
  });
});

t.test('defaults: rate limits on, 16 KiB bodies, 5 min step-up', async (t) => {
  const { options } = twofold(base()).http;
  t.same(options.rateLimit, { max: 60, sensitiveMax: 10, timeWindowMs: 60_000 });
  t.equal(options.bodyLimit, 16_384);
  t.equal(options.stepUp.maxAgeSeconds, 300);
});
