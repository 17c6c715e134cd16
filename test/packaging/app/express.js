// The host app on the packed @twofold/express, in plain JavaScript. The test copies it into a fresh
// npm project as app.js. `startApp` is the HTTP contract suite's app factory (MakeContractApp): the
// router at /2fa, two host routes behind its middleware, the router's log calls captured for the
// no-secrets-in-logs checks.
import { twofold } from '@twofold/express';
import express from 'express';

export async function startApp({ twofold: options, trustProxy = false }) {
  const logs = [];
  const router = twofold({
    ...options,
    log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })),
  });
  const app = express();
  // The suite's proxy is the test client itself, on loopback.
  app.set('trust proxy', trustProxy ? 'loopback' : false);
  app.use('/2fa', router);
  app.get('/host/protected', router.requireAuth, (request, response) => {
    response.json({ userId: request.twofold.userId });
  });
  app.get('/host/sensitive', router.requireAuth, router.requireStepUp(), (request, response) => {
    response.json({ userId: request.twofold.userId });
  });
  app.get(
    '/host/sensitive-second-factor',
    router.requireAuth,
    router.requireStepUp(undefined, { secondFactor: true }),
    (request, response) => {
      response.json({ userId: request.twofold.userId });
    },
  );

  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    baseUrl: `${origin}/2fa`,
    logs,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
