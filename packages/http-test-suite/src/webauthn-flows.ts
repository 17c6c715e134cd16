/**
 * Security keys and passkeys (WebAuthn) over HTTP, with the software authenticator of
 * `./webauthn.ts` playing the browser: registration (ES256 and EdDSA; the first key turns 2FA on),
 * login through `/login/options`, the factor outside a login through `/webauthn/authenticate/options`
 * (step-up, disable, rotate, sign out everywhere, remove). Refused alike and counted toward lockout:
 * replayed assertions, a wrong origin or RP ID, a cloned key whose counter did not move on, an answer
 * to another login's or another user's challenge. Of 50 copies of one assertion sent at once,
 * exactly one is accepted. Registration refuses replays, keys registered already, malformed answers;
 * `maxAuthenticators` counts keys and apps alike.
 *
 * Without the suite's `webauthn` (runHttpContract's `{ webauthn: false }`) these tests are skipped,
 * and the first one checks the WebAuthn routes are absent instead.
 */
import type { Test } from 'tap';
import {
  type AddedBody,
  type AuthenticatorBody,
  type Ctx,
  type EnrollmentBody,
  LINK_URL,
  ORIGIN,
  RP_ID,
  type StatusBody,
  type SuiteEnv,
  setup,
  type TokenPair,
} from './context.js';
import {
  type Answer,
  codeAt,
  decodeJwt,
  errorProblems,
  must,
  type RequestOptions,
  recoveryLink,
  successProblems,
} from './helpers.js';
import {
  type AuthenticationResponseJSON,
  type CreationOptionsJSON,
  type RequestOptionsJSON,
  softwareAuthenticator,
} from './webauthn.js';

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const KEY_KEYS = ['id', 'type', 'name', 'createdAt', 'lastUsedAt', 'passkey'];
const FIRST_KEY_KEYS = ['accessToken', 'authenticatorId', 'recoveryCodes', 'refreshToken'];
/** How many copies of one answer the races send at once. */
const RACE = 50;
const EVIL_ORIGIN = 'https://evil.example.test';

/** A client address of its own for each request of a race (the app trusts the proxy). */
const fromIp = (index: number): RequestOptions => ({
  headers: { 'x-forwarded-for': `198.51.100.${index + 1}` },
});

const amrOf = (accessToken: string) => decodeJwt(accessToken).payload.amr;

/** The assertion with one byte of its signature changed. */
function badSignature(assertion: AuthenticationResponseJSON): AuthenticationResponseJSON {
  const signature = Buffer.from(assertion.response.signature, 'base64url');
  signature[signature.length - 1]! ^= 0x01;
  return { ...assertion, response: { ...assertion.response, signature: signature.toString('base64url') } };
}

async function list(ctx: Ctx, token: string): Promise<AuthenticatorBody[]> {
  return must(
    await ctx.kit.get<{ authenticators: AuthenticatorBody[] }>('/authenticators', { token }),
    200,
    'GET /authenticators',
  ).authenticators;
}

async function creationOptions(ctx: Ctx, token: string, body: unknown = {}): Promise<CreationOptionsJSON> {
  return must(
    await ctx.kit.post<CreationOptionsJSON>('/webauthn/register/options', body, { token }),
    200,
    'POST /webauthn/register/options',
  );
}

async function requestOptions(ctx: Ctx, token: string): Promise<RequestOptionsJSON> {
  return must(
    await ctx.kit.post<RequestOptionsJSON>('/webauthn/authenticate/options', undefined, { token }),
    200,
    'POST /webauthn/authenticate/options',
  );
}

/** Sends `count` requests at once; exactly one may succeed, the others must be one of `refusals`. */
async function race(
  t: Test,
  what: string,
  send: (index: number) => Promise<Answer>,
  refusals: [status: number, code: string][],
): Promise<Answer | undefined> {
  const answers = await Promise.all(Array.from({ length: RACE }, (_, index) => send(index)));
  const wins = answers.filter((answer) => answer.status === 200);
  t.equal(wins.length, 1, `${what}: exactly one 200 of ${RACE}`);
  const unexpected = answers.filter(
    (answer) =>
      answer.status !== 200 &&
      !refusals.some(([status, code]) => errorProblems(answer, status, code).length === 0),
  );
  const seen = [...new Set(answers.map((answer) => answer.status))].join(' ');
  t.strictSame(
    unexpected.map((answer) => `${answer.status} ${answer.text.slice(0, 200)}`),
    [],
    `${what}: the others refused (${seen})`,
  );
  return wins[0];
}

