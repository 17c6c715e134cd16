import t from 'tap';
import { createKeyring, createTwoFactor, memoryStore } from '../src/index.js';
import { codeAt, fakeClock, flushEvents } from './helpers.js';

const keyA = new Uint8Array(32).fill(1);
const keyB = new Uint8Array(32).fill(2);

t.test(
  'a secret sealed under an old key opens, and is re-sealed after the next successful verify',
  async (t) => {
    const clock = fakeClock();
    const store = memoryStore();
    const oldEngine = createTwoFactor({
      store,
      issuer: 'Acme',
      clock: clock.now,
      keyring: createKeyring({ keys: { a: keyA }, current: 'a' }),
    });
    const enrollment = await oldEngine.enroll('user-1');
    await oldEngine.confirm('user-1', codeAt(enrollment.secret, clock.now()));
    const id = enrollment.authenticatorId;
    const before = (await store.getAuthenticator('user-1', id, clock.now()))!.sealedSecret;
    t.match(before, /^tf1\.a\./);

    const rotated = createTwoFactor({
      store,
      issuer: 'Acme',
      clock: clock.now,
      keyring: createKeyring({ keys: { b: keyB, a: keyA }, current: 'b' }),
    });
    const resealed: unknown[] = [];
    rotated.on('resealed', (event) => resealed.push(event));
    clock.advance(30_000);
    await rotated.verify('user-1', codeAt(enrollment.secret, clock.now()));
    const after = (await store.getAuthenticator('user-1', id, clock.now()))!.sealedSecret;
    t.match(after, /^tf1\.b\./);
    await flushEvents();
    t.same(resealed, [{ userId: 'user-1', tag: 'b' }]);

    const newOnly = createTwoFactor({
      store,
      issuer: 'Acme',
      clock: clock.now,
      keyring: createKeyring({ keys: { b: keyB }, current: 'b' }),
    });
    clock.advance(30_000);
    await t.resolves(
      newOnly.verify('user-1', codeAt(enrollment.secret, clock.now())),
      'the old key can now be retired',
    );
  },
);

t.test('a secret sealed under a key the keyring lacks is a typed UNKNOWN_KEY error', async (t) => {
  const clock = fakeClock();
  const store = memoryStore();
  const a = createTwoFactor({
    store,
    issuer: 'Acme',
    clock: clock.now,
    keyring: createKeyring({ keys: { a: keyA }, current: 'a' }),
  });
  const enrollment = await a.enroll('user-1');
  await a.confirm('user-1', codeAt(enrollment.secret, clock.now()));
  const b = createTwoFactor({
    store,
    issuer: 'Acme',
    clock: clock.now,
    keyring: createKeyring({ keys: { b: keyB }, current: 'b' }),
  });
  clock.advance(30_000);
  await t.rejects(b.verify('user-1', codeAt(enrollment.secret, clock.now())), {
    code: 'TWOFOLD_UNKNOWN_KEY',
    tag: 'a',
  });
});

t.test('a sealed secret copied to another user does not open', async (t) => {
  const clock = fakeClock();
  const store = memoryStore();
  const engine = createTwoFactor({
    store,
    issuer: 'Acme',
    clock: clock.now,
    keyring: createKeyring({ keys: { a: keyA }, current: 'a' }),
  });
  const enrollment = await engine.enroll('victim');
  const attackerEnrollment = await engine.enroll('attacker');
  const victim = (await store.getAuthenticator('victim', enrollment.authenticatorId, clock.now()))!;
  const attackerId = attackerEnrollment.authenticatorId;
  const attacker = (await store.getAuthenticator('attacker', attackerId, clock.now()))!;
  t.ok(await store.replaceSealedSecret('attacker', attackerId, attacker.sealedSecret, victim.sealedSecret));
  await t.rejects(engine.confirm('attacker', codeAt(enrollment.secret, clock.now())), {
    code: 'TWOFOLD_SEAL_BROKEN',
  });
});

t.test('with several apps, each secret is re-sealed by a verify with that app only', async (t) => {
  const clock = fakeClock();
  const store = memoryStore();
  const engine = (keyring: ReturnType<typeof createKeyring>) =>
    createTwoFactor({ store, issuer: 'Acme', clock: clock.now, keyring });
  const old = engine(createKeyring({ keys: { a: keyA }, current: 'a' }));
  const apps = [];
  for (let i = 0; i < 2; i++) {
    const enrollment = await old.enroll('user-1');
    await old.confirm('user-1', codeAt(enrollment.secret, clock.now()));
    apps.push(enrollment);
  }
  const [first, second] = apps as [(typeof apps)[0], (typeof apps)[0]];
  const tagOf = async (id: string) =>
    (await store.getAuthenticator('user-1', id, clock.now()))!.sealedSecret.split('.')[1];
  const rotated = engine(createKeyring({ keys: { b: keyB, a: keyA }, current: 'b' }));
  clock.advance(30_000);
  await rotated.verify('user-1', codeAt(second.secret, clock.now()));
  t.equal(await tagOf(second.authenticatorId), 'b', 'the app that answered is re-sealed');
  t.equal(await tagOf(first.authenticatorId), 'a', 'the other one is not touched');
  await rotated.verify('user-1', codeAt(first.secret, clock.now()));
  t.equal(await tagOf(first.authenticatorId), 'b');
  const newOnly = engine(createKeyring({ keys: { b: keyB }, current: 'b' }));
  clock.advance(30_000);
  await t.resolves(newOnly.verify('user-1', codeAt(first.secret, clock.now())));
  await t.resolves(newOnly.verify('user-1', codeAt(second.secret, clock.now())));
});
