import t from 'tap';
import * as core from '../src/index.js';
import {
  createTwoFactor,
  memoryStore,
  type TwoFactorEventName,
  type TwoFactorEvents,
  type WebAuthnCredentialRecord,
} from '../src/index.js';
import {
  codeAt,
  enrolledUser,
  flushEvents,
  interleavingStore,
  makeEngine,
  testKeyring,
  wrongCode,
} from './helpers.js';

type Env = ReturnType<typeof makeEngine>;

/** Enrolls and confirms one more authenticator app for a user; its confirming step is spent. */
async function addApp(env: Env, userId: string, name?: string) {
  const enrollment = await env.twoFactor.enroll(userId, name === undefined ? {} : { name });
  const added = await env.twoFactor.confirm(userId, codeAt(enrollment.secret, env.clock.now()));
  return { ...added, secret: enrollment.secret };
}

/** A user with two apps, A (from enrolledUser) and B, and a step that neither has spent. */
async function twoApps(env: Env, userId = 'user-1') {
  const user = await enrolledUser(env, userId);
  const b = await addApp(env, userId, 'Tablet');
  env.clock.advance(30_000);
  const a = { authenticatorId: user.enrollment.authenticatorId, secret: user.secret };
  return { userId, a, b, recoveryCodes: user.recoveryCodes };
}

/**
 * A WebAuthn credential record as the engine would store it after a registration: the store is
 * written directly, since these tests are about listing, counting and limits, not signatures.
 */
function keyRecord(
  userId: string,
  now: number,
  overrides: Partial<WebAuthnCredentialRecord> = {},
): WebAuthnCredentialRecord {
  return {
    type: 'webauthn',
    userId,
    id: `w_key${now}`,
    name: null,
    credentialId: `Y3JlZGVudGlhbC${now}`,
    publicKey: 'cHVibGljLWtleQ',
    counter: 0,
    transports: ['usb'],
    aaguid: '00000000-0000-0000-0000-000000000000',
    backupEligible: false,
    backupState: false,
    createdAt: now,
    lastUsedAt: null,
    ...overrides,
  };
}

async function addKey(env: Env, record: WebAuthnCredentialRecord) {
  return env.store.addWebAuthnCredential(record, {
    recoveryCodeHashes: [],
    maxActive: 50,
    now: env.clock.now(),
  });
}

/** Records the events named, in order, with their payloads. */
function recordEvents(env: Env, names: TwoFactorEventName[]) {
  const seen: [TwoFactorEventName, unknown][] = [];
  for (const name of names) {
    env.twoFactor.on(name, (payload: TwoFactorEvents[typeof name]) => {
      seen.push([name, payload]);
    });
  }
  return seen;
}

t.test('two apps each log in with their own codes, and the factor says which one answered', async (t) => {
  const env = makeEngine();
  const { userId, a, b } = await twoApps(env);
  t.not(a.authenticatorId, b.authenticatorId);
  t.strictSame(await env.twoFactor.verify(userId, codeAt(a.secret, env.clock.now())), {
    userId,
    method: 'totp',
    authenticatorId: a.authenticatorId,
    amr: 'otp',
  });
  t.strictSame(await env.twoFactor.verify(userId, codeAt(b.secret, env.clock.now())), {
    userId,
    method: 'totp',
    authenticatorId: b.authenticatorId,
    amr: 'otp',
  });
  env.clock.advance(30_000);
  const { challengeToken } = await env.twoFactor.createChallenge(userId);
  t.match(
    await env.twoFactor.completeChallenge(challengeToken, { code: codeAt(b.secret, env.clock.now()) }),
    { userId, method: 'totp', authenticatorId: b.authenticatorId, amr: 'otp' },
    'a login with the second app',
  );
  t.match(
    await env.twoFactor.verifySecondFactor(userId, { code: codeAt(a.secret, env.clock.now()) }),
    { authenticatorId: a.authenticatorId },
    'step-up with the first app',
  );
  const rotated = await env.twoFactor.rotateRecoveryCodes(userId, {
    code: codeAt(b.secret, env.clock.now(), 1),
  });
  t.equal(rotated.recoveryCodes.length, 10, 'any app proves a rotation');
});

