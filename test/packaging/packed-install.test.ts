/**
 * The packages as a user gets them: every publishable package built and packed (scripts/pack-packages.mjs,
 * `pnpm pack`, which rewrites the workspace: ranges), the tarballs installed with npm into a new app
 * outside the workspace, once with Fastify and once with Express. The app is plain JavaScript
 * (test/packaging/app/*.js) run by plain `node`: no tsx, no @twofold/source condition, so every
 * import resolves to the compiled dist/. In each app:
 *
 * - one copy of @twofold/core is installed (the plugins and the suites take it as a peer);
 * - `node server.js` starts the host app on memoryStore: a password login and a guarded host route work;
 * - `node contract.js` runs the packed @twofold/http-test-suite against the app, and passes.
 *
 * Needs npm and the registry (for fastify, express, tap and the packages' own dependencies): outside
 * CI it skips with a message when they are not there; under CI it fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandResult, missing, runCommand } from '@twofold/test-support';
import t, { type Test } from 'tap';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./app', import.meta.url));
const FRAMEWORKS = ['fastify', 'express'] as const;

// Packing, two npm installs and two runs of the contract suite: more than the runner's default.
t.setTimeout(900_000);

/**
 * The environment of every child: this one without what the test runner and pnpm add (tsx and the
 * source condition in NODE_OPTIONS, tap's own variables, pnpm's npm_* and pnpm_* variables). The
 * npm_config_* settings stay: they are how a machine may point npm at its registry.
 */
function plainEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      /^(NODE_OPTIONS|NODE_PATH|npm_(?!config_).*|npm_config_user_agent|pnpm_.*|TAP.*|_TAPJS.*|TSX_.*)$/i.test(
        key,
      )
    ) {
      continue;
    }
    env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

type Run = CommandResult;

