export { pendingRecord, webAuthnRecord } from './internal/fixtures.js';
export { type MakeStore, runStoreSuite, type StoreSuiteOptions } from './run-store-suite.js';
export type { StoreSuiteContext, SuiteClock } from './suite-context.js';