t.test(
  "replay protection is per app: a code is accepted once, another app's counter is its own",
  async (t) => {
    const env = makeEngine();
    const { userId, a, b } = await twoApps(env);
    const failed = recordEvents(env, ['failed']);
    const now = env.clock.now();
    t.match(await env.twoFactor.verify(userId, codeAt(a.secret, now)), {
      authenticatorId: a.authenticatorId,
    });
    await t.rejects(
      env.twoFactor.verify(userId, codeAt(a.secret, now)),
      { code: 'TWOFOLD_INVALID_CODE' },
      'A replayed',
    );
    t.match(
      await env.twoFactor.verify(userId, codeAt(b.secret, now)),
      { authenticatorId: b.authenticatorId },
      "B's code of the same step is fresh: A's use did not move B's counter",
    );
    await t.rejects(
      env.twoFactor.verify(userId, codeAt(b.secret, now)),
      { code: 'TWOFOLD_INVALID_CODE' },
      'B replayed',
    );
    await t.rejects(
      env.twoFactor.verify(userId, codeAt(b.secret, now, -1)),
      { code: 'TWOFOLD_INVALID_CODE' },
      "B's confirming code (the step before) never logs in",
    );
    // B moves one step ahead; A's next step is still its own to spend, and A's older one is not.
    t.match(await env.twoFactor.verify(userId, codeAt(b.secret, now, 1)), {
      authenticatorId: b.authenticatorId,
    });
    t.match(await env.twoFactor.verify(userId, codeAt(a.secret, now, 1)), {
      authenticatorId: a.authenticatorId,
    });
    await t.rejects(env.twoFactor.verify(userId, codeAt(a.secret, now)), { code: 'TWOFOLD_INVALID_CODE' });
    await flushEvents();
    t.strictSame(
      failed.map(([, payload]) => (payload as TwoFactorEvents['failed']).reason),
      ['replayed', 'replayed', 'replayed', 'replayed'],
      'a replay on one app is reported as a replay, not as a wrong code for the other',
    );
  },
);

t.test('names: a default, given names trimmed, bad names refused with the field named', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  for (const name of ['  Work phone\t ', 'x'.repeat(64), '📱 Pixel']) {
    await addApp(env, user.userId, name);
    env.clock.advance(30_000);
  }
  t.strictSame(
    (await env.twoFactor.listAuthenticators(user.userId)).map((info) => info.name),
    ['Authenticator app', 'Work phone', 'x'.repeat(64), '📱 Pixel'],
  );
  const bad: [string, unknown][] = [
    ['empty', ''],
    ['blank', '   '],
    ['65 characters', 'x'.repeat(65)],
    ['a newline', 'Work\nphone'],
    ['NUL', 'Work\u0000phone'],
    ['DEL', 'Work\u007f'],
    ['a C1 control', 'Work\u0085phone'],
    ['a lone surrogate', 'Work \ud83d'],
    ['a number', 42],
    ['null', null],
    ['an object', { name: 'Phone' }],
  ];
  const before = await env.twoFactor.listAuthenticators(user.userId);
  for (const [label, name] of bad) {
    await t.rejects(
      env.twoFactor.enroll(user.userId, { name: name as string }),
      { code: 'TWOFOLD_INVALID_INPUT', field: 'name' },
      `enroll: ${label}`,
    );
    await t.rejects(
      env.twoFactor.renameAuthenticator(user.userId, user.enrollment.authenticatorId, name),
      { code: 'TWOFOLD_INVALID_INPUT', field: 'name' },
      `rename: ${label}`,
    );
  }
  t.strictSame(await env.twoFactor.listAuthenticators(user.userId), before, 'nothing renamed');
  t.equal((await env.twoFactor.status(user.userId)).pending, false, 'no enrollment started');
});

t.test(
  'the list: active authenticators only, oldest first, a fixed set of fields and never a secret',
  async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    const aAt = env.clock.now() - 30_000; // enrolledUser confirmed one step ago
    const b = await addApp(env, user.userId, 'Tablet');
    const bAt = env.clock.now();
    env.clock.advance(60_000);
    const pending = await env.twoFactor.enroll(user.userId, { name: 'Unconfirmed' });
    await enrolledUser(env, 'someone-else');
    env.clock.advance(30_000);
    await env.twoFactor.verify(user.userId, codeAt(b.secret, env.clock.now()));
    const usedAt = env.clock.now();
    const list = await env.twoFactor.listAuthenticators(user.userId);
    t.strictSame(list, [
      {
        id: user.enrollment.authenticatorId,
        type: 'totp',
        name: 'Authenticator app',
        createdAt: new Date(aAt),
        lastUsedAt: new Date(aAt),
      },
      {
        id: b.authenticatorId,
        type: 'totp',
        name: 'Tablet',
        createdAt: new Date(bAt),
        lastUsedAt: new Date(usedAt),
      },
    ]);
    t.notOk(
      list.some((info) => info.id === pending.authenticatorId),
      'the enrollment under way is not listed',
    );
    const serialized = JSON.stringify(list);
    const records = await env.store.listAuthenticators(user.userId, env.clock.now());
    for (const secret of [user.secret, b.secret, pending.secret]) t.notMatch(serialized, secret);
    for (const record of records) {
      if (record.type === 'totp') t.notMatch(serialized, record.sealedSecret, 'no sealed secret either');
    }
    t.notMatch(serialized, /lastCounter|sealedSecret|algorithm|period/);
  },
);

