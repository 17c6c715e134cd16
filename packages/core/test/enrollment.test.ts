import { parseUri } from '@twofold/otp';
import t from 'tap';
import { TOTP_AUTHENTICATOR_ID } from '../src/index.js';
import { renderQrSvg } from '../src/qr.js';
import { codeAt, enrolledUser, interleavingStore, makeEngine, wrongCode } from './helpers.js';

t.test('enroll returns a Key URI, the secret, and the QR code of exactly that URI', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1', { label: 'ada@example.com' });
  const parsed = parseUri(enrollment.otpauthUri);
  t.equal(parsed.issuer, 'Acme');
  t.equal(parsed.account, 'ada@example.com');
  t.equal(Buffer.from(parsed.secret).length, 20, 'SHA-1 secrets are 20 bytes');
  t.match(enrollment.otpauthUri, `secret=${enrollment.secret}`);
  t.equal(enrollment.prettySecret.replaceAll(' ', ''), enrollment.secret);
  t.equal(enrollment.qrSvg, renderQrSvg(enrollment.otpauthUri));
  t.equal(
    Buffer.from(enrollment.qrDataUri.replace('data:image/svg+xml;base64,', ''), 'base64').toString(),
    enrollment.qrSvg,
  );
  t.equal(enrollment.expiresAt, env.clock.now() + 15 * 60_000);
  t.match(enrollment.authenticatorId, /^t_[A-Za-z0-9_-]{16}$/, 'a random id for an app');
  t.strictSame(await env.twoFactor.status('user-1'), {
    enabled: false,
    pending: true,
    recoveryPending: null,
    recoveryCodesRemaining: 0,
    enabledAt: null,
    lastUsedAt: null,
    authenticators: { totp: 0, webauthn: 0 },
  });
  t.strictSame(await env.twoFactor.listAuthenticators('user-1'), [], 'a pending app is not listed');
});

t.test('every enrollment gets its own random id, never the legacy "totp"', async (t) => {
  const env = makeEngine();
  const ids = new Set<string>();
  for (let i = 0; i < 20; i++) ids.add((await env.twoFactor.enroll(`user-${i % 2}`)).authenticatorId);
  t.equal(ids.size, 20);
  t.notOk(ids.has(TOTP_AUTHENTICATOR_ID));
  t.equal(await env.store.getAuthenticator('user-1', TOTP_AUTHENTICATOR_ID, env.clock.now()), null);
});

t.test('the store holds the secret only sealed', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  const record = await env.store.getAuthenticator('user-1', enrollment.authenticatorId, env.clock.now());
  t.ok(record);
  t.equal(record!.status, 'pending');
  t.notMatch(record!.sealedSecret, enrollment.secret);
  t.notMatch(record!.sealedSecret.toUpperCase(), enrollment.secret);
  const hex = Buffer.from(parseUri(enrollment.otpauthUri).secret).toString('hex');
  t.notMatch(record!.sealedSecret, hex);
});

t.test('confirm with a valid code enables 2FA and returns fresh recovery codes once', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  const confirmed = await env.twoFactor.confirm('user-1', codeAt(enrollment.secret, env.clock.now()));
  const { recoveryCodes } = confirmed;
  t.strictSame(Object.keys(confirmed).sort(), ['authenticatorId', 'enabled', 'recoveryCodes']);
  t.equal(confirmed.authenticatorId, enrollment.authenticatorId, 'the id enroll announced');
  t.equal(confirmed.enabled, true, 'the first app turns 2FA on');
  t.equal(recoveryCodes.length, 10);
  t.equal(new Set(recoveryCodes).size, 10);
  const status = await env.twoFactor.status('user-1');
  t.equal(status.enabled, true);
  t.equal(status.pending, false);
  t.equal(status.recoveryCodesRemaining, 10);
  t.same(status.enabledAt, new Date(env.clock.now()));
  t.strictSame(status.authenticators, { totp: 1, webauthn: 0 });
  t.notMatch(JSON.stringify(status), enrollment.secret, 'status never returns the secret');
  const record = await env.store.getAuthenticator('user-1', enrollment.authenticatorId, env.clock.now());
  t.equal(record?.status, 'active', 'the pending record itself became active');
});

t.test(
  'beforeActivate runs once the code is checked, before 2FA turns on; if it throws, nothing changes',
  async (t) => {
    const env = makeEngine();
    const enrollment = await env.twoFactor.enroll('user-1');
    const calls: string[] = [];
    const statusInside: boolean[] = [];
    await t.rejects(
      env.twoFactor.confirm('user-1', wrongCode(enrollment.secret, env.clock.now()), {
        beforeActivate: () => calls.push('wrong code'),
      }),
      { code: 'TWOFOLD_INVALID_CODE' },
    );
    t.strictSame(calls, [], 'not called for a wrong code');
    const code = codeAt(enrollment.secret, env.clock.now());
    await t.rejects(
      env.twoFactor.confirm('user-1', code, {
        beforeActivate: async () => {
          calls.push('throws');
          throw new Error('session store down');
        },
      }),
      { message: 'session store down' },
    );
    t.strictSame(calls, ['throws']);
    t.match(await env.twoFactor.status('user-1'), {
      enabled: false,
      pending: true,
      recoveryPending: null,
      recoveryCodesRemaining: 0,
    });
    const confirmed = await env.twoFactor.confirm('user-1', code, {
      beforeActivate: async () => {
        statusInside.push((await env.twoFactor.status('user-1')).enabled);
        calls.push('ok');
      },
    });
    t.strictSame(calls, ['throws', 'ok']);
    t.strictSame(statusInside, [false], 'it ran before 2FA turned on');
    t.equal(confirmed.enabled, true);
    t.equal(confirmed.recoveryCodes.length, 10);
  },
);

