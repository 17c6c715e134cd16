import t from 'tap';
import {
  DEFAULT_MESSAGES,
  type NoticeType,
  type SecurityNotice,
  type TwoFactorEvents,
} from '../src/index.js';
import { codeAt, enrolledUser, flushEvents, makeEngine, wrongCode } from './helpers.js';

function withNotices(overrides: Parameters<typeof makeEngine>[0] = {}) {
  const notices: SecurityNotice[] = [];
  const env = makeEngine({
    lockout: { maxFailures: 3, durationMs: 60_000 },
    notify: (notice) => {
      notices.push(notice);
    },
    ...overrides,
  });
  return { ...env, notices };
}

t.test('every notice type is sent once, at the right moment, with its details', async (t) => {
  const env = withNotices();
  const user = await enrolledUser(env);
  await flushEvents();
  t.strictSame(
    env.notices.map((notice) => notice.type),
    ['two-factor-enabled'],
    'the first authenticator: 2FA on, not also "authenticator added"',
  );

  const second = await env.twoFactor.enroll(user.userId, { name: 'Tablet' });
  await env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now()), {
    authenticatorId: second.authenticatorId,
  });
  env.clock.advance(30_000);
  await env.twoFactor.removeAuthenticator(user.userId, second.authenticatorId, {
    code: codeAt(user.secret, env.clock.now()),
  });
  await env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]);
  env.clock.advance(30_000);
  await env.twoFactor.rotateRecoveryCodes(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  for (let i = 0; i < 3; i++) {
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  }
  await env.twoFactor.createRecoveryToken(user.userId);
  await flushEvents();
  t.strictSame(
    env.notices.map((notice) => [notice.type, notice.details]),
    [
      ['two-factor-enabled', {}],
      ['authenticator-added', { authenticatorId: second.authenticatorId, type: 'totp' }],
      ['authenticator-removed', { authenticatorId: second.authenticatorId }],
      ['recovery-code-used', { remaining: 9 }],
      ['recovery-codes-rotated', {}],
      ['locked', { until: env.clock.now() + 60_000 }],
      ['recovery-requested', { expiresAt: env.clock.now() + 3_600_000 }],
    ],
  );
  for (const notice of env.notices) {
    t.equal(notice.userId, user.userId);
    t.ok(notice.subject.startsWith('Acme: '), `${notice.type}: the subject names the site`);
    t.match(notice.html, /^<p>/, `${notice.type}: HTML paragraphs`);
    t.ok(Object.isFrozen(notice), `${notice.type}: frozen`);
  }
  const used = env.notices.find((notice) => notice.type === 'recovery-code-used')!;
  t.match(used.text, /9 codes are left/);
});

t.test('turning 2FA off: by the user, by email recovery, by removing the last authenticator', async (t) => {
  const env = withNotices();
  const user = await enrolledUser(env);
  await env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  const again = await enrolledUser(env, 'user-2');
  const { token } = await env.twoFactor.createRecoveryToken(again.userId);
  await env.twoFactor.completeRecovery(again.userId, token);
  const third = await enrolledUser(env, 'user-3');
  await env.twoFactor.removeAuthenticator(third.userId, third.enrollment.authenticatorId, {
    recoveryCode: third.recoveryCodes[0],
  });
  await flushEvents();
  t.strictSame(
    env.notices.map((notice) => [notice.userId, notice.type, notice.details]),
    [
      ['user-1', 'two-factor-enabled', {}],
      ['user-1', 'two-factor-disabled', { via: 'code' }],
      ['user-2', 'two-factor-enabled', {}],
      ['user-2', 'recovery-requested', env.notices[3]!.details],
      ['user-2', 'recovery-completed', {}],
      ['user-3', 'two-factor-enabled', {}],
      ['user-3', 'recovery-code-used', { remaining: 9 }],
      ['user-3', 'two-factor-disabled', { via: 'recovery-code' }],
    ],
    'the last authenticator removed is "2FA off", not also "authenticator removed"',
  );
});

t.test('messages: a host override writes the notice; a broken one falls back and is reported', async (t) => {
  const reported: [unknown, string][] = [];
  const env = withNotices({
    messages: {
      'two-factor-enabled': ({ issuer }) => ({
        subject: `${issuer}: zwei Faktoren aktiv`,
        text: 'Aktiviert.',
        html: '<p>Aktiviert.</p>',
      }),
      'two-factor-disabled': () => ({ subject: 'only a subject' }) as never,
      locked: () => {
        throw new Error('no translation');
      },
    },
    onListenerError: (error, event) => reported.push([error, event]),
  });
  const user = await enrolledUser(env);
  for (let i = 0; i < 3; i++) {
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  }
  env.clock.advance(60_001);
  await env.twoFactor.disable(user.userId, { code: codeAt(user.secret, env.clock.now()) });
  await flushEvents();
  t.match(env.notices[0], {
    type: 'two-factor-enabled',
    subject: 'Acme: zwei Faktoren aktiv',
    text: 'Aktiviert.',
  });
  t.match(env.notices[1], { type: 'locked', subject: 'Acme: sign-in paused after wrong codes' });
  t.match(env.notices[2], {
    type: 'two-factor-disabled',
    subject: 'Acme: two-factor authentication was turned off',
  });
  t.strictSame(
    reported.map(([error, event]) => [event, (error as Error).message]),
    [
      ['messages', 'no translation'],
      ['messages', 'The "two-factor-disabled" message must answer { subject, text, html } as strings'],
    ],
  );
});

