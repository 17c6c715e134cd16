import { runStoreSuite } from '@twofold/store-test-suite';
import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import {
  confirmInput,
  hashTagOf,
  isListening,
  keysThatNeverExpire,
  pendingRecord,
  reportMissing,
  SHARED_REDIS,
  scanKeys,
  userKeyBase,
  writeEveryKind,
} from './helpers.js';

// The conformance suite against the shared Redis on 127.0.0.1:6379, under a key prefix of this run
// only; the run's keys are deleted at the end.

const { host, port } = SHARED_REDIS;

if (!(await isListening(host, port))) {
  reportMissing(`Redis not reachable at ${host}:${port}`);
} else {
  const client = new Redis({ host, port });
  let prefix: string | undefined;
  tap.teardown(async () => {
    if (prefix) {
      const keys = await scanKeys(client, prefix);
      for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
    }
    await client.quit();
  });

  runStoreSuite(
    'redisStore on a single Redis server',
    (ctx) => {
      prefix = `twofold-test:${ctx.runId}:`;
      return redisStore({ client, prefix });
    },
    {
      additionalTests(t, ctx) {
        const runPrefix = `twofold-test:${ctx.runId}:`;
        const store = redisStore({ client, prefix: runPrefix });

        t.test(
          'after the whole suite, only active authenticators, their index and recovery codes lack a TTL',
          async (t) => {
            const keys = await scanKeys(client, runPrefix);
            t.ok(keys.length > 50, 'the suite left keys to inspect');
            t.same(await keysThatNeverExpire(client, keys), []);
          },
        );

        t.test('TTLs are set relative to the caller clock, not as absolute times', async (t) => {
          // A clock in 1970: absolute expiry times would already be in Redis's past.
          const now = 1_000_000;
          const userId = `${ctx.runId}-ttl`;
          const user = userKeyBase(runPrefix, userId);
          await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now, 600_000), now);
          await store.incrementCounter(userId, 'failures', 900_000, now);
          await store.claimNonce(userId, 'challenge:1', 'spent', now + 300_000, now);
          await store.putNonce(userId, 'recovery', 'token-hash', now + 3_600_000, now);
          const expected: [string, number][] = [
            [`${user}a:totp`, 600_000],
            [`${user}c:failures`, 900_000],
            [`${user}n:challenge:1`, 300_000],
            [`${user}n:recovery`, 3_600_000],
          ];
          for (const [key, ttl] of expected) {
            const pttl = await client.pttl(key);
            t.ok(
              pttl > ttl - 5_000 && pttl <= ttl + 60_000,
              `${key.slice(user.length)}: PTTL ${pttl} ~ ${ttl}`,
            );
          }
        });

        t.test('confirm removes the TTL of the authenticator it activates', async (t) => {
          const now = 1_000_000;
          const userId = `${ctx.runId}-confirm-ttl`;
          await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
          t.equal(
            await store.confirmAuthenticator(userId, 'totp', confirmInput('totp', now, ['h'])),
            'enabled',
          );
          const user = userKeyBase(runPrefix, userId);
          t.equal(await client.pttl(`${user}a:totp`), -1);
          t.equal(await client.pttl(`${user}rc`), -1);
        });

        t.test('confirm with a sealed secret that was replaced changes no key and no TTL', async (t) => {
          const now = 1_000_000;
          const userId = `${ctx.runId}-confirm-stale`;
          const user = userKeyBase(runPrefix, userId);
          await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
          const before = await client.hgetall(`${user}a:totp`);
          const input = { ...confirmInput('totp', now, ['h']), sealedSecret: 'sealed-other' };
          t.equal(await store.confirmAuthenticator(userId, 'totp', input), 'missing', 'refused');
          t.same(await client.hgetall(`${user}a:totp`), before, 'the pending hash is as it was');
          t.ok((await client.pttl(`${user}a:totp`)) > 0, 'the pending record keeps its TTL');
          t.ok((await client.pttl(`${user}ai`)) > 0, 'the index keeps its TTL');
          t.equal(await client.exists(`${user}rc`), 0, 'no recovery codes written');
        });

        t.test(
          'takeAttempt sets the counter TTL from the caller clock; a refused one moves nothing',
          async (t) => {
            const now = 1_000_000;
            const userId = `${ctx.runId}-attempt-ttl`;
            const key = `${userKeyBase(runPrefix, userId)}c:failures`;
            t.same(await store.takeAttempt(userId, 'failures', 2, 900_000, now), {
              taken: true,
              count: 1,
              expiresAt: now + 900_000,
            });
            const first = await client.pttl(key);
            t.ok(first > 895_000 && first <= 900_000, `PTTL ${first} ~ 900000`);
            t.same(
              await client.hgetall(key),
              { n: '1', e: String(now + 900_000) },
              'n and e as decimal strings',
            );

            t.same(await store.takeAttempt(userId, 'failures', 2, 900_000, now + 1_000), {
              taken: true,
              count: 2,
              expiresAt: now + 901_000,
            });
            // At the limit: a later call with a far longer TTL must neither count nor move the expiry.
            t.same(await store.takeAttempt(userId, 'failures', 2, 5_000_000, now + 2_000), {
              taken: false,
              count: 2,
              expiresAt: now + 901_000,
            });
            const refused = await client.pttl(key);
            t.ok(refused > 895_000 && refused <= 901_000, `refused: PTTL ${refused} not moved`);
            t.same(await client.hgetall(key), { n: '2', e: String(now + 901_000) }, 'hash unchanged');

            // Once expired by the caller's clock (the Redis TTL has not run out), it starts again at 1.
            t.same(await store.takeAttempt(userId, 'failures', 2, 60_000, now + 901_000), {
              taken: true,
              count: 1,
              expiresAt: now + 961_000,
            });
            const restarted = await client.pttl(key);
            t.ok(restarted > 55_000 && restarted <= 60_000, `restarted: PTTL ${restarted} ~ 60000`);
          },
        );

        t.test(
          'takeAttempt, incrementCounter, getCounter and the resets share one counter hash',
          async (t) => {
            const now = Date.now();
            const userId = `${ctx.runId}-attempt-shared`;
            const user = userKeyBase(runPrefix, userId);
            await store.incrementCounter(userId, 'failures', 900_000, now);
            await store.incrementCounter(userId, 'failures', 900_000, now);
            const third = await store.takeAttempt(userId, 'failures', 3, 900_000, now);
            t.same(third, { taken: true, count: 3, expiresAt: now + 900_000 });
            t.equal((await store.takeAttempt(userId, 'failures', 3, 900_000, now)).taken, false);
            t.same(await store.getCounter(userId, 'failures', now), { count: 3, expiresAt: now + 900_000 });
            t.same(await scanKeys(client, user), [`${user}c:failures`], 'one key, c:<key>, as before');

            t.equal(
              await store.resetCounterIfUnchanged(userId, 'failures', { count: 2, expiresAt: now + 900_000 }),
              false,
              'a stale count is refused',
            );
            t.equal(
              await store.resetCounterIfUnchanged(userId, 'failures', { count: 3, expiresAt: now + 899_999 }),
              false,
              'a stale expiry is refused',
            );
            t.ok((await client.pttl(`${user}c:failures`)) > 0, 'a refused reset keeps the key and its TTL');
            t.equal(
              await store.resetCounterIfUnchanged(userId, 'failures', third),
              true,
              'exact state resets',
            );
            t.equal(await client.exists(`${user}c:failures`), 0, 'key deleted');
            t.equal(
              await store.resetCounterIfUnchanged(userId, 'failures', third),
              false,
              'nothing left to reset',
            );
          },
        );

        t.test(
          'takeNonceAndDeleteTwoFactor deletes the nonce and the 2FA keys, and nothing else',
          async (t) => {
            const now = Date.now();
            const userId = `${ctx.runId}-recover`;
            const base = userKeyBase(runPrefix, userId);
            await writeEveryKind(store, userId, now);
            const everyKey = (await scanKeys(client, base)).sort();
            t.equal(
              await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'other-hash', now),
              false,
              'another value is refused',
            );
            t.equal(
              await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token-hash', now + 3_600_000),
              false,
              'an expired nonce is refused',
            );
            t.same(
              (await scanKeys(client, base)).sort(),
              everyKey.filter((key) => key !== `${base}n:recovery`),
              'refusals change nothing (but the expired nonce is collected)',
            );

            await store.putNonce(userId, 'recovery', 'token-hash', now + 3_600_000, now);
            t.equal(
              await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token-hash', now),
              true,
              'taken',
            );
            t.same(
              (await scanKeys(client, base)).map((key) => key.slice(base.length)).sort(),
              ['c:failures', 'n:challenge:1', 'ni'],
              'counters and other nonces (and their index) stay',
            );
            t.equal(
              await store.takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token-hash', now),
              false,
              'once',
            );
          },
        );

        t.test('user ids with braces and colons each get keys of their own', async (t) => {
          const now = Date.now();
          const ids = ['a', '{a}', 'a}', '{a', '}{', '{}', ':', 'a:b', 'a}:n:b', '\uD800', '\uFFFD'];
          const users = ids.map((id) => `${ctx.runId}${id}`);
          for (const [i, userId] of users.entries())
            await store.putNonce(userId, 'k', `user ${i}`, now + 60_000, now);
          for (const [i, userId] of users.entries()) {
            t.equal(await store.getNonce(userId, 'k', now), `user ${i}`, JSON.stringify(userId));
          }
          const tags = new Set<string>();
          for (const userId of users) {
            const base = userKeyBase(runPrefix, userId);
            const keys = await scanKeys(client, base);
            t.same(
              keys.map((key) => key.slice(base.length)).sort(),
              ['n:k', 'ni'],
              `one nonce and its index for ${JSON.stringify(userId)}`,
            );
            for (const key of keys) tags.add(hashTagOf(key));
          }
          t.equal(tags.size, users.length, 'one distinct hash tag per user');
        });

        t.test('every key of one user carries the same hash tag, right after the prefix', async (t) => {
          const userId = `${ctx.runId}{x}:y`;
          await writeEveryKind(store, userId, Date.now());
          const base = userKeyBase(runPrefix, userId);
          const keys = await scanKeys(client, base);
          t.same(keys.map((key) => key.slice(base.length)).sort(), [
            'a:key',
            'a:tablet',
            'a:totp',
            'ai',
            'c:failures',
            'n:challenge:1',
            'n:recovery',
            'ni',
            'rc',
          ]);
          for (const key of keys) t.equal(`${runPrefix}{${hashTagOf(key)}}:`, base, key);
        });

        t.test('a Redis error fails closed as StoreUnavailableError and keeps the cause', async (t) => {
          const userId = `${ctx.runId}-wrongtype`;
          const user = userKeyBase(runPrefix, userId);
          await client.set(`${user}rc`, 'not a set');
          await client.set(`${user}a:totp`, 'not a hash');
          const failing: [string, () => Promise<unknown>][] = [
            ['countRecoveryCodes', () => store.countRecoveryCodes(userId)],
            ['consumeRecoveryCode', () => store.consumeRecoveryCode(userId, 'h')],
            ['consumeCounter (a script)', () => store.consumeCounter(userId, 'totp', 5, Date.now())],
            ['getAuthenticator (a script)', () => store.getAuthenticator(userId, 'totp', Date.now())],
          ];
          for (const [name, operation] of failing) {
            const error = await operation().then(
              () => undefined,
              (e: unknown) => e as Error & { code?: string; cause?: unknown },
            );
            t.equal(error?.code, 'TWOFOLD_STORE_UNAVAILABLE', name);
            t.match(String((error?.cause as Error | undefined)?.message), /WRONGTYPE/, `${name}: cause kept`);
          }
        });

        t.test(
          'across two connections, one TOTP step, one recovery code, 20 failures, 5 attempts and one recovery count exactly',
          async (t) => {
            // Two clients stand for two app processes: atomicity has to come from the server.
            const other = new Redis({ host, port });
            t.teardown(() => other.quit());
            const stores = [store, redisStore({ client: other, prefix: runPrefix })];
            const pick = (i: number) => stores[i % 2]!;
            for (let round = 0; round < 10; round++) {
              const userId = `${ctx.runId}-race-${round}`;
              const now = Date.now();
              await store.savePendingAuthenticator(pendingRecord(userId, 'totp', now), now);
              await store.confirmAuthenticator(userId, 'totp', {
                ...confirmInput('totp', now),
                counter: 100,
              });

              const steps = await Promise.all(
                Array.from({ length: 50 }, (_, i) => pick(i).consumeCounter(userId, 'totp', 101, now)),
              );
              t.equal(
                steps.filter(Boolean).length,
                1,
                `round ${round}: one of 50 submissions of one step wins`,
              );

              const codes = await Promise.all(
                Array.from({ length: 50 }, (_, i) => pick(i).consumeRecoveryCode(userId, 'h1')),
              );
              t.equal(
                codes.filter(Boolean).length,
                1,
                `round ${round}: one of 50 uses of one recovery code wins`,
              );

              await Promise.all(
                Array.from({ length: 20 }, (_, i) =>
                  pick(i).incrementCounter(userId, 'failures', 900_000, now),
                ),
              );
              t.equal(
                (await store.getCounter(userId, 'failures', now))?.count,
                20,
                `round ${round}: 20 failures counted`,
              );

              const attempts = await Promise.all(
                Array.from({ length: 30 }, (_, i) =>
                  pick(i).takeAttempt(userId, 'attempts', 5, 900_000, now),
                ),
              );
              t.equal(
                attempts.filter((attempt) => attempt.taken).length,
                5,
                `round ${round}: 5 of 30 attempts taken under a limit of 5`,
              );

              await store.putNonce(userId, 'recovery', 'token-hash', now + 3_600_000, now);
              const recoveries = await Promise.all(
                Array.from({ length: 20 }, (_, i) =>
                  pick(i).takeNonceAndDeleteTwoFactor(userId, 'recovery', 'token-hash', now),
                ),
              );
              t.equal(recoveries.filter(Boolean).length, 1, `round ${round}: one of 20 recoveries wins`);
            }
          },
        );

        t.test('close leaves the host client open', async (t) => {
          await redisStore({ client, prefix: runPrefix }).close?.();
          t.equal(client.status, 'ready');
          t.equal(await client.ping(), 'PONG');
        });
      },
    },
  );
}
