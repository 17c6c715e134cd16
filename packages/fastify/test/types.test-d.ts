/**
 * Type tests, checked by `pnpm typecheck` (tsc) and never run: the decorators, the request's user
 * and the options are typed for the host, and misuse does not compile.
 */
import { memoryStore, type TwoFactorStatus } from '@twofold/core';
import type { AccessClaims } from '@twofold/core/http';
import Fastify from 'fastify';
import twofold, { type TwofoldEngine, type TwofoldFastifyOptions, type TwofoldUser } from '../src/index.js';

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

  // @ts-expect-error maxAgeSeconds is a number of seconds
  app.twofoldStepUp('120');
  // @ts-expect-error twofoldAuthenticate is a hook, not a factory
  app.get('/wrong', { preHandler: app.twofoldAuthenticate(60) }, async () => ({}));
  // @ts-expect-error twofoldStepUp is a factory: call it
  app.get('/wrong-too', { preHandler: [app.twofoldStepUp] }, async () => ({}));
}