t.test('security keys and passkeys are listed and counted, without their key material', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const key = keyRecord(user.userId, env.clock.now());
  t.equal(await addKey(env, key), 'added');
  env.clock.advance(1_000);
  const passkey = keyRecord(user.userId, env.clock.now(), { backupEligible: true, backupState: true });
  t.equal(await addKey(env, passkey), 'added');
  const list = await env.twoFactor.listAuthenticators(user.userId);
  t.strictSame(list.slice(1), [
    {
      id: key.id,
      type: 'webauthn',
      name: 'Security key',
      createdAt: new Date(key.createdAt),
      lastUsedAt: null,
      passkey: false,
    },
    {
      id: passkey.id,
      type: 'webauthn',
      name: 'Passkey',
      createdAt: new Date(passkey.createdAt),
      lastUsedAt: null,
      passkey: true,
    },
  ]);
  const serialized = JSON.stringify(list);
  t.notMatch(serialized, key.publicKey);
  t.notMatch(serialized, key.credentialId);
  t.notMatch(serialized, key.aaguid);
  t.strictSame((await env.twoFactor.status(user.userId)).authenticators, { totp: 1, webauthn: 2 });
  t.match(await env.twoFactor.renameAuthenticator(user.userId, key.id, 'YubiKey'), {
    id: key.id,
    type: 'webauthn',
    name: 'YubiKey',
  });
});

t.test('the list is oldest first by the date it shows', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const app = await env.twoFactor.enroll(user.userId);
  env.clock.advance(1_000);
  await addKey(env, keyRecord(user.userId, env.clock.now()));
  env.clock.advance(1_000);
  await env.twoFactor.confirm(user.userId, codeAt(app.secret, env.clock.now()));
  const dates = (await env.twoFactor.listAuthenticators(user.userId)).map((info) => info.createdAt.getTime());
  t.strictSame(
    dates,
    [...dates].sort((x, y) => x - y),
    JSON.stringify(dates),
  );
});

t.test("rename: the new name, trimmed; NotFound for an unknown, pending or other user's id", async (t) => {
  const env = makeEngine();
  const { userId, a, b } = await twoApps(env);
  const bob = await enrolledUser(env, 'bob');
  const renamed = await env.twoFactor.renameAuthenticator(userId, a.authenticatorId, '  Old phone ');
  t.match(renamed, { id: a.authenticatorId, type: 'totp', name: 'Old phone' });
  t.strictSame(
    (await env.twoFactor.listAuthenticators(userId)).map((info) => [info.id, info.name]),
    [
      [a.authenticatorId, 'Old phone'],
      [b.authenticatorId, 'Tablet'],
    ],
  );
  const pending = await env.twoFactor.enroll(userId);
  for (const [label, id] of [
    ['unknown', 't_AAAAAAAAAAAAAAAA'],
    ['legacy id the user does not have', core.TOTP_AUTHENTICATOR_ID],
    ['pending', pending.authenticatorId],
    ["another user's", bob.enrollment.authenticatorId],
  ] as const) {
    await t.rejects(
      env.twoFactor.renameAuthenticator(userId, id, 'Mine now'),
      { code: 'TWOFOLD_NOT_FOUND' },
      label,
    );
  }
  t.match(
    await env.twoFactor.listAuthenticators('bob'),
    [{ name: 'Authenticator app' }],
    "bob's app untouched",
  );
  for (const id of ['', 'x'.repeat(256), 42]) {
    await t.rejects(env.twoFactor.renameAuthenticator(userId, id as string, 'Phone'), {
      code: 'TWOFOLD_INVALID_INPUT',
      field: 'authenticatorId',
    });
  }
  t.equal(await env.store.getCounter(userId, 'failures', env.clock.now()), null, 'a rename takes no attempt');
});

