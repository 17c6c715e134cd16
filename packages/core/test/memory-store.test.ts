import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runStoreSuite } from '../../store-test-suite/src/index.js';
import { memoryStore } from '../src/memory-store.js';
import type { Store } from '../src/store.js';

// The store's size is not observable through the Store interface, so the reclaim test measures the
// heap after full collections. `--expose-gc` set at run time makes `gc` available in new contexts.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** How many expired records each case leaves behind; sized so that they take megabytes. */
const RECORDS = 20_000;
const TTL_MS = 300_000;
/** memoryStore sweeps at most once a minute of store time. */
const PAST_SWEEP_MS = TTL_MS + 60_000 + 1;

/** Each kind of expiring record: the operation that creates it, and a read of it. */
const WRITES: ReadonlyArray<{
  label: string;
  write: (store: Store, userId: string, now: number) => Promise<unknown>;
  read: (store: Store, userId: string, now: number) => Promise<unknown>;
}> = [
  {
    label: 'pending enrollments (savePendingAuthenticator)',
    write: (store, userId, now) =>
      store.savePendingAuthenticator(
        {
          type: 'totp',
          userId,
          id: 'totp',
          name: null,
          status: 'pending',
          sealedSecret: randomBytes(90).toString('base64url'),
          algorithm: 'SHA1',
          digits: 6,
          period: 30,
          lastCounter: -1,
          createdAt: now,
          confirmedAt: null,
          lastUsedAt: null,
          expiresAt: now + TTL_MS,
        },
        now,
      ),
    read: (store, userId, now) => store.getAuthenticator(userId, 'totp', now),
  },
  {
    label: 'counters (incrementCounter)',
    write: (store, userId, now) => store.incrementCounter(userId, 'failures', TTL_MS, now),
    read: (store, userId, now) => store.getCounter(userId, 'failures', now),
  },
  {
    label: 'nonces (claimNonce)',
    write: (store, userId, now) =>
      store.claimNonce(userId, 'jti', randomBytes(32).toString('base64url'), now + TTL_MS, now),
    read: (store, userId, now) => store.getNonce(userId, 'jti', now),
  },
  {
    label: 'nonces (putNonce)',
    write: (store, userId, now) =>
      store.putNonce(userId, 'recovery', randomBytes(32).toString('base64url'), now + TTL_MS, now),
    read: (store, userId, now) => store.getNonce(userId, 'recovery', now),
  },
];

runStoreSuite('memoryStore', () => memoryStore(), {
  additionalTests(t, ctx) {
    for (const { label, write, read } of WRITES) {
      t.test(
        `expired ${label} do not accumulate: one later write of the same kind reclaims them`,
        async (t) => {
          const store = memoryStore();
          const baseline = heapAfterGc();
          for (let index = 0; index < RECORDS; index++) {
            await write(store, `${ctx.runId}-${label}-${index}`, ctx.clock.now());
          }
          const grown = heapAfterGc() - baseline;
          t.ok(grown > RECORDS * 100, `the live records take ${(grown / 1e6).toFixed(1)} MB (measurable)`);

          ctx.clock.advance(PAST_SWEEP_MS);
          await write(store, `${ctx.runId}-${label}-later`, ctx.clock.now());
          const left = heapAfterGc() - baseline;
          t.ok(
            left < grown * 0.1,
            `after expiry and one write ${(left / 1e6).toFixed(2)} MB of ${(grown / 1e6).toFixed(1)} MB remain`,
          );
          t.equal(
            await read(store, `${ctx.runId}-${label}-0`, ctx.clock.now()),
            null,
            'and they read as absent',
          );
        },
      );
    }
  },
});
