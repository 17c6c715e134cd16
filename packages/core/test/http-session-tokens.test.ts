import t from 'tap';
import {
  checkStepUpGuardOptions,
  createSessionTokens,
  REFRESH_TOKEN_AUDIENCE,
  REFRESH_TOKEN_TYPE,
} from '../src/http/session-tokens.js';
import {
  createChallengeTokens,
  InvalidTokenError,
  memoryStore,
  type TokenRefusalReason,
} from '../src/index.js';
import { createSignedTokens } from '../src/internal/signed-tokens.js';
import { fakeClock, testKeyring } from './helpers.js';

function setup() {
  const clock = fakeClock();
  const store = memoryStore();
  const keyring = testKeyring();
  const tokens = createSessionTokens({
    keyring,
    issuer: 'Acme',
    store,
    clock: clock.now,
    accessTtlSeconds: 900,
    refreshTtlSeconds: 86_400,
  });
  return { clock, store, keyring, tokens };
}

t.test('an access token carries the user, amr and auth_time', async (t) => {
  const { tokens, clock } = setup();
  const pair = await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now());
  const claims = await tokens.verifyAccess(pair.accessToken);
  t.equal(claims.userId, 'user-1');
  t.same(claims.amr, ['pwd', 'otp', 'mfa']);
  t.equal(claims.authTime, Math.floor(clock.now() / 1000) * 1000);
  t.equal(claims.expiresAt, Math.floor(clock.now() / 1000) * 1000 + 900_000);
  clock.advance(900_000);
  await t.rejects(tokens.verifyAccess(pair.accessToken), {
    code: 'TWOFOLD_INVALID_TOKEN',
    reason: 'expired',
    message: /expired/,
  });
});

t.test('tokens of one kind never pass as another: each kind has its own key', async (t) => {
  const { tokens, clock, keyring } = setup();
  const pair = await tokens.issue('user-1', ['pwd'], clock.now());
  const challenge = await createChallengeTokens({ keyring, issuer: 'Acme', ttlMs: 120_000 }).sign(
    'user-1',
    clock.now(),
  );
  const refused = { code: 'TWOFOLD_INVALID_TOKEN', reason: 'signature' };
  await t.rejects(tokens.verifyAccess(pair.refreshToken), refused, 'refresh as access');
  await t.rejects(tokens.verifyAccess(challenge.token), refused, 'challenge as access');
  await t.rejects(tokens.refresh(pair.accessToken), refused, 'access as refresh');
  await t.rejects(tokens.refresh(challenge.token), refused, 'challenge as refresh');
  await t.rejects(
    createChallengeTokens({ keyring, issuer: 'Acme', ttlMs: 120_000 }).verify(pair.accessToken, clock.now()),
    { code: 'TWOFOLD_INVALID_CHALLENGE', reason: 'signature' },
    'access as challenge',
  );
});

t.test('a token of the right key but another kind fails on typ, then aud, then tf', async (t) => {
  const { tokens, clock, keyring } = setup();
  const kinds = {
    purpose: 'access-token',
    noun: 'access token',
    invalid: (message: string, options: { cause: Error; reason: TokenRefusalReason }) =>
      new InvalidTokenError(message, options),
  };
  const cases: [string, { type: string; audience: string; kind: string }, TokenRefusalReason][] = [
    [
      'typ of a refresh token',
      { type: REFRESH_TOKEN_TYPE, audience: 'twofold:access', kind: 'access' },
      'type',
    ],
    [
      'aud of a refresh token',
      { type: 'twofold-access+jwt', audience: REFRESH_TOKEN_AUDIENCE, kind: 'access' },
      'audience',
    ],
    [
      'tf of a refresh token',
      { type: 'twofold-access+jwt', audience: 'twofold:access', kind: 'refresh' },
      'kind',
    ],
  ];
  for (const [name, kind, reason] of cases) {
    const forger = createSignedTokens(keyring, 'Acme', { ...kinds, ...kind }, (size) =>
      new Uint8Array(size).fill(3),
    );
    const { token } = forger.sign(
      'user-1',
      { amr: ['pwd'], auth_time: Math.floor(clock.now() / 1000), fam: 'f' },
      clock.now(),
      60,
    );
    await t.rejects(tokens.verifyAccess(token), { code: 'TWOFOLD_INVALID_TOKEN', reason }, name);
  }
});

