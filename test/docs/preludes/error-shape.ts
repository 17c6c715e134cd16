/**
 * The JSON error samples of @twofold/fastify and @twofold/express (`sample`): a wrong code sent to
 * POST /2fa/totp/confirm answers exactly that body, on both plugins.
 */
import type { AddressInfo } from 'node:net';
import { memoryStore } from '@twofold/core';
import { twofold as expressTwofold } from '@twofold/express';
import twofold from '@twofold/fastify';
import { Totp } from '@twofold/otp';
import express from 'express';
import Fastify from 'fastify';
import { ada, authenticateAda, deepStrictEqual } from './users.js';

const options = () => ({
  store: memoryStore(),
  keyring: process.env.TWOFOLD_KEYS!,
  issuer: 'Acme',
  authenticate: authenticateAda,
});

/** A 6-digit code that is none of the three the window accepts now. */
function wrongCode(secret: string): string {
  const totp = new Totp({ secret });
  const now = Date.now();
  const accepted = new Set([-30_000, 0, 30_000].map((offset) => totp.generate(now + offset).token));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!accepted.has(code)) return code;
  }
}

async function wrongConfirm(base: string, accessToken: string): Promise<unknown> {
  const headers = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
  const enrolled = await fetch(`${base}/totp/enroll`, { method: 'POST', headers, body: '{}' });
  const { secret } = (await enrolled.json()) as { secret: string };
  const confirm = await fetch(`${base}/totp/confirm`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ code: wrongCode(secret) }),
  });
  return confirm.json();
}

export async function after(scope: { sample?: unknown }) {
  const fastify = Fastify();
  await fastify.register(twofold, options());
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const fastifyToken = (await fastify.twofold.http.tokens.issue(ada.id, ['pwd'], Date.now())).accessToken;
  const fromFastify = await wrongConfirm(
    `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/2fa`,
    fastifyToken,
  );
  await fastify.close();

  const router = expressTwofold(options());
  const server = express().use('/2fa', router).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const expressToken = (await router.http.tokens.issue(ada.id, ['pwd'], Date.now())).accessToken;
  const fromExpress = await wrongConfirm(
    `http://127.0.0.1:${(server.address() as AddressInfo).port}/2fa`,
    expressToken,
  );
  server.close();

  deepStrictEqual(fromFastify, scope.sample, '@twofold/fastify answers the sample');
  deepStrictEqual(fromExpress, scope.sample, '@twofold/express answers the sample');
}
