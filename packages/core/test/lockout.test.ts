import t from 'tap';
import { codeAt, enrolledUser, flushEvents, interleavingStore, makeEngine, wrongCode } from './helpers.js';

t.test(
  'after maxFailures wrong codes every attempt is LOCKED, the right code too, until the lock ends',
  async (t) => {
    const env = makeEngine({ lockout: { maxFailures: 5, durationMs: 60_000 } });
    const user = await enrolledUser(env);
    const locked: unknown[] = [];
    env.twoFactor.on('locked', (event) => locked.push(event));
    for (let i = 0; i < 5; i++) {
      await t.rejects(env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())), {
        code: 'TWOFOLD_INVALID_CODE',
      });
    }
    const lockedAt = env.clock.now();
    await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
      code: 'TWOFOLD_LOCKED',
      retryAfterMs: 60_000,
    });
    await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
      code: 'TWOFOLD_LOCKED',
    });
    env.clock.advance(59_000);
    await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
      code: 'TWOFOLD_LOCKED',
      retryAfterMs: 1_000,
    });
    env.clock.advance(1_000);
    await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())));
    await flushEvents();
    t.same(locked, [{ userId: user.userId, until: lockedAt + 60_000 }]);
  },
);

t.test('attempts while locked do not extend the lock (no permanent lock-out)', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3, durationMs: 60_000 } });
  const user = await enrolledUser(env);
  for (let i = 0; i < 3; i++)
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  for (let i = 0; i < 10; i++) {
    env.clock.advance(5_000);
    await t.rejects(env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())), {
      code: 'TWOFOLD_LOCKED',
    });
  }
  env.clock.advance(10_000);
  await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())));
});

t.test('success resets the failure count', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const user = await enrolledUser(env);
  for (let round = 0; round < 3; round++) {
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
    await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())));
    t.equal(await env.store.getCounter(user.userId, 'failures', env.clock.now()), null);
    env.clock.advance(30_000);
  }
});

t.test('TOTP and recovery-code failures share one per-account counter', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 4 } });
  const user = await enrolledUser(env);
  await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  await env.twoFactor.useRecoveryCode(user.userId, 'AAAA-BBBB-CCCC').catch(() => {});
  await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  await env.twoFactor.useRecoveryCode(user.userId, 'not a code').catch(() => {});
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
    code: 'TWOFOLD_LOCKED',
  });
});

/** Settles every call and tallies the error codes (and "ok"). */
async function tally(calls: Promise<unknown>[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const result of await Promise.allSettled(calls)) {
    const key = result.status === 'fulfilled' ? 'ok' : String((result.reason as { code?: string }).code);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

t.test(
  'a burst of 50 wrong codes with limit 5: exactly 5 judged, 45 LOCKED, the right code refused',
  async (t) => {
    for (let round = 0; round < 5; round++) {
      const env = makeEngine({ lockout: { maxFailures: 5 }, store: interleavingStore() });
      const user = await enrolledUser(env);
      const wrong = wrongCode(user.secret, env.clock.now());
      const counts = await tally(Array.from({ length: 50 }, () => env.twoFactor.verify(user.userId, wrong)));
      t.strictSame(
        counts,
        { TWOFOLD_INVALID_CODE: 5, TWOFOLD_LOCKED: 45 },
        `round ${round}: ${JSON.stringify(counts)}`,
      );
      t.equal((await env.store.getCounter(user.userId, 'failures', env.clock.now()))?.count, 5);
      await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
        code: 'TWOFOLD_LOCKED',
      });
    }
  },
);

t.test(
  'a burst of wrong recovery codes mixed with wrong TOTP codes: at most maxFailures judged',
  async (t) => {
    const env = makeEngine({ lockout: { maxFailures: 10 }, store: interleavingStore() });
    const user = await enrolledUser(env);
    const wrong = wrongCode(user.secret, env.clock.now());
    const counts = await tally(
      Array.from({ length: 60 }, (_, index) =>
        index % 2 === 0
          ? env.twoFactor.verify(user.userId, wrong)
          : env.twoFactor.useRecoveryCode(user.userId, 'AAAA-BBBB-CCCC-DDDD'),
      ),
    );
    t.strictSame(counts, { TWOFOLD_INVALID_CODE: 10, TWOFOLD_LOCKED: 50 }, JSON.stringify(counts));
  },
);

