/**
 * Email recovery: the request never tells whether an account exists; the link needs the password
 * too, is single use, survives wrong attempts, turns 2FA off, signs every session out and sends a
 * confirmation mail (SECURITY.md §20, §31, §32).
 */
import type { TwofoldMail } from '@twofold/core/http';
import type { Test } from 'tap';
import { LINK_URL, type StatusBody, type SuiteEnv, setup } from './context.js';
import { type Answer, errorProblems, recoveryLink, successProblems } from './helpers.js';

export function recoveryTests(t: Test, env: SuiteEnv): void {
  t.test('a recovery request answers the same for unknown, no-2FA and 2FA accounts', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada'); // 2FA on
    const bob = ctx.users.add('bob'); // no 2FA
    const enabled = await ctx.enable(ada);

    const answers = [];
    for (const email of ['nobody.at.all@example.test', bob.email, ada.email]) {
      answers.push(await ctx.kit.post('/recovery/request', { email }));
    }
    for (const answer of answers) {
      t.strictSame(successProblems(answer, 202), [], 'POST /recovery/request: 202');
    }
    t.equal(new Set(answers.map((answer) => answer.text)).size, 1, 'the same body for all three');
    t.equal(
      new Set(answers.map((answer) => answer.headers.get('content-type'))).size,
      1,
      'the same content type for all three',
    );
    const toAda = (mail: TwofoldMail) => mail.kind === 'recovery-link' && mail.to === ada.email;
    const mail = await ctx.mail.next(toAda);
    t.equal(mail.userId, ada.userId);
    t.ok(mail.text.includes(`${LINK_URL}#`), 'the mail links to the host page, the token in the fragment');

    const status = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
    t.equal(status.body.enabled, true, 'asking for recovery changes nothing on the account');
    t.ok(await ctx.challenge(ada), 'login still needs the second factor');
    // By now the work behind the first two requests is long done: no mail but Ada's.
    t.strictSame(
      ctx.mail.mails.map((sent) => sent.to),
      [ada.email],
      'mail only for the account with 2FA',
    );
  });

  t.test('recovery needs the link and the password; then 2FA is off and sessions end', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    const bob = ctx.users.add('bob');
    const enabled = await ctx.enable(ada);
    const session = await ctx.mfaLogin(ada, enabled.secret);

    t.strictSame(successProblems(await ctx.kit.post('/recovery/request', { email: ada.email }), 202), []);
    const { uid, token } = recoveryLink(
      await ctx.mail.next((mail) => mail.kind === 'recovery-link'),
      LINK_URL,
    );
    t.equal(uid, ada.userId, 'the link names the user');

    const refusals: [string, Record<string, string>][] = [
      ['a wrong password', { uid, token, password: 'not the password' }],
      ["another user's password", { uid, token, password: bob.password }],
      [
        'a wrong token',
        { uid, token: `${token[0] === 'A' ? 'B' : 'A'}${token.slice(1)}`, password: ada.password },
      ],
      ['another uid', { uid: bob.userId, token, password: bob.password }],
      ['an unknown uid', { uid: 'u-nobody', token, password: ada.password }],
    ];
    for (const [what, body] of refusals) {
      const answer = await ctx.kit.post('/recovery/confirm', body);
      t.strictSame(errorProblems(answer, 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'), [], `${what}: 400`);
    }
    const stillOn = await ctx.kit.get<StatusBody>('/status', { token: session.accessToken });
    t.equal(stillOn.body.enabled, true, 'nothing changed');

    const confirm = await ctx.kit.post('/recovery/confirm', { uid, token, password: ada.password });
    t.strictSame(
      successProblems(confirm, 204),
      [],
      'the link and the password: 204 (it survived the wrong tries)',
    );

    const done = await ctx.mail.next((mail) => mail.kind === 'recovery-completed');
    t.equal(done.to, ada.email, 'a confirmation mail to the account');
    for (const accessToken of [session.accessToken, enabled.accessToken]) {
      const refused = await ctx.kit.get('/status', { token: accessToken });
      t.strictSame(
        errorProblems(refused, 401, 'TWOFOLD_UNAUTHORIZED'),
        [],
        'access tokens from before are refused from the next request on',
      );
    }
    for (const refreshToken of [session.refreshToken, enabled.refreshToken]) {
      const refresh = await ctx.kit.post('/token/refresh', { refreshToken });
      t.strictSame(errorProblems(refresh, 401, 'TWOFOLD_INVALID_TOKEN'), [], 'refresh tokens are revoked');
    }
    const again = await ctx.kit.post('/recovery/confirm', { uid, token, password: ada.password });
    t.strictSame(errorProblems(again, 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'), [], 'the link works once');
    ctx.clock.advance(1); // a session dated after the revocation
    const fresh = await ctx.passwordLogin(ada);
    t.ok(fresh, 'login is one step now');
    const off = await ctx.kit.get<StatusBody>('/status', { token: fresh.accessToken });
    t.equal(off.body.enabled, false, '2FA is off');
    t.equal(off.body.recoveryCodesRemaining, 0, 'the recovery codes are gone');
    t.strictSame(off.body.authenticators, { totp: 0, webauthn: 0 }, 'and every authenticator');
  });

  t.test('past maxRequestsPerHour, requests answer the same but send nothing', async (t) => {
    const ctx = await setup(t, env); // maxRequestsPerHour: 3 (the default)
    const ada = ctx.users.add('ada');
    await ctx.enable(ada);
    const isLink = (mail: TwofoldMail) => mail.kind === 'recovery-link';
    const answers: Answer<unknown>[] = [];
    for (let request = 1; request <= 5; request++) {
      answers.push(await ctx.kit.post('/recovery/request', { email: ada.email }));
    }
    t.ok(
      answers.every((answer) => answer.status === 202 && answer.text === answers[0]!.text),
      'five times the same 202',
    );
    const third = recoveryLink(await ctx.mail.next(isLink, 2), LINK_URL);
    // A few round trips, so the work behind the last two requests is done.
    for (let request = 0; request < 3; request++)
      await ctx.kit.post('/token/verify', { token: 'aaa.bbb.ccc' });
    t.equal(ctx.mail.mails.filter(isLink).length, 3, 'three mails, not five');
    const confirm = await ctx.kit.post('/recovery/confirm', { ...third, password: ada.password });
    t.strictSame(successProblems(confirm, 204), [], 'the third link was not replaced by a silent fourth');
  });

  t.test('a newer recovery link replaces the older one; links expire', async (t) => {
    const ctx = await setup(t, env);
    const ada = ctx.users.add('ada');
    await ctx.enable(ada);
    const isLink = (mail: TwofoldMail) => mail.kind === 'recovery-link';

    await ctx.kit.post('/recovery/request', { email: ada.email });
    const older = recoveryLink(await ctx.mail.next(isLink, 0), LINK_URL);
    await ctx.kit.post('/recovery/request', { email: ada.email });
    const newer = recoveryLink(await ctx.mail.next(isLink, 1), LINK_URL);
    const stale = await ctx.kit.post('/recovery/confirm', { ...older, password: ada.password });
    t.strictSame(errorProblems(stale, 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'), [], 'the older link: 400');

    ctx.clock.advance(60 * 60_000 + 1000); // links live 1 h
    const late = await ctx.kit.post('/recovery/confirm', { ...newer, password: ada.password });
    t.strictSame(errorProblems(late, 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'), [], 'an expired link: 400');
  });
}
