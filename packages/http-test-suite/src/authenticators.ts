/**
 * Several authenticators per user: more apps once 2FA is on (only with a recent second factor),
 * `GET /authenticators`, rename and remove by id in the path (someone else's id is as unknown as a
 * made-up one), names checked, the last one removed is 2FA off, and `maxAuthenticators`.
 */
import type { Test } from 'tap';
import {
  type AuthenticatorBody,
  type Ctx,
  type EnrollmentBody,
  type StatusBody,
  type SuiteEnv,
  setup,
  type TokenPair,
} from './context.js';
import { type Answer, codeAt, errorProblems, errorShapeProblems, must, successProblems } from './helpers.js';

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const TOTP_KEYS = ['id', 'type', 'name', 'createdAt', 'lastUsedAt'];

interface AuthenticatorList {
  authenticators: AuthenticatorBody[];
}

/** Enrolls and confirms another app with a token that carries a recent second factor. */
async function addApp(
  ctx: Ctx,
  token: string,
  name?: string,
): Promise<{ authenticatorId: string; secret: string }> {
  const enrollment = must(
    await ctx.kit.post<EnrollmentBody>('/totp/enroll', name === undefined ? {} : { name }, { token }),
    201,
    'POST /totp/enroll',
  );
  must(
    await ctx.kit.post(
      '/totp/confirm',
      { code: codeAt(enrollment.secret, ctx.clock.now()), authenticatorId: enrollment.authenticatorId },
      { token },
    ),
    200,
    'POST /totp/confirm',
  );
  return { authenticatorId: enrollment.authenticatorId, secret: enrollment.secret };
}

async function list(ctx: Ctx, token: string): Promise<AuthenticatorBody[]> {
  return must(await ctx.kit.get<AuthenticatorList>('/authenticators', { token }), 200, 'GET /authenticators')
    .authenticators;
}

/**
 * Fastify refuses two kinds of URL itself, at the server, before any plugin's route or hook runs
 * (so for every route of the app, not only the kit's): a path parameter longer than its
 * `maxParamLength` (default 100) is its 414 `FST_ERR_MAX_PARAM_LENGTH`, a path that does not
 * percent-decode its 400 `FST_ERR_BAD_URL`. Both are 4xx answers of the framework, documented in
 * @twofold/fastify's README (a host shapes them with Fastify's `frameworkErrors`); the kit's ids are
 * at most 18 characters, so no valid request meets them.
 */
function fastifyRefusedUrl(answer: Answer<unknown>): boolean {
  const code = (answer.body as { code?: unknown } | undefined)?.code;
  return (
    (answer.status === 414 && code === 'FST_ERR_MAX_PARAM_LENGTH') ||
    (answer.status === 400 && code === 'FST_ERR_BAD_URL')
  );
}

/** The problems of `answer` against what the kit answers, unless Fastify refused the URL itself. */
function unlessFastifyRefused(answer: Answer<unknown>, problems: string[]): string[] {
  return fastifyRefusedUrl(answer) ? [] : problems;
}

/** The path of an authenticator route, the id as given (already encoded where a test wants it). */
const idPath = (id: string, action: 'rename' | 'remove') => `/authenticators/${id}/${action}`;

