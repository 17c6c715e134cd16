/**
 * The Express app of the HTTP contract suite (@twofold/http-test-suite): a real listening server with the
 * router at /2fa and the host routes guarded by the router's middleware. Logs are the router's
 * own log calls, one JSON line each.
 */
import type { AddressInfo } from 'node:net';
import type { MakeContractApp } from '@twofold/http-test-suite';
import express from 'express';
import { type TwofoldExpressOptions, twofold } from '../src/index.js';

export const makeExpressContractApp: MakeContractApp = async ({ twofold: options, trustProxy }) => {
  const logs: string[] = [];
  const router = twofold({
    ...(options as TwofoldExpressOptions),
    log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })),
  });
  const app = express();
  // The suite's proxy is the test client itself, on loopback.
  app.set('trust proxy', trustProxy ? 'loopback' : false);
  app.use('/2fa', router);
  app.get('/host/protected', router.requireAuth, (request, response) => {
    response.json({ userId: request.twofold!.userId });
  });
  app.get('/host/sensitive', router.requireAuth, router.requireStepUp(), (request, response) => {
    response.json({ userId: request.twofold!.userId });
  });
  app.get(
    '/host/sensitive-second-factor',
    router.requireAuth,
    router.requireStepUp(undefined, { secondFactor: true }),
    (request, response) => {
      response.json({ userId: request.twofold!.userId });
    },
  );

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    baseUrl: `${origin}/2fa`,
    logs,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};
