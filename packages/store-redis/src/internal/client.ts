import { StoreUnavailableError } from '@twofold/core';
import type { LuaScript } from './scripts.js';

/**
 * What the store needs of a client: the few commands it sends and the connection status. An ioredis
 * `Redis` or `Cluster` (v5 or v6) fits; the store only borrows it and never changes its options.
 */
export interface RedisClientLike {
  /** ioredis connection status: `ready` when connected, `reconnecting` or `end` when not. */
  readonly status: string;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  eval(source: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  srem(key: string, ...members: string[]): Promise<number>;
  scard(key: string): Promise<number>;
  /** One step of SCAN; only findNonces (an operator's sweep) calls it (on a Cluster, on each master). */
  scan(
    cursor: string,
    matchToken: 'MATCH',
    pattern: string,
    countToken: 'COUNT',
    count: number,
  ): Promise<[cursor: string, elements: string[]]>;
  /** A Cluster's nodes: SCAN walks one server's keys, so findNonces scans each master. */
  nodes?(role: 'master'): Array<Pick<RedisClientLike, 'scan' | 'status'>>;
}

/**
 * Statuses in which ioredis would only park a command in its offline queue (to run at some unknown
 * later time) or reject it: the store fails at once instead. `wait`, `connecting` and `connect` still
 * send, since the connection is being opened right now.
 */
const DOWN_STATUSES = new Set(['reconnecting', 'close', 'disconnecting', 'end']);

/**
 * Runs `script` with EVALSHA; when the server does not know it (first use, restart, failover, another
 * cluster node) runs it once with EVAL, which also caches it there for the next EVALSHA.
 */
export async function runScript(
  client: RedisClientLike,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScriptError(error)) throw error;
    return await client.eval(script.source, keys.length, ...keys, ...args);
  }
}

function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs one store operation so that it never hangs and never fails with anything but
 * StoreUnavailableError: a client that is known to be down fails at once; an operation that has not
 * settled after `timeoutMs` fails then; any error (connection, timeout, offline queue, max retries,
 * a script error) becomes StoreUnavailableError with the original as `cause`.
 *
 * A timed-out command may still run later if the client had queued it; every operation is safe to
 * apply late (it fails closed: the caller was told the store was unavailable).
 */
export async function guard<T>(
  client: Pick<RedisClientLike, 'status'>,
  operation: string,
  timeoutMs: number,
  run: () => Promise<T>,
): Promise<T> {
  const status = client.status;
  if (DOWN_STATUSES.has(status)) {
    throw new StoreUnavailableError(`Redis store: ${operation} failed, the connection is down`, {
      cause: new Error(`ioredis client status is "${status}"`),
    });
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new StoreUnavailableError(`Redis store: ${operation} got no answer within ${timeoutMs} ms`, {
          cause: new Error(`timed out after ${timeoutMs} ms (ioredis client status "${client.status}")`),
        }),
      );
    }, timeoutMs);
  });
  const pending = run();
  // A late rejection after the timeout won must not surface as an unhandled rejection.
  pending.catch(() => {});
  try {
    return await Promise.race([pending, timeout]);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`Redis store: ${operation} failed`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
