/**
 * The one seam between the HTTP contract suite and a framework: each plugin package supplies a
 * factory that starts a real listening server with the kit mounted under `/2fa`, plus two host
 * routes that use the kit's guards.
 */
import type { Store } from '@twofold/core';
import type { TwofoldHttpOptions } from '@twofold/core/http';

export interface ContractAppOptions {
  /** The plugin options (engine options included), exactly as a host would pass them. */
  twofold: TwofoldHttpOptions;
  /** Trust X-Forwarded-For from loopback (Fastify `trustProxy`, Express `trust proxy`). */
  trustProxy?: boolean;
}

export interface ContractApp {
  /** Server origin, e.g. `http://127.0.0.1:40123`. */
  origin: string;
  /** Where the kit's routes are: `${origin}/2fa`. */
  baseUrl: string;
  /**
   * Every log line the server wrote (the framework's request logger at level trace for Fastify,
   * the plugin's own log calls for Express), as raw text, for the no-secrets-in-logs checks.
   */
  logs: string[];
  close(): Promise<void>;
}

/**
 * Starts the app. Besides the kit under `/2fa`, it must serve two host routes:
 * - `GET /host/protected`: the kit's "require a valid access token" guard, then `200 { userId }`
 * - `GET /host/sensitive`: the access-token guard plus the step-up guard (default max age), then `200 { userId }`
 * and should serve a third (the tests of it are skipped, saying so, when it answers 404):
 * - `GET /host/sensitive-second-factor`: the same with the step-up guard's `{ secondFactor: true }`
 *   (Fastify `app.twofoldStepUp(undefined, { secondFactor: true })`, Express
 *   `requireStepUp(undefined, { secondFactor: true })`), then `200 { userId }`
 * Errors of the guards in the kit's error shape.
 */
export type MakeContractApp = (options: ContractAppOptions) => Promise<ContractApp>;

/** A store for one suite run, and how to release it. */
export interface ContractStore {
  store: Store;
  close(): Promise<void>;
}
