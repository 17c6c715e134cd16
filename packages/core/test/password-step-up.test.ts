// The step-up of a user without 2FA (verifyPasswordStepUp): the host's password check, counted
// toward the per-account lockout before it is judged, as a second factor is.
import t from 'tap';
import { codeAt, enrolledUser, flushEvents, interleavingStore, makeEngine, wrongCode } from './helpers.js';

/** A password check that counts how often it was asked (how many attempts were judged). */
function passwordCheck(right: string) {
  const judged = { count: 0 };
  return {
    judged,
    check: (given: string) => async () => {
      judged.count++;
      await new Promise<void>((resolve) => setImmediate(resolve));
      return given === right;
    },
  };
}

/** Settles every call and tallies the error codes (and "ok"). */
async function tally(calls: Promise<unknown>[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const result of await Promise.allSettled(calls)) {
    const key = result.status === 'fulfilled' ? 'ok' : String((result.reason as { code?: string }).code);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

t.test('the right password passes; a wrong one is INVALID_CREDENTIALS and counted', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 5 } });
  const { check, judged } = passwordCheck('hunter2');
  await t.resolves(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')));
  t.equal(await env.store.getCounter('user-1', 'failures', env.clock.now()), null, 'nothing counted');
  await t.rejects(env.twoFactor.verifyPasswordStepUp('user-1', check('wrong')), {
    code: 'TWOFOLD_INVALID_CREDENTIALS',
  });
  t.equal((await env.store.getCounter('user-1', 'failures', env.clock.now()))?.count, 1, 'one failure');
  await t.resolves(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')));
  t.equal(
    await env.store.getCounter('user-1', 'failures', env.clock.now()),
    null,
    'a right password ends the failure count',
  );
  t.equal(judged.count, 3);
});

t.test('after maxFailures wrong passwords the account is LOCKED, the right password too', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3, durationMs: 60_000 } });
  const locked: unknown[] = [];
  env.twoFactor.on('locked', (event) => locked.push(event));
  const { check, judged } = passwordCheck('hunter2');
  for (let i = 0; i < 3; i++) {
    await t.rejects(env.twoFactor.verifyPasswordStepUp('user-1', check('wrong')), {
      code: 'TWOFOLD_INVALID_CREDENTIALS',
    });
  }
  const lockedAt = env.clock.now();
  await t.rejects(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')), {
    code: 'TWOFOLD_LOCKED',
    retryAfterMs: 60_000,
  });
  t.equal(judged.count, 3, 'a locked attempt is never judged');
  env.clock.advance(60_000);
  await t.resolves(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')));
  await flushEvents();
  t.same(locked, [{ userId: 'user-1', until: lockedAt + 60_000 }]);
});

t.test(
  'a burst of 50 wrong passwords with limit 5: exactly 5 judged, 45 LOCKED, the right password refused',
  async (t) => {
    for (let round = 0; round < 5; round++) {
      const env = makeEngine({ lockout: { maxFailures: 5 }, store: interleavingStore() });
      const { check, judged } = passwordCheck('hunter2');
      const counts = await tally(
        Array.from({ length: 50 }, () => env.twoFactor.verifyPasswordStepUp('user-1', check('wrong'))),
      );
      t.strictSame(
        counts,
        { TWOFOLD_INVALID_CREDENTIALS: 5, TWOFOLD_LOCKED: 45 },
        `round ${round}: ${JSON.stringify(counts)}`,
      );
      t.equal(judged.count, 5, `round ${round}: the host's check ran 5 times`);
      await t.rejects(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')), {
        code: 'TWOFOLD_LOCKED',
      });
    }
  },
);

t.test('wrong passwords and wrong codes share one per-account counter', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 4 } });
  const { check } = passwordCheck('hunter2');
  await env.twoFactor.verifyPasswordStepUp('user-1', check('wrong')).catch(() => {});
  await env.twoFactor.verifyPasswordStepUp('user-1', check('wrong')).catch(() => {});
  // An enrollment under way (2FA not on yet): a wrong confirming code counts on the same counter.
  const { secret } = await env.twoFactor.enroll('user-1');
  await t.rejects(env.twoFactor.confirm('user-1', wrongCode(secret, env.clock.now())), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  await env.twoFactor.verifyPasswordStepUp('user-1', check('wrong')).catch(() => {});
  t.equal((await env.store.getCounter('user-1', 'failures', env.clock.now()))?.count, 4);
  await t.rejects(env.twoFactor.confirm('user-1', codeAt(secret, env.clock.now())), {
    code: 'TWOFOLD_LOCKED',
  });
  await t.rejects(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')), {
    code: 'TWOFOLD_LOCKED',
  });
});

t.test(
  'a user with 2FA needs a second factor: the password is refused, never judged or counted',
  async (t) => {
    const env = makeEngine({ lockout: { maxFailures: 3 } });
    const user = await enrolledUser(env);
    const { check, judged } = passwordCheck('hunter2');
    await t.rejects(env.twoFactor.verifyPasswordStepUp(user.userId, check('hunter2')), {
      code: 'TWOFOLD_INVALID_INPUT',
      field: 'code',
    });
    t.equal(judged.count, 0);
    t.equal(await env.store.getCounter(user.userId, 'failures', env.clock.now()), null);
  },
);

t.test('a pending enrollment is not 2FA: the password still works', async (t) => {
  const env = makeEngine();
  await env.twoFactor.enroll('user-1');
  const { check } = passwordCheck('hunter2');
  await t.resolves(env.twoFactor.verifyPasswordStepUp('user-1', check('hunter2')));
});

t.test('a check that throws: the error goes through, the attempt stays counted', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3 } });
  const failure = new Error('the user database is down');
  await t.rejects(
    env.twoFactor.verifyPasswordStepUp('user-1', async () => {
      throw failure;
    }),
    failure,
  );
  t.equal((await env.store.getCounter('user-1', 'failures', env.clock.now()))?.count, 1);
});

t.test('a bad user id is refused before anything is counted', async (t) => {
  const env = makeEngine();
  await t.rejects(
    env.twoFactor.verifyPasswordStepUp('', async () => true),
    { code: 'TWOFOLD_INVALID_INPUT' },
  );
});