t.test('refresh rotates; a spent refresh token revokes the whole family', async (t) => {
  const { tokens, clock } = setup();
  const first = await tokens.issue('user-1', ['pwd'], clock.now());
  clock.advance(1000);
  const second = await tokens.refresh(first.refreshToken);
  t.not(second.refreshToken, first.refreshToken);
  t.equal((await tokens.verifyAccess(second.accessToken)).userId, 'user-1');
  // The thief replays the first token: refused, and the user's current one dies with it.
  await t.rejects(tokens.refresh(first.refreshToken), {
    code: 'TWOFOLD_INVALID_TOKEN',
    message: /already used/,
  });
  await t.rejects(tokens.refresh(second.refreshToken), { code: 'TWOFOLD_INVALID_TOKEN' });
});

t.test('of 20 concurrent refreshes with one token, exactly one succeeds', async (t) => {
  const { tokens, clock } = setup();
  const pair = await tokens.issue('user-1', ['pwd'], clock.now());
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => tokens.refresh(pair.refreshToken)),
  );
  t.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
});

t.test('revoke ends one session; revokeAll ends every session issued before it', async (t) => {
  const { tokens, clock } = setup();
  const a = await tokens.issue('user-1', ['pwd'], clock.now());
  const b = await tokens.issue('user-1', ['pwd'], clock.now());
  await tokens.revoke(a.refreshToken);
  await t.rejects(tokens.refresh(a.refreshToken), { code: 'TWOFOLD_INVALID_TOKEN' });
  await tokens.revoke('garbage');
  clock.advance(1000);
  await tokens.revokeAll('user-1');
  await t.rejects(tokens.refresh(b.refreshToken), { code: 'TWOFOLD_INVALID_TOKEN', message: /revoked/ });
  clock.advance(1000);
  const c = await tokens.issue('user-1', ['pwd'], clock.now());
  t.ok(await tokens.refresh(c.refreshToken), 'a session started afterwards works');
});

t.test('revokeAll is exact to the millisecond: a session started right after it works', async (t) => {
  const { tokens, clock, keyring } = setup();
  clock.advance(100); // 100 ms into a second
  const before = await tokens.issue('user-1', ['pwd'], clock.now());
  clock.advance(200);
  await tokens.revokeAll('user-1');
  clock.advance(1);
  // Same second as the revocation: only the millisecond tells the two sessions apart.
  const after = await tokens.issue('user-1', ['pwd'], clock.now());
  await t.rejects(tokens.refresh(before.refreshToken), { message: /revoked/ }, 'the older session ends');
  t.ok(await tokens.refresh(after.refreshToken), 'the session started after the revocation works');

  // A token without a usable `iat_ms` counts as issued at the end of its `iat` second (fail closed).
  const refreshJwt = createSignedTokens(
    keyring,
    'Acme',
    {
      purpose: 'refresh-token',
      type: REFRESH_TOKEN_TYPE,
      audience: REFRESH_TOKEN_AUDIENCE,
      kind: 'refresh',
      noun: 'refresh token',
      invalid: (message, options) => new InvalidTokenError(message, options),
    },
    (size) => new Uint8Array(size).fill(1),
  );
  for (const [name, extra] of [
    ['no iat_ms', {}],
    ['an iat_ms of another second', { iat_ms: clock.now() - 5000 }],
    ['an iat_ms that is not a number', { iat_ms: 'soon' }],
  ] as const) {
    const { token } = refreshJwt.sign(
      'user-1',
      { amr: ['pwd'], auth_time: Math.floor(clock.now() / 1000), fam: `family-${name}`, ...extra },
      clock.now(),
      60,
    );
    await t.rejects(
      tokens.refresh(token),
      { message: /revoked/ },
      `${name}: refused in the revocation's second`,
    );
  }
});

t.test('authorize wants "Bearer <token>" and answers UNAUTHORIZED', async (t) => {
  const { tokens, clock } = setup();
  const pair = await tokens.issue('user-1', ['pwd'], clock.now());
  t.equal((await tokens.authorize(`Bearer ${pair.accessToken}`)).userId, 'user-1');
  t.equal((await tokens.authorize(`bearer ${pair.accessToken}`)).userId, 'user-1');
  for (const header of [
    undefined,
    '',
    'Bearer',
    `Basic ${pair.accessToken}`,
    `Bearer ${pair.refreshToken}`,
    42,
  ]) {
    await t.rejects(tokens.authorize(header), { code: 'TWOFOLD_UNAUTHORIZED' }, String(header).slice(0, 12));
  }
});

