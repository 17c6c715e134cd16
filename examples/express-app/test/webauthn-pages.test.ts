/**
 * Security keys and passkeys on the pages of the Express example, in Chromium with a virtual
 * authenticator: the same steps as the Fastify example's (`../../fastify-app/test/webauthn-scenario.ts`).
 */
import { createServer } from 'node:http';
import t from 'tap';
import { webauthnPagesTest } from '../../fastify-app/test/webauthn-scenario.js';
import { buildApp } from '../src/app.js';

await t.test('security keys and passkeys on the pages of the Express example', (t) =>
  webauthnPagesTest(t, {
    kind: 'express',
    async start(config, port) {
      const { app, example } = await buildApp(config, () => {});
      const server = createServer(app);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return {
        example,
        async close() {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
          await example.close();
        },
      };
    },
  }),
);
