/** @twofold/core's keyring sample: `key1Bytes` and `key2Bytes`, two 32-byte keys. */
import { randomBytes } from 'node:crypto';

export const key1Bytes = randomBytes(32);
export const key2Bytes = randomBytes(32);