t.test('remove needs a fresh factor; the others keep working, and so do the recovery codes', async (t) => {
  const env = makeEngine();
  const { userId, a, b } = await twoApps(env);
  let beforeDisable = 0;
  const options = { beforeDisable: () => beforeDisable++ };
  await t.rejects(
    env.twoFactor.removeAuthenticator(
      userId,
      b.authenticatorId,
      { code: wrongCode(a.secret, env.clock.now()) },
      options,
    ),
    { code: 'TWOFOLD_INVALID_CODE' },
  );
  t.equal(
    (await env.store.getCounter(userId, 'failures', env.clock.now()))?.count,
    1,
    'the wrong code counts',
  );
  t.equal((await env.twoFactor.listAuthenticators(userId)).length, 2, 'nothing removed');
  const code = codeAt(a.secret, env.clock.now());
  t.strictSame(await env.twoFactor.removeAuthenticator(userId, b.authenticatorId, { code }, options), {
    disabled: false,
  });
  t.equal(beforeDisable, 0, 'beforeDisable only runs when the last one goes');
  t.equal(
    await env.store.getCounter(userId, 'failures', env.clock.now()),
    null,
    'the success ends the count',
  );
  t.strictSame(
    (await env.twoFactor.listAuthenticators(userId)).map((info) => info.id),
    [a.authenticatorId],
  );
  await t.rejects(
    env.twoFactor.verify(userId, code),
    { code: 'TWOFOLD_INVALID_CODE' },
    'the factor was spent',
  );
  await t.rejects(
    env.twoFactor.verify(userId, codeAt(b.secret, env.clock.now())),
    { code: 'TWOFOLD_INVALID_CODE' },
    'the removed app no longer logs in',
  );
  t.match(await env.twoFactor.status(userId), {
    enabled: true,
    recoveryCodesRemaining: 10,
    authenticators: { totp: 1, webauthn: 0 },
  });
  env.clock.advance(30_000);
  await t.resolves(env.twoFactor.verify(userId, codeAt(a.secret, env.clock.now())));
  await t.rejects(
    env.twoFactor.removeAuthenticator(userId, b.authenticatorId, {
      code: codeAt(a.secret, env.clock.now(), 1),
    }),
    { code: 'TWOFOLD_NOT_FOUND' },
    'removed once, not twice',
  );
});

t.test('an unknown id is NotFound, checked before the factor: nothing is spent or counted', async (t) => {
  const env = makeEngine();
  const { userId, a, recoveryCodes } = await twoApps(env);
  const bob = await enrolledUser(env, 'bob');
  const code = codeAt(a.secret, env.clock.now());
  for (const [label, id] of [
    ['unknown', 't_AAAAAAAAAAAAAAAA'],
    ["another user's", bob.enrollment.authenticatorId],
  ] as const) {
    await t.rejects(
      env.twoFactor.removeAuthenticator(userId, id, { code }),
      { code: 'TWOFOLD_NOT_FOUND' },
      label,
    );
    await t.rejects(
      env.twoFactor.removeAuthenticator(userId, id, { code: wrongCode(a.secret, env.clock.now()) }),
      { code: 'TWOFOLD_NOT_FOUND' },
      `${label}, with a wrong code`,
    );
    await t.rejects(
      env.twoFactor.removeAuthenticator(userId, id, { recoveryCode: recoveryCodes[0] }),
      { code: 'TWOFOLD_NOT_FOUND' },
      `${label}, with a recovery code`,
    );
  }
  const pending = await env.twoFactor.enroll(userId);
  await t.rejects(env.twoFactor.removeAuthenticator(userId, pending.authenticatorId, { code }), {
    code: 'TWOFOLD_NOT_FOUND',
  });
  await t.rejects(env.twoFactor.removeAuthenticator(userId, '', { code }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'authenticatorId',
  });
  await t.rejects(env.twoFactor.removeAuthenticator(userId, a.authenticatorId, {} as never), {
    code: 'TWOFOLD_INVALID_INPUT',
  });
  t.equal(await env.store.getCounter(userId, 'failures', env.clock.now()), null, 'no attempt counted');
  t.equal(await env.store.countRecoveryCodes(userId), 10, 'no recovery code spent');
  await t.resolves(env.twoFactor.verify(userId, code), 'the code is still fresh');
  t.equal((await env.twoFactor.listAuthenticators('bob')).length, 1, "bob's app untouched");
});

