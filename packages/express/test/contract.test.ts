// The HTTP contract suite of test/http-contract against the Express router, on memoryStore().
import { runHttpContract } from '../../../test/http-contract/index.js';
import { makeExpressContractApp } from './contract-app.js';

runHttpContract('@twofold/express on memoryStore', makeExpressContractApp);
