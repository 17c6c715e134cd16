/**
 * Malformed input on every route with a body: always a 4xx in the one error shape, naming the field
 * where there is one; never a 5xx, never a success, never a polluted prototype.
 */
import type { Test } from 'tap';
import { type SuiteEnv, setup } from './context.js';
import { type Answer, errorProblems, errorShapeProblems, type Json, type RequestOptions } from './helpers.js';

interface BodyRoute {
  path: string;
  /** Needs the access token. */
  auth: boolean;
  /** A well-formed body (with values that are merely wrong). */
  valid: Json;
  /** Required string fields: wrong types are a 400 TWOFOLD_INVALID_INPUT naming them. */
  text: string[];
  /** Second-factor fields: any JSON value is allowed through and refused as a wrong code. */
  factor: string[];
  /** Optional string fields: may be left out, but a wrong type is a 400 naming them. */
  optional?: string[];
}

/** Every route of the contract that takes a body (the WebAuthn ones when the suite has them). */
const bodyRoutes = (webauthn: boolean): BodyRoute[] => [
  { path: '/totp/enroll', auth: true, valid: {}, text: [], factor: [], optional: ['name'] },
  {
    path: '/totp/confirm',
    auth: true,
    valid: { code: '123456' },
    text: [],
    factor: ['code'],
    optional: ['authenticatorId'],
  },
  { path: '/totp/disable', auth: true, valid: { code: '123456' }, text: [], factor: ['code'] },
  { path: '/totp/disable', auth: true, valid: { webauthn: {} }, text: [], factor: ['webauthn'] },
  { path: '/recovery-codes/rotate', auth: true, valid: { code: '123456' }, text: [], factor: ['code'] },
  { path: '/step-up', auth: true, valid: { code: '123456' }, text: [], factor: ['code'] },
  { path: '/step-up', auth: true, valid: { webauthn: {} }, text: [], factor: ['webauthn'] },
  // The password of a user without 2FA: may be left out (for a factor), a wrong type names it.
  {
    path: '/step-up',
    auth: true,
    valid: { password: 'something' },
    text: [],
    factor: [],
    optional: ['password'],
  },
  { path: '/authenticators/t_x/rename', auth: true, valid: { name: 'Phone' }, text: ['name'], factor: [] },
  { path: '/authenticators/t_x/remove', auth: true, valid: { code: '123456' }, text: [], factor: ['code'] },
  {
    path: '/login/options',
    auth: false,
    valid: { challengeToken: 'aaa.bbb.ccc' },
    text: ['challengeToken'],
    factor: [],
  },
  {
    path: '/login/verify',
    auth: false,
    valid: { challengeToken: 'aaa.bbb.ccc', webauthn: {} },
    text: ['challengeToken'],
    factor: ['webauthn'],
  },
  ...(webauthn
    ? [
        {
          path: '/webauthn/register/options',
          auth: true,
          valid: {},
          text: [],
          factor: [],
          optional: ['name'],
        },
        // `response` reaches the engine as any JSON value; anything but a credential is a 400 naming it.
        {
          path: '/webauthn/register/verify',
          auth: true,
          valid: { response: {} },
          text: ['response'],
          factor: [],
          optional: ['name'],
        },
        { path: '/webauthn/authenticate/options', auth: true, valid: {}, text: [], factor: [] },
      ]
    : []),
  {
    path: '/login',
    auth: false,
    valid: { username: 'someone', password: 'something' },
    text: ['username', 'password'],
    factor: [],
  },
  {
    path: '/login/verify',
    auth: false,
    valid: { challengeToken: 'aaa.bbb.ccc', code: '123456' },
    text: ['challengeToken'],
    factor: ['code'],
  },
  {
    path: '/token/refresh',
    auth: false,
    valid: { refreshToken: 'aaa.bbb.ccc' },
    text: ['refreshToken'],
    factor: [],
  },
  {
    path: '/token/revoke',
    auth: false,
    valid: { refreshToken: 'aaa.bbb.ccc' },
    text: ['refreshToken'],
    factor: [],
  },
  { path: '/token/verify', auth: false, valid: { token: 'aaa.bbb.ccc' }, text: ['token'], factor: [] },
  {
    path: '/recovery/request',
    auth: false,
    valid: { email: 'someone@example.test' },
    text: ['email'],
    factor: [],
  },
  {
    path: '/recovery/confirm',
    auth: false,
    valid: { uid: 'u-someone', token: 'abcdef', password: 'something' },
    text: ['uid', 'token', 'password'],
    factor: [],
  },
];

const BODY_LIMIT = 8192;

function nested(depth: number): unknown {
  let value: unknown = 'x';
  for (let level = 0; level < depth; level++) value = [value];
  return value;
}