t.test('wrong factors on removal count toward the lockout', async (t) => {
  const env = makeEngine({ lockout: { maxFailures: 3, durationMs: 60_000 } });
  const { userId, a, b } = await twoApps(env);
  const locked = recordEvents(env, ['locked']);
  for (let i = 0; i < 3; i++) {
    await t.rejects(
      env.twoFactor.removeAuthenticator(userId, b.authenticatorId, {
        code: wrongCode(a.secret, env.clock.now()),
      }),
      { code: 'TWOFOLD_INVALID_CODE' },
    );
  }
  await t.rejects(
    env.twoFactor.removeAuthenticator(userId, b.authenticatorId, { code: codeAt(a.secret, env.clock.now()) }),
    { code: 'TWOFOLD_LOCKED' },
  );
  await t.rejects(env.twoFactor.verify(userId, codeAt(b.secret, env.clock.now())), {
    code: 'TWOFOLD_LOCKED',
  });
  t.equal((await env.twoFactor.listAuthenticators(userId)).length, 2);
  await flushEvents();
  t.equal(locked.length, 1);
});

t.test('removing the last one turns 2FA off: beforeDisable first, codes and enrollment gone', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const id = user.enrollment.authenticatorId;
  const seen = recordEvents(env, ['verified', 'authenticatorRemoved', 'disabled']);
  const pending = await env.twoFactor.enroll(user.userId);
  const inside: unknown[] = [];
  const result = await env.twoFactor.removeAuthenticator(
    user.userId,
    id,
    { code: codeAt(user.secret, env.clock.now()) },
    {
      beforeDisable: async () => {
        const status = await env.twoFactor.status(user.userId);
        inside.push([status.enabled, status.recoveryCodesRemaining]);
      },
    },
  );
  t.strictSame(result, { disabled: true });
  t.strictSame(inside, [[true, 10]], 'beforeDisable ran once, while 2FA was still on');
  t.strictSame(await env.twoFactor.status(user.userId), {
    enabled: false,
    pending: false,
    recoveryPending: null,
    recoveryCodesRemaining: 0,
    enabledAt: null,
    lastUsedAt: null,
    authenticators: { totp: 0, webauthn: 0 },
  });
  t.equal(await env.store.countRecoveryCodes(user.userId), 0, 'the recovery codes are gone');
  t.strictSame(await env.store.listAuthenticators(user.userId, env.clock.now()), [], 'the enrollment too');
  await t.rejects(env.twoFactor.confirm(user.userId, codeAt(pending.secret, env.clock.now())), {
    code: 'TWOFOLD_NOT_PENDING',
  });
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), {
    code: 'TWOFOLD_NOT_ENABLED',
  });
  await flushEvents();
  t.strictSame(seen, [
    ['verified', { userId: user.userId, method: 'totp' }],
    ['authenticatorRemoved', { userId: user.userId, authenticatorId: id, last: true }],
    ['disabled', { userId: user.userId, via: 'code' }],
  ]);

  // Starting over is a first authenticator again: fresh recovery codes, the old ones dead.
  const again = await env.twoFactor.enroll(user.userId);
  t.not(again.authenticatorId, id);
  const confirmed = await env.twoFactor.confirm(user.userId, codeAt(again.secret, env.clock.now()));
  t.equal(confirmed.enabled, true);
  t.equal(confirmed.recoveryCodes.length, 10);
  await t.rejects(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[1]), {
    code: 'TWOFOLD_INVALID_CODE',
  });
});

t.test('removing the last one with a recovery code reports disabled via recovery-code', async (t) => {
  const env = makeEngine();
  const { userId, a, b, recoveryCodes } = await twoApps(env);
  const seen = recordEvents(env, ['authenticatorRemoved', 'disabled']);
  t.strictSame(
    await env.twoFactor.removeAuthenticator(userId, a.authenticatorId, {
      code: codeAt(b.secret, env.clock.now()),
    }),
    { disabled: false },
  );
  t.strictSame(
    await env.twoFactor.removeAuthenticator(userId, b.authenticatorId, { recoveryCode: recoveryCodes[0] }),
    { disabled: true },
  );
  await flushEvents();
  t.strictSame(seen, [
    ['authenticatorRemoved', { userId, authenticatorId: a.authenticatorId, last: false }],
    ['authenticatorRemoved', { userId, authenticatorId: b.authenticatorId, last: true }],
    ['disabled', { userId, via: 'recovery-code' }],
  ]);
  t.equal(await env.store.countRecoveryCodes(userId), 0);
});