t.test('a success inside a burst never frees the wrong guesses counted around it', async (t) => {
  for (let round = 0; round < 10; round++) {
    const env = makeEngine({ lockout: { maxFailures: 5 }, store: interleavingStore() });
    const user = await enrolledUser(env);
    const wrong = wrongCode(user.secret, env.clock.now());
    const right = codeAt(user.secret, env.clock.now());
    const calls = Array.from({ length: 40 }, (_, index) =>
      env.twoFactor.verify(user.userId, index === 3 ? right : wrong),
    );
    const counts = await tally(calls);
    // The success resets the count only when nothing was counted after it; then it also ended the
    // count of the guesses before it (a success may end the count). Either way at most
    // maxFailures - 1 wrong guesses before it and maxFailures after it: never the 39 of the burst.
    t.ok((counts.TWOFOLD_INVALID_CODE ?? 0) <= 9, `round ${round}: ${JSON.stringify(counts)}`);
    t.ok((counts.ok ?? 0) + (counts.TWOFOLD_INVALID_CODE ?? 0) + (counts.TWOFOLD_LOCKED ?? 0) === 40);
  }
});

t.test('a successful password step (a new challenge) never clears second-factor failures', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const user = await enrolledUser(env);
  for (let i = 0; i < 3; i++) {
    const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
    await env.twoFactor
      .completeChallenge(challengeToken, { code: wrongCode(user.secret, env.clock.now()) })
      .catch(() => {});
  }
  const { challengeToken } = await env.twoFactor.createChallenge(user.userId);
  await t.rejects(
    env.twoFactor.completeChallenge(challengeToken, { code: codeAt(user.secret, env.clock.now()) }),
    {
      code: 'TWOFOLD_LOCKED',
    },
  );
});

t.test('lockout is per account: other users are unaffected', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const alice = await enrolledUser(env, 'alice');
  const bob = await enrolledUser(env, 'bob');
  for (let i = 0; i < 3; i++)
    await env.twoFactor.verify(alice.userId, wrongCode(alice.secret, env.clock.now())).catch(() => {});
  await t.rejects(env.twoFactor.verify(alice.userId, codeAt(alice.secret, env.clock.now())), {
    code: 'TWOFOLD_LOCKED',
  });
  await t.resolves(env.twoFactor.verify(bob.userId, codeAt(bob.secret, env.clock.now())));
});

t.test('with several apps, a wrong code is one failure, not one per app', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const user = await enrolledUser(env);
  const second = await env.twoFactor.enroll(user.userId);
  await env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now()));
  const third = await env.twoFactor.enroll(user.userId);
  await env.twoFactor.confirm(user.userId, codeAt(third.secret, env.clock.now()));
  env.clock.advance(30_000);
  const failed: { failures: number }[] = [];
  env.twoFactor.on('failed', (event) => failed.push(event));
  // A code none of the three apps shows in the window around now.
  const nearby = new Set(
    [user.secret, second.secret, third.secret].flatMap((secret) =>
      [-3, -2, -1, 0, 1, 2, 3].map((steps) => codeAt(secret, env.clock.now(), steps)),
    ),
  );
  const wrong = ['000000', '111111', '222222', '333333'].find((code) => !nearby.has(code))!;
  for (let i = 1; i <= 2; i++) {
    await t.rejects(env.twoFactor.verify(user.userId, wrong), { code: 'TWOFOLD_INVALID_CODE' });
    t.equal((await env.store.getCounter(user.userId, 'failures', env.clock.now()))?.count, i);
  }
  await t.resolves(
    env.twoFactor.verify(user.userId, codeAt(third.secret, env.clock.now())),
    'not locked yet',
  );
  await flushEvents();
  t.match(failed, [{ failures: 1 }, { failures: 2 }]);
});

t.test(
  'adding an app while 2FA is on: wrong confirming codes count, and a locked account cannot add one',
  async (t) => {
    const env = makeEngine({ lockout: { maxFailures: 3, durationMs: 60_000 } });
    const user = await enrolledUser(env);
    const second = await env.twoFactor.enroll(user.userId);
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
    for (let i = 0; i < 2; i++) {
      await t.rejects(env.twoFactor.confirm(user.userId, wrongCode(second.secret, env.clock.now())), {
        code: 'TWOFOLD_INVALID_CODE',
      });
    }
    await t.rejects(env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now())), {
      code: 'TWOFOLD_LOCKED',
    });
    await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
      code: 'TWOFOLD_LOCKED',
    });
    t.match(await env.twoFactor.status(user.userId), { pending: true, authenticators: { totp: 1 } });
    env.clock.advance(60_000);
    t.match(
      await env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now())),
      { authenticatorId: second.authenticatorId, enabled: false },
      'once the lock ends, the same enrollment can be confirmed',
    );
  },
);
