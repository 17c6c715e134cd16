/**
 * A test process ended from outside (tap's timeout sends SIGALRM, Ctrl-C sends SIGINT) takes the
 * redis-servers it started with it: none is left holding its port.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { hasCommand, missing } from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/redis-orphan.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

if (!(await hasCommand('redis-server'))) {
  missing(t, 'redis-server not installed (apt-get install redis-server)');
} else {
  for (const signal of ['SIGALRM', 'SIGTERM', 'SIGINT'] as const) {
    t.test(`${signal} to the test process kills its redis-server`, async (t) => {
      const child = spawn(process.execPath, ['--import=tsx', '--conditions=@twofold/source', FIXTURE], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      const deadline = Date.now() + 20_000;
      while (!out.includes('\n') && Date.now() < deadline && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const pid = Number(out.trim());
      t.ok(Number.isSafeInteger(pid) && pid > 0, 'the fixture started a redis-server');
      t.teardown(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      t.ok(alive(pid), 'it runs');
      const exited = once(child, 'exit');
      child.kill(signal);
      const [, ended] = await exited;
      t.equal(ended, signal, `the test process ended by ${signal}`);
      // A killed process stays a zombie until its parent (gone) is reaped by init: wait for that.
      for (let waited = 0; alive(pid) && waited < 5000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      t.notOk(alive(pid), 'its redis-server is gone');
    });
  }
}