t.test('when beforeDisable throws, the last authenticator is not removed', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const seen = recordEvents(env, ['authenticatorRemoved', 'disabled']);
  await t.rejects(
    env.twoFactor.removeAuthenticator(
      user.userId,
      user.enrollment.authenticatorId,
      { code: codeAt(user.secret, env.clock.now()) },
      {
        beforeDisable: async () => {
          throw new Error('session store down');
        },
      },
    ),
    { message: 'session store down' },
  );
  t.match(await env.twoFactor.status(user.userId), {
    enabled: true,
    recoveryCodesRemaining: 10,
    authenticators: { totp: 1 },
  });
  env.clock.advance(30_000);
  await t.resolves(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), 'still logs in');
  await t.resolves(env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]));
  await flushEvents();
  t.strictSame(seen, [], 'no event for what did not happen');
});

t.test('maxAuthenticators: validated, default 10, refused at enroll', async (t) => {
  const base = () => ({ store: memoryStore(), keyring: testKeyring(), issuer: 'Acme' });
  t.equal(createTwoFactor(base()).options.maxAuthenticators, 10);
  t.equal(createTwoFactor({ ...base(), maxAuthenticators: 1 }).options.maxAuthenticators, 1);
  t.equal(createTwoFactor({ ...base(), maxAuthenticators: 50 }).options.maxAuthenticators, 50);
  for (const wrong of [0, -1, 51, 2.5, '3', null, Number.NaN]) {
    t.throws(
      () => createTwoFactor({ ...base(), maxAuthenticators: wrong as number }),
      { name: 'TypeError', message: /"maxAuthenticators"/ },
      `maxAuthenticators ${String(wrong)}`,
    );
  }

  const env = makeEngine({ maxAuthenticators: 2 });
  const { userId, a, b } = await twoApps(env);
  await t.rejects(env.twoFactor.enroll(userId), {
    code: 'TWOFOLD_AUTHENTICATOR_LIMIT',
    message: /at most 2 authenticators/,
  });
  t.equal((await env.twoFactor.status(userId)).pending, false, 'no enrollment started');
  await env.twoFactor.removeAuthenticator(userId, b.authenticatorId, {
    code: codeAt(a.secret, env.clock.now()),
  });
  const c = await addApp(env, userId);
  t.equal(c.enabled, false, 'a place freed by a removal can be taken again');

  const defaults = makeEngine();
  await enrolledUser(defaults);
  for (let i = 1; i < 10; i++) await addApp(defaults, 'user-1');
  t.equal((await defaults.twoFactor.status('user-1')).authenticators.totp, 10);
  await t.rejects(defaults.twoFactor.enroll('user-1'), { code: 'TWOFOLD_AUTHENTICATOR_LIMIT' });

  const single = makeEngine({ maxAuthenticators: 1 });
  await enrolledUser(single);
  await t.rejects(single.twoFactor.enroll('user-1'), { code: 'TWOFOLD_AUTHENTICATOR_LIMIT' });
});

t.test('maxAuthenticators: confirm is refused when the limit was reached meanwhile', async (t) => {
  const env = makeEngine({ maxAuthenticators: 2 });
  const user = await enrolledUser(env);
  const added = recordEvents(env, ['authenticatorAdded']);
  const pending = await env.twoFactor.enroll(user.userId);
  // A security key registered while the app was being set up takes the last place.
  t.equal(await addKey(env, keyRecord(user.userId, env.clock.now())), 'added');
  const code = codeAt(pending.secret, env.clock.now());
  let beforeActivate = 0;
  await t.rejects(env.twoFactor.confirm(user.userId, code, { beforeActivate: () => beforeActivate++ }), {
    code: 'TWOFOLD_AUTHENTICATOR_LIMIT',
  });
  t.equal(beforeActivate, 0);
  t.match(await env.twoFactor.status(user.userId), {
    enabled: true,
    recoveryCodesRemaining: 10,
    authenticators: { totp: 1, webauthn: 1 },
  });
  await t.rejects(
    env.twoFactor.verify(user.userId, code),
    { code: 'TWOFOLD_INVALID_CODE' },
    'the refused app does not log in',
  );
  await flushEvents();
  t.strictSame(added, []);
});