/** Runs a command to its end (or `timeoutMs`), in the plain environment unless `env` is given. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return runCommand(command, args, { ...options, env: options.env ?? plainEnv() });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const tail = (text: string, lines = 40) => text.trim().split('\n').slice(-lines).join('\n');

// -----------------------------------------------------------------------------------------------
// npm and the registry

const ping = await run('npm', ['ping', '--fetch-retries=1', '--fetch-timeout=15000'], {
  cwd: tmpdir(),
  timeoutMs: 40_000,
});
if (ping.code !== 0) {
  missing(t, 'npm or the npm registry not reachable (`npm ping` failed)', {
    error: tail(`${ping.stdout}\n${ping.stderr}`, 10),
  });
} else {
  t.test('every package packed, installed with npm into a new app', packedInstall);
}

async function packedInstall(t: Test) {
  const work = mkdtempSync(join(tmpdir(), 'twofold-packed-'));
  // Two node_modules trees take long to delete (minutes on a busy disk): a detached `rm -rf` does it
  // after the test has ended.
  t.teardown(() => {
    spawn('rm', ['-rf', work], { detached: true, stdio: 'ignore' }).unref();
  });
  const outside = relative(ROOT, work);
  t.ok(outside.startsWith('..') || isAbsolute(outside), `the apps live outside the workspace (${work})`);

  // Build (incremental) and pack every publishable package.
  const pack = await run(
    process.execPath,
    [join(ROOT, 'scripts/pack-packages.mjs'), join(work, 'tarballs')],
    {
      cwd: ROOT,
      timeoutMs: 600_000,
    },
  );
  if (pack.code !== 0) {
    t.fail('scripts/pack-packages.mjs builds and packs every package', { output: tail(pack.stderr) });
    return;
  }
  const tarballs = JSON.parse(pack.stdout) as Record<string, string>;
  t.comment(`built and packed ${Object.keys(tarballs).length} packages in ${seconds(pack.ms)}`);
  for (const name of ['@twofold/core', '@twofold/http-test-suite', '@twofold/fastify', '@twofold/express']) {
    t.ok(tarballs[name] && existsSync(tarballs[name]), `${name} is packed`);
  }

  /** The @twofold packages `names` need, themselves included (dependencies and peers, transitively). */
  function closure(names: string[]): string[] {
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const dir = join(ROOT, 'packages', name.replace('@twofold/', ''));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
        for (const dependency of Object.keys(manifest[field] ?? {})) {
          if (dependency.startsWith('@twofold/')) visit(dependency);
        }
      }
    };
    for (const name of names) visit(name);
    return [...seen].sort();
  }

  // The two apps side by side: most of the time is npm install, waiting on the cache and network.
  t.jobs = FRAMEWORKS.length;
  for (const framework of FRAMEWORKS) {
    t.test(`packed @twofold/${framework} in a new npm app`, { buffered: true }, async (t) => {
      const plugin = `@twofold/${framework}`;
      const pluginManifest = JSON.parse(
        readFileSync(join(ROOT, 'packages', framework, 'package.json'), 'utf8'),
      );
      const app = join(work, `${framework}-app`);
      mkdirSync(app);
      const twofoldPackages = closure(['@twofold/core', plugin, '@twofold/http-test-suite']);
      const dependencies: Record<string, string> = {
        // Every @twofold package from its tarball, so none comes from the registry.
        ...Object.fromEntries(twofoldPackages.map((name) => [name, `file:${tarballs[name]}`])),
        [framework]: pluginManifest.peerDependencies[framework],
        tap: '^21.0.0',
      };
      writeFileSync(
        join(app, 'package.json'),
        `${JSON.stringify({ name: `twofold-packed-${framework}-app`, private: true, type: 'module', dependencies }, null, 2)}\n`,
      );
      copyFileSync(join(FIXTURES, `${framework}.js`), join(app, 'app.js'));
      copyFileSync(join(FIXTURES, 'server.js'), join(app, 'server.js'));
      copyFileSync(join(FIXTURES, 'contract.js'), join(app, 'contract.js'));

      const install = await run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--loglevel=error'],
        { cwd: app, timeoutMs: 600_000 },
      );
      if (install.code !== 0) {
        t.fail(`npm install of ${twofoldPackages.join(', ')}, ${framework} and tap`, {
          output: tail(`${install.stdout}\n${install.stderr}`),
        });
        return;
      }
      t.pass(
        `npm install: ${twofoldPackages.length} tarballs, ${framework} and tap (${seconds(install.ms)})`,
      );

      const cores = findInstalled(join(app, 'node_modules'), '@twofold/core');
      t.same(cores, [join(app, 'node_modules/@twofold/core')], 'one copy of @twofold/core, at the top');
      const resolved = await run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `for (const name of ${JSON.stringify(twofoldPackages)}) console.log(import.meta.resolve(name))`,
        ],
        { cwd: app, timeoutMs: 30_000 },
      );
      const urls = resolved.stdout.trim().split('\n');
      t.equal(urls.length, twofoldPackages.length, 'plain node resolves every @twofold package', {
        stderr: tail(resolved.stderr),
      });
      t.ok(
        urls.every((url) => url.startsWith('file://') && url.endsWith('/dist/index.js')),
        'each to its compiled dist/index.js',
        { urls },
      );

      await t.test('node server.js: the host app starts; login and a guarded route work', async (t) => {
        const server = spawn(process.execPath, ['server.js'], {
          cwd: app,
          env: plainEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        t.teardown(() => stop(server));
        const origin = await listening(server, 30_000);
        const login = await fetch(`${origin}/2fa/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'ada', password: 'correct horse battery staple' }),
        });
        t.equal(login.status, 200, 'POST /2fa/login: 200');
        const tokens = (await login.json()) as { accessToken?: string; twoFactorRequired?: boolean };
        t.equal(tokens.twoFactorRequired, false, 'no second step for a user without 2FA');
        t.type(tokens.accessToken, 'string', 'an access token');
        const host = await fetch(`${origin}/host/protected`, {
          headers: { authorization: `Bearer ${tokens.accessToken}` },
        });
        t.equal(host.status, 200, 'GET /host/protected with the token: 200');
        t.same(await host.json(), { userId: 'user-ada' }, 'the guard found the user');
        const refused = await fetch(`${origin}/host/protected`);
        t.equal(refused.status, 401, 'GET /host/protected without a token: 401');
      });

      await t.test('node contract.js: the packed HTTP contract suite passes', async (t) => {
        const contract = await run(process.execPath, ['contract.js', plugin], {
          cwd: app,
          // The suite's own tap root: a file timeout of its own (tap's default is 30 s).
          env: plainEnv({ TAP_TIMEOUT: '600' }),
          timeoutMs: 660_000,
        });
        const passed = contract.stdout.match(/^\s*ok \d+/gm)?.length ?? 0;
        const failed = contract.stdout.match(/^\s*not ok \d+/gm) ?? [];
        const failures = contract.stdout
          .split('\n')
          .filter((line) => /^\s*not ok \d+/.test(line))
          .slice(0, 20);
        t.equal(contract.code, 0, `exit code 0 (${seconds(contract.ms)})`, {
          signal: contract.signal,
          stderr: tail(contract.stderr),
        });
        t.equal(failed.length, 0, 'no test failed', { failures });
        t.ok(passed > 100, `the suite ran (${passed} passing tests and subtests)`);
      });
    });
  }
}

/** Every installed copy of `name` under a node_modules tree. */
function findInstalled(nodeModules: string, name: string): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    if (!existsSync(dir)) return;
    if (existsSync(join(dir, name, 'package.json'))) found.push(join(dir, name));
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const packages = entry.name.startsWith('@')
        ? readdirSync(join(dir, entry.name)).map((inner) => join(dir, entry.name, inner))
        : [join(dir, entry.name)];
      for (const pkg of packages) visit(join(pkg, 'node_modules'));
    }
  };
  visit(nodeModules);
  return found;
}

/** The origin a `node server.js` prints once it listens. */
async function listening(server: ChildProcess, timeoutMs: number): Promise<string> {
  let output = '';
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server.js did not listen:\n${output}`)), timeoutMs);
    server.stdout?.on('data', (chunk) => {
      output += chunk;
      const match = /^listening (http:\/\/\S+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    server.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server.js exited (${code}):\n${output}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