t.test('a notify hook that throws or rejects breaks no flow and is reported as "notify"', async (t) => {
  const reported: string[] = [];
  let calls = 0;
  const env = makeEngine({
    notify: async () => {
      calls++;
      if (calls === 1) throw new Error('mail server down');
      return Promise.reject(new Error('again'));
    },
    onListenerError: (_error, event) => reported.push(event),
  });
  const user = await enrolledUser(env);
  await env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]);
  await flushEvents();
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(calls, 2);
  t.strictSame(reported, ['notify', 'notify']);
  t.match(await env.twoFactor.status(user.userId), { enabled: true, recoveryCodesRemaining: 9 });
});

t.test('the default messages: HTML escaped, no secret, every type written', async (t) => {
  const at = Date.UTC(2026, 11, 5, 9, 30);
  const issuer = 'A<b>&"Co"';
  const details: { [T in NoticeType]: unknown } = {
    'two-factor-enabled': {},
    'two-factor-disabled': { via: 'webauthn' },
    'authenticator-added': { authenticatorId: 'w_1', type: 'webauthn' },
    'authenticator-removed': { authenticatorId: 'w_1' },
    'recovery-codes-rotated': {},
    'recovery-code-used': { remaining: 1 },
    locked: { until: at + 900_000 },
    'recovery-requested': { expiresAt: at + 3_600_000 },
    'recovery-scheduled': { dueAt: at + 86_400_000 },
    'recovery-cancelled': { by: 'second-factor' },
    'recovery-completed': {},
    'trusted-device-added': { deviceId: 'd1', name: 'Laptop' },
    'two-factor-reset': { actor: 'ops:ada', reason: null },
  };
  for (const [type, detail] of Object.entries(details)) {
    const message = DEFAULT_MESSAGES[type as NoticeType]({ issuer, at, details: detail as never });
    t.ok(message.subject.startsWith(`${issuer}: `), `${type}: subject`);
    t.notMatch(message.html, /<b>/, `${type}: the issuer is escaped in HTML`);
    t.ok(message.text.endsWith('\n'), `${type}: text ends with a newline`);
  }
  t.match(
    DEFAULT_MESSAGES['recovery-code-used']({ issuer, at, details: { remaining: 1 } }).text,
    /1 code is left: make new ones/,
  );
  t.match(
    DEFAULT_MESSAGES.locked({ issuer, at, details: { until: at + 900_000 } }).text,
    /2026-12-05 09:45 UTC/,
  );
  const link = DEFAULT_MESSAGES['recovery-link']({
    issuer,
    at,
    details: { link: 'https://example.com/recover#uid=a&token=x"y', expiresAt: at + 3_600_000 },
  });
  t.match(link.text, /https:\/\/example\.com\/recover#uid=a&token=x"y/);
  t.match(link.html, /href="https:\/\/example\.com\/recover#uid=a&amp;token=x&quot;y"/);
});

t.test('messages option: unknown type or a non-function is refused when the engine is made', async (t) => {
  t.throws(() => makeEngine({ messages: { 'no-such-type': () => ({}) } as never }), {
    name: 'TypeError',
    message: /unknown option "no-such-type"/,
  });
  t.throws(() => makeEngine({ messages: { locked: 'Gesperrt' } as never }), {
    name: 'TypeError',
    message: /"messages.locked" must be a function/,
  });
  t.throws(() => makeEngine({ notify: 'mail' as never }), { message: /"notify" must be a function/ });
});

function audits(env: ReturnType<typeof makeEngine>) {
  const seen: TwoFactorEvents['audit'][] = [];
  env.twoFactor.on('audit', (event) => {
    seen.push(event);
  });
  return seen;
}

t.test('adminStatus: what an operator sees, lockout included, audited', async (t) => {
  const env = withNotices();
  const seen = audits(env);
  const user = await enrolledUser(env);
  await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  const status = await env.twoFactor.adminStatus(user.userId, { actor: 'ops:ada', reason: 'ticket 42' });
  t.match(status, {
    enabled: true,
    recoveryCodesRemaining: 10,
    failures: 1,
    lockedUntil: null,
    authenticators: { totp: 1, webauthn: 0 },
  });
  t.equal(status.authenticatorList.length, 1);
  t.equal(status.authenticatorList[0]!.id, user.enrollment.authenticatorId);
  t.notOk(JSON.stringify(status).includes(user.secret), 'no secret');
  for (let i = 0; i < 2; i++) {
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  }
  const locked = await env.twoFactor.adminStatus(user.userId, { actor: 'ops:ada' });
  t.equal(locked.failures, 3);
  t.same(locked.lockedUntil, new Date(env.clock.now() + 60_000));
  const nobody = await env.twoFactor.adminStatus('nobody', { actor: 'ops:ada' });
  t.match(nobody, { enabled: false, failures: 0, lockedUntil: null, authenticatorList: [] });
  await flushEvents();
  t.strictSame(
    seen.map((event) => [event.action, event.userId, event.actor, event.reason, event.changed]),
    [
      ['status', user.userId, 'ops:ada', 'ticket 42', false],
      ['status', user.userId, 'ops:ada', null, false],
      ['status', 'nobody', 'ops:ada', null, false],
    ],
  );
});

t.test('unlock ends a lockout: the right code works again at once', async (t) => {
  const env = withNotices();
  const seen = audits(env);
  const user = await enrolledUser(env);
  for (let i = 0; i < 3; i++) {
    await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  }
  await t.rejects(env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
    code: 'TWOFOLD_LOCKED',
  });
  t.strictSame(await env.twoFactor.unlock(user.userId, { actor: 'ops:ada' }), { wasLocked: true });
  await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now()));
  t.strictSame(await env.twoFactor.unlock(user.userId, { actor: 'ops:ada' }), { wasLocked: false });
  await flushEvents();
  t.strictSame(
    seen.map((event) => [event.action, event.changed]),
    [
      ['unlock', true],
      ['unlock', false],
    ],
  );
});