t.test('confirm with an explicit authenticatorId: the pending app of this user only', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const bobPending = await env.twoFactor.enroll('bob');
  const pending = await env.twoFactor.enroll(user.userId);
  const code = codeAt(pending.secret, env.clock.now());
  for (const [label, authenticatorId] of [
    ['an active app', user.enrollment.authenticatorId],
    ["another user's enrollment", bobPending.authenticatorId],
    ['an unknown id', 't_AAAAAAAAAAAAAAAA'],
  ] as const) {
    await t.rejects(
      env.twoFactor.confirm(user.userId, code, { authenticatorId }),
      { code: 'TWOFOLD_NOT_PENDING' },
      label,
    );
  }
  await t.rejects(env.twoFactor.confirm(user.userId, code, { authenticatorId: 42 as never }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'authenticatorId',
  });
  t.strictSame(await env.twoFactor.confirm(user.userId, code, { authenticatorId: pending.authenticatorId }), {
    authenticatorId: pending.authenticatorId,
    enabled: false,
    recoveryCodes: [],
  });
  t.equal((await env.twoFactor.status('bob')).pending, true, "bob's enrollment untouched");
});

t.test('status: counts by type, enabledAt the earliest active one, lastUsedAt the latest use', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const aAt = env.clock.now() - 30_000;
  env.clock.advance(60_000);
  const b = await addApp(env, user.userId);
  const bAt = env.clock.now();
  t.match(await env.twoFactor.status(user.userId), {
    enabled: true,
    enabledAt: new Date(aAt),
    lastUsedAt: new Date(bAt),
    authenticators: { totp: 2, webauthn: 0 },
  });
  env.clock.advance(30_000);
  await env.twoFactor.verify(user.userId, codeAt(b.secret, env.clock.now()));
  const bUsed = env.clock.now();
  env.clock.advance(30_000);
  await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now()));
  const aUsed = env.clock.now();
  t.same((await env.twoFactor.status(user.userId)).lastUsedAt, new Date(aUsed));
  t.ok(aUsed > bUsed);
  await addKey(env, keyRecord(user.userId, env.clock.now()));
  await env.twoFactor.enroll(user.userId);
  t.match(await env.twoFactor.status(user.userId), {
    pending: true,
    recoveryPending: null,
    enabledAt: new Date(aAt),
    authenticators: { totp: 2, webauthn: 1 },
  });
  env.clock.advance(30_000);
  await env.twoFactor.removeAuthenticator(user.userId, user.enrollment.authenticatorId, {
    code: codeAt(b.secret, env.clock.now()),
  });
  t.match(await env.twoFactor.status(user.userId), {
    enabledAt: new Date(bAt),
    lastUsedAt: new Date(env.clock.now()),
    authenticators: { totp: 1, webauthn: 1 },
  });
});

t.test('events: authenticatorAdded for every app, confirmed only for the first', async (t) => {
  const env = makeEngine();
  const seen = recordEvents(env, [
    'enrolled',
    'confirmed',
    'authenticatorAdded',
    'authenticatorRemoved',
    'disabled',
  ]);
  const { userId, a, b } = await twoApps(env);
  const c = await addApp(env, userId, 'Spare');
  await env.twoFactor.removeAuthenticator(userId, c.authenticatorId, {
    code: codeAt(a.secret, env.clock.now()),
  });
  await flushEvents();
  t.strictSame(
    seen.map(([name, payload]) => [name, name === 'enrolled' ? undefined : payload]),
    [
      ['enrolled', undefined],
      ['authenticatorAdded', { userId, authenticatorId: a.authenticatorId, type: 'totp', enabled: true }],
      ['confirmed', { userId }],
      ['enrolled', undefined],
      ['authenticatorAdded', { userId, authenticatorId: b.authenticatorId, type: 'totp', enabled: false }],
      ['enrolled', undefined],
      ['authenticatorAdded', { userId, authenticatorId: c.authenticatorId, type: 'totp', enabled: false }],
      ['authenticatorRemoved', { userId, authenticatorId: c.authenticatorId, last: false }],
    ],
  );
});

