/**
 * Real listening apps for the fuzz and outage suites: the Fastify plugin and the Express router
 * with the kit under /2fa, each on 127.0.0.1 with an ephemeral port.
 *
 * The root package does not depend on fastify or express, so both come from the plugin packages
 * themselves: Fastify through @twofold/fastify's own dependency, Express through the factory its
 * contract test already uses. Both share the one @twofold/core instance (pnpm links resolve to the
 * same files), so errors keep their classes across the seam.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { ContractApp, ContractAppOptions, MakeContractApp } from '@twofold/http-test-suite';
import { makeExpressContractApp } from '../../packages/express/test/contract-app.js';
import Fastify from '../../packages/fastify/node_modules/fastify/fastify.js';
import twofold from '../../packages/fastify/src/index.js';

export type { ContractApp, ContractAppOptions, MakeContractApp };

/**
 * The kit on Fastify with its pino logger captured as raw lines (level `info` unless asked: the
 * fuzz run writes tens of thousands of requests and only needs the error lines).
 */
export function makeFastifyApp(level = 'info'): MakeContractApp {
  return async ({ twofold: options, trustProxy = false }) => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        callback();
      },
    });
    const app = Fastify({ logger: { level, stream }, trustProxy });
    try {
      await app.register(twofold, options);
      await app.listen({ host: '127.0.0.1', port: 0 });
    } catch (error) {
      await app.close();
      throw error;
    }
    const { port } = app.server.address() as AddressInfo;
    const origin = `http://127.0.0.1:${port}`;
    return {
      origin,
      baseUrl: `${origin}${app.twofold.http.options.prefix}`,
      logs: lines,
      close: () => app.close(),
    };
  };
}

/** The kit on Express; its logs are the router's own `log` calls, one JSON line each. */
export const makeExpressApp: MakeContractApp = makeExpressContractApp;

export const FRAMEWORKS: { name: string; make: MakeContractApp }[] = [
  { name: 'fastify', make: makeFastifyApp() },
  { name: 'express', make: makeExpressApp },
];

/** A log line that reports a server error: pino level >= 50, or the Express router's `error`. */
export function isErrorLogLine(line: string): boolean {
  try {
    const parsed = JSON.parse(line) as { level?: unknown };
    return (typeof parsed.level === 'number' && parsed.level >= 50) || parsed.level === 'error';
  } catch {
    return false;
  }
}
