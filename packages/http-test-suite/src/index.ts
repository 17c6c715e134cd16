/**
 * The HTTP contract suite of DESIGN.md, run against a real listening server over HTTP. Each plugin
 * package runs it with its own app factory:
 *
 * @example
 * import { runHttpContract } from '@twofold/http-test-suite';
 * runHttpContract('@twofold/fastify', makeFastifyContractApp);
 * runHttpContract('@twofold/fastify on Redis', makeFastifyContractApp, { makeStore: redisContractStore });
 */
import { memoryStore } from '@twofold/core';
import tap from 'tap';
import type { ContractStore, MakeContractApp } from './app.js';
import type { SuiteEnv } from './context.js';
import { flowTests } from './flows.js';
import { lockoutTests } from './lockout.js';
import { logTests } from './logs.js';
import { malformedTests } from './malformed.js';
import { parityTests } from './parity.js';
import { rateLimitTests } from './rate-limits.js';
import { recoveryTests } from './recovery.js';
import { storeFailureTests } from './store-failure.js';
import { tokenTests } from './tokens.js';

export type { ContractApp, ContractAppOptions, ContractStore, MakeContractApp } from './app.js';

export interface HttpContractOptions {
  /** A fresh store for each test (default: memoryStore()). Closed after the test. */
  makeStore?: () => Promise<ContractStore>;
}

/** The groups of the suite, in order. */
const GROUPS = {
  flows: flowTests,
  tokens: tokenTests,
  lockout: lockoutTests,
  recovery: recoveryTests,
  'malformed input': malformedTests,
  parity: parityTests,
  'store failure': storeFailureTests,
  'rate limits': rateLimitTests,
  logs: logTests,
};

/**
 * Registers the contract suite as tap tests named after `name`. Every test builds its own app with
 * `makeApp` (and its own store) and closes both.
 */
export function runHttpContract(
  name: string,
  makeApp: MakeContractApp,
  options: HttpContractOptions = {},
): void {
  const env: SuiteEnv = {
    makeApp,
    makeStore:
      options.makeStore ??
      (async () => ({
        store: memoryStore(),
        close: async () => {},
      })),
  };
  tap.test(`HTTP contract: ${name}`, async (t) => {
    for (const [group, register] of Object.entries(GROUPS)) {
      t.test(group, async (t) => {
        register(t, env);
      });
    }
  });
}