export function authenticatorTests(t: Test, env: SuiteEnv): void {
  t.test('several apps: GET /authenticators lists them oldest first, and each one logs in', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const bob = ctx.users.add('bob');
    const bobSession = await ctx.passwordLogin(bob);
    const none = await ctx.kit.get<AuthenticatorList>('/authenticators', { token: bobSession.accessToken });
    t.strictSame(successProblems(none, 200, ['authenticators']), [], 'GET /authenticators: 200');
    t.strictSame(none.body, { authenticators: [] }, 'a user without 2FA has none');

    const enabled = await ctx.enable(ada);
    const token = enabled.accessToken;
    const enrollment = await ctx.kit.post<EnrollmentBody>('/totp/enroll', { name: 'Tablet' }, { token });
    t.strictSame(successProblems(enrollment, 201), [], 'POST /totp/enroll {name} with 2FA on: 201');
    const confirm = await ctx.kit.post(
      '/totp/confirm',
      {
        code: codeAt(enrollment.body.secret, ctx.clock.now()),
        authenticatorId: enrollment.body.authenticatorId,
      },
      { token },
    );
    t.strictSame(
      successProblems(confirm, 200, ['authenticatorId']),
      [],
      'confirming a second app: 200 with its id only (no new recovery codes, no new tokens)',
    );
    t.equal(confirm.body.authenticatorId, enrollment.body.authenticatorId, 'the id enroll announced');
    t.equal((await ctx.kit.get('/host/protected', { token })).status, 200, 'adding an app ends no session');
    const status = await ctx.kit.get<StatusBody>('/status', { token });
    t.match(
      status.body,
      { enabled: true, pending: false, recoveryCodesRemaining: 10, authenticators: { totp: 2, webauthn: 0 } },
      'status counts two apps; the recovery codes stay as they were',
    );

    const listed = await ctx.kit.get<AuthenticatorList>('/authenticators', { token });
    t.strictSame(successProblems(listed, 200, ['authenticators']), [], 'GET /authenticators: 200');
    const [first, second] = listed.body.authenticators;
    t.strictSame(
      listed.body.authenticators.map((entry) => entry.id),
      [enabled.authenticatorId, enrollment.body.authenticatorId],
      'both apps, oldest first',
    );
    for (const entry of listed.body.authenticators) {
      t.strictSame(Object.keys(entry).sort(), [...TOTP_KEYS].sort(), `${entry.id}: exactly ${TOTP_KEYS}`);
      t.equal(entry.type, 'totp');
      t.match(entry.createdAt, ISO_DATE);
      t.ok(entry.lastUsedAt === null || ISO_DATE.test(entry.lastUsedAt), 'lastUsedAt: a date or null');
    }
    t.ok(typeof first?.name === 'string' && first.name.length > 0, 'an app enrolled without a name has one');
    t.equal(second?.name, 'Tablet', 'the name given at enroll');
    for (const secret of [enabled.secret, enrollment.body.secret]) {
      t.notOk(listed.text.includes(secret), 'no secret in the list');
    }
    t.notOk(
      enabled.recoveryCodes.some((code) => listed.text.includes(code)),
      'no recovery code in the list',
    );

    // The second app's codes log in, then the first's (another app: its step is its own).
    const withSecond = await ctx.kit.post<TokenPair>('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(enrollment.body.secret),
    });
    t.strictSame(successProblems(withSecond, 200), [], "the second app's code logs in");
    const withFirst = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: codeAt(enabled.secret, ctx.clock.now()),
    });
    t.strictSame(successProblems(withFirst, 200), [], "and the first app's code of the same step");
    const used = await list(ctx, withSecond.body.accessToken);
    t.equal(
      used[1]?.lastUsedAt,
      new Date(ctx.clock.now()).toISOString(),
      'lastUsedAt: when the app last gave a code',
    );
  });

  t.test('adding an app with 2FA on needs a recent second factor; confirm names the app', async (t) => {
    const ctx = await setup(t, env); // stepUp.maxAgeSeconds: 60
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    ctx.clock.advance(61_000);
    const stale = await ctx.kit.post('/totp/enroll', { name: 'Tablet' }, { token: enabled.accessToken });
    t.strictSame(
      errorProblems(stale, 401, 'TWOFOLD_STEP_UP_REQUIRED'),
      [],
      'a second factor older than maxAge: 401 TWOFOLD_STEP_UP_REQUIRED',
    );
    const unchanged = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
    t.equal(unchanged.body.pending, false, 'nothing was started');

    const stepUp = must(
      await ctx.kit.post<{ accessToken: string }>(
        '/step-up',
        { code: ctx.freshCode(enabled.secret) },
        { token: enabled.accessToken },
      ),
      200,
      'POST /step-up',
    );
    const token = stepUp.accessToken;
    const enrollment = must(
      await ctx.kit.post<EnrollmentBody>('/totp/enroll', { name: 'Tablet' }, { token }),
      201,
      'POST /totp/enroll after a step-up',
    );
    t.pass('after a step-up: 201');

    const refusals: [string, Record<string, unknown>, number, string][] = [
      [
        'an unknown authenticatorId',
        { code: codeAt(enrollment.secret, ctx.clock.now()), authenticatorId: 't_unknown' },
        409,
        'TWOFOLD_NOT_PENDING',
      ],
      [
        'the active app as authenticatorId',
        { code: codeAt(enrollment.secret, ctx.clock.now()), authenticatorId: enabled.authenticatorId },
        409,
        'TWOFOLD_NOT_PENDING',
      ],
      ['a wrong code', { code: ctx.wrongCode(enrollment.secret) }, 400, 'TWOFOLD_INVALID_CODE'],
      [
        "the active app's code",
        { code: codeAt(enabled.secret, ctx.clock.now() + 30_000) },
        400,
        'TWOFOLD_INVALID_CODE',
      ],
    ];
    for (const [what, body, status, code] of refusals) {
      const answer = await ctx.kit.post('/totp/confirm', body, { token });
      t.strictSame(errorProblems(answer, status, code), [], `confirm with ${what}: ${status}`);
    }
    const confirm = await ctx.kit.post(
      '/totp/confirm',
      { code: codeAt(enrollment.secret, ctx.clock.now()), authenticatorId: enrollment.authenticatorId },
      { token },
    );
    t.strictSame(successProblems(confirm, 200, ['authenticatorId']), [], 'the right code: 200');
    const status = await ctx.kit.get<StatusBody>('/status', { token });
    t.strictSame(status.body.authenticators, { totp: 2, webauthn: 0 }, 'two apps');
  });

  t.test('rename: any of your authenticators by id; the name is checked', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const bob = ctx.users.add('bob');
    const enabled = await ctx.enable(ada);
    const bobEnabled = await ctx.enable(bob);
    const token = enabled.accessToken;
    const bobToken = bobEnabled.accessToken;
    const pending = must(
      await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token }),
      201,
      'POST /totp/enroll',
    );

    const renamed = await ctx.kit.post<AuthenticatorBody>(
      idPath(enabled.authenticatorId, 'rename'),
      { name: 'Work phone' },
      { token },
    );
    t.strictSame(successProblems(renamed, 200, TOTP_KEYS), [], 'POST /authenticators/:id/rename: 200');
    t.match(renamed.body, { id: enabled.authenticatorId, type: 'totp', name: 'Work phone' }, 'renamed');
    t.equal((await list(ctx, token))[0]?.name, 'Work phone', 'GET /authenticators says so too');

    const trimmed = await ctx.kit.post<AuthenticatorBody>(
      idPath(enabled.authenticatorId, 'rename'),
      { name: '  Téléphone 📱  ' },
      { token },
    );
    t.equal(trimmed.body.name, 'Téléphone 📱', 'spaces around the name are dropped; any letters stay');
    const longest = 'n'.repeat(64);
    const long = await ctx.kit.post(idPath(enabled.authenticatorId, 'rename'), { name: longest }, { token });
    t.strictSame(successProblems(long, 200), [], '64 characters: 200');

    const badNames: [string, unknown][] = [
      ['an empty name', ''],
      ['only spaces', '   '],
      ['65 characters', 'n'.repeat(65)],
      ['a NUL', 'a\u0000b'],
      ['a tab', 'a\tb'],
      ['a newline', 'a\nb'],
      ['a number', 42],
      ['null', null],
      ['an object', { name: 'x' }],
    ];
    for (const [what, name] of badNames) {
      const answer = await ctx.kit.post(idPath(enabled.authenticatorId, 'rename'), { name }, { token });
      t.strictSame(
        errorProblems(answer, 400, 'TWOFOLD_INVALID_INPUT', { field: 'name' }),
        [],
        `${what}: 400 naming name`,
      );
    }
    const missing = await ctx.kit.post(idPath(enabled.authenticatorId, 'rename'), {}, { token });
    t.strictSame(
      errorProblems(missing, 400, 'TWOFOLD_INVALID_INPUT', { field: 'name' }),
      [],
      'no name: 400 naming name',
    );
    const extra = await ctx.kit.post(
      idPath(enabled.authenticatorId, 'rename'),
      { name: 'x', type: 'webauthn' },
      { token },
    );
    t.strictSame(
      errorProblems(extra, 400, 'TWOFOLD_INVALID_INPUT', { field: 'type' }),
      [],
      'an unknown field: 400 naming it',
    );
    t.equal((await list(ctx, token))[0]?.name, longest, 'none of them changed the name');

    const unknown = await ctx.kit.post(idPath('t_unknown', 'rename'), { name: 'x' }, { token });
    t.strictSame(errorProblems(unknown, 404, 'TWOFOLD_NOT_FOUND'), [], 'an unknown id: 404');
    const others = await ctx.kit.post(idPath(bobEnabled.authenticatorId, 'rename'), { name: 'x' }, { token });
    t.strictSame(errorProblems(others, 404, 'TWOFOLD_NOT_FOUND'), [], "another user's id: 404");
    t.equal(others.text, unknown.text, 'the same answer as an unknown id: nothing tells them apart');
    const pendingAnswer = await ctx.kit.post(
      idPath(pending.authenticatorId, 'rename'),
      { name: 'x' },
      { token },
    );
    t.strictSame(
      errorProblems(pendingAnswer, 404, 'TWOFOLD_NOT_FOUND'),
      [],
      'an app still pending is not one of the authenticators yet: 404',
    );
    const bobList = await list(ctx, bobToken);
    t.not(bobList[0]?.name, 'x', "the other user's app kept its name");
  });

  t.test('remove: needs a fresh factor; someone else’s id is unknown; the last one is 2FA off', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const bob = ctx.users.add('bob');
    const enabled = await ctx.enable(ada);
    const bobEnabled = await ctx.enable(bob);
    const second = await addApp(ctx, enabled.accessToken, 'Tablet');
    const third = await addApp(ctx, enabled.accessToken, 'Old phone');
    const token = enabled.accessToken;
    const otherSession = await ctx.mfaLogin(ada, enabled.secret);

    const refusals: [string, string, Record<string, unknown>, number, string][] = [
      ['no factor', second.authenticatorId, {}, 400, 'TWOFOLD_INVALID_INPUT'],
      [
        'two factors',
        second.authenticatorId,
        { code: '123456', recoveryCode: enabled.recoveryCodes[0] },
        400,
        'TWOFOLD_INVALID_INPUT',
      ],
      [
        'a wrong code',
        second.authenticatorId,
        { code: ctx.wrongCode(enabled.secret) },
        400,
        'TWOFOLD_INVALID_CODE',
      ],
      [
        'an unknown id',
        't_unknown',
        { code: codeAt(enabled.secret, ctx.clock.now() + 30_000) },
        404,
        'TWOFOLD_NOT_FOUND',
      ],
      [
        "another user's id",
        bobEnabled.authenticatorId,
        { code: codeAt(enabled.secret, ctx.clock.now() + 30_000) },
        404,
        'TWOFOLD_NOT_FOUND',
      ],
    ];
    const texts = new Map<number, string>();
    for (const [what, id, body, status, code] of refusals) {
      const answer = await ctx.kit.post(idPath(id, 'remove'), body, { token });
      t.strictSame(errorProblems(answer, status, code), [], `${what}: ${status}`);
      if (status === 404) {
        if (texts.has(404)) t.equal(answer.text, texts.get(404), 'the same 404 for both');
        texts.set(404, answer.text);
      }
    }
    t.equal((await list(ctx, token)).length, 3, 'nothing was removed');
    t.equal((await list(ctx, bobEnabled.accessToken)).length, 1, "the other user's app is still there");

    const removed = await ctx.kit.post(
      idPath(second.authenticatorId, 'remove'),
      { code: ctx.freshCode(enabled.secret) },
      { token },
    );
    t.strictSame(successProblems(removed, 204), [], 'with a fresh code of another app: 204');
    t.strictSame(
      (await list(ctx, token)).map((entry) => entry.id),
      [enabled.authenticatorId, third.authenticatorId],
      'that one is gone, the others stay',
    );
    const removedCode = await ctx.kit.post('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      code: ctx.freshCode(second.secret),
    });
    t.strictSame(
      errorProblems(removedCode, 400, 'TWOFOLD_INVALID_CODE'),
      [],
      "the removed app's codes no longer log in",
    );
    t.equal(
      (await ctx.kit.get('/host/protected', { token: otherSession.accessToken })).status,
      200,
      'removing one of several ends no session',
    );

    const byRecoveryCode = await ctx.kit.post(
      idPath(third.authenticatorId, 'remove'),
      { recoveryCode: enabled.recoveryCodes[0] },
      { token },
    );
    t.strictSame(successProblems(byRecoveryCode, 204), [], 'with a recovery code: 204');
    const status = await ctx.kit.get<StatusBody>('/status', { token });
    t.match(
      status.body,
      { enabled: true, recoveryCodesRemaining: 9, authenticators: { totp: 1, webauthn: 0 } },
      'one app left, one recovery code spent',
    );

    const last = await ctx.kit.post<TokenPair>(
      idPath(enabled.authenticatorId, 'remove'),
      { code: ctx.freshCode(enabled.secret) },
      { token },
    );
    t.strictSame(
      successProblems(last, 200, ['accessToken', 'refreshToken']),
      [],
      "the last one: 200 with fresh tokens (the kit's token), as POST /totp/disable",
    );
    for (const old of [token, otherSession.accessToken]) {
      t.strictSame(
        errorProblems(await ctx.kit.get('/status', { token: old }), 401, 'TWOFOLD_UNAUTHORIZED'),
        [],
        'every session from before ended',
      );
    }
    t.strictSame(
      errorProblems(
        await ctx.kit.post('/token/refresh', { refreshToken: otherSession.refreshToken }),
        401,
        'TWOFOLD_INVALID_TOKEN',
      ),
      [],
      'with its refresh token',
    );
    const off = await ctx.kit.get<StatusBody>('/status', { token: last.body.accessToken });
    t.match(
      off.body,
      { enabled: false, pending: false, recoveryCodesRemaining: 0, authenticators: { totp: 0, webauthn: 0 } },
      '2FA is off, the recovery codes are gone',
    );
    t.strictSame(await list(ctx, last.body.accessToken), [], 'no authenticator left');
    ctx.clock.advance(1);
    t.ok(await ctx.passwordLogin(ada), 'login is one step again');
  });

  t.test('the id in the path: one segment, decoded, at most 255 characters', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const token = enabled.accessToken;
    const rename = (id: string) => ctx.kit.post(idPath(id, 'rename'), { name: 'Renamed' }, { token });

    const unknown = await rename('t_unknown');
    t.strictSame(errorProblems(unknown, 404, 'TWOFOLD_NOT_FOUND'), [], 'an unknown id: 404');
    const slash = await rename(encodeURIComponent(`${enabled.authenticatorId}/x`));
    t.strictSame(
      errorProblems(slash, 404, 'TWOFOLD_NOT_FOUND'),
      [],
      'an encoded slash stays in the one segment: an unknown id',
    );
    t.equal(slash.text, unknown.text, 'the answer of an unknown authenticator');
    const encoded = await rename(
      [...enabled.authenticatorId].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''),
    );
    t.strictSame(successProblems(encoded, 200), [], 'a percent-encoded id is the same id (it is decoded)');
    t.equal((encoded.body as { id?: unknown }).id, enabled.authenticatorId);

    const longest = await rename('a'.repeat(255));
    t.strictSame(
      unlessFastifyRefused(longest, errorProblems(longest, 404, 'TWOFOLD_NOT_FOUND')),
      [],
      "an id of 255 characters: 404 (or Fastify's own 414 over its maxParamLength)",
    );
    const tooLong = await rename('a'.repeat(256));
    t.strictSame(
      unlessFastifyRefused(tooLong, errorProblems(tooLong, 400, 'TWOFOLD_INVALID_INPUT', { field: 'id' })),
      [],
      "an id of 256 characters: 400 naming id (or Fastify's own 414)",
    );
    const remove = await ctx.kit.post(idPath('a'.repeat(256), 'remove'), { code: '123456' }, { token });
    t.strictSame(
      unlessFastifyRefused(remove, errorProblems(remove, 400, 'TWOFOLD_INVALID_INPUT', { field: 'id' })),
      [],
      'on remove too, before any factor is judged',
    );
    const broken = await rename('t_%E0%A4%A');
    const brokenProblems = errorShapeProblems(broken);
    if (broken.status !== 400 && broken.status !== 404) brokenProblems.unshift(`status ${broken.status}`);
    t.strictSame(
      unlessFastifyRefused(broken, brokenProblems),
      [],
      `an id that does not decode (a stray %): 400 or 404 in the kit's error shape, or Fastify's own 400 (${broken.status})`,
    );
    t.equal((await list(ctx, token))[0]?.name, 'Renamed', 'only the decoded id renamed anything');
  });

  t.test('maxAuthenticators: one more is a 409, until one is removed', async (t) => {
    const ctx = await setup(t, env, { maxAuthenticators: 2 });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const second = await addApp(ctx, enabled.accessToken);
    const full = await ctx.kit.post('/totp/enroll', undefined, { token: enabled.accessToken });
    t.strictSame(
      errorProblems(full, 409, 'TWOFOLD_AUTHENTICATOR_LIMIT'),
      [],
      'enroll with as many as allowed: 409',
    );
    const status = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
    t.equal(status.body.pending, false, 'nothing pending');
    must(
      await ctx.kit.post(
        idPath(second.authenticatorId, 'remove'),
        { code: ctx.freshCode(enabled.secret) },
        { token: enabled.accessToken },
      ),
      204,
      'POST /authenticators/:id/remove',
    );
    const stepUp = must(
      await ctx.kit.post<{ accessToken: string }>(
        '/step-up',
        { code: ctx.freshCode(enabled.secret) },
        { token: enabled.accessToken },
      ),
      200,
      'POST /step-up',
    );
    const again = await ctx.kit.post('/totp/enroll', undefined, { token: stepUp.accessToken });
    t.strictSame(successProblems(again, 201), [], 'after a removal there is room again: 201');
  });
}
