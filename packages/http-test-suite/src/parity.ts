/**
 * Answers every adapter must give byte for byte alike (issue item 8), checked against the exact text
 * they must send, so two plugins that pass agree with each other to the byte: unknown routes, wrong
 * methods and other spellings under the prefix; JSON values that are not objects; charsets and
 * content encodings; the errors of reading a body. And the order of the work behind
 * `POST /recovery/request` (issue item 7): nothing that depends on the account starts before the answer
 * is sent (SECURITY.md §31), shown by the order of events, never by timing.
 */
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { TwofoldErrorCode } from '@twofold/core';
import { type BodySchemaName, httpError, parseBody, toHttpError } from '@twofold/core/http';
import type { Test } from 'tap';
import { type SuiteEnv, setup } from './context.js';
import { type Answer, errorProblems, type RequestOptions, successProblems } from './helpers.js';

const BODY_LIMIT = 8192;
const JSON_UTF8 = 'application/json; charset=utf-8';
const ENROLL_KEYS = [
  'authenticatorId',
  'otpauthUri',
  'secret',
  'prettySecret',
  'qrSvg',
  'qrDataUri',
  'expiresAt',
];

/** The words of the adapters' own errors (the route table's come from @twofold/core/http). */
const MESSAGES = {
  notFound: (method: string, path: string) => `Route ${method} ${path} not found`,
  notJson: 'The request body must be JSON (Content-Type: application/json)',
  notUtf8: 'The request body must be JSON in UTF-8',
  compressed: 'The request body must not be compressed (Content-Encoding is not supported)',
  invalidJson: 'The request body is not valid JSON',
  tooLarge: (limit: number) => `The request body is larger than ${limit} bytes`,
};

/** The exact text of the error answer `code` with `message`. */
const errorText = (code: TwofoldErrorCode, message: string) => JSON.stringify(httpError(code, message).body);

/** The exact text the route table itself answers for `body` on a route whose schema is `schema`. */
function routeTableText(schema: BodySchemaName, body: unknown): string {
  try {
    parseBody(schema, body);
  } catch (error) {
    return JSON.stringify(toHttpError(error).body);
  }
  throw new Error(`the route table accepts ${JSON.stringify(body)} for "${schema}"`);
}

/** What differs between an answer and the exact one: status, content type, no Allow, no-store, text. */
function exactProblems(answer: Answer<unknown>, status: number, text: string): string[] {
  const problems: string[] = [];
  if (answer.status !== status) problems.push(`status ${answer.status}, expected ${status}`);
  if (answer.headers.get('content-type') !== JSON_UTF8) {
    problems.push(`content-type ${answer.headers.get('content-type')}`);
  }
  if (answer.headers.get('allow') !== null) problems.push(`allow ${answer.headers.get('allow')}`);
  if (!/(^|,)\s*no-store\s*(,|$)/.test(answer.headers.get('cache-control') ?? '')) {
    problems.push(`cache-control ${answer.headers.get('cache-control')}`);
  }
  if (answer.text !== text) problems.push(`body ${answer.text.slice(0, 300)}, expected ${text}`);
  return problems;
}

/** The same status and the same bytes as another answer. */
function sameProblems(answer: Answer<unknown>, like: Answer<unknown>): string[] {
  return exactProblems(answer, like.status, like.text);
}

