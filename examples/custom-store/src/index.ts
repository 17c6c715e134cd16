export type { KeyValue } from './key-value.js';
export { type KeyValueStoreOptions, keyValueStore } from './key-value-store.js';
export { createKeyedLock, type KeyedLock } from './keyed-lock.js';
export { type MemoryKeyValueOptions, memoryKeyValue } from './memory-key-value.js';
