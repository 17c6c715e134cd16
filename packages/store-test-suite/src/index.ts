export type { StoreSuiteContext, SuiteClock } from './context.js';
export { pendingRecord } from './internal/fixtures.js';
export { type MakeStore, runStoreSuite, type StoreSuiteOptions } from './run-store-suite.js';
