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
import { authenticatorTests } from './authenticators.js';
import type { SuiteEnv } from './context.js';
import { deviceTests } from './devices.js';
import { flowTests } from './flows.js';
import { lockoutTests } from './lockout.js';
import { logTests } from './logs.js';
import { malformedTests } from './malformed.js';
import { parityTests } from './parity.js';
import { policyTests } from './policy.js';
import { rateLimitTests } from './rate-limits.js';
import { delayedRecoveryTests, recoveryTests } from './recovery.js';
import { storeFailureTests } from './store-failure.js';
import { tokenTests } from './tokens.js';
import { webauthnTests } from './webauthn-flows.js';

export type { ContractApp, ContractAppOptions, ContractStore, MakeContractApp } from './app.js';

export interface HttpContractOptions {
  /** A fresh store for each test (default: memoryStore()). Closed after the test. */
  makeStore?: () => Promise<ContractStore>;
  /**
   * Security keys and passkeys (default true): every app gets the engine option
   * `webauthn: { rpId: 'app.example.test', origins: ['https://app.example.test'] }` and must serve
   * the WebAuthn routes (an app that drops the option fails, it is not skipped). `false` for an
   * adapter that does not offer them: the apps get no `webauthn` option, the WebAuthn tests are
   * skipped (saying so) and the suite checks instead that the WebAuthn routes are not there.
   */
  webauthn?: boolean;
}

/** The groups of the suite, in order. */
const GROUPS = {
  flows: flowTests,
  tokens: tokenTests,
  'mandatory 2FA': policyTests,
  'trusted devices': deviceTests,
  authenticators: authenticatorTests,
  'security keys (WebAuthn)': webauthnTests,
  lockout: lockoutTests,
  recovery: recoveryTests,
  'delayed recovery': delayedRecoveryTests,
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
    webauthn: options.webauthn ?? true,
  };
  tap.test(`HTTP contract: ${name}`, async (t) => {
    for (const [group, register] of Object.entries(GROUPS)) {
      t.test(group, async (t) => {
        register(t, env);
      });
    }
  });
}