t.test('confirm refuses a wrong code and leaves the enrollment pending', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  await t.rejects(env.twoFactor.confirm('user-1', wrongCode(enrollment.secret, env.clock.now())), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  t.equal((await env.twoFactor.status('user-1')).pending, true);
});

t.test('confirm without a pending enrollment is NOT_PENDING', async (t) => {
  const env = makeEngine();
  await t.rejects(env.twoFactor.confirm('nobody', '123456'), { code: 'TWOFOLD_NOT_PENDING' });
});

t.test('a pending enrollment expires', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  env.clock.advance(15 * 60_000);
  await t.rejects(env.twoFactor.confirm('user-1', codeAt(enrollment.secret, env.clock.now())), {
    code: 'TWOFOLD_NOT_PENDING',
  });
  t.equal((await env.twoFactor.status('user-1')).pending, false);
});

t.test('enrolling again replaces the pending secret', async (t) => {
  const env = makeEngine();
  const first = await env.twoFactor.enroll('user-1');
  const second = await env.twoFactor.enroll('user-1');
  t.not(first.secret, second.secret);
  await t.rejects(env.twoFactor.confirm('user-1', codeAt(first.secret, env.clock.now())), {
    code: 'TWOFOLD_INVALID_CODE',
  });
  t.match(await env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now())), {
    authenticatorId: second.authenticatorId,
  });
  t.equal(await env.store.getAuthenticator('user-1', first.authenticatorId, env.clock.now()), null);
  t.equal((await env.twoFactor.status('user-1')).authenticators.totp, 1, 'one app, not two');
});

t.test('enrolling while enabled starts a second app, and the first keeps working meanwhile', async (t) => {
  const env = makeEngine();
  const user = await enrolledUser(env);
  const second = await env.twoFactor.enroll(user.userId, { name: 'Tablet' });
  t.not(second.secret, user.secret);
  t.not(second.authenticatorId, user.enrollment.authenticatorId);
  t.match(await env.twoFactor.status(user.userId), {
    enabled: true,
    pending: true,
    recoveryPending: null,
    recoveryCodesRemaining: 10,
    authenticators: { totp: 1, webauthn: 0 },
  });
  t.match(
    await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())),
    { authenticatorId: user.enrollment.authenticatorId },
    'the first app still logs in',
  );
  await t.rejects(
    env.twoFactor.verify(user.userId, codeAt(second.secret, env.clock.now())),
    { code: 'TWOFOLD_INVALID_CODE' },
    'the pending app does not log in before it is confirmed',
  );
});

t.test(
  'confirming a second app returns no recovery codes, skips beforeActivate and leaves the codes working',
  async (t) => {
    const env = makeEngine();
    const user = await enrolledUser(env);
    const second = await env.twoFactor.enroll(user.userId);
    let beforeActivate = 0;
    const confirmed = await env.twoFactor.confirm(user.userId, codeAt(second.secret, env.clock.now()), {
      beforeActivate: () => beforeActivate++,
    });
    t.strictSame(confirmed, { authenticatorId: second.authenticatorId, enabled: false, recoveryCodes: [] });
    t.equal(beforeActivate, 0, 'beforeActivate only runs when 2FA turns on');
    t.match(await env.twoFactor.status(user.userId), {
      enabled: true,
      pending: false,
      recoveryPending: null,
      recoveryCodesRemaining: 10,
      authenticators: { totp: 2, webauthn: 0 },
    });
    t.match(await env.twoFactor.useRecoveryCode(user.userId, user.recoveryCodes[0]), { remaining: 9 });
    env.clock.advance(30_000);
    t.match(await env.twoFactor.verify(user.userId, codeAt(user.secret, env.clock.now())), {
      authenticatorId: user.enrollment.authenticatorId,
    });
    t.match(await env.twoFactor.verify(user.userId, codeAt(second.secret, env.clock.now())), {
      authenticatorId: second.authenticatorId,
    });
  },
);

