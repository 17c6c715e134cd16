import { isDeepStrictEqual } from 'node:util';
import type { NonceWrite } from '@twofold/core';
import type { BehaviourEnv } from '../behaviour.js';
import { issueNonce, NONCE_LIFETIME_MS as LIFETIME_MS, nonceValue } from '../fixtures.js';
import { implementation, optionalGroup } from '../optional.js';
import { spread, winners } from '../race.js';
import { readNonce } from '../reads.js';

// putNonces stands for putNonce on each of several keys, in one atomic step.

/** Calls the store's putNonces for `userId` now, with a copy of `nonces`. */
function put(env: BehaviourEnv, userId: string, nonces: readonly NonceWrite[]) {
  return implementation(env.store, 'putNonces')(
    userId,
    nonces.map((nonce) => ({ ...nonce })),
    env.clock.now(),
  );
}

export const putNonces = optionalGroup('putNonces', [
  {
    name: 'putNonces writes every nonce with its value and expiry',
    async run(t, env) {
      const userId = env.userId();
      const now = env.clock.now();
      const b = { key: 'device:b', value: nonceValue(), expiresAt: now + LIFETIME_MS };
      const a = { key: 'device:a', value: nonceValue(), expiresAt: now + 2 * LIFETIME_MS };
      const session = { key: 'session', value: nonceValue(), expiresAt: now + LIFETIME_MS + 1_001 };
      await put(env, userId, [b, a, session]);
      for (const nonce of [a, b, session]) {
        t.equal(await readNonce(env, userId, nonce.key), nonce.value, `getNonce reads ${nonce.key}`);
      }
      t.strictSame(
        await env.store.listNonces(userId, 'device:', now),
        [a, b],
        'listNonces lists them with their value and expiry',
      );
      env.clock.advance(LIFETIME_MS - 1);
      t.equal(await readNonce(env, userId, 'device:b'), b.value, 'live at expiresAt - 1');
      env.clock.advance(1);
      t.equal(await readNonce(env, userId, 'device:b'), null, 'gone at expiresAt');
      t.equal(await readNonce(env, userId, 'session'), session.value, 'a later one is still live');
      env.clock.advance(1_001);
      t.equal(await readNonce(env, userId, 'session'), null, 'gone at its own expiry');
      t.equal(await readNonce(env, userId, 'device:a'), a.value, 'the latest one is still live');
      env.clock.advance(a.expiresAt - env.clock.now());
      t.equal(await readNonce(env, userId, 'device:a'), null, 'gone at its own expiry');
    },
  },
  {
    name: "putNonces replaces existing values and expiries, and leaves the user's other nonces and other users'",
    async run(t, env) {
      const userId = env.userId();
      const bob = env.userId();
      const long = 10 * LIFETIME_MS;
      const oldA = await issueNonce(env, userId, 'device:a', long);
      const oldB = await issueNonce(env, userId, 'device:b', long);
      const kept = await issueNonce(env, userId, 'device:c', long);
      const bobs = await issueNonce(env, bob, 'device:a', long);
      env.clock.advance(1_001);
      const expiresAt = env.clock.now() + LIFETIME_MS;
      const a = { key: 'device:a', value: nonceValue(), expiresAt };
      const b = { key: 'device:b', value: nonceValue(), expiresAt };
      await put(env, userId, [a, b]);
      t.equal(await readNonce(env, userId, 'device:a'), a.value, 'the new value of a');
      t.equal(await readNonce(env, userId, 'device:b'), b.value, 'the new value of b');
      t.equal(
        await env.store.takeNonce(userId, 'device:a', oldA, env.clock.now()),
        false,
        'the old a is revoked',
      );
      t.equal(
        await env.store.takeNonce(userId, 'device:b', oldB, env.clock.now()),
        false,
        'the old b is revoked',
      );
      t.equal(await readNonce(env, userId, 'device:c'), kept, "the user's other nonce kept");
      t.equal(await readNonce(env, bob, 'device:a'), bobs, "another user's nonce of the same key kept");
      env.clock.advance(LIFETIME_MS);
      t.strictSame(
        [await readNonce(env, userId, 'device:a'), await readNonce(env, userId, 'device:b')],
        [null, null],
        'gone at the new expiry',
      );
      t.equal(await readNonce(env, userId, 'device:c'), kept, 'the other nonce still live');
    },
  },
  {
    name: 'putNonces is one step: no reader sees some nonces of the batch written without the others',
    async run(t, env) {
      const keys = ['batch:1', 'batch:2', 'batch:3'];
      for (let round = 1; round <= env.rounds; round++) {
        const userId = env.userId();
        const now = env.clock.now();
        const old: string[] = [];
        for (const key of keys) old.push(await issueNonce(env, userId, key));
        const next = keys.map(() => nonceValue());
        const call = put(
          env,
          userId,
          keys.map((key, index) => ({ key, value: next[index]!, expiresAt: now + LIFETIME_MS })),
        );
        call.catch(() => {});
        // Each reader but every fourth reads the three nonces twice, starting at a different one:
        // once it has seen a new value, every later read must find the new value too. Every fourth
        // lists them at once: all old or all new.
        const state = async (index: number) => {
          const value = await env.store.getNonce(userId, keys[index]!, now);
          return value === next[index] ? 'new' : value === old[index] ? 'old' : 'neither';
        };
        const torn = await spread(env.concurrency, async (reader) => {
          if (reader % 4 === 3) {
            const listed = (await env.store.listNonces(userId, 'batch:', now)).map((entry) => entry.value);
            return !isDeepStrictEqual(listed, old) && !isDeepStrictEqual(listed, next);
          }
          let seenNew = false;
          for (let step = 0; step < 2 * keys.length; step++) {
            const seen = await state((reader + step) % keys.length);
            if (seen === 'neither' || (seenNew && seen === 'old')) return true;
            seenNew ||= seen === 'new';
          }
          return false;
        });
        await call;
        t.strictSame(winners(torn), [], `round ${round}: no reader saw part of the batch without the rest`);
        const stored: Array<string | null> = [];
        for (const key of keys) stored.push(await readNonce(env, userId, key));
        t.strictSame(stored, next, `round ${round}: the whole batch is written`);
      }
    },
  },
]);