export function webauthnTests(t: Test, env: SuiteEnv): void {
  t.test('the WebAuthn routes are there only with the webauthn option', async (t) => {
    const ctx = await setup(t, env, { webauthn: false });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const prefix = ctx.app.baseUrl.slice(ctx.app.origin.length);
    for (const path of [
      '/webauthn/register/options',
      '/webauthn/register/verify',
      '/webauthn/authenticate/options',
    ]) {
      const answer = await ctx.kit.post(path, {}, { token: enabled.accessToken });
      t.strictSame(errorProblems(answer, 404, 'TWOFOLD_NOT_FOUND'), [], `POST ${path}: 404`);
      t.match(answer.body, { message: `Route POST ${prefix}${path} not found` }, 'no such route');
    }
    const challengeToken = await ctx.challenge(ada);
    const options = await ctx.kit.post('/login/options', { challengeToken });
    t.strictSame(successProblems(options, 200, ['factors', 'webauthn']), [], 'POST /login/options: 200');
    t.strictSame(options.body, { factors: ['totp', 'recoveryCode'], webauthn: null }, 'no security keys');
    const stepUp = await ctx.kit.post('/step-up', { webauthn: {} }, { token: enabled.accessToken });
    t.strictSame(
      errorProblems(stepUp, 400, 'TWOFOLD_INVALID_INPUT'),
      [],
      'a webauthn factor: 400, not a wrong factor (nothing to count)',
    );
  });

  if (!env.webauthn) {
    t.test('security keys over HTTP', { skip: 'runHttpContract(..., { webauthn: false })' }, async () => {});
    return;
  }

  t.test('the app serves the WebAuthn routes it was configured with', async (t) => {
    const ctx = await setup(t, env);
    const { accessToken } = await ctx.passwordLogin(ctx.users.add('bob'));
    const answer = await ctx.kit.post('/webauthn/register/options', {}, { token: accessToken });
    t.strictSame(
      successProblems(answer, 200),
      [],
      'POST /webauthn/register/options: 200 (a 404 means makeApp dropped the `webauthn` option it ' +
        'was given: pass every option through, or run the suite with { webauthn: false })',
    );
  });

  t.test('a security key (ES256), then a passkey (EdDSA): the first one turns 2FA on', async (t) => {
    const ctx = await setup(t, env);
    const bob = ctx.users.add('bob');
    const session = await ctx.passwordLogin(bob);

    const creation = await ctx.kit.post<CreationOptionsJSON>(
      '/webauthn/register/options',
      { name: 'YubiKey' },
      { token: session.accessToken },
    );
    t.strictSame(successProblems(creation, 200), [], 'POST /webauthn/register/options: 200, no-store');
    t.match(
      creation.body,
      { challenge: String, rp: { id: RP_ID }, user: { id: String } },
      'creation options for the site',
    );
    const algorithms = creation.body.pubKeyCredParams.map((param) => param.alg);
    t.ok(algorithms.includes(-7) && algorithms.includes(-8), `ES256 and EdDSA offered (${algorithms})`);
    t.equal(creation.body.excludeCredentials?.length ?? 0, 0, 'no key to exclude yet');

    const key = softwareAuthenticator({ algorithm: 'ES256' });
    const first = await ctx.kit.post<AddedBody & TokenPair>(
      '/webauthn/register/verify',
      { response: key.register(creation.body, { origin: ORIGIN }) },
      { token: session.accessToken },
    );
    t.strictSame(
      successProblems(first, 201, FIRST_KEY_KEYS),
      [],
      'POST /webauthn/register/verify: 201 with the key, the recovery codes and fresh tokens',
    );
    t.equal(first.body.recoveryCodes?.length, 10, 'ten recovery codes');
    t.strictSame(amrOf(first.body.accessToken), ['pwd', 'hwk', 'mfa'], 'the fresh token: pwd, hwk, mfa');
    t.strictSame(
      errorProblems(
        await ctx.kit.get('/status', { token: session.accessToken }),
        401,
        'TWOFOLD_UNAUTHORIZED',
      ),
      [],
      'the password-only session ended',
    );
    const token = first.body.accessToken;
    ctx.clock.advance(1); // sessions started after the millisecond of the revocation
    const status = await ctx.kit.get<StatusBody>('/status', { token });
    t.match(
      status.body,
      {
        enabled: true,
        pending: false,
        recoveryCodesRemaining: 10,
        authenticators: { totp: 0, webauthn: 1 },
      },
      'status: 2FA on with one key',
    );
    const [entry] = await list(ctx, token);
    t.strictSame(Object.keys(entry ?? {}).sort(), [...KEY_KEYS].sort(), `a key is listed with ${KEY_KEYS}`);
    t.match(
      entry,
      { id: first.body.authenticatorId, type: 'webauthn', name: 'YubiKey', passkey: false, lastUsedAt: null },
      'the security key, with the name asked for at the options',
    );
    t.match(entry?.createdAt, ISO_DATE);

    // A passkey (Ed25519, a counter that stays 0, backup eligible) beside it.
    const passkey = softwareAuthenticator({ algorithm: 'EdDSA', counter: 'zero', backupEligible: true });
    const second = await creationOptions(ctx, token);
    t.ok(
      second.excludeCredentials?.some((descriptor) => descriptor.id === key.credentialId),
      'the options exclude the key registered already',
    );
    const added = await ctx.kit.post<AddedBody>(
      '/webauthn/register/verify',
      { response: passkey.register(second, { origin: ORIGIN }), name: 'Phone passkey' },
      { token },
    );
    t.strictSame(
      successProblems(added, 201, ['authenticatorId']),
      [],
      'a second one: 201 with its id only (no new recovery codes, no new tokens)',
    );
    const both = await list(ctx, token);
    t.match(
      both,
      [
        { id: first.body.authenticatorId, passkey: false },
        { id: added.body.authenticatorId, type: 'webauthn', name: 'Phone passkey', passkey: true },
      ],
      'both, oldest first; the name given at verify',
    );

    // Log in with each: /login/options lists both credentials.
    const challengeToken = await ctx.challenge(bob);
    const options = await ctx.kit.post<{ factors: string[]; webauthn: RequestOptionsJSON }>(
      '/login/options',
      { challengeToken },
    );
    t.strictSame(successProblems(options, 200, ['factors', 'webauthn']), [], 'POST /login/options: 200');
    t.strictSame(options.body.factors, ['webauthn', 'recoveryCode'], 'factors: keys and recovery codes');
    t.match(options.body.webauthn, { challenge: String, rpId: RP_ID }, 'request options for the site');
    t.strictSame(
      (options.body.webauthn.allowCredentials ?? []).map((descriptor) => descriptor.id).sort(),
      [key.credentialId, passkey.credentialId].sort(),
      'both credentials allowed',
    );
    const withKey = await ctx.kit.post<TokenPair>('/login/verify', {
      challengeToken,
      webauthn: key.assert(options.body.webauthn, { origin: ORIGIN }),
    });
    t.strictSame(successProblems(withKey, 200, ['accessToken', 'refreshToken']), [], 'login with the key');
    t.strictSame(amrOf(withKey.body.accessToken), ['pwd', 'hwk', 'mfa'], 'amr: pwd, hwk, mfa');
    t.equal(
      (await ctx.kit.get('/host/sensitive', { token: withKey.body.accessToken })).status,
      200,
      'a second factor just now: the step-up guard lets it through',
    );
    for (const attempt of [1, 2]) {
      const login = await ctx.keyLogin(bob, passkey);
      t.strictSame(
        amrOf(login.accessToken),
        ['pwd', 'swk', 'mfa'],
        `login ${attempt} with the passkey (its counter stays 0): amr pwd, swk, mfa`,
      );
    }
    const used = await list(ctx, token);
    t.ok(
      used.every((one) => typeof one.lastUsedAt === 'string' && ISO_DATE.test(one.lastUsedAt)),
      'lastUsedAt is set once used',
    );
    t.strictSame(
      (await ctx.kit.get<StatusBody>('/status', { token })).body.authenticators,
      { totp: 0, webauthn: 2 },
      'status counts two keys',
    );
  });

  t.test('POST /login/options: only for a valid challenge token; factors of the user', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const totpOnly = await ctx.kit.post('/login/options', { challengeToken: await ctx.challenge(ada) });
    t.strictSame(
      totpOnly.body,
      { factors: ['totp', 'recoveryCode'], webauthn: null },
      'an app and no key: no WebAuthn options',
    );
    const key = softwareAuthenticator();
    await ctx.registerKey(enabled.accessToken, key);
    const both = await ctx.kit.post<{ factors: string[] }>('/login/options', {
      challengeToken: await ctx.challenge(ada),
    });
    t.strictSame(both.body.factors, ['totp', 'webauthn', 'recoveryCode'], 'an app and a key');
    for (const [what, challengeToken] of [
      ['a forged token', 'aaa.bbb.ccc'],
      ['an access token', enabled.accessToken],
    ] as const) {
      const answer = await ctx.kit.post('/login/options', { challengeToken });
      t.strictSame(errorProblems(answer, 401, 'TWOFOLD_INVALID_CHALLENGE'), [], `${what}: 401`);
    }
  });

  t.test('a replayed assertion is refused, in a login and outside one', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const key = softwareAuthenticator();
    const enabled = await ctx.enableWithKey(ada, key);

    const challengeToken = await ctx.challenge(ada);
    const assertion = key.assert(await ctx.loginRequest(challengeToken), { origin: ORIGIN });
    const login = await ctx.kit.post<TokenPair>('/login/verify', { challengeToken, webauthn: assertion });
    t.strictSame(successProblems(login, 200), [], 'the assertion logs in once');
    const again = await ctx.kit.post('/login/verify', { challengeToken, webauthn: assertion });
    t.strictSame(
      errorProblems(again, 401, 'TWOFOLD_INVALID_CHALLENGE'),
      [],
      'the same request again: 401 (the challenge token is spent)',
    );
    const elsewhere = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      webauthn: assertion,
    });
    t.strictSame(
      errorProblems(elsewhere, 400, 'TWOFOLD_INVALID_CODE'),
      [],
      'the same assertion with a new login: 400 (it answers another challenge)',
    );
    const atStepUp = await ctx.kit.post('/step-up', { webauthn: assertion }, { token: enabled.accessToken });
    t.strictSame(errorProblems(atStepUp, 400, 'TWOFOLD_INVALID_CODE'), [], 'or at POST /step-up: 400');

    const factor = await ctx.keyFactor(login.body.accessToken, key);
    const stepUp = await ctx.kit.post<{ accessToken: string }>(
      '/step-up',
      { webauthn: factor },
      { token: login.body.accessToken },
    );
    t.strictSame(successProblems(stepUp, 200, ['accessToken']), [], 'a step-up with a key: 200');
    const replay = await ctx.kit.post('/step-up', { webauthn: factor }, { token: login.body.accessToken });
    t.strictSame(errorProblems(replay, 400, 'TWOFOLD_INVALID_CODE'), [], 'the same answer again: 400');
    // A passkey's counter stays 0: nothing but the spent options refuses its answer a second time.
    const passkey = softwareAuthenticator({ algorithm: 'EdDSA', counter: 'zero', backupEligible: true });
    await ctx.registerKey(stepUp.body.accessToken, passkey);
    const passkeyFactor = await ctx.keyFactor(login.body.accessToken, passkey);
    const once = await ctx.kit.post(
      '/step-up',
      { webauthn: passkeyFactor },
      { token: login.body.accessToken },
    );
    t.strictSame(successProblems(once, 200), [], 'a step-up with a passkey: 200');
    const twice = await ctx.kit.post(
      '/step-up',
      { webauthn: passkeyFactor },
      { token: login.body.accessToken },
    );
    t.strictSame(errorProblems(twice, 400, 'TWOFOLD_INVALID_CODE'), [], "the passkey's answer again: 400");
    const asLogin = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      webauthn: await ctx.keyFactor(login.body.accessToken, key),
    });
    t.strictSame(
      errorProblems(asLogin, 400, 'TWOFOLD_INVALID_CODE'),
      [],
      'an answer to the options outside a login does not log in',
    );

    const older = await requestOptions(ctx, login.body.accessToken);
    const newer = await requestOptions(ctx, login.body.accessToken);
    const stale = await ctx.kit.post(
      '/step-up',
      { webauthn: key.assert(older, { origin: ORIGIN }) },
      { token: login.body.accessToken },
    );
    t.strictSame(
      errorProblems(stale, 400, 'TWOFOLD_INVALID_CODE'),
      [],
      'an answer to options replaced by newer ones: 400',
    );
    const latest = await ctx.kit.post(
      '/step-up',
      { webauthn: key.assert(newer, { origin: ORIGIN }) },
      { token: login.body.accessToken },
    );
    t.strictSame(successProblems(latest, 200), [], 'an answer to the latest options: 200');
  });

  t.test(
    'forged and misplaced assertions are refused alike, and each one counts toward lockout',
    async (t) => {
      const ctx = await setup(t, env, { lockout: { maxFailures: 9, durationMs: 600_000 } });
      const ada = ctx.users.add('ada');
      const bob = ctx.users.add('bob');
      const key = softwareAuthenticator();
      const bobKey = softwareAuthenticator({ algorithm: 'EdDSA' });
      const stolen = key.clone(); // counter 0
      const enabled = await ctx.enableWithKey(ada, key);
      await ctx.enableWithKey(bob, bobKey);
      await ctx.keyLogin(ada, key);
      await ctx.keyLogin(ada, key); // the key's counter is at 2; the clone's still at 0

      const bobRequest = await ctx.loginRequest(await ctx.challenge(bob));
      const otherLogin = await ctx.loginRequest(await ctx.challenge(ada));
      const forgeries: [string, (request: RequestOptionsJSON) => unknown][] = [
        ['from another origin', (request) => key.assert(request, { origin: EVIL_ORIGIN })],
        ['from the origin on another port', (request) => key.assert(request, { origin: `${ORIGIN}:8443` })],
        [
          'for another RP ID (the parent domain)',
          (request) => key.assert(request, { origin: ORIGIN, rpId: RP_ID.split('.').slice(1).join('.') }),
        ],
        ['from a clone whose counter went back', (request) => stolen.assert(request, { origin: ORIGIN })],
        ["for another login's challenge", () => key.assert(otherLogin, { origin: ORIGIN })],
        [
          "for another user's challenge",
          () => key.assert({ ...bobRequest, allowCredentials: [] }, { origin: ORIGIN }),
        ],
        [
          "another user's key",
          (request) => bobKey.assert({ ...request, allowCredentials: [] }, { origin: ORIGIN }),
        ],
        ['with a broken signature', (request) => badSignature(key.assert(request, { origin: ORIGIN }))],
        ['not an assertion at all', () => ({ id: key.credentialId, type: 'public-key' })],
      ];
      const texts = new Set<string>();
      for (const [what, forge] of forgeries) {
        const challengeToken = await ctx.challenge(ada);
        const answer = await ctx.kit.post('/login/verify', {
          challengeToken,
          webauthn: forge(await ctx.loginRequest(challengeToken)),
        });
        t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_CODE'), [], `an assertion ${what}: 400`);
        texts.add(answer.text);
      }
      t.equal(texts.size, 1, 'every refusal answers the same: nothing tells the reasons apart');

      const challengeToken = await ctx.challenge(ada);
      const locked = await ctx.kit.post('/login/verify', {
        challengeToken,
        webauthn: key.assert(await ctx.loginRequest(challengeToken), { origin: ORIGIN }),
      });
      t.strictSame(
        errorProblems(locked, 429, 'TWOFOLD_LOCKED'),
        [],
        `after ${forgeries.length} refusals (maxFailures) the right key: 429`,
      );
      const retryAfter = Number(locked.headers.get('retry-after'));
      t.ok(
        Number.isInteger(retryAfter) && retryAfter > 500 && retryAfter <= 600,
        `Retry-After ${retryAfter}`,
      );
      const recovery = await ctx.kit.post('/login/verify', {
        challengeToken: await ctx.challenge(ada),
        recoveryCode: enabled.recoveryCodes[0],
      });
      t.strictSame(errorProblems(recovery, 429, 'TWOFOLD_LOCKED'), [], 'a recovery code too');

      ctx.clock.advance(600_000);
      const after = await ctx.keyLogin(ada, key);
      t.ok(after.accessToken, 'the lock ends by itself: the genuine key works again');
      const bobLogin = await ctx.keyLogin(bob, bobKey);
      t.ok(bobLogin.accessToken, "the other user's key was never locked out by it");
    },
  );

  t.test(`the same assertion sent ${RACE} times at once logs in once`, async (t) => {
    // The losers may count as failed attempts: keep them below the lock. A client address each.
    const ctx = await setup(t, env, { lockout: { maxFailures: 100 }, trustProxy: true });
    const ada = ctx.users.add('ada');
    // A passkey whose counter stays 0: only the spent challenge can refuse the copies.
    const key = softwareAuthenticator({ algorithm: 'EdDSA', counter: 'zero', backupEligible: true });
    await ctx.enableWithKey(ada, key);
    const challengeToken = await ctx.challenge(ada);
    const webauthn = key.assert(await ctx.loginRequest(challengeToken), { origin: ORIGIN });
    const win = await race(
      t,
      'one login assertion',
      (index) => ctx.kit.post('/login/verify', { challengeToken, webauthn }, fromIp(index)),
      [
        [401, 'TWOFOLD_INVALID_CHALLENGE'],
        [400, 'TWOFOLD_INVALID_CODE'],
      ],
    );
    t.equal((await ctx.kit.get('/host/protected', { token: String(win?.body.accessToken) })).status, 200);
    t.ok(await ctx.keyLogin(ada, key), 'the key goes on logging in');
  });

  t.test(`the same step-up assertion sent ${RACE} times at once is accepted once`, async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 100 }, trustProxy: true });
    const ada = ctx.users.add('ada');
    // A passkey whose counter stays 0: only the spent options can refuse the copies.
    const key = softwareAuthenticator({ counter: 'zero', backupEligible: true });
    const enabled = await ctx.enableWithKey(ada, key);
    ctx.clock.advance(61_000); // the second factor of the session is older than maxAge now
    const webauthn = await ctx.keyFactor(enabled.accessToken, key);
    const win = await race(
      t,
      'one step-up assertion',
      (index) => ctx.kit.post('/step-up', { webauthn }, { token: enabled.accessToken, ...fromIp(index) }),
      [[400, 'TWOFOLD_INVALID_CODE']],
    );
    const guarded = await ctx.kit.get('/host/sensitive', { token: String(win?.body.accessToken) });
    t.equal(guarded.status, 200, "the winner's token passes the step-up guard");
  });

  t.test(`${RACE} clones of one key, each answering its own login at once: one logs in`, async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 100 }, trustProxy: true });
    const ada = ctx.users.add('ada');
    const key = softwareAuthenticator();
    await ctx.enableWithKey(ada, key);
    // Each clone signs the same next counter value: only one of them can move the stored counter.
    const clones = Array.from({ length: RACE }, () => key.clone());
    const logins = await Promise.all(
      clones.map(async (clone) => {
        const challengeToken = await ctx.challenge(ada);
        const request = await ctx.loginRequest(challengeToken);
        return { challengeToken, webauthn: clone.assert(request, { origin: ORIGIN }) };
      }),
    );
    await race(
      t,
      'one counter value',
      (index) => ctx.kit.post('/login/verify', logins[index]!, fromIp(index)),
      [[400, 'TWOFOLD_INVALID_CODE']],
    );
  });

  t.test('step-up, rotate, sign out everywhere, remove and disable take a security key', async (t) => {
    const ctx = await setup(t, env); // stepUp.maxAgeSeconds: 60
    const ada = ctx.users.add('ada');
    const key = softwareAuthenticator();
    const enabled = await ctx.enableWithKey(ada, key);
    const app = must(
      await ctx.kit.post<EnrollmentBody>('/totp/enroll', { name: 'Phone' }, { token: enabled.accessToken }),
      201,
      'POST /totp/enroll',
    );
    must(
      await ctx.kit.post(
        '/totp/confirm',
        { code: codeAt(app.secret, ctx.clock.now()) },
        { token: enabled.accessToken },
      ),
      200,
      'POST /totp/confirm',
    );
    let token = enabled.accessToken;

    ctx.clock.advance(61_000);
    const stale = await ctx.kit.get('/host/sensitive', { token });
    t.strictSame(errorProblems(stale, 401, 'TWOFOLD_STEP_UP_REQUIRED'), [], 'an old second factor: 401');
    const options = await ctx.kit.post<RequestOptionsJSON>('/webauthn/authenticate/options', undefined, {
      token,
    });
    t.strictSame(successProblems(options, 200), [], 'POST /webauthn/authenticate/options: 200, no-store');
    t.match(options.body, { challenge: String, rpId: RP_ID }, 'request options for the site');
    t.strictSame(
      (options.body.allowCredentials ?? []).map((descriptor) => descriptor.id),
      [key.credentialId],
      "the user's key is allowed",
    );
    const stepUp = await ctx.kit.post<{ accessToken: string }>(
      '/step-up',
      { webauthn: key.assert(options.body, { origin: ORIGIN }) },
      { token },
    );
    t.strictSame(successProblems(stepUp, 200, ['accessToken']), [], 'POST /step-up with a key: 200');
    const amr = amrOf(stepUp.body.accessToken) as string[];
    t.ok(amr.includes('hwk') && amr.includes('mfa'), `amr gains hwk and mfa (${amr})`);
    t.equal((await ctx.kit.get('/host/sensitive', { token: stepUp.body.accessToken })).status, 200);
    token = stepUp.body.accessToken;

    const rotate = await ctx.kit.post<{ recoveryCodes: string[] }>(
      '/recovery-codes/rotate',
      { webauthn: await ctx.keyFactor(token, key) },
      { token },
    );
    t.strictSame(successProblems(rotate, 200, ['recoveryCodes']), [], 'rotate with a key: 200');
    t.ok(
      rotate.body.recoveryCodes.every((code) => !enabled.recoveryCodes.includes(code)),
      'a whole new set',
    );
    const byRecovery = await ctx.kit.post(
      '/recovery-codes/rotate',
      { recoveryCode: rotate.body.recoveryCodes[0] },
      { token },
    );
    t.strictSame(
      errorProblems(byRecovery, 400, 'TWOFOLD_INVALID_INPUT'),
      [],
      'rotate takes a code or a key, not a recovery code: 400',
    );

    const elsewhere = await ctx.keyLogin(ada, key);
    const revokeAll = await ctx.kit.post(
      '/sessions/revoke-all',
      { webauthn: await ctx.keyFactor(token, key) },
      { token },
    );
    t.strictSame(successProblems(revokeAll, 204), [], 'sign out everywhere with a key: 204');
    for (const old of [token, elsewhere.accessToken]) {
      t.strictSame(
        errorProblems(await ctx.kit.get('/host/protected', { token: old }), 401, 'TWOFOLD_UNAUTHORIZED'),
        [],
        'every session ended',
      );
    }
    ctx.clock.advance(1);
    token = (await ctx.keyLogin(ada, key)).accessToken;

    const remove = await ctx.kit.post(
      `/authenticators/${enabled.authenticatorId}/remove`,
      { webauthn: await ctx.keyFactor(token, key) },
      { token },
    );
    t.strictSame(successProblems(remove, 204), [], 'remove the key with itself: 204 (an app is left)');
    t.strictSame(
      (await list(ctx, token)).map((entry) => entry.type),
      ['totp'],
      'only the app is left',
    );
    t.equal((await ctx.kit.get('/host/protected', { token })).status, 200, 'the session goes on');
    const after = await ctx.kit.post('/login/options', { challengeToken: await ctx.challenge(ada) });
    t.strictSame(
      after.body,
      { factors: ['totp', 'recoveryCode'], webauthn: null },
      'no WebAuthn options any more',
    );
    const removedKey = await ctx.kit.post(
      '/step-up',
      { webauthn: key.assert(await requestOptions(ctx, token), { origin: ORIGIN }) },
      { token },
    );
    t.strictSame(errorProblems(removedKey, 400, 'TWOFOLD_INVALID_CODE'), [], 'the removed key: 400');

    // Another user disables 2FA with a key, a third removes their only key: both are 2FA off.
    for (const [who, how] of [
      ['bob', 'POST /totp/disable'],
      ['carol', 'POST /authenticators/:id/remove'],
    ] as const) {
      const user = ctx.users.add(who);
      const userKey = softwareAuthenticator({ algorithm: 'EdDSA', counter: 'zero', backupEligible: true });
      const on = await ctx.enableWithKey(user, userKey);
      const path = who === 'bob' ? '/totp/disable' : `/authenticators/${on.authenticatorId}/remove`;
      const off = await ctx.kit.post<TokenPair>(
        path,
        { webauthn: await ctx.keyFactor(on.accessToken, userKey) },
        { token: on.accessToken },
      );
      t.strictSame(
        successProblems(off, 200, ['accessToken', 'refreshToken']),
        [],
        `${how} with a passkey: 200 with fresh tokens`,
      );
      t.strictSame(
        errorProblems(await ctx.kit.get('/status', { token: on.accessToken }), 401, 'TWOFOLD_UNAUTHORIZED'),
        [],
        'the sessions from before ended',
      );
      const status = await ctx.kit.get<StatusBody>('/status', { token: off.body.accessToken });
      t.match(
        status.body,
        { enabled: false, recoveryCodesRemaining: 0, authenticators: { totp: 0, webauthn: 0 } },
        '2FA is off',
      );
      t.strictSame(await list(ctx, off.body.accessToken), [], 'no key left');
      const noOptions = await ctx.kit.post('/webauthn/authenticate/options', undefined, {
        token: off.body.accessToken,
      });
      t.strictSame(
        errorProblems(noOptions, 409, 'TWOFOLD_NOT_ENABLED'),
        [],
        'POST /webauthn/authenticate/options with 2FA off: 409',
      );
    }
  });

  t.test(
    'registration refuses replays, keys registered already and answers that do not verify',
    async (t) => {
      const ctx = await setup(t, env);
      const bob = ctx.users.add('bob');
      const ada = ctx.users.add('ada');
      const session = await ctx.passwordLogin(bob);
      const key = softwareAuthenticator();
      const invalid = (answer: Answer<unknown>, what: string) =>
        t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_REGISTRATION'), [], `${what}: 400`);
      const verify = (body: unknown, token: string) =>
        ctx.kit.post<AddedBody>('/webauthn/register/verify', body, { token });

      const unasked = key.register(
        { ...(await creationOptions(ctx, (await ctx.passwordLogin(ada)).accessToken)) },
        { origin: ORIGIN },
      );
      invalid(
        await verify({ response: unasked }, session.accessToken),
        'an answer to options of another user',
      );

      const creation = await creationOptions(ctx, session.accessToken, { name: 'Desk key' });
      const response = key.register(creation, { origin: ORIGIN });
      const malformed: [string, unknown][] = [
        ['no response', {}],
        ['a string', { response: 'not a credential' }],
        ['null', { response: null }],
        ['an empty object', { response: {} }],
        ['another type', { response: { ...response, type: 'password' } }],
        ['no attestation', { response: { ...response, response: { clientDataJSON: 'x' } } }],
      ];
      for (const [what, body] of malformed) {
        t.strictSame(
          errorProblems(await verify(body, session.accessToken), 400, 'TWOFOLD_INVALID_INPUT', {
            field: 'response',
          }),
          [],
          `response ${what}: 400 naming response`,
        );
      }
      for (const [what, body, field] of [
        ['an empty name', { response, name: '' }, 'name'],
        ['a name of 65 characters', { response, name: 'n'.repeat(65) }, 'name'],
        ['a name that is a number', { response, name: 7 }, 'name'],
        ['an unknown field', { response, admin: true }, 'admin'],
      ] as const) {
        t.strictSame(
          errorProblems(await verify(body, session.accessToken), 400, 'TWOFOLD_INVALID_INPUT', { field }),
          [],
          `${what}: 400 naming ${field}`,
        );
      }
      for (const [what, name] of [
        ['an empty name', ''],
        ['a name of 65 characters', 'n'.repeat(65)],
        ['a name with a newline', 'a\nb'],
      ] as const) {
        const answer = await ctx.kit.post(
          '/webauthn/register/options',
          { name },
          { token: session.accessToken },
        );
        t.strictSame(
          errorProblems(answer, 400, 'TWOFOLD_INVALID_INPUT', { field: 'name' }),
          [],
          `options with ${what}: 400 naming name`,
        );
      }

      const registered = await verify({ response }, session.accessToken);
      t.strictSame(
        successProblems(registered, 201, FIRST_KEY_KEYS),
        [],
        'the malformed bodies spent nothing: the real answer registers (201)',
      );
      const token = String(registered.body.accessToken);
      t.equal((await list(ctx, token))[0]?.name, 'Desk key', 'with the name given at the options');
      invalid(await verify({ response }, token), 'the same registration answer again');

      const again = await creationOptions(ctx, token);
      t.throws(
        () => key.register(again, { origin: ORIGIN }),
        { name: 'InvalidStateError' },
        'a browser would not even ask the key: the options exclude it',
      );
      invalid(
        await verify(
          { response: key.register({ ...again, excludeCredentials: [] }, { origin: ORIGIN }) },
          token,
        ),
        'the same key registered twice',
      );

      const other = softwareAuthenticator({ algorithm: 'EdDSA' });
      for (const [what, context] of [
        ['from another origin', { origin: EVIL_ORIGIN }],
        ['for another RP ID', { origin: ORIGIN, rpId: 'example.test' }],
      ] as const) {
        const options = await creationOptions(ctx, token);
        invalid(await verify({ response: other.register(options, context) }, token), `an answer ${what}`);
        invalid(
          await verify({ response: other.register(options, { origin: ORIGIN }) }, token),
          `then the right answer to the same options (a refused answer spends them)`,
        );
      }
      const otherAdded = await verify(
        { response: other.register(await creationOptions(ctx, token), { origin: ORIGIN }) },
        token,
      );
      t.strictSame(
        successProblems(otherAdded, 201, ['authenticatorId']),
        [],
        'a new answer to new options: 201',
      );
      t.equal((await list(ctx, token)).length, 2, 'two keys: nothing refused was added');
    },
  );
  t.test(
    'registration options: they expire, newer ones replace older ones, a stale session steps up',
    async (t) => {
      const ctx = await setup(t, env); // webauthn.timeoutMs: 300 s; stepUp.maxAgeSeconds: 60
      const carol = ctx.users.add('carol');
      const session = await ctx.passwordLogin(carol);
      const key = softwareAuthenticator();
      const verify = (response: unknown, token: string) =>
        ctx.kit.post<AddedBody>('/webauthn/register/verify', { response }, { token });

      const expiring = await creationOptions(ctx, session.accessToken);
      ctx.clock.advance(300_001);
      t.strictSame(
        errorProblems(
          await verify(key.register(expiring, { origin: ORIGIN }), session.accessToken),
          400,
          'TWOFOLD_INVALID_REGISTRATION',
        ),
        [],
        'an answer to options past their timeout: 400',
      );
      const older = await creationOptions(ctx, session.accessToken);
      const newer = await creationOptions(ctx, session.accessToken);
      t.strictSame(
        errorProblems(
          await verify(key.register(older, { origin: ORIGIN }), session.accessToken),
          400,
          'TWOFOLD_INVALID_REGISTRATION',
        ),
        [],
        'an answer to options replaced by newer ones: 400',
      );
      const first = await verify(key.register(newer, { origin: ORIGIN }), session.accessToken);
      t.strictSame(successProblems(first, 201, FIRST_KEY_KEYS), [], 'an answer to the latest options: 201');
      const token = String(first.body.accessToken);

      const second = softwareAuthenticator({ algorithm: 'EdDSA' });
      const pending = await creationOptions(ctx, token);
      ctx.clock.advance(61_000);
      const staleOptions = await ctx.kit.post('/webauthn/register/options', {}, { token });
      t.strictSame(
        errorProblems(staleOptions, 401, 'TWOFOLD_STEP_UP_REQUIRED'),
        [],
        'with 2FA on and a second factor older than maxAge, options: 401',
      );
      const staleVerify = await verify(second.register(pending, { origin: ORIGIN }), token);
      t.strictSame(
        errorProblems(staleVerify, 401, 'TWOFOLD_STEP_UP_REQUIRED'),
        [],
        'and verify: 401 (a stolen session cannot add a key of its own)',
      );
      const stepUp = must(
        await ctx.kit.post<{ accessToken: string }>(
          '/step-up',
          { webauthn: await ctx.keyFactor(token, key) },
          { token },
        ),
        200,
        'POST /step-up',
      );
      const added = await verify(
        second.register(await creationOptions(ctx, stepUp.accessToken), { origin: ORIGIN }),
        stepUp.accessToken,
      );
      t.strictSame(successProblems(added, 201, ['authenticatorId']), [], 'after a step-up: 201');
    },
  );

  t.test('maxAuthenticators counts keys and apps alike', async (t) => {
    const ctx = await setup(t, env, { maxAuthenticators: 2 });
    const ada = ctx.users.add('ada');
    const key = softwareAuthenticator();
    const enabled = await ctx.enableWithKey(ada, key);
    const token = enabled.accessToken;
    // An app pending and a key's options asked for, both with room for one more: the one finished
    // second finds no room.
    const app = must(
      await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token }),
      201,
      'POST /totp/enroll',
    );
    const creation = await creationOptions(ctx, token);
    must(
      await ctx.kit.post('/totp/confirm', { code: codeAt(app.secret, ctx.clock.now()) }, { token }),
      200,
      'POST /totp/confirm',
    );
    const late = await ctx.kit.post(
      '/webauthn/register/verify',
      { response: softwareAuthenticator().register(creation, { origin: ORIGIN }) },
      { token },
    );
    t.strictSame(
      errorProblems(late, 409, 'TWOFOLD_AUTHENTICATOR_LIMIT'),
      [],
      'a key finished when the account is full: 409',
    );
    const options = await ctx.kit.post('/webauthn/register/options', {}, { token });
    t.strictSame(errorProblems(options, 409, 'TWOFOLD_AUTHENTICATOR_LIMIT'), [], 'new options: 409');
    const enroll = await ctx.kit.post('/totp/enroll', undefined, { token });
    t.strictSame(errorProblems(enroll, 409, 'TWOFOLD_AUTHENTICATOR_LIMIT'), [], 'a new app: 409');
    t.strictSame(
      (await list(ctx, token)).map((entry) => entry.type),
      ['webauthn', 'totp'],
      'the key and the app, nothing more',
    );
  });

  t.test('email recovery removes every authenticator, keys included', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const key = softwareAuthenticator({ algorithm: 'EdDSA', counter: 'zero', backupEligible: true });
    const enabled = await ctx.enableWithKey(ada, key);
    const registeredWith = amrOf(enabled.accessToken) as string[];
    t.strictSame(
      registeredWith,
      ['pwd', 'swk', 'mfa'],
      'a passkey registered first: the fresh token says swk, as a login with it does',
    );
    await ctx.registerKey(enabled.accessToken, softwareAuthenticator());
    await ctx.kit.post('/recovery/request', { email: ada.email });
    const link = recoveryLink(await ctx.mail.next((mail) => mail.kind === 'recovery-link'), LINK_URL);
    must(
      await ctx.kit.post('/recovery/confirm', { ...link, password: ada.password }),
      204,
      'POST /recovery/confirm',
    );
    ctx.clock.advance(1);
    const session = await ctx.passwordLogin(ada);
    t.ok(session, 'login is one step again');
    t.strictSame(await list(ctx, session.accessToken), [], 'no key left');
    const status = await ctx.kit.get<StatusBody>('/status', { token: session.accessToken });
    t.strictSame(status.body.authenticators, { totp: 0, webauthn: 0 }, 'status says so');
    const again = await ctx.registerKey(session.accessToken, key);
    t.ok(again.recoveryCodes, 'the same passkey can be registered again: it turns 2FA on anew');
  });
}
