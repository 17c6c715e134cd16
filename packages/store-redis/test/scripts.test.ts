import { Redis } from 'ioredis';
import tap from 'tap';
import { redisStore } from '../src/index.js';
import * as scripts from '../src/internal/scripts.js';
import { freePort, hasCommand, reportMissing, startRedisServer, tempDir } from './helpers.js';

// Script loading, counted by the server itself (INFO commandstats) on a private redis-server, so no
// other client's commands mix in.

/** How many EVAL and EVALSHA calls the server has seen since the last CONFIG RESETSTAT. */
async function scriptCalls(client: Redis): Promise<{ eval: number; evalsha: number }> {
  const info = await client.info('commandstats');
  const calls = (command: string) =>
    Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

if (!(await hasCommand('redis-server'))) {
  reportMissing('redis-server not found on PATH (needed to start a private Redis)');
} else {
  tap.test('Lua scripts', async (t) => {
    const dir = await tempDir('twofold-redis-scripts');
    t.teardown(() => dir.remove());
    const server = await startRedisServer(await freePort(), dir.path);
    t.teardown(() => server.kill());
    const client = new Redis({ host: '127.0.0.1', port: server.port });
    t.teardown(() => client.disconnect());
    const store = redisStore({ client, prefix: 'twofold-scripts:' });

    await t.test('every script compiles on the server, under the SHA1 the store computed', async (t) => {
      const all = Object.values(scripts);
      t.ok(all.length >= 20, `${all.length} scripts`);
      for (const script of all) t.equal(await client.script('LOAD', script.source), script.sha, script.name);
    });

    await t.test('a script is sent whole once, then run by its SHA1 only', async (t) => {
      await client.script('FLUSH');
      await client.config('RESETSTAT');
      for (let i = 0; i < 5; i++) await store.getCounter('u', 'failures', Date.now());
      t.same(await scriptCalls(client), { eval: 1, evalsha: 5 });
    });

    await t.test('after the server forgets its scripts, the store sends them again by itself', async (t) => {
      await store.incrementCounter('u', 'failures', 60_000, Date.now());
      await client.script('FLUSH');
      await client.config('RESETSTAT');
      const counter = await store.incrementCounter('u', 'failures', 60_000, Date.now());
      t.equal(counter.count, 2);
      t.same(await scriptCalls(client), { eval: 1, evalsha: 1 });
    });
  });
}