t.test('resetTwoFactor: 2FA off, sessions revoked, recovery link dead, a notice, audited', async (t) => {
  const env = withNotices();
  const seen = audits(env);
  const disabled: unknown[] = [];
  env.twoFactor.on('disabled', (event) => {
    disabled.push(event);
  });
  const user = await enrolledUser(env);
  const { token } = await env.twoFactor.createRecoveryToken(user.userId);
  await env.twoFactor.verify(user.userId, wrongCode(user.secret, env.clock.now())).catch(() => {});
  const now = env.clock.now();
  t.strictSame(await env.twoFactor.resetTwoFactor(user.userId, { actor: 'ops:ada', reason: 'lost phone' }), {
    wasEnabled: true,
  });
  t.match(await env.twoFactor.status(user.userId), {
    enabled: false,
    pending: false,
    recoveryCodesRemaining: 0,
  });
  t.equal(await env.store.countRecoveryCodes(user.userId), 0);
  t.equal(await env.store.getCounter(user.userId, 'failures', now), null, 'the failure count is gone');
  t.equal(
    await env.store.getNonce(user.userId, 'sessions-revoked-before', now),
    String(now),
    'sessions revoked',
  );
  await t.rejects(env.twoFactor.completeRecovery(user.userId, token), {
    code: 'TWOFOLD_INVALID_RECOVERY_TOKEN',
  });
  t.strictSame(await env.twoFactor.resetTwoFactor(user.userId, { actor: 'ops:ada' }), { wasEnabled: false });
  await flushEvents();
  t.strictSame(disabled, [{ userId: user.userId, via: 'admin' }]);
  t.strictSame(
    seen.map((event) => [event.action, event.actor, event.reason, event.changed]),
    [
      ['reset', 'ops:ada', 'lost phone', true],
      ['reset', 'ops:ada', null, false],
    ],
  );
  const reset = env.notices.filter((notice) => notice.type === 'two-factor-reset');
  t.equal(reset.length, 1, 'one notice, for the reset that changed something');
  t.strictSame(reset[0]!.details, { actor: 'ops:ada', reason: 'lost phone' });
  t.notOk(
    env.notices.some((notice) => notice.type === 'two-factor-disabled'),
    'no "2FA off" notice besides the reset one',
  );
  // The user starts over: a first authenticator again.
  const again = await env.twoFactor.enroll(user.userId);
  t.equal((await env.twoFactor.confirm(user.userId, codeAt(again.secret, env.clock.now()))).enabled, true);
});

t.test('operator actions need an actor; bad input is a clear error naming the field', async (t) => {
  const env = makeEngine();
  for (const by of [
    undefined,
    {},
    { actor: '' },
    { actor: '  ' },
    { actor: 'a'.repeat(256) },
    { actor: 'a\u0000b' },
  ]) {
    await t.rejects(env.twoFactor.unlock('user-1', by as never), {
      code: 'TWOFOLD_INVALID_INPUT',
      field: 'actor',
    });
  }
  await t.rejects(env.twoFactor.resetTwoFactor('user-1', { actor: 'ops', reason: 'r'.repeat(501) }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'reason',
  });
  await t.rejects(env.twoFactor.adminStatus('', { actor: 'ops' }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'userId',
  });
});
