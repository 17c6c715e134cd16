/**
 * The plugin itself: its export forms, option validation at register time, where the routes land,
 * and that nothing of the kit's scope leaks into the host app.
 */
import Fastify from 'fastify';
import t from 'tap';
import twofold, { twofold as named, redact } from '../src/index.js';
import { buildApp, kitOptions, login } from './helpers.js';

t.test('exported as default and by name, wrapped by fastify-plugin as @twofold/fastify', async (t) => {
  t.equal(named, twofold, 'the default export is the named one');
  const meta = (twofold as unknown as Record<symbol, { name: string; fastify: string }>)[
    Symbol.for('plugin-meta')
  ];
  t.equal(meta?.name, '@twofold/fastify');
  t.equal(meta?.fastify, '5.x');
  t.equal((twofold as unknown as { default: unknown }).default, twofold, 'a .default for CommonJS hosts');
});

t.test('invalid options make register reject with a TypeError naming the option', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['issuer of the wrong type', { issuer: 42 }, /"issuer"/],
    ['unknown option', { prefx: '/2fa' }, /unknown option "prefx"/],
    ['prefix without a leading slash', { prefix: '2fa' }, /"prefix"/],
    ['prefix with a trailing slash', { prefix: '/2fa/' }, /"prefix"/],
    ['rateLimit.max of zero', { rateLimit: { max: 0 } }, /"rateLimit.max"/],
    ['bodyLimit too small', { bodyLimit: 10 }, /"bodyLimit"/],
    ['getUserId not a function', { getUserId: 'user' }, /"getUserId"/],
    ['rateLimit.redis not a client', { rateLimit: { redis: { host: 'localhost' } } }, /"rateLimit.redis"/],
    ['no keyring', { keyring: undefined }, /"keyring"/],
    ['neither authenticate nor getUserId', { authenticate: undefined }, /"authenticate".*"getUserId"/],
  ];
  for (const [what, overrides, message] of cases) {
    const app = Fastify();
    t.teardown(() => app.close());
    app.register(twofold, kitOptions(undefined, overrides as never));
    await t.rejects(async () => app.ready(), { name: 'TypeError', message }, what);
  }
});

t.test('registering twice on one instance is refused with a clear error', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  app.register(twofold, kitOptions());
  app.register(twofold, kitOptions());
  await t.rejects(async () => app.ready(), { message: /already registered/ });
});

t.test('routes land under /2fa by default', async (t) => {
  const { app } = await buildApp(t);
  for (const route of app.twofold.http.routes) {
    t.ok(
      app.hasRoute({ method: route.method, url: `/2fa${route.path}` }),
      `${route.method} /2fa${route.path}`,
    );
  }
  const answer = await app.inject({
    method: 'POST',
    url: '/2fa/login',
    payload: { username: 'ada', password: 'nope' },
  });
  t.equal(answer.json().code, 'TWOFOLD_INVALID_CREDENTIALS');
});

t.test('the prefix option moves them, and a host scope prefix composes with it', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(
    async (api) => {
      await api.register(twofold, kitOptions(undefined, { prefix: '/auth/two-factor' }));
    },
    { prefix: '/api' },
  );
  await app.ready();
  const moved = await app.inject({
    method: 'POST',
    url: '/api/auth/two-factor/login',
    payload: { username: 'ada', password: 'nope' },
  });
  t.equal(moved.statusCode, 401);
  t.equal(moved.json().code, 'TWOFOLD_INVALID_CREDENTIALS');
  const old = await app.inject({ method: 'POST', url: '/2fa/login', payload: {} });
  t.equal(old.statusCode, 404);
  t.strictSame(old.json().code, undefined, "outside the prefix, the host's own 404");
});

t.test('the host app keeps its parsers, 404s, error handler and limits', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await app.register(twofold, kitOptions(undefined, { rateLimit: { max: 1, sensitiveMax: 1 } }));
  app.setErrorHandler((_error, _request, reply) => reply.code(418).send({ host: true }));
  app.post('/echo', async (request) => ({ body: request.body }));
  app.get('/boom', async () => {
    throw new Error('host failure');
  });
  await app.ready();

  const text = await app.inject({
    method: 'POST',
    url: '/echo',
    payload: 'plain',
    headers: { 'content-type': 'text/plain' },
  });
  t.strictSame(text.json(), { body: 'plain' }, 'text/plain still parsed on host routes');
  t.equal(text.headers['cache-control'], undefined, 'no no-store added to host routes');
  for (let i = 0; i < 3; i++) {
    t.equal(
      (await app.inject({ method: 'POST', url: '/echo', payload: {} })).statusCode,
      200,
      'host routes are not limited',
    );
  }
  t.strictSame(
    (await app.inject({ method: 'GET', url: '/boom' })).json(),
    { host: true },
    "host errors go to the host's handler",
  );
  const missing = await app.inject({ method: 'GET', url: '/nowhere' });
  t.match(missing.json(), { message: 'Route GET:/nowhere not found' }, "host 404s stay Fastify's");
});

t.test(
  'Fastify register options logLevel applies to the kit scope rather than failing validation',
  async (t) => {
    const app = Fastify();
    t.teardown(() => app.close());
    await app.register(twofold, { ...kitOptions(), logLevel: 'silent' });
    await app.ready();
    t.equal((await login(app, 'ada')).twoFactorRequired, false);
  },
);

t.test('redact lists the Authorization header and every secret-bearing body field', async (t) => {
  for (const path of [
    'req.headers.authorization',
    'req.body.code',
    'req.body.recoveryCode',
    'req.body.password',
  ]) {
    t.ok(redact.includes(path), path);
  }
  t.ok(redact.some((path) => path.endsWith('refreshToken')));
  t.ok(redact.some((path) => path.endsWith('secret')));
});
