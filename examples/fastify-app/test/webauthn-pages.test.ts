/**
 * Security keys and passkeys on the pages of the Fastify example, in Chromium with a virtual
 * authenticator: the steps are in `webauthn-scenario.ts` (the Express example runs them too).
 */
import t from 'tap';
import { buildApp } from '../src/app.js';
import { webauthnPagesTest } from './webauthn-scenario.js';

await t.test('security keys and passkeys on the pages of the Fastify example', (t) =>
  webauthnPagesTest(t, {
    kind: 'fastify',
    async start(config, port) {
      const { app, example } = await buildApp(config);
      await app.listen({ host: '127.0.0.1', port });
      return { example, close: () => app.close() };
    },
  }),
);
