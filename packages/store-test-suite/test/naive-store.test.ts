import { runStoreSuite } from '../src/index.js';
import { naiveStore } from './fixtures/naive-store.js';

// A second, independent reference implementation: the suite must not depend on memoryStore's quirks.
runStoreSuite('naiveStore without bugs', () => naiveStore());

// A store may leave out the optional operations: their behaviours are skipped, and the suite passes.
runStoreSuite('naiveStore without the optional operations', () => naiveStore([], { optional: false }));
