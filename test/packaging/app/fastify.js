// The host app on the packed @twofold/fastify, in plain JavaScript. The test copies it into a fresh
// npm project as app.js. `startApp` is the HTTP contract suite's app factory (MakeContractApp): the
// kit under /2fa, two host routes behind its guards, the logger at level trace captured for the
// no-secrets-in-logs checks.
import { Writable } from 'node:stream';
import twofold from '@twofold/fastify';
import Fastify from 'fastify';

export async function startApp({ twofold: options, trustProxy = false }) {
  const logs = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  const app = Fastify({ logger: { level: 'trace', stream }, trustProxy });
  try {
    await app.register(twofold, options);
    app.get('/host/protected', { preHandler: app.twofoldAuthenticate }, async (request) => ({
      userId: request.twofoldUser.userId,
    }));
    app.get(
      '/host/sensitive',
      { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp()] },
      async (request) => ({ userId: request.twofoldUser.userId }),
    );
    app.get(
      '/host/sensitive-second-factor',
      { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp(undefined, { secondFactor: true })] },
      async (request) => ({ userId: request.twofoldUser.userId }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await app.close();
    throw error;
  }
  const origin = `http://127.0.0.1:${app.server.address().port}`;
  return {
    origin,
    baseUrl: `${origin}${app.twofold.http.options.prefix}`,
    logs,
    close: () => app.close(),
  };
}
