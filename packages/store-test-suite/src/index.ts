export type { StoreSuiteContext, SuiteClock } from './context.js';
export { type MakeStore, runStoreSuite, type StoreSuiteOptions } from './run-store-suite.js';
