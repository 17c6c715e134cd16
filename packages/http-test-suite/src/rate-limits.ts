/**
 * Per-IP rate limits: every route is limited, the routes that check a factor, a password or send
 * mail more strictly; 429 TWOFOLD_RATE_LIMITED with Retry-After. Keys cannot be split: IPv6 by /64,
 * X-Forwarded-For only from a trusted proxy, and the route rather than the raw path
 * (SECURITY.md §18, §19). The windows are an hour long so no window ends during a test.
 */
import type { Test } from 'tap';
import { type SuiteEnv, setup } from './context.js';
import { type Answer, errorProblems, type RequestOptions } from './helpers.js';

const HOUR = 3_600_000;

function rateLimited(answer: Answer<unknown>): string[] {
  const problems = errorProblems(answer, 429, 'TWOFOLD_RATE_LIMITED');
  const retryAfter = Number(answer.headers.get('retry-after'));
  if (!(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600)) {
    problems.push(`Retry-After ${answer.headers.get('retry-after')}`);
  }
  return problems;
}

/** A request that the limiter must count, but that does nothing (never a 429 on its own). */
const fromIp = (ip: string): RequestOptions => ({ headers: { 'x-forwarded-for': ip } });

export function rateLimitTests(t: Test, env: SuiteEnv): void {
  t.test('more than sensitiveMax requests to /login/verify from one IP: 429 with Retry-After', async (t) => {
    const ctx = await setup(t, env, { rateLimit: { sensitiveMax: 3, max: 1000, timeWindowMs: HOUR } });
    const body = { challengeToken: 'aaa.bbb.ccc', code: '123456' };
    for (let request = 1; request <= 3; request++) {
      const answer = await ctx.kit.post('/login/verify', body);
      t.equal(answer.status, 401, `request ${request} is answered`);
    }
    const limited = await ctx.kit.post('/login/verify', body);
    t.strictSame(rateLimited(limited), [], 'request 4: 429 TWOFOLD_RATE_LIMITED');
  });

  t.test('every route is rate limited; the sensitive ones by sensitiveMax', async (t) => {
    const ctx = await setup(t, env, { rateLimit: { sensitiveMax: 2, max: 4, timeWindowMs: HOUR } });
    const bob = ctx.users.add('bob');
    const { accessToken: token } = await ctx.passwordLogin(bob); // one of /login's two
    // [method, path, body, requests that still pass, bearer]; /login already served one.
    const routes: [string, string, unknown, number, string | undefined][] = [
      ['POST', '/login', { username: 'nobody', password: 'x' }, 1, undefined],
      ['POST', '/login/verify', { challengeToken: 'aaa.bbb.ccc', code: '123456' }, 2, undefined],
      ['POST', '/token/refresh', { refreshToken: 'aaa.bbb.ccc' }, 2, undefined],
      ['POST', '/recovery/request', { email: 'nobody@example.test' }, 2, undefined],
      ['POST', '/recovery/confirm', { uid: 'u-nobody', token: 'abc', password: 'x' }, 2, undefined],
      ['POST', '/totp/confirm', { code: '123456' }, 2, token],
      ['POST', '/totp/disable', { code: '123456' }, 2, token],
      ['POST', '/recovery-codes/rotate', { code: '123456' }, 2, token],
      ['POST', '/step-up', { code: '123456' }, 2, token],
      ['POST', '/token/verify', { token: 'aaa.bbb.ccc' }, 4, undefined],
      ['POST', '/token/revoke', { refreshToken: 'aaa.bbb.ccc' }, 4, undefined],
      ['GET', '/status', undefined, 4, token],
      ['POST', '/totp/enroll', undefined, 4, token],
      ['GET', '/authenticators', undefined, 4, token],
      ['POST', '/authenticators/t_x/rename', { name: 'Phone' }, 4, token],
      ['POST', '/authenticators/t_x/remove', { code: '123456' }, 2, token],
      ['POST', '/login/options', { challengeToken: 'aaa.bbb.ccc' }, 4, undefined],
      ...(env.webauthn
        ? ([
            ['POST', '/webauthn/register/options', undefined, 4, token],
            ['POST', '/webauthn/register/verify', { response: {} }, 2, token],
            ['POST', '/webauthn/authenticate/options', undefined, 4, token],
          ] as [string, string, unknown, number, string | undefined][])
        : []),
    ];
    for (const [method, path, json, passes, bearer] of routes) {
      const statuses: number[] = [];
      let last: Answer<unknown> | undefined;
      for (let request = 0; request <= passes; request++) {
        last = await ctx.kit.fetch(ctx.kit.url(path), {
          method,
          json,
          ...(bearer === undefined ? {} : { token: bearer }),
        });
        statuses.push(last.status);
      }
      t.notOk(
        statuses.slice(0, passes).includes(429),
        `${method} ${path}: ${passes} more requests pass (${statuses.join(' ')})`,
      );
      t.strictSame(rateLimited(last!), [], `${method} ${path}: the next one is a 429`);
    }
  });

  t.test('IPv6 clients are keyed by their /64 behind a trusted proxy', async (t) => {
    const ctx = await setup(t, env, {
      trustProxy: true,
      rateLimit: { sensitiveMax: 2, max: 1000, timeWindowMs: HOUR },
    });
    const body = { challengeToken: 'aaa.bbb.ccc', code: '123456' };
    const post = (ip: string) => ctx.kit.post('/login/verify', body, fromIp(ip));

    t.equal((await post('2001:db8:1:2::1')).status, 401);
    t.equal((await post('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).status, 401);
    t.strictSame(rateLimited(await post('2001:db8:1:2:ffff::9')), [], 'a third address in the same /64: 429');
    t.strictSame(
      rateLimited(await post('2001:0db8:0001:0002:0000:0000:0000:0042')),
      [],
      'written out in full: 429',
    );
    t.equal((await post('2001:db8:1:3::1')).status, 401, 'another /64 has its own bucket');
    t.equal((await post('203.0.113.7')).status, 401, 'an IPv4 client has its own bucket');
    t.equal((await post('203.0.113.7')).status, 401);
    t.strictSame(rateLimited(await post('203.0.113.7')), [], 'and is limited on its own');
  });

  t.test('without a trusted proxy, X-Forwarded-For does not buy a fresh bucket', async (t) => {
    const ctx = await setup(t, env, { rateLimit: { sensitiveMax: 2, max: 1000, timeWindowMs: HOUR } });
    const body = { challengeToken: 'aaa.bbb.ccc', code: '123456' };
    const answers = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '2001:db8:9::1']) {
      answers.push(await ctx.kit.post('/login/verify', body, fromIp(ip)));
    }
    t.strictSame(rateLimited(answers[2]!), [], 'the third request is limited whatever the header says');
    t.strictSame(rateLimited(answers[3]!), []);
  });

  t.test('another id in the path does not get a fresh bucket', async (t) => {
    const ctx = await setup(t, env, { rateLimit: { sensitiveMax: 2, max: 3, timeWindowMs: HOUR } });
    const { accessToken: token } = await ctx.passwordLogin(ctx.users.add('bob'));
    const remove = (id: string) =>
      ctx.kit.post(`/authenticators/${id}/remove`, { code: '123456' }, { token });
    t.equal((await remove('t_a')).status, 404);
    t.equal((await remove('t_b')).status, 404);
    t.strictSame(rateLimited(await remove('t_c')), [], 'remove: a third id is a third request: 429');
    const rename = (id: string) => ctx.kit.post(`/authenticators/${id}/rename`, { name: 'x' }, { token });
    for (const id of ['t_a', 't_b', 't_c']) t.equal((await rename(id)).status, 404);
    t.strictSame(rateLimited(await rename('t_d')), [], 'rename: one bucket whatever the id: 429');
  });

  t.test('another spelling of the path does not get a fresh bucket', async (t) => {
    const ctx = await setup(t, env, { rateLimit: { sensitiveMax: 2, max: 1000, timeWindowMs: HOUR } });
    const body = { challengeToken: 'aaa.bbb.ccc', code: '123456' };
    await ctx.kit.post('/login/verify', body);
    await ctx.kit.post('/login/verify', body);
    t.strictSame(rateLimited(await ctx.kit.post('/login/verify', body)), [], 'the bucket is full');

    const { origin, baseUrl } = ctx.app;
    const prefix = baseUrl.slice(origin.length);
    const spellings = [
      `${origin}/${prefix}/login/verify`,
      `${origin}${prefix}//login/verify`,
      `${origin}${prefix}/login/verify/`,
      `${origin}${prefix}/login//verify`,
      `${origin}${prefix}/LOGIN/verify`,
      `${origin}${prefix}/login/verify?again=1`,
      `${origin}${prefix}/login/%76erify`,
      `${origin}${prefix}/./login/verify`,
    ];
    for (const url of spellings) {
      const answer = await ctx.kit.fetch(url, { method: 'POST', json: body });
      // Either the framework does not route it (404), or it is the same route and the same bucket.
      t.ok(
        answer.status === 404 || rateLimited(answer).length === 0,
        `${url.slice(origin.length)}: ${answer.status} (404, or 429 from the same bucket)`,
      );
    }
  });
}
