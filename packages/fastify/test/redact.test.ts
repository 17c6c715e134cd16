/**
 * The `redact` export protects a host whose own logging is careless: a request serializer that
 * writes headers and bodies still writes no password, code, recovery code or token.
 */
import Fastify, { type FastifyRequest } from 'fastify';
import t from 'tap';
import twofold, { redact } from '../src/index.js';
import { codeAt, controllableClock, enable, kitOptions, logCapture, login, PASSWORD } from './helpers.js';

t.test('with logger.redact = redact, headers and bodies logged by the host hide every secret', async (t) => {
  const clock = controllableClock();
  const logs = logCapture();
  const app = Fastify({
    logger: {
      level: 'info',
      stream: logs.stream,
      redact,
      serializers: {
        req: (request: FastifyRequest) => ({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: request.body,
        }),
      },
    },
  });
  t.teardown(() => app.close());
  // A host hook that logs every request whole, kit routes included.
  app.addHook('preHandler', async (request) => {
    request.log.info({ req: request }, 'audit');
  });
  await app.register(twofold, kitOptions(clock));
  await app.ready();

  const ada = await enable(app, clock, 'ada');
  const { challengeToken } = (await login(app, 'ada')) as { challengeToken: string };
  const code = codeAt(ada.secret, clock.now());
  const tokens = (
    await app.inject({ method: 'POST', url: '/2fa/login/verify', payload: { challengeToken, code } })
  ).json();
  await app.inject({
    method: 'POST',
    url: '/2fa/token/refresh',
    payload: { refreshToken: tokens.refreshToken },
  });
  await app.inject({
    method: 'POST',
    url: '/2fa/login/verify',
    payload: { challengeToken: (await login(app, 'ada')).challengeToken, recoveryCode: ada.recoveryCodes[0] },
  });

  const text = logs.lines.join('\n');
  const audits = logs.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'audit');
  t.ok(audits.length >= 6, `${audits.length} audit lines`);
  t.ok(
    audits.some((entry) => entry.req.body?.password === '[Redacted]'),
    'the password field is there, redacted',
  );
  t.ok(
    audits.some((entry) => entry.req.headers?.authorization === '[Redacted]'),
    'the Authorization header is there, redacted',
  );
  const secrets: [string, string][] = [
    ['password', PASSWORD],
    ['access token', tokens.accessToken],
    ['refresh token', tokens.refreshToken],
    ['challenge token', challengeToken],
    ['recovery code', ada.recoveryCodes[0]!],
  ];
  const found = secrets.filter(([, value]) => text.includes(value)).map(([kind]) => kind);
  if (new RegExp(`(?<![0-9])${code}(?![0-9])`).test(text)) found.push('TOTP code');
  t.strictSame(found, [], 'none of them in the log');
});
