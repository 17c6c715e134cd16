/**
 * After a whole life cycle, no code, recovery code, secret, password, token or recovery link
 * appears in the server's logs, nor in any error message (SECURITY.md §N1).
 */
import type { Test } from 'tap';
import {
  type AddedBody,
  type CreationOptionsJSON,
  type EnrollmentBody,
  LINK_URL,
  ORIGIN,
  type RequestOptionsJSON,
  type SuiteEnv,
  setup,
  type TokenPair,
} from './context.js';
import { type Answer, codeAt, recoveryLink } from './helpers.js';
import { softwareAuthenticator } from './webauthn.js';

export function logTests(t: Test, env: SuiteEnv): void {
  t.test('no secret of a whole flow appears in the logs or in an error message', async (t) => {
    const ctx = await setup(t, env, { lockout: { maxFailures: 20 } });
    const ada = ctx.users.add('ada');
    const secrets: [kind: string, value: string][] = [['password', ada.password]];
    const codes: string[] = [];
    const errors: Answer<unknown>[] = [];
    const addToken = (kind: string, token: string) => {
      secrets.push([kind, token], [`${kind} signature`, token.split('.')[2] ?? token]);
    };
    const code = () => {
      const value = ctx.freshCode(secret);
      codes.push(value);
      return value;
    };
    const failing = async (answer: Promise<Answer<unknown>>) => {
      const settled = await answer;
      if (settled.status >= 400) errors.push(settled);
      return settled;
    };

    errors.push(await ctx.kit.post('/login', { username: ada.username, password: `${ada.password}x` }));
    secrets.push(['wrong password', `${ada.password}x`]);
    const first = await ctx.passwordLogin(ada);
    addToken('access token', first.accessToken);
    addToken('refresh token', first.refreshToken);
    const enrollment = (
      await ctx.kit.post<EnrollmentBody>('/totp/enroll', undefined, { token: first.accessToken })
    ).body;
    const secret = enrollment.secret;
    secrets.push(
      ['secret', secret],
      ['pretty secret', enrollment.prettySecret],
      ['otpauth URI', enrollment.otpauthUri],
    );
    const wrong = ctx.wrongCode(secret);
    codes.push(wrong);
    await failing(ctx.kit.post('/totp/confirm', { code: wrong, extra: wrong }, { token: first.accessToken }));
    await failing(ctx.kit.post('/totp/confirm', { code: wrong }, { token: first.accessToken }));
    const confirmCode = codeAt(secret, ctx.clock.now());
    codes.push(confirmCode);
    const confirmed = (
      await ctx.kit.post<{ recoveryCodes: string[] } & TokenPair>(
        '/totp/confirm',
        { code: confirmCode },
        { token: first.accessToken },
      )
    ).body;
    const { recoveryCodes } = confirmed;
    for (const recoveryCode of recoveryCodes) secrets.push(['recovery code', recoveryCode]);
    addToken('access token', confirmed.accessToken);
    addToken('refresh token', confirmed.refreshToken);
    await failing(ctx.kit.get('/status', { token: first.accessToken })); // signed out by confirm
    await ctx.kit.post('/token/revoke', { refreshToken: confirmed.refreshToken });
    ctx.clock.advance(1); // sessions after the millisecond of confirm's revocation

    const challengeToken = await ctx.challenge(ada);
    addToken('challenge token', challengeToken);
    await failing(ctx.kit.post('/login/verify', { challengeToken, code: wrong }));
    await failing(ctx.kit.post('/login/verify', { challengeToken, code: Number(wrong) }));
    const login = (await ctx.kit.post<TokenPair>('/login/verify', { challengeToken, code: code() })).body;
    addToken('access token', login.accessToken);
    addToken('refresh token', login.refreshToken);
    await failing(ctx.kit.post('/login/verify', { challengeToken, code: code() }));
    const refreshed = (await ctx.kit.post<TokenPair>('/token/refresh', { refreshToken: login.refreshToken }))
      .body;
    addToken('access token', refreshed.accessToken);
    addToken('refresh token', refreshed.refreshToken);
    await failing(ctx.kit.post('/token/verify', { token: `${login.accessToken}x` }));
    await failing(ctx.kit.get('/host/protected', { token: `${login.accessToken}x` }));
    const stepUp = (
      await ctx.kit.post<{ accessToken: string }>(
        '/step-up',
        { code: code() },
        { token: refreshed.accessToken },
      )
    ).body;
    addToken('access token', stepUp.accessToken);
    const rotated = (
      await ctx.kit.post<{ recoveryCodes: string[] }>(
        '/recovery-codes/rotate',
        { code: code() },
        { token: stepUp.accessToken },
      )
    ).body.recoveryCodes;
    for (const recoveryCode of rotated) secrets.push(['recovery code', recoveryCode]);
    await failing(ctx.kit.post('/token/refresh', { refreshToken: login.refreshToken })); // reuse
    await failing(ctx.kit.get('/status', { token: stepUp.accessToken })); // its session ended
    await failing(
      ctx.kit.post('/login/verify', {
        challengeToken: await ctx.challenge(ada),
        recoveryCode: recoveryCodes[0],
      }),
    );
    const byRecovery = await ctx.kit.post<TokenPair>('/login/verify', {
      challengeToken: await ctx.challenge(ada),
      recoveryCode: rotated[0],
    });
    addToken('access token', byRecovery.body.accessToken);
    addToken('refresh token', byRecovery.body.refreshToken);

    await ctx.kit.post('/recovery/request', { email: ada.email });
    const link = recoveryLink(await ctx.mail.next((mail) => mail.kind === 'recovery-link'), LINK_URL);
    secrets.push(['recovery link token', link.token]);
    await failing(ctx.kit.post('/recovery/confirm', { ...link, password: 'wrong' }));
    await failing(
      ctx.kit.post('/recovery/confirm', { ...link, token: `${link.token}x`, password: ada.password }),
    );
    await ctx.kit.post('/recovery/confirm', { ...link, password: ada.password });
    await ctx.mail.next((mail) => mail.kind === 'recovery-completed');

    t.ok(errors.length >= 10, `${errors.length} error answers collected`);
    t.comment(
      `${ctx.app.logs.length} log lines, ${secrets.length} secrets and ${codes.length} codes to look for`,
    );
    const places: [string, string[]][] = [
      ['the logs', ctx.app.logs],
      ['an error answer', errors.map((answer) => answer.text)],
    ];
    for (const [place, texts] of places) {
      const all = texts.join('\n');
      // Never print a value: only the kinds of what was found.
      const found = new Set(secrets.filter(([, value]) => all.includes(value)).map(([kind]) => kind));
      if (codes.some((value) => new RegExp(`(?<![0-9.])${value}(?![0-9])`).test(all))) found.add('TOTP code');
      t.strictSame([...found], [], `no secret, code or token in ${place}`);
    }
  });
  t.test(
    'no token, recovery code or security key answer appears in the logs',
    { skip: !env.webauthn && 'runHttpContract(..., { webauthn: false })' },
    async (t) => {
      const ctx = await setup(t, env);
      const ada = ctx.users.add('ada');
      const key = softwareAuthenticator();
      const secrets: [kind: string, value: string][] = [['password', ada.password]];
      const addToken = (kind: string, token: string) => {
        secrets.push([kind, token], [`${kind} signature`, token.split('.')[2] ?? token]);
      };
      /** The parts of a browser's answer: its client data, signature or attestation. */
      const addAnswer = (answer: { response: Record<string, unknown> }) => {
        for (const part of ['clientDataJSON', 'signature', 'attestationObject', 'authenticatorData'])
          if (typeof answer.response[part] === 'string')
            secrets.push([part, answer.response[part] as string]);
      };

      const first = await ctx.passwordLogin(ada);
      addToken('access token', first.accessToken);
      const creation = (
        await ctx.kit.post<CreationOptionsJSON>(
          '/webauthn/register/options',
          {},
          { token: first.accessToken },
        )
      ).body;
      const forged = key.register(creation, { origin: 'https://evil.example.test' });
      addAnswer(forged);
      await ctx.kit.post('/webauthn/register/verify', { response: forged }, { token: first.accessToken });
      const options = (
        await ctx.kit.post<CreationOptionsJSON>(
          '/webauthn/register/options',
          {},
          { token: first.accessToken },
        )
      ).body;
      secrets.push(['registration challenge', options.challenge]);
      const registration = key.register(options, { origin: ORIGIN });
      addAnswer(registration);
      const added = (
        await ctx.kit.post<AddedBody & TokenPair>(
          '/webauthn/register/verify',
          { response: registration },
          { token: first.accessToken },
        )
      ).body;
      addToken('access token', added.accessToken);
      addToken('refresh token', added.refreshToken);
      for (const code of added.recoveryCodes ?? []) secrets.push(['recovery code', code]);
      ctx.clock.advance(1);

      const challengeToken = await ctx.challenge(ada);
      addToken('challenge token', challengeToken);
      const request = (
        await ctx.kit.post<{ webauthn: RequestOptionsJSON }>('/login/options', { challengeToken })
      ).body.webauthn;
      const wrong = key.assert(request, { origin: 'https://evil.example.test' });
      addAnswer(wrong);
      await ctx.kit.post('/login/verify', { challengeToken, webauthn: wrong });
      const assertion = key.assert(request, { origin: ORIGIN });
      addAnswer(assertion);
      const login = (await ctx.kit.post<TokenPair>('/login/verify', { challengeToken, webauthn: assertion }))
        .body;
      addToken('access token', login.accessToken);
      addToken('refresh token', login.refreshToken);
      await ctx.kit.post('/login/verify', { challengeToken, webauthn: assertion }); // replayed
      const stepUpRequest = (
        await ctx.kit.post<RequestOptionsJSON>('/webauthn/authenticate/options', undefined, {
          token: login.accessToken,
        })
      ).body;
      const factor = key.assert(stepUpRequest, { origin: ORIGIN });
      addAnswer(factor);
      const stepUp = (
        await ctx.kit.post<{ accessToken: string }>(
          '/step-up',
          { webauthn: factor },
          { token: login.accessToken },
        )
      ).body;
      addToken('access token', stepUp.accessToken);
      await ctx.kit.post('/step-up', { webauthn: factor }, { token: login.accessToken }); // replayed

      t.ok(secrets.length > 20, `${ctx.app.logs.length} log lines, ${secrets.length} values to look for`);
      const logs = ctx.app.logs.join('\n');
      const found = new Set(secrets.filter(([, value]) => logs.includes(value)).map(([kind]) => kind));
      t.strictSame([...found], [], 'none of them in the logs');
    },
  );
}
