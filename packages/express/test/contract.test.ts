// The HTTP contract suite (@twofold/http-test-suite) against the Express router, on memoryStore().
import { runHttpContract } from '@twofold/http-test-suite';
import { makeExpressContractApp } from './contract-app.js';

runHttpContract('@twofold/express on memoryStore', makeExpressContractApp);
