/**
 * Trusted devices (the `trustedDevices` option): a second factor with `rememberDevice` answers a
 * device token (and a cookie); a later password login with it skips the second factor; each use
 * rotates it and a reused token ends the device; revoke-all, a device's revocation and the lockout
 * all take the shortcut away.
 */
import type { Test } from 'tap';
import { type SuiteEnv, setup, type TokenPair } from './context.js';
import { decodeJwt, errorProblems, must, successProblems } from './helpers.js';

type LoginBody = TokenPair & { twoFactorRequired: boolean; deviceToken?: string; challengeToken?: string };

export function deviceTests(t: Test, env: SuiteEnv): void {
  t.test(
    'a remembered device skips the second factor; each use rotates its token; reuse ends it',
    async (t) => {
      const ctx = await setup(t, env, { trustedDevices: { maxAgeDays: 30 } });
      const ada = ctx.users.add('ada');
      const enabled = await ctx.enable(ada);
      const challengeToken = await ctx.challenge(ada);
      const verified = await ctx.kit.post<TokenPair & { deviceToken: string }>(
        '/login/verify',
        {
          challengeToken,
          code: ctx.freshCode(enabled.secret),
          rememberDevice: true,
          deviceName: 'Work laptop',
        },
        { headers: { 'user-agent': 'Firefox/140.0 (X11; Linux x86_64)' } },
      );
      t.strictSame(successProblems(verified, 200, ['accessToken', 'refreshToken', 'deviceToken']), []);
      const cookie = verified.headers.get('set-cookie') ?? '';
      t.match(
        cookie,
        /^twofold_device=[^;]+; Path=\/2fa; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict$/,
      );
      t.equal(
        cookie.split(';')[0],
        `twofold_device=${verified.body.deviceToken}`,
        'the cookie holds the same token',
      );

      const login = (deviceToken?: string, headers: Record<string, string> = {}) =>
        ctx.kit.post<LoginBody>(
          '/login',
          { username: ada.username, password: ada.password, ...(deviceToken ? { deviceToken } : {}) },
          { headers },
        );
      const skipped = await login(verified.body.deviceToken, {
        'user-agent': 'Firefox/141.0 (X11; Linux x86_64)',
      });
      t.strictSame(successProblems(skipped, 200), []);
      t.equal(skipped.body.twoFactorRequired, false, 'the device skips the second factor');
      const next = String(skipped.body.deviceToken);
      t.not(next, verified.body.deviceToken, 'and gets a new device token');
      t.equal(decodeJwt(skipped.body.accessToken).payload.tdv, true, 'the session says how it came');
      t.strictSame(decodeJwt(skipped.body.accessToken).payload.amr, ['pwd'], 'no second factor in amr');
      t.equal((await ctx.kit.get('/host/protected', { token: skipped.body.accessToken })).status, 200);
      t.strictSame(
        errorProblems(
          await ctx.kit.get('/host/sensitive', { token: skipped.body.accessToken }),
          401,
          'TWOFOLD_STEP_UP_REQUIRED',
        ),
        [],
        'the step-up guard wants a fresh second factor from such a session',
      );
      const stepped = must(
        await ctx.kit.post<{ accessToken: string }>(
          '/step-up',
          { code: ctx.freshCode(enabled.secret) },
          { token: skipped.body.accessToken },
        ),
        200,
        'step-up',
      );
      t.equal(
        (await ctx.kit.get('/host/sensitive', { token: stepped.accessToken })).status,
        200,
        'then it passes',
      );

      const listed = must(
        await ctx.kit.get<{ devices: Record<string, unknown>[] }>('/devices', { token: enabled.accessToken }),
        200,
        'GET /devices',
      );
      t.equal(listed.devices.length, 1);
      t.match(listed.devices[0], { name: 'Work laptop', userAgent: 'Firefox/141.0 (X11; Linux x86_64)' });
      t.equal(
        Date.parse(String(listed.devices[0]!.expiresAt)) - Date.parse(String(listed.devices[0]!.createdAt)),
        30 * 86_400_000,
        'trusted for maxAgeDays from when it was trusted',
      );

      // The first token again: a copy used after the rotation. The device is trusted no more.
      const reused = await login(verified.body.deviceToken);
      t.equal(reused.body.twoFactorRequired, true, 'a spent device token gets the second step');
      const afterReuse = await login(next);
      t.equal(afterReuse.body.twoFactorRequired, true, 'and so does the newest one: the device has ended');
      t.strictSame(
        must(
          await ctx.kit.get<{ devices: unknown[] }>('/devices', { token: enabled.accessToken }),
          200,
          'list',
        ).devices,
        [],
      );
    },
  );

  t.test('the device cookie works as the body does; a refused one is cleared', async (t) => {
    const ctx = await setup(t, env, { trustedDevices: { maxAgeDays: 7 } });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    const remembered = must(
      await ctx.kit.post<TokenPair & { deviceToken: string }>('/login/verify', {
        challengeToken: await ctx.challenge(ada),
        code: ctx.freshCode(enabled.secret),
        rememberDevice: true,
      }),
      200,
      'remember',
    );
    const withCookie = await ctx.kit.post<LoginBody>(
      '/login',
      { username: ada.username, password: ada.password },
      { headers: { cookie: `other=1; twofold_device=${remembered.deviceToken}` } },
    );
    t.equal(withCookie.body.twoFactorRequired, false, 'the cookie skips the second factor');
    t.match(
      withCookie.headers.get('set-cookie'),
      /^twofold_device=[^;]+; Path=\/2fa; Max-Age=604800;/,
      'rotated',
    );
    const refused = await ctx.kit.post<LoginBody>(
      '/login',
      { username: ada.username, password: ada.password },
      { headers: { cookie: 'twofold_device=forged.token.value' } },
    );
    t.equal(refused.body.twoFactorRequired, true);
    t.match(
      refused.headers.get('set-cookie'),
      /^twofold_device=; Path=\/2fa; Max-Age=0;/,
      'the refused cookie is cleared',
    );
    const listed = must(
      await ctx.kit.get<{ devices: { id: string }[] }>('/devices', { token: enabled.accessToken }),
      200,
      'list',
    );
    const id = listed.devices[0]!.id;
    t.strictSame(
      successProblems(
        await ctx.kit.post(`/devices/${id}/revoke`, undefined, { token: enabled.accessToken }),
        204,
      ),
      [],
      'POST /devices/:id/revoke: 204',
    );
    t.strictSame(
      errorProblems(
        await ctx.kit.post(`/devices/${id}/revoke`, undefined, { token: enabled.accessToken }),
        404,
        'TWOFOLD_NOT_FOUND',
      ),
      [],
      'once',
    );
    const afterRevoke = await ctx.kit.post<LoginBody>('/login', {
      username: ada.username,
      password: ada.password,
      deviceToken: String(withCookie.body.deviceToken),
    });
    t.equal(afterRevoke.body.twoFactorRequired, true, 'a revoked device gets the second step');
  });

  t.test(
    'sign-out everywhere and the lockout take the shortcut away; without the option nothing changes',
    async (t) => {
      const ctx = await setup(t, env, {
        trustedDevices: { maxAgeDays: 30, cookie: false },
        lockout: { maxFailures: 3 },
      });
      const ada = ctx.users.add('ada');
      const enabled = await ctx.enable(ada);
      const remember = async () =>
        must(
          await ctx.kit.post<TokenPair & { deviceToken: string }>('/login/verify', {
            challengeToken: await ctx.challenge(ada),
            code: ctx.freshCode(enabled.secret),
            rememberDevice: true,
          }),
          200,
          'remember',
        );
      const first = await remember();
      const noCookie = await ctx.kit.post('/login/verify', {
        challengeToken: await ctx.challenge(ada),
        code: ctx.freshCode(enabled.secret),
        rememberDevice: true,
      });
      t.equal(noCookie.headers.get('set-cookie'), null, 'cookie: false sets none');
      must(
        await ctx.kit.post(
          '/sessions/revoke-all',
          { code: ctx.freshCode(enabled.secret) },
          { token: first.accessToken },
        ),
        204,
        'revoke-all',
      );
      ctx.clock.advance(1);
      const after = await ctx.kit.post<LoginBody>('/login', {
        username: ada.username,
        password: ada.password,
        deviceToken: first.deviceToken,
      });
      t.equal(
        after.body.twoFactorRequired,
        true,
        'devices trusted before sign-out everywhere are not any more',
      );

      const second = await remember();
      for (let i = 0; i < 3; i++) {
        await ctx.kit.post('/login/verify', {
          challengeToken: await ctx.challenge(ada),
          code: ctx.wrongCode(enabled.secret),
        });
      }
      const locked = await ctx.kit.post<LoginBody>('/login', {
        username: ada.username,
        password: ada.password,
        deviceToken: second.deviceToken,
      });
      t.equal(locked.body.twoFactorRequired, true, 'a locked account gets no shortcut');

      const plain = await setup(t, env);
      const bob = plain.users.add('bob');
      const bobOn = await plain.enable(bob);
      const noOption = await plain.kit.post<TokenPair & { deviceToken?: string }>('/login/verify', {
        challengeToken: await plain.challenge(bob),
        code: plain.freshCode(bobOn.secret),
        rememberDevice: true,
      });
      t.equal(noOption.status, 200);
      t.equal(noOption.body.deviceToken, undefined, 'without trustedDevices: no device token');
      t.strictSame(
        errorProblems(
          await plain.kit.get('/devices', { token: bobOn.accessToken }),
          404,
          'TWOFOLD_NOT_FOUND',
        ),
        [],
        'and no /devices route',
      );
    },
  );
}
