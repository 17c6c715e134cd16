import type { BehaviourEnv } from './behaviour.js';

// Reads of what the store holds at the suite clock's current time, for assertions.

/** The user's authenticator `id` (default `'totp'`), as getAuthenticator reads it now. */
export function readAuthenticator(env: BehaviourEnv, userId: string, id = 'totp') {
  return env.store.getAuthenticator(userId, id, env.clock.now());
}

/** The user's nonce `key`, as getNonce reads it now. */
export function readNonce(env: BehaviourEnv, userId: string, key: string) {
  return env.store.getNonce(userId, key, env.clock.now());
}

/** The user's counter `key` (default `'failures'`), as getCounter reads it now. */
export function readCounter(env: BehaviourEnv, userId: string, key = 'failures') {
  return env.store.getCounter(userId, key, env.clock.now());
}

/** Every live authenticator of the user, as listAuthenticators reads it now. */
export function readList(env: BehaviourEnv, userId: string) {
  return env.store.listAuthenticators(userId, env.clock.now());
}
