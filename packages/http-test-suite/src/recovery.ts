/**
 * Email recovery: the request never tells whether an account exists; the link needs the password
 * too, is single use, survives wrong attempts, turns 2FA off, signs every session out and sends a
 * confirmation mail (SECURITY.md §20, §31, §32).
 */
import type { TwofoldMail } from '@twofold/core/http';
import type { Test } from 'tap';
import { LINK_URL, type StatusBody, type SuiteEnv, setup } from './context.js';
import { type Answer, errorProblems, must, recoveryLink, successProblems } from './helpers.js';

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

/** The uid and cancel token of a delayed recovery's mail (`...#uid=...&cancel=...`). */
function cancelLink(mail: TwofoldMail): { uid: string; token: string } {
  const start = mail.text.indexOf(`${LINK_URL}#`);
  if (start < 0) throw new Error('the cancel mail holds no link to the configured page');
  const fragment = new URLSearchParams(new URL(mail.text.slice(start).split(/\s/)[0]!).hash.slice(1));
  return { uid: fragment.get('uid') ?? '', token: fragment.get('cancel') ?? '' };
}

const DELAY_MS = 86_400_000;

export function delayedRecoveryTests(t: Test, env: SuiteEnv): void {
  /** Ada with 2FA, a session, and a confirmed delayed recovery: its 202 answer and cancel link. */
  async function scheduled(t: Test) {
    const ctx = await setup(t, env, { recoveryDelayMs: DELAY_MS });
    const ada = ctx.users.add('ada');
    const enabled = await ctx.enable(ada);
    must(await ctx.kit.post('/recovery/request', { email: ada.email }), 202, 'request');
    const { uid, token } = recoveryLink(
      await ctx.mail.next((mail) => mail.kind === 'recovery-link'),
      LINK_URL,
    );
    const confirm = await ctx.kit.post<{ dueAt: string }>('/recovery/confirm', {
      uid,
      token,
      password: ada.password,
    });
    const cancelMail = await ctx.mail.next((mail) => mail.kind === 'recovery-cancel-link');
    return { ctx, ada, enabled, uid, token, confirm, cancelMail, cancel: cancelLink(cancelMail) };
  }

  t.test(
    'delayed recovery: confirm schedules (202), a cancel link is mailed, the link cancels',
    async (t) => {
      const { ctx, ada, enabled, uid, token, confirm, cancelMail, cancel } = await scheduled(t);
      const dueAt = new Date(ctx.clock.now() + DELAY_MS).toISOString();
      t.strictSame(successProblems(confirm, 202, ['dueAt']), [], 'POST /recovery/confirm: 202');
      t.equal(confirm.body.dueAt, dueAt, 'due after recovery.delayMs');
      t.equal(cancelMail.to, ada.email);
      t.equal(cancel.uid, ada.userId, 'the cancel link names the user');
      t.ok(cancel.token.length >= 40, 'and carries its own token');
      t.match(cancelMail.text, /will be turned off at/);
      const status = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
      t.match(
        status.body,
        { enabled: true, recoveryPending: { dueAt } },
        '2FA still on, the removal pending',
      );
      t.strictSame(
        errorProblems(
          await ctx.kit.post('/recovery/confirm', { uid, token, password: ada.password }),
          400,
          'TWOFOLD_INVALID_RECOVERY_TOKEN',
        ),
        [],
        'the recovery link was spent by the confirm',
      );
      for (const [what, body] of [
        [
          'a wrong cancel token',
          { uid, token: `${cancel.token[0] === 'A' ? 'B' : 'A'}${cancel.token.slice(1)}` },
        ],
        ['the recovery token', { uid, token }],
        ['another uid', { uid: 'u-nobody', token: cancel.token }],
      ] as const) {
        t.strictSame(
          errorProblems(await ctx.kit.post('/recovery/cancel', body), 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'),
          [],
          `${what}: 400`,
        );
      }
      t.strictSame(
        successProblems(await ctx.kit.post('/recovery/cancel', cancel), 204),
        [],
        'the cancel link: 204',
      );
      const after = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
      t.match(after.body, { enabled: true, recoveryPending: null }, 'cancelled: 2FA stays on');
      t.strictSame(
        errorProblems(await ctx.kit.post('/recovery/cancel', cancel), 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'),
        [],
        'the cancel link works once',
      );
      const cancelled = await ctx.mail.next((mail) => mail.kind === 'recovery-cancelled');
      t.match(cancelled.text, /with the cancel link/);
      ctx.clock.advance(DELAY_MS);
      t.ok(await ctx.challenge(ada), 'past the due time a login still needs the second factor');
    },
  );

  t.test('delayed recovery: once due, the next login turns 2FA off and ends the sessions', async (t) => {
    const { ctx, ada, enabled, cancel } = await scheduled(t);
    ctx.clock.advance(DELAY_MS - 1000);
    t.ok(await ctx.challenge(ada), 'a second before it is due: still the two-step login');
    ctx.clock.advance(1000);
    const login = must(
      await ctx.kit.post<{ twoFactorRequired: boolean; accessToken: string }>('/login', {
        username: ada.username,
        password: ada.password,
      }),
      200,
      'login when due',
    );
    t.equal(login.twoFactorRequired, false, 'due: the login carried the removal out');
    t.equal(
      (await ctx.kit.get('/host/protected', { token: login.accessToken })).status,
      200,
      'its session works',
    );
    t.strictSame(
      errorProblems(
        await ctx.kit.get('/host/protected', { token: enabled.accessToken }),
        401,
        'TWOFOLD_UNAUTHORIZED',
      ),
      [],
      'the sessions from before are over',
    );
    const completed = await ctx.mail.next((mail) => mail.kind === 'recovery-completed');
    t.equal(completed.to, ada.email, 'the user is told');
    t.strictSame(
      errorProblems(await ctx.kit.post('/recovery/cancel', cancel), 400, 'TWOFOLD_INVALID_RECOVERY_TOKEN'),
      [],
      'too late to cancel',
    );
    t.match((await ctx.kit.get<StatusBody>('/status', { token: login.accessToken })).body, {
      enabled: false,
      recoveryPending: null,
    });
  });

  t.test('delayed recovery: a sign-in with a second factor cancels it', async (t) => {
    const { ctx, ada, enabled } = await scheduled(t);
    ctx.clock.advance(60_000);
    await ctx.mfaLogin(ada, enabled.secret);
    const cancelled = await ctx.mail.next((mail) => mail.kind === 'recovery-cancelled');
    t.match(cancelled.text, /by a sign-in with a second factor/);
    const status = await ctx.kit.get<StatusBody>('/status', { token: enabled.accessToken });
    t.match(status.body, { enabled: true, recoveryPending: null });
    ctx.clock.advance(DELAY_MS);
    t.ok(await ctx.challenge(ada), 'nothing goes off when it would have been due');
  });
}
