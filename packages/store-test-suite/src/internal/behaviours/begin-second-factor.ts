import { isDeepStrictEqual } from 'node:util';
import type { AttemptState, BeginSecondFactorInput, BeginSecondFactorResult } from '@twofold/core';
import type { BehaviourEnv } from '../behaviour.js';
import {
  activate,
  countFailures,
  enroll,
  issueNonce,
  NONCE_LIFETIME_MS as LIFETIME_MS,
  nonceValue,
  PENDING_TTL_MS,
  register,
  COUNTER_TTL_MS as TTL_MS,
} from '../fixtures.js';
import { implementation, optionalGroup } from '../optional.js';
import { expectOneWinner, race, range } from '../race.js';
import { readCounter, readList, readNonce } from '../reads.js';

// beginSecondFactor stands for claimNonce, takeAttempt on each counter in turn (only for a user with
// an active authenticator, stopping at the first refused), listAuthenticators and getNonce.

/** The nonce the suite's calls claim: the single-use id of a login challenge. */
const CLAIM_KEY = 'challenge:c1:used';

/** The counter of attempts left on that challenge (counted first), its limit and ttl. */
const CHALLENGE_KEY = 'challenge:c1';
const CHALLENGE_LIMIT = 5;
const CHALLENGE_TTL_MS = 300_011;

/** The user's lockout counter (counted second), and its limit. */
const LOCKOUT_KEY = 'failures';
const LOCKOUT_LIMIT = 10;

/** The nonce the suite's calls read along: a delayed recovery in progress. */
const READ_KEY = 'recovery';

/** What a call whose claim was refused resolves: nothing counted, nothing read. */
const UNCLAIMED: BeginSecondFactorResult = { claimed: false, authenticators: [], attempts: [], nonce: null };

/**
 * What the engine asks at the start of a verify, now: claim `claimKey` with a fresh value (live for
 * the suite's nonce lifetime), count on the challenge counter then the lockout, read the recovery
 * nonce; `overrides` replaces the attempts or the nonce read.
 */
function request(
  env: BehaviourEnv,
  overrides: Partial<Pick<BeginSecondFactorInput, 'attempts' | 'readNonce'>> & { claimKey?: string } = {},
) {
  const { claimKey = CLAIM_KEY, ...rest } = overrides;
  const now = env.clock.now();
  return {
    claim: { key: claimKey, value: nonceValue(), expiresAt: now + LIFETIME_MS },
    attempts: [
      { key: CHALLENGE_KEY, limit: CHALLENGE_LIMIT, ttlMs: CHALLENGE_TTL_MS },
      { key: LOCKOUT_KEY, limit: LOCKOUT_LIMIT, ttlMs: TTL_MS },
    ],
    readNonce: READ_KEY,
    now,
    ...rest,
  } satisfies BeginSecondFactorInput;
}

/** Calls the store's beginSecondFactor for `userId` with a copy of `input`. */
function begin(env: BehaviourEnv, userId: string, input: BeginSecondFactorInput) {
  const copy: BeginSecondFactorInput = {
    ...input,
    claim: input.claim && { ...input.claim },
    attempts: input.attempts.map((attempt) => ({ ...attempt })),
  };
  return implementation(env.store, 'beginSecondFactor')(userId, copy);
}

/** The user's counters `keys`, as getCounter reads them now. */
function readCounters(env: BehaviourEnv, userId: string, keys: readonly string[]) {
  return Promise.all(keys.map((key) => readCounter(env, userId, key)));
}

/** The state takeAttempt resolves for an attempt it took: `count`, expiring at `expiresAt`. */
function taken(count: number, expiresAt: number): AttemptState {
  return { taken: true, count, expiresAt };
}