const WRONG_TYPES: [string, unknown][] = [
  ['a number', 42],
  ['a boolean', true],
  ['null', null],
  ['an object', { value: 'x' }],
  ['an array', ['x']],
  ['an empty string', ''],
  ['a huge string', 'a'.repeat(5000)],
  ['a deeply nested array', nested(3000)],
];

export function malformedTests(t: Test, env: SuiteEnv): void {
  t.test('malformed bodies are a 4xx naming the field, never a 5xx', async (t) => {
    const ctx = await setup(t, env, { bodyLimit: BODY_LIMIT });
    const bob = ctx.users.add('bob');
    const { accessToken } = await ctx.passwordLogin(bob);

    for (const route of bodyRoutes(env.webauthn)) {
      const send = (options: RequestOptions) =>
        ctx.kit.fetch(ctx.kit.url(route.path), {
          method: 'POST',
          ...options,
          ...(route.auth ? { token: accessToken } : {}),
        });
      const json = (body: unknown) => send({ json: body });
      const raw = (text: string, contentType = 'application/json') => send({ raw: text, contentType });
      const invalid = (answer: Answer<unknown>, what: string, field?: string) =>
        t.strictSame(
          errorProblems(answer, 400, 'TWOFOLD_INVALID_INPUT', field === undefined ? {} : { field }),
          [],
          `${route.path}: ${what}`,
        );
      /** A 400 or a 415, each with its own code: frameworks differ on non-JSON media types. */
      const notJson = (answer: Answer<unknown>, what: string) =>
        t.strictSame(
          answer.status === 415
            ? errorProblems(answer, 415, 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE')
            : errorProblems(answer, 400, 'TWOFOLD_INVALID_INPUT'),
          [],
          `${route.path}: ${what}`,
        );
      /** Refused somehow (4xx, the error shape): for fields whose verdict depends on the account. */
      const refused = (answer: Answer<unknown>, what: string) => {
        const problems = errorShapeProblems(answer);
        if (answer.status < 400 || answer.status >= 500) problems.unshift(`status ${answer.status}`);
        t.strictSame(problems, [], `${route.path}: ${what}`);
      };

      const wellFormed = await json(route.valid);
      t.ok(wellFormed.status < 500, `${route.path}: a well-formed body with wrong values is not a 5xx`);

      invalid(await raw(`{"${Object.keys(route.valid)[0] ?? 'a'}":`), 'truncated JSON');
      invalid(await raw('this is not json'), 'not JSON at all');
      invalid(await raw(`${JSON.stringify(route.valid)}}`), 'trailing garbage');
      notJson(await raw(JSON.stringify(route.valid), 'text/plain'), 'a JSON text sent as text/plain');
      notJson(
        await raw(
          new URLSearchParams({ ...route.valid } as Record<string, string>).toString() || 'a=1',
          'application/x-www-form-urlencoded',
        ),
        'a form post',
      );
      notJson(
        await send({ raw: new TextEncoder().encode(JSON.stringify(route.valid)) }),
        'a body without a content type',
      );
      invalid(await json([route.valid]), 'an array body', 'body');
      for (const primitive of ['"text"', '42', 'true'])
        invalid(await raw(primitive), `the body ${primitive}`);
      if (route.text.length + route.factor.length > 0) invalid(await raw('null'), 'the body null');

      invalid(await json({ ...route.valid, isAdmin: true }), 'an unknown field', 'isAdmin');
      invalid(
        await json({ ...route.valid, nested: nested(3000) }),
        'a deeply nested unknown field',
        'nested',
      );
      for (const field of [...route.text, ...route.factor]) {
        const { [field]: _dropped, ...rest } = route.valid;
        invalid(await json(rest), `"${field}" missing`, field);
      }
      for (const field of [...route.text, ...(route.optional ?? [])]) {
        for (const [what, value] of WRONG_TYPES) {
          invalid(await json({ ...route.valid, [field]: value }), `"${field}" as ${what}`, field);
        }
      }
      for (const field of route.factor) {
        for (const [what, value] of WRONG_TYPES) {
          refused(await json({ ...route.valid, [field]: value }), `"${field}" as ${what}`);
        }
      }

      const oversized = await json({ ...route.valid, padding: 'a'.repeat(BODY_LIMIT + 1000) });
      t.strictSame(
        errorProblems(oversized, 413, 'TWOFOLD_PAYLOAD_TOO_LARGE'),
        [],
        `${route.path}: a body over bodyLimit`,
      );

      const members = JSON.stringify(route.valid).slice(1, -1);
      const rest = members === '' ? '' : `,${members}`;
      invalid(await raw(`{"__proto__":{"polluted":"yes"}${rest}}`), 'a __proto__ key');
      invalid(await raw(`{"constructor":{"prototype":{"polluted":"yes"}}${rest}}`), 'a constructor key');
    }
    t.equal(({} as Json).polluted, undefined, 'Object.prototype is untouched');
  });
}
