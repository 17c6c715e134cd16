import { runStoreSuite } from '../src/index.js';
import { naiveStore } from './fixtures/naive-store.js';

// A second, independent reference implementation: the suite must not depend on memoryStore's quirks.
runStoreSuite('naiveStore without bugs', () => naiveStore());