t.test('confirm with an explicit authenticatorId: the pending one only', async (t) => {
  const env = makeEngine();
  const first = await env.twoFactor.enroll('user-1');
  const second = await env.twoFactor.enroll('user-1');
  await t.rejects(
    env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now()), {
      authenticatorId: first.authenticatorId,
    }),
    { code: 'TWOFOLD_NOT_PENDING' },
    'the replaced enrollment is gone',
  );
  await t.rejects(
    env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now()), {
      authenticatorId: 't_nonexistent',
    }),
    { code: 'TWOFOLD_NOT_PENDING' },
  );
  await t.rejects(
    env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now()), { authenticatorId: '' }),
    { code: 'TWOFOLD_INVALID_INPUT', field: 'authenticatorId' },
  );
  t.equal(
    await env.store.getCounter('user-1', 'failures', env.clock.now()),
    null,
    'no attempt counted without a pending app to judge',
  );
  t.match(
    await env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now()), {
      authenticatorId: second.authenticatorId,
    }),
    { authenticatorId: second.authenticatorId, enabled: true },
  );
  await t.rejects(
    env.twoFactor.confirm('user-1', codeAt(second.secret, env.clock.now(), 1), {
      authenticatorId: second.authenticatorId,
    }),
    { code: 'TWOFOLD_NOT_PENDING' },
    'an active app cannot be confirmed again',
  );
});

t.test('two concurrent confirms with the same code: exactly one succeeds', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  const code = codeAt(enrollment.secret, env.clock.now());
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => env.twoFactor.confirm('user-1', code)),
  );
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.equal((await env.twoFactor.status('user-1')).recoveryCodesRemaining, 10);
});

t.test(
  'confirm racing a new enrollment never activates the secret no code was checked against',
  async (t) => {
    let activatedUnchecked = 0;
    let activatedChecked = 0;
    for (let round = 0; round < 30; round++) {
      const env = makeEngine({ store: interleavingStore() });
      const first = await env.twoFactor.enroll('user-1');
      const [confirmed, second] = await Promise.allSettled([
        env.twoFactor.confirm('user-1', codeAt(first.secret, env.clock.now())),
        env.twoFactor.enroll('user-1'),
      ]);
      const status = await env.twoFactor.status('user-1');
      if (!status.enabled) {
        t.equal(confirmed.status, 'rejected', `round ${round}: 2FA off, so the confirm failed`);
        continue;
      }
      t.equal(confirmed.status, 'fulfilled', `round ${round}: 2FA on only through the confirm`);
      // The enabled secret must be the first: its next code logs in, the second's does not.
      env.clock.advance(30_000);
      const next = codeAt(first.secret, env.clock.now());
      const active = await env.twoFactor.verify('user-1', next).then(
        () => 'first',
        () => 'other',
      );
      if (active === 'first') activatedChecked++;
      else activatedUnchecked++;
      if (second.status === 'fulfilled') t.not(second.value.secret, first.secret);
    }
    t.equal(activatedUnchecked, 0, `never the unchecked secret (${activatedChecked} confirms won)`);
  },
);

t.test('the confirming code cannot be replayed for login', async (t) => {
  const env = makeEngine();
  const enrollment = await env.twoFactor.enroll('user-1');
  const code = codeAt(enrollment.secret, env.clock.now());
  await env.twoFactor.confirm('user-1', code);
  await t.rejects(env.twoFactor.verify('user-1', code), { code: 'TWOFOLD_INVALID_CODE' });
});

t.test('labels with a colon and bad user ids are refused with the field named', async (t) => {
  const env = makeEngine();
  await t.rejects(env.twoFactor.enroll('user-1', { label: 'a:b' }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'label',
  });
  await t.rejects(env.twoFactor.enroll(''), { code: 'TWOFOLD_INVALID_INPUT', field: 'userId' });
  await t.rejects(env.twoFactor.enroll('x'.repeat(256)), { code: 'TWOFOLD_INVALID_INPUT', field: 'userId' });
  await t.rejects(env.twoFactor.enroll(42 as never), { code: 'TWOFOLD_INVALID_INPUT', field: 'userId' });
});

t.test('without a label, the user id is made fit for one: no colon, at most 128 characters', async (t) => {
  const env = makeEngine();
  const account = async (userId: string) => parseUri((await env.twoFactor.enroll(userId)).otpauthUri).account;
  t.equal(await account('github:42'), 'github-42', 'a colon becomes "-"');
  t.equal(await account('urn:uuid:1f'), 'urn-uuid-1f');
  t.equal(await account('x'.repeat(255)), 'x'.repeat(128), 'a long id is cut to 128 characters');
  // 127 characters and then a character of two UTF-16 units: cut before it, never through it.
  t.equal(await account(`${'y'.repeat(127)}\u{1F510}z`), 'y'.repeat(127));
  t.equal(await account('ada'), 'ada', 'any other id is the label as it is');
  await t.rejects(env.twoFactor.enroll('user-2', { label: 'x'.repeat(129) }), {
    code: 'TWOFOLD_INVALID_INPUT',
    field: 'label',
  });
});

t.test('a configured algorithm, digits and period reach the URI and the codes', async (t) => {
  const env = makeEngine({ totp: { algorithm: 'SHA256', digits: 8, period: 60 } });
  const enrollment = await env.twoFactor.enroll('user-1');
  const parsed = parseUri(enrollment.otpauthUri);
  t.equal(parsed.algorithm, 'SHA256');
  t.equal(parsed.digits, 8);
  t.equal(parsed.period, 60);
  t.equal(Buffer.from(parsed.secret).length, 32);
});
