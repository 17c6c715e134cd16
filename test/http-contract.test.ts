/**
 * The HTTP contract suite against the reference adapter on bare node:http: proves the framework-free
 * layer of @twofold/core (`@twofold/core/http`) on its own, with a store handed in through `makeStore`.
 */
import { memoryStore } from '@twofold/core';
import { runHttpContract } from './http-contract/index.js';
import { makeNodeHttpApp } from './http-contract/node-http-app.js';

runHttpContract('node:http reference', makeNodeHttpApp, {
  makeStore: async () => ({ store: memoryStore(), close: async () => {} }),
});