export function parityTests(t: Test, env: SuiteEnv): void {
  t.test('unknown routes, wrong methods and other spellings under the prefix: one exact 404', async (t) => {
    const ctx = await setup(t, env);
    const { accessToken } = await ctx.passwordLogin(ctx.users.add('bob'));
    const prefix = ctx.app.baseUrl.slice(ctx.app.origin.length);
    const cases: [method: string, path: string, options?: RequestOptions][] = [
      ['GET', '/login'],
      ['PUT', '/login', { json: { username: 'bob', password: 'x' } }],
      ['DELETE', '/status'],
      ['DELETE', '/status', { json: {} }],
      ['POST', '/status', { json: {} }],
      ['PATCH', '/token/verify', { json: { token: 'aaa.bbb.ccc' } }],
      ['OPTIONS', '/login'],
      ['GET', '/nope'],
      ['POST', '/nope', { json: {} }],
      // A 404 is decided before the body is looked at.
      ['POST', '/nope', { raw: 'not json', contentType: 'text/plain' }],
      ['POST', '/nope', { raw: '{"a":', contentType: 'application/json' }],
      ['GET', ''],
      ['GET', '/'],
      ['GET', '/status/'],
      ['GET', '/STATUS'],
      ['GET', '/st%61tus'],
      ['POST', '/login/', { json: { username: 'bob', password: 'x' } }],
      ['POST', '/Login', { json: { username: 'bob', password: 'x' } }],
      // Routes with a path parameter: the parameter is one segment, the rest is spelled exactly.
      ['GET', '/authenticators/'],
      ['GET', '/Authenticators'],
      ['GET', '/authenticators/t_x'],
      ['POST', '/authenticators/t_x', { json: { name: 'Phone' } }],
      ['GET', '/authenticators/t_x/rename'],
      ['POST', '/authenticators/t_x/rename/', { json: { name: 'Phone' } }],
      ['POST', '/AUTHENTICATORS/t_x/rename', { json: { name: 'Phone' } }],
      ['POST', '/authenticators/t_x/Rename', { json: { name: 'Phone' } }],
      ['POST', '/authenticators//rename', { json: { name: 'Phone' } }],
      ['POST', '/authenticators/t_x/y/rename', { json: { name: 'Phone' } }],
      ['POST', '/authenticators/t_x/remove/extra', { json: { code: '123456' } }],
      ['PUT', '/authenticators/t_x/rename', { json: { name: 'Phone' } }],
      ['DELETE', '/authenticators/t_x'],
      ['POST', '/authenticators/t_x/ren%61me', { json: { name: 'Phone' } }],
      ['GET', '/webauthn/register/options'],
      ['POST', '/webauthn/register/options/', { json: {} }],
      ['POST', '/WebAuthn/authenticate/options', { json: {} }],
    ];
    for (const [method, path, options] of cases) {
      const answer = await ctx.kit.fetch(ctx.kit.url(path), { method, token: accessToken, ...options });
      const text = errorText('TWOFOLD_NOT_FOUND', MESSAGES.notFound(method, `${prefix}${path}`));
      t.strictSame(exactProblems(answer, 404, text), [], `${method} ${prefix}${path}`);
    }
    const query = await ctx.kit.fetch(ctx.kit.url('/nope?secret=x'), { method: 'GET' });
    t.strictSame(
      exactProblems(query, 404, errorText('TWOFOLD_NOT_FOUND', MESSAGES.notFound('GET', `${prefix}/nope`))),
      [],
      'the query string is not part of the message',
    );
  });

  t.test(
    'a JSON value that is not an object goes to the route: null is no body where none is needed',
    async (t) => {
      const ctx = await setup(t, env);
      const { accessToken } = await ctx.passwordLogin(ctx.users.add('bob'));
      const enroll = await ctx.kit.fetch(ctx.kit.url('/totp/enroll'), {
        method: 'POST',
        raw: 'null',
        contentType: 'application/json',
        token: accessToken,
      });
      t.strictSame(
        successProblems(enroll, 201, ENROLL_KEYS),
        [],
        'POST /totp/enroll with null: 201, as no body',
      );
      if (env.webauthn) {
        const creation = await ctx.kit.fetch(ctx.kit.url('/webauthn/register/options'), {
          method: 'POST',
          raw: 'null',
          contentType: 'application/json',
          token: accessToken,
        });
        t.strictSame(
          successProblems(creation, 200),
          [],
          'POST /webauthn/register/options with null: 200, as no body',
        );
        t.type(creation.body.challenge, 'string', 'the creation options');
      }
      const rename = await ctx.kit.fetch(ctx.kit.url('/authenticators/t_x/rename'), {
        method: 'POST',
        raw: 'null',
        contentType: 'application/json',
        token: accessToken,
      });
      t.strictSame(
        exactProblems(rename, 400, routeTableText('rename', null)),
        [],
        'POST /authenticators/:id/rename with null: the body is needed, what the route table answers',
      );

      const verify = (raw: string, contentType = 'application/json') =>
        ctx.kit.fetch(ctx.kit.url('/token/verify'), { method: 'POST', raw, contentType });
      for (const [raw, value] of [
        ['null', null],
        ['42', 42],
        ['"aaa.bbb.ccc"', 'aaa.bbb.ccc'],
        ['true', true],
        ['[]', []],
        ['', undefined],
      ] as const) {
        t.strictSame(
          exactProblems(await verify(raw), 400, routeTableText('token', value)),
          [],
          `POST /token/verify with ${raw === '' ? 'an empty body' : raw}: what the route table answers`,
        );
      }
      const withBom = await verify('\ufeff{"token":"aaa.bbb.ccc"}');
      t.strictSame(
        sameProblems(withBom, await verify('{"token":"aaa.bbb.ccc"}')),
        [],
        'a leading BOM is ignored',
      );
    },
  );

  t.test('charsets: UTF-8 in any spelling is JSON, any other charset is 415', async (t) => {
    const ctx = await setup(t, env);
    const body = '{"token":"aaa.bbb.ccc"}';
    const send = (contentType: string, headers: Record<string, string> = {}) =>
      ctx.kit.fetch(ctx.kit.url('/token/verify'), { method: 'POST', raw: body, contentType, headers });
    const plain = await send('application/json');
    t.strictSame(errorProblems(plain, 401, 'TWOFOLD_INVALID_TOKEN'), [], 'the body reaches the route');

    for (const contentType of [
      'application/json; charset=utf-8',
      'application/json; charset=UTF-8',
      'application/json;charset=utf8',
      'application/json; charset=UTF8',
      'application/json; charset="utf-8"',
      'Application/JSON; Charset=Utf-8',
      'application/vnd.acme+json; charset=utf-8',
    ]) {
      t.strictSame(sameProblems(await send(contentType), plain), [], `${contentType}: read as JSON`);
    }
    const notUtf8 = errorText('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', MESSAGES.notUtf8);
    for (const contentType of [
      'application/json; charset=latin1',
      'application/json; charset=iso-8859-1',
      'application/json; charset=utf-16',
      'application/json; charset=us-ascii',
      'application/json; charset=',
      'application/vnd.acme+json; charset=latin1',
    ]) {
      t.strictSame(exactProblems(await send(contentType), 415, notUtf8), [], `${contentType}: 415`);
    }
    const notJson = errorText('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', MESSAGES.notJson);
    for (const contentType of ['text/plain; charset=utf-8', 'application/jsonx', 'application/json+x']) {
      t.strictSame(exactProblems(await send(contentType), 415, notJson), [], `${contentType}: 415`);
    }
    const compressed = await send('application/json', { 'content-encoding': 'gzip' });
    t.strictSame(
      exactProblems(compressed, 415, errorText('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', MESSAGES.compressed)),
      [],
      'Content-Encoding: gzip: 415',
    );
    const identity = await send('application/json', { 'content-encoding': 'identity' });
    t.strictSame(sameProblems(identity, plain), [], 'Content-Encoding: identity is no encoding');
  });

  t.test('the errors of reading a body: the same words on every adapter', async (t) => {
    const ctx = await setup(t, env, { bodyLimit: BODY_LIMIT });
    const send = (options: RequestOptions) =>
      ctx.kit.fetch(ctx.kit.url('/token/verify'), { method: 'POST', ...options });
    const invalidJson = errorText('TWOFOLD_INVALID_INPUT', MESSAGES.invalidJson);
    for (const raw of ['{"token":', 'this is not json', '{"token":"a"}}', '{"token":"a",}', '\ufeff']) {
      t.strictSame(
        exactProblems(await send({ raw, contentType: 'application/json' }), 400, invalidJson),
        [],
        `${JSON.stringify(raw)}: 400`,
      );
    }
    t.strictSame(
      exactProblems(
        await send({ raw: new TextEncoder().encode('{"token":"a"}') }),
        415,
        errorText('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', MESSAGES.notJson),
      ),
      [],
      'a body without a content type: 415',
    );
    t.strictSame(
      exactProblems(
        await send({ json: { token: 'a'.repeat(BODY_LIMIT) } }),
        413,
        errorText('TWOFOLD_PAYLOAD_TOO_LARGE', MESSAGES.tooLarge(BODY_LIMIT)),
      ),
      [],
      'a body over bodyLimit: 413',
    );
    // A 415 is decided before the body is read: a big body of the wrong type is a 415, not a 413.
    t.strictSame(
      exactProblems(
        await send({ raw: 'a'.repeat(BODY_LIMIT * 2), contentType: 'text/plain' }),
        415,
        errorText('TWOFOLD_UNSUPPORTED_MEDIA_TYPE', MESSAGES.notJson),
      ),
      [],
      'a big text/plain body: 415',
    );
    for (const raw of [
      '{"__proto__":{"polluted":"yes"},"token":"a"}',
      '{"token":"a","constructor":{"prototype":{"polluted":"yes"}}}',
    ]) {
      t.strictSame(
        exactProblems(
          await send({ raw, contentType: 'application/json' }),
          400,
          routeTableText('token', JSON.parse(raw)),
        ),
        [],
        `${raw}: the key is named`,
      );
    }
    const nested = await send({
      raw: '{"token":{"__proto__":{"polluted":"yes"}}}',
      contentType: 'application/json',
    });
    t.strictSame(errorProblems(nested, 400, 'TWOFOLD_INVALID_INPUT'), [], 'a nested __proto__: 400');
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
  });

  t.test('a recovery request is answered before any work that depends on the account starts', async (t) => {
    // Node's own http server reports each finished response here, before any 'finish' listener an
    // adapter adds: the order of events, whatever the machine's speed.
    const finished = new Set<string>();
    const onFinish = (message: unknown) => {
      const probe = (message as { request: IncomingMessage }).request.headers['x-contract-probe'];
      if (typeof probe === 'string') finished.add(probe);
    };
    diagnostics.subscribe('http.server.response.finish', onFinish);
    t.teardown(() => {
      diagnostics.unsubscribe('http.server.response.finish', onFinish);
    });

    const probeOf = new Map<string, string>();
    const lookups: { email: string; answered: boolean }[] = [];
    const lookupWaiters: (() => void)[] = [];
    const ctx = await setup(t, env, {
      wrapFindUserByEmail: (find) => async (email) => {
        const probe = probeOf.get(email);
        if (probe !== undefined) {
          lookups.push({ email, answered: finished.has(probe) });
          for (const wake of lookupWaiters.splice(0)) wake();
        }
        return find(email);
      },
    });
    const ada = ctx.users.add('ada'); // 2FA on: the whole work, up to the mail
    const bob = ctx.users.add('bob'); // no 2FA
    await ctx.enable(ada);

    const emails = [ada.email, 'nobody.at.all@example.test', bob.email];
    for (const email of emails) {
      const probe = randomUUID();
      probeOf.set(email, probe);
      const answer = await ctx.kit.post(
        '/recovery/request',
        { email },
        { headers: { 'x-contract-probe': probe } },
      );
      t.strictSame(successProblems(answer, 202), [], `${email}: 202`);
    }
    while (lookups.length < emails.length) {
      await new Promise<void>((resolve) => lookupWaiters.push(resolve));
    }
    t.strictSame(
      lookups,
      emails.map((email) => ({ email, answered: true })),
      'findUserByEmail ran only after each answer was sent',
    );
    const mail = await ctx.mail.next((sent) => sent.kind === 'recovery-link' && sent.to === ada.email);
    t.equal(mail.userId, ada.userId, 'and the work still runs: the link went out');
  });
}