t.test('step-up: a recent second factor passes; a password-only or old one does not', async (t) => {
  const { tokens, clock } = setup();
  const pwdOnly = await tokens.verifyAccess((await tokens.issue('user-1', ['pwd'], clock.now())).accessToken);
  t.throws(() => tokens.requireRecentSecondFactor(pwdOnly, 300), { code: 'TWOFOLD_STEP_UP_REQUIRED' });
  const mfa = await tokens.verifyAccess(
    (await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now())).accessToken,
  );
  t.doesNotThrow(() => tokens.requireRecentSecondFactor(mfa, 300));
  clock.advance(301_000);
  t.throws(() => tokens.requireRecentSecondFactor(mfa, 300), { code: 'TWOFOLD_STEP_UP_REQUIRED' });
  const stepped = await tokens.verifyAccess((await tokens.stepUp(pwdOnly)).accessToken);
  t.same(stepped.amr, ['pwd', 'otp', 'mfa']);
  t.doesNotThrow(() => tokens.requireRecentSecondFactor(stepped, 300));
});

t.test(
  'the step-up guard: a recent password passes without 2FA, unless a second factor is demanded',
  async (t) => {
    const { tokens, clock } = setup();
    const login = await tokens.verifyAccess((await tokens.issue('user-1', ['pwd'], clock.now())).accessToken);
    t.doesNotThrow(() => tokens.requireRecentAuthentication(login, 300), 'a fresh password login passes');
    t.doesNotThrow(() => tokens.requireRecentAuthentication(login, 300, { secondFactor: false }));
    t.throws(
      () => tokens.requireRecentAuthentication(login, 300, { secondFactor: true }),
      { code: 'TWOFOLD_STEP_UP_REQUIRED', maxAgeSeconds: 300 },
      '{ secondFactor: true }: a password is not a second factor',
    );
    clock.advance(301_000);
    t.throws(
      () => tokens.requireRecentAuthentication(login, 300),
      {
        code: 'TWOFOLD_STEP_UP_REQUIRED',
        message: /authentication from the last 300 seconds: step up again with your password/,
      },
      'an old password login: refused, saying to step up with the password',
    );

    const stepped = await tokens.verifyAccess((await tokens.stepUp(login, 'pwd')).accessToken);
    t.same(stepped.amr, ['pwd'], 'a password step-up: amr pwd, no mfa');
    t.equal(stepped.authTime, Math.floor(clock.now() / 1000) * 1000, 'a new auth_time');
    t.equal(stepped.family, login.family, 'the same session');
    t.doesNotThrow(() => tokens.requireRecentAuthentication(stepped, 300));
    t.throws(() => tokens.requireRecentAuthentication(stepped, 300, { secondFactor: true }), {
      code: 'TWOFOLD_STEP_UP_REQUIRED',
      message: /needs a second factor/,
    });
    t.throws(() => tokens.requireRecentSecondFactor(stepped, 300), { code: 'TWOFOLD_STEP_UP_REQUIRED' });

    const mfa = await tokens.verifyAccess(
      (await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now())).accessToken,
    );
    t.doesNotThrow(() => tokens.requireRecentAuthentication(mfa, 300, { secondFactor: true }));
    t.doesNotThrow(() => tokens.requireRecentAuthentication(mfa, 300));
    const downgraded = await tokens.verifyAccess((await tokens.stepUp(mfa, 'pwd')).accessToken);
    t.same(downgraded.amr, ['pwd'], 'a password step-up never keeps an earlier mfa');
    clock.advance(301_000);
    t.throws(() => tokens.requireRecentAuthentication(mfa, 300), {
      code: 'TWOFOLD_STEP_UP_REQUIRED',
      message: /needs a second factor from the last 300 seconds/,
    });
  },
);

