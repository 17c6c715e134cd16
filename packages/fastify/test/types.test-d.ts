/**
 * Type tests, checked by `pnpm typecheck` (tsc) and never run: the decorators, the request's user
 * and the options are typed for the host, and misuse does not compile.
 */
import { memoryStore, type TwoFactorStatus } from '@twofold/core';
import type { AccessClaims } from '@twofold/core/http';
import Fastify from 'fastify';
import twofold, {
  type StepUpGuardOptions,
  type TwofoldEngine,
  type TwofoldFastifyOptions,
  type TwofoldUser,
} from '../src/index.js';

const base = {
  store: memoryStore(),
  keyring: 'k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  issuer: 'Acme',
};

export async function typeTests(): Promise<void> {
  const app = Fastify();

  // Options: the engine options plus the kit's; getUserId receives a FastifyRequest.
  await app.register(twofold, {
    ...base,
    authenticate: async ({ username }) => (username === 'ada' ? 'id-ada' : null),
  });
  await app.register(twofold, {
    ...base,
    getUserId: (request) => request.headers['x-user'] as string | undefined,
  });
  await app.register(twofold, {
    ...base,
    authenticate: async () => null,
    prefix: '/auth/2fa',
    rateLimit: false,
  });
  const options: TwofoldFastifyOptions = { twoFactor: app.twofold, getUserId: () => null };
  await app.register(twofold, options);
  // @ts-expect-error issuer is a string
  await app.register(twofold, { ...base, issuer: 42, authenticate: async () => null });
  // @ts-expect-error an unknown option (a typo) does not compile
  await app.register(twofold, { ...base, authenticate: async () => null, prefx: '/2fa' });
  // verifyPassword (the password step-up of a user without 2FA): the user id and the password.
  await app.register(twofold, {
    ...base,
    authenticate: async () => null,
    verifyPassword: async (userId, password) => {
      const checked: [string, string] = [userId, password];
      return checked[1] === 'secret';
    },
  });
  // @ts-expect-error verifyPassword answers a boolean
  await app.register(twofold, { ...base, authenticate: async () => null, verifyPassword: async () => 'yes' });
  // @ts-expect-error rateLimit.max is a number
  await app.register(twofold, { ...base, authenticate: async () => null, rateLimit: { max: '60' } });

  // The engine, with its flows typed, and the HTTP layer.
  const engine: TwofoldEngine = app.twofold;
  const status: Promise<TwoFactorStatus> = engine.status('id-ada');
  const prefix: string = app.twofold.http.options.prefix;
  // @ts-expect-error the engine has no such flow
  app.twofold.deleteEverything('id-ada');

  // The guards fit preHandler and onRequest, alone or in arrays, on typed routes too.
  app.get('/me', { preHandler: app.twofoldAuthenticate }, async (request) => {
    const user: TwofoldUser | null = request.twofoldUser;
    // @ts-expect-error twofoldUser is null until a guard ran: check it first
    const unchecked: string = request.twofoldUser.userId;
    const claims: AccessClaims | undefined = user?.claims;
    return { userId: user?.userId, amr: claims?.amr, unchecked, status: await status, prefix };
  });
  app.post<{ Params: { id: string }; Body: { confirm: boolean } }>(
    '/accounts/:id/delete',
    { preHandler: [app.twofoldAuthenticate, app.twofoldStepUp(120)] },
    async (request) => ({ id: request.params.id, by: request.twofoldUser?.userId }),
  );
  app.get(
    '/settings',
    { onRequest: app.twofoldAuthenticate, preHandler: app.twofoldStepUp() },
    async () => ({}),
  );

  // A second factor demanded even of users without 2FA; the default age with options.
  app.post('/admin/keys', { preHandler: app.twofoldStepUp(120, { secondFactor: true }) }, async () => ({}));
  const guardOptions: StepUpGuardOptions = { secondFactor: false };
  app.post('/export', { preHandler: app.twofoldStepUp(undefined, guardOptions) }, async () => ({}));

  // @ts-expect-error maxAgeSeconds is a number of seconds
  app.twofoldStepUp('120');
  // @ts-expect-error secondFactor is a boolean
  app.twofoldStepUp(120, { secondFactor: 'yes' });
  // @ts-expect-error the one option is secondFactor
  app.twofoldStepUp(120, { mfa: true });
  // @ts-expect-error twofoldAuthenticate is a hook, not a factory
  app.get('/wrong', { preHandler: app.twofoldAuthenticate(60) }, async () => ({}));
  // @ts-expect-error twofoldStepUp is a factory: call it
  app.get('/wrong-too', { preHandler: [app.twofoldStepUp] }, async () => ({}));
}