export const beginSecondFactor = optionalGroup('beginSecondFactor', [
  {
    name: 'beginSecondFactor claims an absent nonce with its value and expiry, as claimNonce does',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      env.clock.advance(1_001);
      const input = request(env);
      t.equal((await begin(env, userId, input)).claimed, true, 'claimed');
      t.equal(await readNonce(env, userId, CLAIM_KEY), input.claim.value, 'getNonce reads the value claimed');
      env.clock.advance(LIFETIME_MS - 1);
      t.equal(await readNonce(env, userId, CLAIM_KEY), input.claim.value, 'live at expiresAt - 1');
      env.clock.advance(1);
      t.equal(await readNonce(env, userId, CLAIM_KEY), null, 'gone at expiresAt');
    },
  },
  {
    name: 'beginSecondFactor with a live claim resolves claimed false, counts nothing, reads nothing and keeps the nonce',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      await issueNonce(env, userId, READ_KEY);
      const first = request(env);
      t.equal((await begin(env, userId, first)).claimed, true, 'the first call claims it');
      env.clock.advance(LIFETIME_MS - 1);
      const keys = [CHALLENGE_KEY, LOCKOUT_KEY, 'fresh'];
      const before = await readCounters(env, userId, keys);
      const second = request(env, {
        attempts: keys.map((key) => ({ key, limit: 100, ttlMs: TTL_MS })),
      });
      t.strictSame(
        await begin(env, userId, second),
        UNCLAIMED,
        'a millisecond before its expiry: claimed false, no authenticators, attempts or nonce',
      );
      t.strictSame(await readCounters(env, userId, keys), before, 'no counter was counted, none created');
      t.equal(await readNonce(env, userId, CLAIM_KEY), first.claim.value, 'the first value kept');
      env.clock.advance(1);
      t.equal(await readNonce(env, userId, CLAIM_KEY), null, 'the first expiry kept');
    },
  },
  {
    name: 'beginSecondFactor claims again once the claimed nonce has expired',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      await begin(env, userId, request(env));
      env.clock.advance(LIFETIME_MS);
      const input = request(env);
      const result = await begin(env, userId, input);
      t.equal(result.claimed, true, 'claimed at the old expiry');
      t.strictSame(
        result.attempts.map((state) => state.taken),
        [true, true],
        'and the attempts were taken',
      );
      t.equal(await readNonce(env, userId, CLAIM_KEY), input.claim.value, 'the new value');
      env.clock.advance(LIFETIME_MS - 1);
      t.equal(await readNonce(env, userId, CLAIM_KEY), input.claim.value, 'live until its new expiry');
    },
  },
  {
    name: 'beginSecondFactor without a claim resolves claimed true and takes the attempts',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      const now = env.clock.now();
      const result = await begin(env, userId, { ...request(env), claim: null });
      t.equal(result.claimed, true, 'claimed true');
      t.strictSame(
        result.attempts,
        [taken(1, now + CHALLENGE_TTL_MS), taken(1, now + TTL_MS)],
        'both attempts taken',
      );
      t.strictSame(
        await readCounters(env, userId, [CHALLENGE_KEY, LOCKOUT_KEY]),
        [
          { count: 1, expiresAt: now + CHALLENGE_TTL_MS },
          { count: 1, expiresAt: now + TTL_MS },
        ],
        'both counters stored',
      );
      const none = await begin(env, userId, { ...request(env), claim: null, attempts: [] });
      t.equal(none.claimed, true, 'claimed true with no attempts to take');
      t.strictSame(none.attempts, [], 'no attempt state');
    },
  },
  {
    name: 'beginSecondFactor counts nothing for a user without an active authenticator: none, only a pending one, or an expired one',
    async run(t, env) {
      const expired = env.userId();
      await enroll(env, expired);
      env.clock.advance(PENDING_TTL_MS);
      const pendingOnly = env.userId();
      await enroll(env, pendingOnly);
      const none = env.userId();
      for (const [userId, label] of [
        [none, 'no authenticator'],
        [pendingOnly, 'only a pending authenticator'],
        [expired, 'only an expired pending authenticator'],
      ] as const) {
        await countFailures(env, userId, 3);
        const value = await issueNonce(env, userId, READ_KEY);
        const keys = [CHALLENGE_KEY, LOCKOUT_KEY];
        const before = await readCounters(env, userId, keys);
        const input = request(env);
        const result = await begin(env, userId, input);
        t.equal(result.claimed, true, `${label}: claimed`);
        t.strictSame(result.attempts, [], `${label}: no attempt state`);
        t.strictSame(
          await readCounters(env, userId, keys),
          before,
          `${label}: no counter counted or created`,
        );
        t.strictSame(
          result.authenticators,
          await readList(env, userId),
          `${label}: the authenticators as listAuthenticators lists them`,
        );
        t.equal(result.nonce, value, `${label}: the nonce read`);
        t.equal(await readNonce(env, userId, CLAIM_KEY), input.claim.value, `${label}: the claim stored`);
      }
    },
  },
  {
    name: 'beginSecondFactor takes the attempts of a user with an active TOTP authenticator or WebAuthn credential',
    async run(t, env) {
      const totp = env.userId();
      await activate(env, totp);
      const webAuthn = env.userId();
      await register(env, webAuthn);
      const webAuthnAndPending = env.userId();
      await register(env, webAuthnAndPending);
      await enroll(env, webAuthnAndPending, { id: 'phone' });
      env.clock.advance(1_001);
      const now = env.clock.now();
      for (const [userId, label] of [
        [totp, 'an active TOTP authenticator'],
        [webAuthn, 'only a WebAuthn credential'],
        [webAuthnAndPending, 'a WebAuthn credential and a pending enrollment'],
      ] as const) {
        const result = await begin(env, userId, request(env));
        t.strictSame(
          result.attempts,
          [taken(1, now + CHALLENGE_TTL_MS), taken(1, now + TTL_MS)],
          `${label}: both attempts taken`,
        );
        t.strictSame(
          await readCounters(env, userId, [CHALLENGE_KEY, LOCKOUT_KEY]),
          [
            { count: 1, expiresAt: now + CHALLENGE_TTL_MS },
            { count: 1, expiresAt: now + TTL_MS },
          ],
          `${label}: both counters stored`,
        );
      }
    },
  },
  {
    name: 'beginSecondFactor takes the attempts in order and stops at the first refused: later counters untouched, earlier ones and the claim kept',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      const start = env.clock.now();
      for (let i = 0; i < 3; i++) await env.store.takeAttempt(userId, 'locked', 3, TTL_MS, start);
      const locked = { count: 3, expiresAt: start + TTL_MS };
      env.clock.advance(1_000);
      await env.store.takeAttempt(userId, 'later', 10, TTL_MS, env.clock.now());
      const later = await readCounter(env, userId, 'later');
      env.clock.advance(1_000);
      const now = env.clock.now();

      const first = request(env, {
        claimKey: 'used:1',
        attempts: [
          { key: 'locked', limit: 3, ttlMs: TTL_MS },
          { key: 'later', limit: 10, ttlMs: TTL_MS },
        ],
      });
      const refusedFirst = await begin(env, userId, first);
      t.strictSame(
        refusedFirst.attempts,
        [{ taken: false, ...locked }],
        'the first counter refused, with its count and expiry as stored; nothing after it',
      );
      t.strictSame(await readCounter(env, userId, 'locked'), locked, 'the refused counter unchanged');
      t.strictSame(await readCounter(env, userId, 'later'), later, 'the later counter untouched');
      t.equal(await readNonce(env, userId, 'used:1'), first.claim.value, 'the claim stays');

      const second = request(env, {
        claimKey: 'used:2',
        attempts: [
          { key: 'earlier', limit: 5, ttlMs: CHALLENGE_TTL_MS },
          { key: 'locked', limit: 3, ttlMs: TTL_MS },
          { key: 'later', limit: 10, ttlMs: TTL_MS },
          { key: 'never', limit: 10, ttlMs: TTL_MS },
        ],
      });
      const refusedSecond = await begin(env, userId, second);
      t.strictSame(
        refusedSecond.attempts,
        [taken(1, now + CHALLENGE_TTL_MS), { taken: false, ...locked }],
        'the first taken, the second refused, nothing after it',
      );
      t.strictSame(
        await readCounter(env, userId, 'earlier'),
        { count: 1, expiresAt: now + CHALLENGE_TTL_MS },
        'the earlier attempt stays taken',
      );
      t.strictSame(await readCounter(env, userId, 'locked'), locked, 'the refused counter unchanged');
      t.strictSame(await readCounter(env, userId, 'later'), later, 'the later counter untouched');
      t.equal(await readCounter(env, userId, 'never'), null, 'the last counter not created');
      t.equal(await readNonce(env, userId, 'used:2'), second.claim.value, 'the claim stays');
    },
  },
  {
    name: 'beginSecondFactor counts each attempt as takeAttempt does: from 1 at now + ttl, one more with the expiry moved, an expired counter afresh',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      let call = 0;
      const attempt = (attempts: BeginSecondFactorInput['attempts']) =>
        begin(env, userId, request(env, { claimKey: `used:${++call}`, attempts }));
      const t0 = env.clock.now();
      t.strictSame(
        (
          await attempt([
            { key: 'a', limit: 10, ttlMs: TTL_MS },
            { key: 'b', limit: 2, ttlMs: CHALLENGE_TTL_MS },
          ])
        ).attempts,
        [taken(1, t0 + TTL_MS), taken(1, t0 + CHALLENGE_TTL_MS)],
        'absent counters start at 1, expiring at now + ttl',
      );
      env.clock.advance(1_001);
      const t1 = env.clock.now();
      t.strictSame(
        (
          await attempt([
            { key: 'a', limit: 10, ttlMs: CHALLENGE_TTL_MS },
            { key: 'b', limit: 2, ttlMs: CHALLENGE_TTL_MS },
          ])
        ).attempts,
        [taken(2, t1 + CHALLENGE_TTL_MS), taken(2, t1 + CHALLENGE_TTL_MS)],
        'each adds one, and the expiry follows the latest ttl (also a shorter one)',
      );
      t.strictSame(
        await readCounters(env, userId, ['a', 'b']),
        [
          { count: 2, expiresAt: t1 + CHALLENGE_TTL_MS },
          { count: 2, expiresAt: t1 + CHALLENGE_TTL_MS },
        ],
        'stored',
      );
      env.clock.advance(CHALLENGE_TTL_MS - 1);
      t.strictSame(
        (await attempt([{ key: 'b', limit: 2, ttlMs: CHALLENGE_TTL_MS }])).attempts,
        [{ taken: false, count: 2, expiresAt: t1 + CHALLENGE_TTL_MS }],
        'at the limit a millisecond before its expiry: refused',
      );
      env.clock.advance(1);
      const t3 = env.clock.now();
      t.strictSame(
        (
          await attempt([
            { key: 'b', limit: 2, ttlMs: CHALLENGE_TTL_MS },
            { key: 'a', limit: 10, ttlMs: TTL_MS },
          ])
        ).attempts,
        [taken(1, t3 + CHALLENGE_TTL_MS), taken(1, t3 + TTL_MS)],
        'expired counters restart at 1, even one at the limit',
      );
      t.strictSame(
        await readCounters(env, userId, ['a', 'b']),
        [
          { count: 1, expiresAt: t3 + TTL_MS },
          { count: 1, expiresAt: t3 + CHALLENGE_TTL_MS },
        ],
        'stored afresh',
      );
    },
  },
  {
    name: 'beginSecondFactor resolves the authenticators as listAuthenticators lists them, both types, in its order',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId, { id: 'phone', name: 'Phone' });
      await activate(env, userId, { id: 'app', name: null });
      await register(env, userId, { transports: ['internal', 'hybrid'], backupEligible: true });
      env.clock.advance(1_001);
      await register(env, userId);
      await enroll(env, userId, { id: 'tablet' });
      const result = await begin(env, userId, request(env));
      const listed = await readList(env, userId);
      t.strictSame(result.authenticators, listed, 'deep equal to listAuthenticators, in the same order');
      t.strictSame(
        result.authenticators.map((record) => record.type).sort(),
        ['totp', 'totp', 'totp', 'webauthn', 'webauthn'],
        'every live authenticator, the pending one included',
      );
      t.strictSame(
        (await begin(env, env.userId(), request(env))).authenticators,
        [],
        'none for a user without any',
      );
    },
  },
  {
    name: 'beginSecondFactor reads readNonce as getNonce does: its value, or null when absent, expired or not asked',
    async run(t, env) {
      const userId = env.userId();
      await activate(env, userId);
      const value = await issueNonce(env, userId, READ_KEY);
      let call = 0;
      const read = (readNonce: string | null) =>
        begin(
          env,
          userId,
          request(env, {
            claimKey: `used:${++call}`,
            attempts: [{ key: LOCKOUT_KEY, limit: 100, ttlMs: TTL_MS }],
            readNonce,
          }),
        );
      t.equal((await read(READ_KEY)).nonce, value, 'its value');
      t.equal((await read(null)).nonce, null, 'null when not asked');
      t.equal((await read('absent')).nonce, null, 'null when absent');
      env.clock.advance(LIFETIME_MS - 1);
      t.equal((await read(READ_KEY)).nonce, value, 'its value a millisecond before its expiry');
      env.clock.advance(1);
      t.equal((await read(READ_KEY)).nonce, null, 'null at its expiry');
    },
  },
  {
    name: 'of concurrent beginSecondFactor calls with the same claim exactly one claims, and only it counts attempts',
    async run(t, env) {
      for (let round = 1; round <= env.rounds; round++) {
        const userId = env.userId();
        await activate(env, userId);
        const value = await issueNonce(env, userId, READ_KEY);
        const now = env.clock.now();
        const inputs = Array.from({ length: env.concurrency }, () => request(env));
        const results = await race(env.concurrency, (index) => begin(env, userId, inputs[index]!));
        const winner = expectOneWinner(
          t,
          results.map((result) => result.claimed),
          `round ${round}: exactly one of ${env.concurrency} claimed it`,
        );
        const won = results[winner]!;
        t.strictSame(
          won.attempts,
          [taken(1, now + CHALLENGE_TTL_MS), taken(1, now + TTL_MS)],
          `round ${round}: the winner took both attempts`,
        );
        t.equal(won.nonce, value, `round ${round}: the winner read the nonce`);
        t.strictSame(
          results.filter((result, index) => index !== winner && !isDeepStrictEqual(result, UNCLAIMED)),
          [],
          `round ${round}: the others resolved claimed false, with nothing counted or read`,
        );
        t.equal(
          await readNonce(env, userId, CLAIM_KEY),
          inputs[winner]!.claim.value,
          `round ${round}: the winner's value is stored`,
        );
        t.strictSame(
          await readCounters(env, userId, [CHALLENGE_KEY, LOCKOUT_KEY]),
          [
            { count: 1, expiresAt: now + CHALLENGE_TTL_MS },
            { count: 1, expiresAt: now + TTL_MS },
          ],
          `round ${round}: each counter counted once`,
        );
      }
    },
  },
  {
    name: 'of concurrent beginSecondFactor calls with distinct claims on a lockout counter at 7 with limit 10 exactly 3 are taken, as 8..10',
    async run(t, env) {
      const start = 7;
      for (let round = 1; round <= env.rounds; round++) {
        const userId = env.userId();
        await activate(env, userId);
        await countFailures(env, userId, start);
        env.clock.advance(1_000);
        const now = env.clock.now();
        const results = await race(env.concurrency, (index) =>
          begin(
            env,
            userId,
            request(env, {
              claimKey: `challenge:${index}:used`,
              attempts: [
                { key: `challenge:${index}`, limit: CHALLENGE_LIMIT, ttlMs: CHALLENGE_TTL_MS },
                { key: LOCKOUT_KEY, limit: LOCKOUT_LIMIT, ttlMs: TTL_MS },
              ],
              readNonce: null,
            }),
          ),
        );
        t.ok(
          results.every((result) => result.claimed),
          `round ${round}: every call claimed its own challenge`,
        );
        t.strictSame(
          results.filter(
            (result) => !isDeepStrictEqual(result.attempts[0], taken(1, now + CHALLENGE_TTL_MS)),
          ),
          [],
          `round ${round}: every call took the attempt on its own challenge`,
        );
        t.strictSame(
          results.filter((result) => result.attempts.length !== 2),
          [],
          `round ${round}: every call judged the lockout after it`,
        );
        const lockout = results.map((result) => result.attempts[1]).filter((state) => state !== undefined);
        const expected = Math.min(LOCKOUT_LIMIT - start, env.concurrency);
        const takenOnes = lockout.filter((state) => state.taken);
        t.equal(
          takenOnes.length,
          expected,
          `round ${round}: exactly ${expected} of ${env.concurrency} lockout attempts were taken`,
        );
        t.strictSame(
          takenOnes.map((state) => state.count).sort((a, b) => a - b),
          range(start + 1, start + expected),
          `round ${round}: the taken ones resolved ${start + 1}..${start + expected}, each once`,
        );
        t.ok(
          takenOnes.every((state) => state.expiresAt === now + TTL_MS),
          `round ${round}: the taken ones resolved the expiry now + ttl`,
        );
        t.strictSame(
          lockout.filter(
            (state) => !state.taken && (state.count !== LOCKOUT_LIMIT || state.expiresAt !== now + TTL_MS),
          ),
          [],
          `round ${round}: the refused ones resolved the counter at the limit, ${LOCKOUT_LIMIT}`,
        );
        t.strictSame(
          await readCounter(env, userId, LOCKOUT_KEY),
          { count: start + expected, expiresAt: now + TTL_MS },
          `round ${round}: the lockout counter is ${start + expected}`,
        );
      }
    },
  },
]);
