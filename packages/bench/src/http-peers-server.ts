/**
 * The server of the head-to-head benchmark (http-peers.ts, issue 18): `http-peers-server.ts <kit>
 * <db>`, one process per kit and database (see http-peers-common.ts), answering the load generator's
 * questions over IPC. It serves `POST /bare` besides the kit's routes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import {
  closePeerDatabase,
  openPeerDatabase,
  PEER_DBS,
  PEER_KITS,
  type PeerDb,
  type PeerKit,
} from './http-peers-common.js';

async function main(): Promise<void> {
  const kit = process.argv[2] as PeerKit;
  const dbKind = process.argv[3] as PeerDb;
  if (!PEER_KITS.includes(kit) || !PEER_DBS.includes(dbKind)) {
    throw new Error(`http-peers-server: usage <${PEER_KITS.join('|')}> <${PEER_DBS.join('|')}>`);
  }
  const database = await openPeerDatabase(dbKind, kit);
  const app: FastifyInstance = Fastify({ logger: false });
  app.post('/bare', async (request) => ({ ok: true, echo: (request.body as { n?: number } | null)?.n ?? 0 }));
  const setup =
    kit === 'twofold'
      ? (await import('./http-peers-twofold.js')).setupTwofold
      : kit === 'better-auth'
        ? (await import('./http-peers-better-auth.js')).setupBetterAuth
        : (await import('./http-peers-manual.js')).setupManual;
  const server = await setup(app, database);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await server.close();
    await closePeerDatabase(database);
    process.exit(0);
  };
  // The load generator gone (interrupted): still drop this server's schema or file.
  process.on('disconnect', () => void shutdown());
  const fail = (error: unknown) => process.send!({ error: String((error as Error)?.stack ?? error) });
  process.on('message', (message: { prepare?: number; replay?: boolean; cpu?: boolean; stop?: boolean }) => {
    if (message.stop) {
      void shutdown();
    } else if (message.cpu) {
      process.send!({ cpu: process.cpuUsage() });
    } else if (typeof message.prepare === 'number') {
      server.prepare(message.prepare).then((users) => process.send!({ users }), fail);
    } else if (message.replay) {
      server.replay().then((replay) => process.send!({ replay }), fail);
    }
  });
  process.send!({ port: address.port });
}

await main();
