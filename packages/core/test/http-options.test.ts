import t from 'tap';
import { createTwofoldHttp } from '../src/http/service.js';
import { createTwoFactor, memoryStore } from '../src/index.js';
import { testKeyring } from './helpers.js';

const authenticate = async () => null;
const base = () => ({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme', authenticate });

t.test('engine options or an engine, not both', async (t) => {
  t.ok(createTwofoldHttp(base()).engine);
  const engine = createTwoFactor({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme' });
  t.equal(createTwofoldHttp({ twoFactor: engine, authenticate }).engine, engine);
  t.throws(() => createTwofoldHttp({ ...base(), twoFactor: engine } as never), {
    name: 'TypeError',
    message: /either "twoFactor" or the engine options \(store, keyring, issuer\)/,
  });
});

t.test('wrong options throw at creation, naming the option', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['window out of range', { totp: { window: 50 } }, /"totp\.window"/],
    ['missing keyring', { keyring: undefined }, /"keyring"/],
    ['prefix with trailing slash', { prefix: '/2fa/' }, /"prefix" must be a path/],
    ['access ttl too long', { tokens: { accessTtlSeconds: 10 * 86_400 } }, /"tokens\.accessTtlSeconds"/],
    ['unknown option', { prefx: '/2fa' }, /unknown option "prefx"/],
    ['rate limit max zero', { rateLimit: { max: 0 } }, /"rateLimit\.max"/],
    ['authenticate not a function', { authenticate: 'yes' }, /"authenticate" must be a function/],
    ['recovery without linkUrl', { recovery: { findUserByEmail: authenticate } }, /"recovery\.getUserEmail"/],
    [
      'recovery link not http',
      {
        recovery: {
          findUserByEmail: authenticate,
          getUserEmail: authenticate,
          verifyPassword: authenticate,
          sendMail: authenticate,
          linkUrl: 'javascript:alert(1)',
        },
      },
      /"recovery\.linkUrl" must be an http\(s\) URL/,
    ],
  ];
  for (const [name, change, message] of cases) {
    t.throws(
      () => createTwofoldHttp({ ...base(), ...change } as never),
      { name: 'TypeError', message },
      name,
    );
  }
  t.throws(() => createTwofoldHttp({ ...base(), authenticate: undefined }), {
    message: /"authenticate" .* or "getUserId" .* is required/,
  });
});

t.test('routes follow the callbacks given', async (t) => {
  const ids = (options: object) => createTwofoldHttp(options as never).routes.map((route) => route.id);
  const withLogin = ids(base());
  t.ok(withLogin.includes('login') && withLogin.includes('token.refresh'));
  t.notOk(withLogin.includes('recovery.request'), 'no recovery routes without recovery callbacks');
  const ownSessions = ids({ ...base(), authenticate: undefined, getUserId: () => 'u' });
  t.same(ownSessions, [
    'totp.enroll',
    'totp.confirm',
    'totp.disable',
    'recoveryCodes.rotate',
    'status',
    'authenticators.list',
    'authenticators.rename',
    'authenticators.remove',
  ]);
  t.notOk(
    withLogin.some((id) => id.startsWith('webauthn.')),
    'no security key routes without the webauthn option',
  );
  const withKeys = ids({
    ...base(),
    webauthn: { rpId: 'app.example.test', origins: ['https://app.example.test'] },
  });
  t.strictSame(
    withKeys.filter((id) => id.startsWith('webauthn.')),
    ['webauthn.register.options', 'webauthn.register.verify', 'webauthn.authenticate.options'],
  );
  const http = createTwofoldHttp(base());
  t.same(http.options.rateLimit, { max: 60, sensitiveMax: 10, timeWindowMs: 60_000 });
  t.equal(http.options.prefix, '/2fa');
  t.equal(http.options.bodyLimit, 16_384);
});

t.test('every route with a body documents it as JSON Schema refusing unknown fields', async (t) => {
  const http = createTwofoldHttp(base());
  for (const route of http.routes) {
    const schema = http.bodyJsonSchema(route);
    if (route.body === null || route.body === 'empty') {
      t.equal(schema, undefined, route.id);
      continue;
    }
    t.equal(schema?.type, 'object', route.id);
    t.equal(schema?.additionalProperties, false, route.id);
  }
});