t.test('checkStepUpGuardOptions: nothing, or { secondFactor: boolean }', async (t) => {
  t.same(checkStepUpGuardOptions(undefined, 'guard'), {});
  t.same(checkStepUpGuardOptions({}, 'guard'), {});
  t.same(checkStepUpGuardOptions({ secondFactor: true }, 'guard'), { secondFactor: true });
  t.same(checkStepUpGuardOptions({ secondFactor: false }, 'guard'), { secondFactor: false });
  t.same(checkStepUpGuardOptions({ secondFactor: undefined }, 'guard'), {});
  for (const bad of [null, true, 'secondFactor', [], { secondFactor: 'yes' }, { secondfactor: true }]) {
    t.throws(
      () => checkStepUpGuardOptions(bad, 'guard'),
      { name: 'TypeError', message: /^guard: / },
      String(bad),
    );
  }
});

t.test('signing out is immediate for access tokens: logout, refresh reuse and revokeAll', async (t) => {
  const { tokens, clock } = setup();
  const loggedOut = await tokens.issue('user-1', ['pwd'], clock.now());
  t.equal((await tokens.verifyAccess(loggedOut.accessToken)).userId, 'user-1');
  await tokens.revoke(loggedOut.refreshToken);
  await t.rejects(tokens.verifyAccess(loggedOut.accessToken), { message: /session .* has ended/ }, 'logout');

  const stolen = await tokens.issue('user-1', ['pwd'], clock.now());
  clock.advance(10);
  const next = await tokens.refresh(stolen.refreshToken);
  t.ok(await tokens.verifyAccess(next.accessToken), 'the rotated access token works');
  await t.rejects(tokens.refresh(stolen.refreshToken), { message: /already used/ });
  for (const token of [stolen.accessToken, next.accessToken]) {
    await t.rejects(tokens.verifyAccess(token), { code: 'TWOFOLD_INVALID_TOKEN' }, 'reuse ends the family');
  }

  const other = await tokens.issue('user-1', ['pwd'], clock.now());
  const elsewhere = await tokens.issue('user-2', ['pwd'], clock.now());
  clock.advance(10);
  const revokedAt = await tokens.revokeAll('user-1');
  await t.rejects(tokens.verifyAccess(other.accessToken), { message: /revoked/ }, 'revokeAll');
  t.ok(await tokens.verifyAccess(elsewhere.accessToken), "another user's session goes on");
  const fresh = await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now(), { notBefore: revokedAt });
  t.ok(await tokens.verifyAccess(fresh.accessToken), 'a session dated after the revocation works');
  t.ok(await tokens.refresh(fresh.refreshToken), 'and refreshes');
});

t.test('step-up tokens stay in their session: ending it ends them', async (t) => {
  const { tokens, clock } = setup();
  const pair = await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now());
  const claims = await tokens.verifyAccess(pair.accessToken);
  const { accessToken } = await tokens.stepUp(claims);
  t.equal((await tokens.verifyAccess(accessToken)).family, claims.family);
  await tokens.revoke(pair.refreshToken);
  await t.rejects(tokens.verifyAccess(accessToken), { code: 'TWOFOLD_INVALID_TOKEN' });
});

t.test('an access token without its session claims (fam, amr, auth_time) is refused', async (t) => {
  const { keyring, clock, tokens } = setup();
  const accessJwt = createSignedTokens(
    keyring,
    'Acme',
    {
      purpose: 'access-token',
      type: 'twofold-access+jwt',
      audience: 'twofold:access',
      kind: 'access',
      noun: 'access token',
      invalid: (message, options) => new InvalidTokenError(message, options),
    },
    (size) => new Uint8Array(size).fill(2),
  );
  const sign = (claims: Record<string, unknown>) => accessJwt.sign('user-1', claims, clock.now(), 60).token;
  const session = { amr: ['pwd'], auth_time: Math.floor(clock.now() / 1000) };
  await t.rejects(
    tokens.verifyAccess(sign(session)),
    { code: 'TWOFOLD_INVALID_TOKEN', reason: 'claims' },
    'no fam',
  );
  await t.rejects(
    tokens.verifyAccess(sign({ ...session, fam: 'f', amr: ['pwd', 'sms'] })),
    { code: 'TWOFOLD_INVALID_TOKEN', reason: 'claims' },
    'an amr value the kit does not issue',
  );
  await t.rejects(
    tokens.verifyAccess(sign({ amr: ['pwd'], fam: 'f' })),
    { code: 'TWOFOLD_INVALID_TOKEN', reason: 'claims' },
    'no auth_time',
  );
});