t.test('a user enrolled before several authenticators existed keeps the id "totp" and logs in', async (t) => {
  const env = makeEngine();
  const now = env.clock.now();
  // What the previous release left in the store: one app with the fixed id and no name.
  const enrollment = await env.twoFactor.enroll('legacy');
  const written = (await env.store.getAuthenticator('legacy', enrollment.authenticatorId, now))!;
  await env.store.deleteTwoFactor('legacy');
  t.ok(
    await env.store.savePendingAuthenticator(
      {
        ...written,
        id: core.TOTP_AUTHENTICATOR_ID,
        name: null,
        status: 'pending',
        confirmedAt: null,
        lastUsedAt: null,
        expiresAt: now + 60_000,
      },
      now,
    ),
  );
  t.equal(
    await env.store.confirmAuthenticator('legacy', core.TOTP_AUTHENTICATOR_ID, {
      sealedSecret: written.sealedSecret,
      counter: -1,
      recoveryCodeHashes: [],
      maxActive: 10,
      now,
    }),
    'enabled',
  );
  t.strictSame(await env.twoFactor.verify('legacy', codeAt(enrollment.secret, now)), {
    userId: 'legacy',
    method: 'totp',
    authenticatorId: 'totp',
    amr: 'otp',
  });
  t.match(await env.twoFactor.listAuthenticators('legacy'), [{ id: 'totp', name: 'Authenticator app' }]);
  const second = await addApp(env, 'legacy', 'New phone');
  t.match(second.authenticatorId, /^t_/);
  env.clock.advance(30_000);
  t.strictSame(
    await env.twoFactor.removeAuthenticator('legacy', 'totp', {
      code: codeAt(second.secret, env.clock.now()),
    }),
    { disabled: false },
  );
  t.strictSame(
    (await env.twoFactor.listAuthenticators('legacy')).map((info) => info.id),
    [second.authenticatorId],
  );
});

t.test('two clients removing the last two authenticators at once: 2FA off once, no codes left', async (t) => {
  for (const [label, makeStore] of [
    ['memoryStore', () => memoryStore()],
    ['interleaving', () => interleavingStore()],
  ] as const) {
    for (let round = 0; round < 20; round++) {
      const env = makeEngine({ store: makeStore() });
      const { userId, a, b, recoveryCodes } = await twoApps(env);
      const seen = recordEvents(env, ['authenticatorRemoved', 'disabled']);
      const ran: string[] = [];
      const results = await Promise.all([
        env.twoFactor.removeAuthenticator(
          userId,
          a.authenticatorId,
          { code: codeAt(a.secret, env.clock.now()) },
          { beforeDisable: () => ran.push('A') },
        ),
        env.twoFactor.removeAuthenticator(
          userId,
          b.authenticatorId,
          { recoveryCode: recoveryCodes[round % 10] },
          { beforeDisable: () => ran.push('B') },
        ),
      ]);
      const name = `${label} round ${round}`;
      const disabled = results.flatMap((result, index) => (result.disabled ? ['AB'[index]!] : []));
      t.equal(disabled.length, 1, `${name}: exactly one call reports disabled`);
      t.strictSame(ran, disabled, `${name}: beforeDisable ran once, for that call`);
      t.match(await env.twoFactor.status(userId), { enabled: false, recoveryCodesRemaining: 0 }, name);
      t.equal(await env.store.countRecoveryCodes(userId), 0, `${name}: no recovery codes left`);
      t.strictSame(await env.store.listAuthenticators(userId, env.clock.now()), [], name);
      await flushEvents();
      t.strictSame(
        seen.map(([event]) => event).sort(),
        ['authenticatorRemoved', 'authenticatorRemoved', 'disabled'],
        name,
      );
    }
  }
});

t.test(
  'a removal that became the last in a race still reports 2FA off when its late beforeDisable throws',
  async (t) => {
    const env = makeEngine();
    const { userId, a, b, recoveryCodes } = await twoApps(env);
    const seen = recordEvents(env, ['authenticatorRemoved', 'disabled']);
    const throwing = {
      beforeDisable: async () => {
        throw new Error('session store down');
      },
    };
    await Promise.allSettled([
      env.twoFactor.removeAuthenticator(
        userId,
        a.authenticatorId,
        { code: codeAt(a.secret, env.clock.now()) },
        throwing,
      ),
      env.twoFactor.removeAuthenticator(
        userId,
        b.authenticatorId,
        { recoveryCode: recoveryCodes[0] },
        throwing,
      ),
    ]);
    const enabled = (await env.twoFactor.status(userId)).enabled;
    await flushEvents();
    const events = seen.map(([event]) => event).sort();
    if (enabled) {
      t.ok(events.filter((event) => event === 'disabled').length === 0, 'on, and no disabled event');
    } else {
      t.strictSame(
        events,
        ['authenticatorRemoved', 'authenticatorRemoved', 'disabled'],
        '2FA is off: both removals and the disable were reported',
      );
    }
  },
);

t.test('the new errors are exported from the package entry', async (t) => {
  const exported = core as Record<string, unknown>;
  for (const name of ['NotFoundError', 'AuthenticatorLimitError', 'InvalidRegistrationError']) {
    t.type(exported[name], 'function', name);
  }
});
