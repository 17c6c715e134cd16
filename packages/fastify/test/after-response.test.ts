/**
 * Work a route leaves for after its answer (`afterResponse`, today the recovery mail) starts only once
 * Fastify has finished writing the answer, also when a host hook makes the write wait (SECURITY.md §31:
 * a recovery request takes about the same time whether or not the account exists).
 */
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import t from 'tap';
import twofold from '../src/index.js';
import { controllableClock, enable, kitOptions } from './helpers.js';

t.test(
  'a host onSend hook that waits on I/O: the account lookup still starts after the answer',
  async (t) => {
    // Node's http server reports each finished response here, before any other 'finish' listener.
    const finished = new Set<string>();
    const onFinish = (message: unknown) => {
      const probe = (message as { request: IncomingMessage }).request.headers['x-probe'];
      if (typeof probe === 'string') finished.add(probe);
    };
    diagnostics.subscribe('http.server.response.finish', onFinish);
    t.teardown(() => {
      diagnostics.unsubscribe('http.server.response.finish', onFinish);
    });

    const lookups: { email: string; answered: boolean }[] = [];
    let bothLooked: (() => void) | undefined;
    const lookedUp = new Promise<void>((resolve) => {
      bothLooked = resolve;
    });
    let mailed: (() => void) | undefined;
    const mailSent = new Promise<void>((resolve) => {
      mailed = resolve;
    });
    const clock = controllableClock();
    const app = Fastify();
    t.teardown(() => app.close());
    // Like a session store saving on every answer: the write waits for a timer (or a database).
    app.addHook('onSend', async (_request, _reply, payload) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return payload;
    });
    await app.register(
      twofold,
      kitOptions(clock, {
        recovery: {
          async findUserByEmail(email: string) {
            lookups.push({ email, answered: finished.has(email) });
            if (lookups.length === 2) bothLooked?.();
            return email === 'ada@example.test' ? { userId: 'id-ada', email } : null;
          },
          getUserEmail: async () => null,
          verifyPassword: async () => false,
          async sendMail() {
            mailed?.();
          },
          linkUrl: 'https://app.example.test/recover',
        },
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    await enable(app, clock, 'ada');
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/2fa/recovery/request`;

    for (const email of ['ada@example.test', 'nobody@example.test']) {
      const answer = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-probe': email },
        body: JSON.stringify({ email }),
      });
      t.equal(answer.status, 202, `${email}: 202`);
    }
    await Promise.all([lookedUp, mailSent]);
    t.strictSame(
      lookups,
      [
        { email: 'ada@example.test', answered: true },
        { email: 'nobody@example.test', answered: true },
      ],
      'findUserByEmail ran only after each answer was written',
    );
  },
);
