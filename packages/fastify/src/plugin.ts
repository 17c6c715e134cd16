/**
 * `app.register(twofold, options)`: validates the options, decorates the host app with the engine
 * and the guards, and mounts the kit's routes in a scope of their own under `prefix` (default /2fa).
 */
import { createTwofoldHttp } from '@twofold/core/http';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, RegisterOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createGuards } from './guards.js';
import { twofoldRoutes } from './routes.js';
import type { TwofoldEngine, TwofoldFastifyOptions } from './types.js';

const plugin: FastifyPluginAsync<TwofoldFastifyOptions> = async (app: FastifyInstance, options) => {
  // Fastify's own register options apply to the kit's scope; everything else is validated as ours.
  const { logLevel, logSerializers, ...twofoldOptions } = options as TwofoldFastifyOptions &
    Pick<RegisterOptions, 'logLevel' | 'logSerializers'>;
  const http = createTwofoldHttp<FastifyRequest>(twofoldOptions as TwofoldFastifyOptions);

  if (app.hasDecorator('twofold') || app.hasRequestDecorator('twofoldUser')) {
    throw new Error('@twofold/fastify is already registered on this Fastify instance');
  }
  const engine: TwofoldEngine = Object.freeze({ ...http.engine, http });
  const guards = createGuards(http);
  app.decorate('twofold', engine);
  app.decorate('twofoldAuthenticate', guards.authenticate);
  app.decorate('twofoldStepUp', guards.stepUp);
  app.decorateRequest('twofoldUser', null);

  await app.register(async (scope) => twofoldRoutes(scope, http), {
    prefix: http.options.prefix,
    ...(logLevel !== undefined ? { logLevel } : {}),
    ...(logSerializers !== undefined ? { logSerializers } : {}),
  });
};

/**
 * The twofold plugin for Fastify 5.
 *
 * @example
 * import twofold, { redact } from '@twofold/fastify';
 * const app = Fastify({ logger: { redact } });
 * await app.register(twofold, { store: memoryStore(), keyring: process.env.TWOFOLD_KEYS!, issuer: 'Acme', authenticate });
 */
export const twofold = fp(plugin, { fastify: '5.x', name: '@twofold/fastify' });
