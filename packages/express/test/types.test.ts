// Type tests: checked by `pnpm typecheck` (tsc over this file); the runtime part only builds them.
import { memoryStore } from '@twofold/core';
import type { AccessClaims } from '@twofold/core/http';
import express, { type Request, type RequestHandler, type Router } from 'express';
import t from 'tap';
import {
  type StepUpGuardOptions,
  type TwofoldRequestAuth,
  type TwofoldRouter,
  twofold,
} from '../src/index.js';
import { testKeyring } from './helpers.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_value?: T) => undefined;

t.test('the router and request.twofold are typed', async (t) => {
  const router = twofold({
    store: memoryStore(),
    keyring: testKeyring(),
    issuer: 'Acme',
    // getUserId receives an Express request.
    getUserId: (request) => request.get('x-user') ?? null,
    log: (level, message, fields) => {
      assertType<Equal<typeof level, 'error' | 'warn'>>();
      assertType<Equal<typeof message, string>>();
      assertType<Equal<typeof fields, Record<string, unknown>>>();
    },
  });
  assertType<Equal<typeof router, TwofoldRouter>>();
  const asRouter: Router = router;
  const guard: RequestHandler = router.requireAuth;
  const stepUp: RequestHandler = router.requireStepUp(120);
  const secondFactor: RequestHandler = router.requireStepUp(120, { secondFactor: true });
  const guardOptions: StepUpGuardOptions = { secondFactor: false };
  const defaultAge: RequestHandler = router.requireStepUp(undefined, guardOptions);
  const app = express();
  app.use('/2fa', router);
  app.post('/admin/keys', guard, secondFactor, defaultAge, (_request, response) => {
    response.end();
  });
  app.get('/me', guard, stepUp, (request, response) => {
    assertType<Equal<typeof request.twofold, TwofoldRequestAuth | undefined>>();
    const claims = request.twofold?.claims;
    assertType<Equal<typeof claims, AccessClaims | undefined>>();
    const userId: string | undefined = request.twofold?.userId;
    response.json({ userId, amr: claims?.amr });
  });
  const handler = (request: Request) => request.twofold?.userId;
  t.equal(typeof handler, 'function');
  t.equal(typeof asRouter, 'function');

  const wrong = { store: memoryStore(), keyring: testKeyring(), issuer: 'Acme', getUserId: () => 'u' };
  // @ts-expect-error log must be a function
  const badLog: Parameters<typeof twofold>[0] = { ...wrong, log: 'console' };
  t.throws(() => twofold(badLog));
  // @ts-expect-error prefix is not an Express option: the host mounts the router
  const withPrefix: Parameters<typeof twofold>[0] = { ...wrong, prefix: '/x' };
  t.throws(() => twofold(withPrefix));
  // @ts-expect-error the max age is a number of seconds
  t.throws(() => router.requireStepUp('300'));
  // @ts-expect-error secondFactor is a boolean
  t.throws(() => router.requireStepUp(300, { secondFactor: 'yes' }));
  // @ts-expect-error the one option is secondFactor
  t.throws(() => router.requireStepUp(300, { mfa: true }));

  // verifyPassword (the password step-up of a user without 2FA): the user id and the password.
  const withPassword = twofold({
    ...wrong,
    verifyPassword: async (userId, password) => {
      const checked: [string, string] = [userId, password];
      return checked[1] === 'secret';
    },
  });
  t.equal(typeof withPassword, 'function');
  // @ts-expect-error verifyPassword answers a boolean
  const badVerify: Parameters<typeof twofold>[0] = { ...wrong, verifyPassword: async () => 'yes' };
  t.type(badVerify.verifyPassword, 'function');
  // @ts-expect-error verifyPassword is a function
  t.throws(() => twofold({ ...wrong, verifyPassword: 'no' }), {
    name: 'TypeError',
    message: /verifyPassword/,
  });
});
