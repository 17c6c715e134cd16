/** A sample that makes its own Fastify app from `Fastify`. */
import type { FastifyInstance } from 'fastify';
import FastifyFactory from 'fastify';

export const Fastify = FastifyFactory;

export async function after(scope: { app?: FastifyInstance }) {
  await scope.app?.close();
}
