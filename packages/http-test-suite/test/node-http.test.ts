/**
 * The HTTP contract suite against the reference adapter on bare node:http: proves the framework-free
 * layer of @twofold/core (`@twofold/core/http`) on its own, with a store handed in through `makeStore`.
 */
import { memoryStore } from '@twofold/core';
import { runHttpContract } from '../src/index.js';
import { makeNodeHttpApp } from '../src/node-http-app.js';

runHttpContract('node:http reference', makeNodeHttpApp, {
  makeStore: async () => ({ store: memoryStore(), close: async () => {} }),
});
