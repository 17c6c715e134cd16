// POST /step-up with `{ password }` at the route table: where the password check comes from (the
// `verifyPassword` option, else `recovery.verifyPassword`, else none), what the new token says, and
// the refusals. The contract suite runs the same over HTTP on both plugins.
import t from 'tap';
import { createTwofoldHttp, type TwofoldHttp } from '../src/http/service.js';
import { memoryStore } from '../src/index.js';
import { codeAt, fakeClock, testKeyring } from './helpers.js';

const PASSWORD = 'correct horse';

function makeHttp(extra: Record<string, unknown> = {}) {
  const clock = fakeClock();
  const http = createTwofoldHttp({
    store: memoryStore(),
    keyring: testKeyring(),
    issuer: 'Acme',
    clock: clock.now,
    lockout: { maxFailures: 3 },
    stepUp: { maxAgeSeconds: 60 },
    authenticate: async ({ username, password }: { username: string; password: string }) =>
      password === PASSWORD ? username : null,
    ...extra,
  } as never);
  return { http, clock };
}

async function call(http: TwofoldHttp, id: string, token: string | null, body: unknown) {
  const route = http.routes.find((candidate) => candidate.id === id)!;
  const input = await http.routeInput(route, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    body,
  });
  return route.handle(input);
}

async function outcome(promise: Promise<{ status: number; body?: unknown }>) {
  try {
    const { status } = await promise;
    return String(status);
  } catch (error) {
    const { code, field } = error as { code: string; field?: string };
    return field === undefined ? code : `${code} ${field}`;
  }
}

async function login(http: TwofoldHttp, username: string) {
  const answer = await call(http, 'login', null, { username, password: PASSWORD });
  return (answer.body as { accessToken: string }).accessToken;
}

const recovery = (verifyPassword: (userId: string, password: string) => Promise<boolean>) => ({
  findUserByEmail: async () => null,
  getUserEmail: async () => null,
  verifyPassword,
  sendMail: async () => {},
  linkUrl: 'https://app.example.test/recover',
});

t.test('the verifyPassword option checks the password: amr pwd, a new auth_time', async (t) => {
  const asked: [string, string][] = [];
  const { http, clock } = makeHttp({
    verifyPassword: async (userId: string, password: string) => {
      asked.push([userId, password]);
      return password === PASSWORD;
    },
  });
  const token = await login(http, 'ada');
  clock.advance(61_000);
  const claims = await http.authorize(`Bearer ${token}`);
  t.throws(() => http.requireStepUp(claims), { code: 'TWOFOLD_STEP_UP_REQUIRED' }, 'an old login');

  const answer = await call(http, 'stepUp', token, { password: PASSWORD });
  t.equal(answer.status, 200);
  const stepped = await http.authorize(`Bearer ${(answer.body as { accessToken: string }).accessToken}`);
  t.same(stepped.amr, ['pwd']);
  t.equal(stepped.authTime, Math.floor(clock.now() / 1000) * 1000);
  t.doesNotThrow(() => http.requireStepUp(stepped));
  t.throws(() => http.requireStepUp(stepped, undefined, { secondFactor: true }), {
    code: 'TWOFOLD_STEP_UP_REQUIRED',
  });
  t.same(asked, [['ada', PASSWORD]], 'asked with the user id of the token');

  t.equal(await outcome(call(http, 'stepUp', token, { password: 'wrong' })), 'TWOFOLD_INVALID_CREDENTIALS');
  t.equal(await outcome(call(http, 'stepUp', token, { password: 'wrong' })), 'TWOFOLD_INVALID_CREDENTIALS');
  t.equal(await outcome(call(http, 'stepUp', token, { password: 'wrong' })), 'TWOFOLD_INVALID_CREDENTIALS');
  t.equal(await outcome(call(http, 'stepUp', token, { password: PASSWORD })), 'TWOFOLD_LOCKED');
  t.equal(asked.length, 4, 'the locked attempt was not judged');
});

t.test('without the option, recovery.verifyPassword checks it; the option wins over it', async (t) => {
  const fromRecovery: string[] = [];
  const viaRecovery = makeHttp({
    recovery: recovery(async (userId) => {
      fromRecovery.push(userId);
      return true;
    }),
  });
  const token = await login(viaRecovery.http, 'bob');
  t.equal(await outcome(call(viaRecovery.http, 'stepUp', token, { password: 'anything' })), '200');
  t.same(fromRecovery, ['bob']);

  const both = makeHttp({
    verifyPassword: async () => false,
    recovery: recovery(async () => true),
  });
  t.equal(
    await outcome(call(both.http, 'stepUp', await login(both.http, 'bob'), { password: 'anything' })),
    'TWOFOLD_INVALID_CREDENTIALS',
    'the verifyPassword option is the one asked',
  );
});

t.test('with neither, a password step-up is a 400 naming password', async (t) => {
  const { http } = makeHttp();
  const token = await login(http, 'carol');
  t.equal(
    await outcome(call(http, 'stepUp', token, { password: PASSWORD })),
    'TWOFOLD_INVALID_INPUT password',
  );
});

t.test('a password for a user with 2FA: 400 naming code; a factor without 2FA: 409', async (t) => {
  const { http, clock } = makeHttp({ verifyPassword: async () => true });
  const token = await login(http, 'dave');
  t.equal(await outcome(call(http, 'stepUp', token, { code: '123456' })), 'TWOFOLD_NOT_ENABLED');
  const enrollment = (await call(http, 'totp.enroll', token, {})).body as { secret: string };
  const confirmed = await call(http, 'totp.confirm', token, { code: codeAt(enrollment.secret, clock.now()) });
  const { accessToken } = confirmed.body as { accessToken: string };
  clock.advance(1);
  t.equal(
    await outcome(call(http, 'stepUp', accessToken, { password: PASSWORD })),
    'TWOFOLD_INVALID_INPUT code',
  );
  t.equal(
    await outcome(call(http, 'stepUp', accessToken, { password: PASSWORD, code: '123456' })),
    'TWOFOLD_INVALID_INPUT code',
    'a password and a code: exactly one is needed',
  );
  t.equal(await outcome(call(http, 'stepUp', accessToken, {})), 'TWOFOLD_INVALID_INPUT code');
  t.equal(
    await outcome(call(http, 'stepUp', accessToken, { password: '' })),
    'TWOFOLD_INVALID_INPUT password',
  );
});

t.test('the verifyPassword option must be a function', async (t) => {
  t.throws(() => makeHttp({ verifyPassword: 'yes' }), {
    name: 'TypeError',
    message: /"verifyPassword" must be a function/,
  });
});