t.test(
  'revokeAll racing a refresh: the pair the refresh hands out dies with the session, whenever it is dated',
  async (t) => {
    // The window: revokeAll has read its time but its write has not landed when a refresh (starting
    // 1 ms later) reads the revocation time. The refreshed pair is dated after the revocation, yet it
    // belongs to a session the revocation ended.
    const clock = fakeClock();
    const inner = memoryStore();
    let releaseWrite: () => void = () => {};
    const writeHeld = new Promise<void>((resolve) => {
      releaseWrite = resolve;
    });
    let holding = false;
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'putNonce' || typeof value !== 'function') return value;
        return async (...args: Parameters<typeof inner.putNonce>) => {
          if (args[1] === 'sessions-revoked-before' && !holding) {
            holding = true;
            await writeHeld;
          }
          return value.apply(target, args);
        };
      },
    });
    const tokens = createSessionTokens({
      keyring: testKeyring(),
      issuer: 'Acme',
      store,
      clock: clock.now,
      accessTtlSeconds: 900,
      refreshTtlSeconds: 86_400,
    });
    const session = await tokens.issue('user-1', ['pwd', 'otp', 'mfa'], clock.now());
    clock.advance(10_000);
    const revoking = tokens.revokeAll('user-1');
    clock.advance(1);
    const refreshed = await tokens.refresh(session.refreshToken);
    releaseWrite();
    await revoking;
    await t.rejects(tokens.verifyAccess(refreshed.accessToken), { message: /revoked/ });
    await t.rejects(tokens.refresh(refreshed.refreshToken), { message: /revoked/ });
    await t.rejects(
      tokens.verifyAccess(session.accessToken),
      { code: 'TWOFOLD_INVALID_TOKEN' },
      'and the old ones',
    );
    // A session started after the revocation is not caught by it.
    clock.advance(1);
    const after = await tokens.issue('user-1', ['pwd'], clock.now());
    t.equal((await tokens.verifyAccess(after.accessToken)).userId, 'user-1');
  },
);

t.test('the session list: described sessions, one from before descriptions, revokeAll', async (t) => {
  const { tokens, clock, store } = setup();
  const client = { userAgent: `Agent ${'x'.repeat(300)}`, ip: '192.0.2.7' };
  const first = await tokens.issue('user-1', ['pwd'], clock.now(), { client });
  const firstFamily = (await tokens.verifyAccess(first.accessToken)).family;
  const startedAt = clock.now();
  clock.advance(60_000);
  const old = await tokens.issue('user-1', ['pwd'], clock.now());
  const oldFamily = (await tokens.verifyAccess(old.accessToken)).family;
  // A session issued before sessions were described: only its family nonce is there.
  await store.deleteNonce('user-1', `session:${oldFamily}`);
  const oldIssuedAt = clock.now();
  clock.advance(60_000);

  const listed = await tokens.list('user-1', firstFamily);
  t.strictSame(listed, [
    {
      id: oldFamily,
      createdAt: null,
      lastUsedAt: new Date(oldIssuedAt).toISOString(),
      userAgent: null,
      ip: null,
      current: false,
    },
    {
      id: firstFamily,
      createdAt: new Date(startedAt).toISOString(),
      lastUsedAt: new Date(startedAt).toISOString(),
      userAgent: client.userAgent.slice(0, 256),
      ip: '192.0.2.7',
      current: true,
    },
  ]);

  // Its next refresh describes it, with its start as the token says.
  await tokens.refresh(old.refreshToken, { userAgent: 'New', ip: null });
  const described = (await tokens.list('user-1')).find((session) => session.id === oldFamily);
  t.match(described, {
    createdAt: new Date(oldIssuedAt).toISOString(),
    lastUsedAt: new Date(clock.now()).toISOString(),
    userAgent: 'New',
  });
  t.strictSame(await tokens.list('user-2'), [], "another user's list is empty");

  t.equal(await tokens.revokeSession('user-2', firstFamily), false, "another user's session: false");
  t.equal(await tokens.revokeSession('user-1', 'no-such-family'), false);
  clock.advance(1000);
  await tokens.revokeAll('user-1');
  t.strictSame(await tokens.list('user-1'), [], 'after revokeAll nothing started before it is listed');
});
