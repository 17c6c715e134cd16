/**
 * KitClient's request timeout: a server that never answers (or stops in the middle of a body) fails
 * the request with the method and path, never the query string, instead of holding the test.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import t from 'tap';
import { KitClient, REQUEST_TIMEOUT_MS } from '../src/helpers.js';

/** A server whose `/2fa/silent` never answers and whose `/2fa/stalled` sends headers and half a body. */
async function stallingServer() {
  const held: ServerResponse[] = [];
  const server = createServer((request, response) => {
    held.push(response);
    if (request.url?.startsWith('/2fa/stalled')) {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"half":');
    } else if (request.url === '/2fa/answers') {
      response.end('{"ok":true}');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const origin = `http://127.0.0.1:${port}`;
  const client = new KitClient({ origin, baseUrl: `${origin}/2fa`, logs: [], close: async () => {} });
  return {
    client,
    close: () => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

t.test('a request without an answer fails after timeoutMs, naming the route but not the query', async (t) => {
  const { client, close } = await stallingServer();
  t.teardown(close);
  const started = Date.now();
  const error = await client.get('/silent?token=s3cr3t-token', { timeoutMs: 150 }).then(
    () => null,
    (caught: Error) => caught,
  );
  t.ok(error, 'rejected');
  t.equal(error?.message, 'GET /2fa/silent: no answer within 150 ms');
  t.notMatch(error?.message, /s3cr3t/, 'the query string (a token) is not in the message');
  t.equal((error?.cause as Error | undefined)?.name, 'TimeoutError');
  t.ok(Date.now() - started >= 140, 'not before the timeout');
});

t.test('a body that stops half way fails the same way', async (t) => {
  const { client, close } = await stallingServer();
  t.teardown(close);
  await t.rejects(client.post('/stalled', { a: 1 }, { timeoutMs: 150 }), {
    message: 'POST /2fa/stalled: no answer within 150 ms',
  });
});

t.test('an answer within the timeout is read as usual; the default is 30 s', async (t) => {
  const { client, close } = await stallingServer();
  t.teardown(close);
  const answer = await client.get('/answers', { timeoutMs: 5000 });
  t.same({ status: answer.status, body: answer.body }, { status: 200, body: { ok: true } });
  t.equal(REQUEST_TIMEOUT_MS, 30_000);
});
