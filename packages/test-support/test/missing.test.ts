import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isCI, missing, missingSkip, type Reporter } from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/redis-missing.ts', import.meta.url));

/** A stand-in for a tap Test that records the failures and skipped tests it was given. */
function recorder() {
  const calls: { fails: { message: string; error?: string }[]; skipped: { name: string; skip: string }[] } = {
    fails: [],
    skipped: [],
  };
  const reporter = {
    fail: (message: string, extra?: { error?: string }) => void calls.fails.push({ message, ...extra }),
    test: (name: string, options: { skip: string }) => void calls.skipped.push({ name, skip: options.skip }),
  } as unknown as Reporter;
  return { reporter, calls };
}

const CI_VALUES: [string | undefined, boolean][] = [
  [undefined, false],
  ['', false],
  ['0', false],
  ['false', false],
  ['FALSE', false],
  [' False ', false],
  ['true', true],
  ['TRUE', true],
  ['1', true],
  ['yes', true],
  ['woodpecker', true],
];

t.test('isCI: CI set to anything but "", "0" or "false" (any case)', async (t) => {
  for (const [value, expected] of CI_VALUES) {
    const env = value === undefined ? {} : { CI: value };
    t.equal(isCI(env), expected, `CI=${JSON.stringify(value)}`);
  }
});

t.test('missing outside CI registers a skipped test named by what is missing, and no failure', async (t) => {
  for (const env of [{}, { CI: 'false' }, { CI: '0' }]) {
    const { reporter, calls } = recorder();
    missing(reporter, 'PostgreSQL not reachable at 127.0.0.1:5432', { env });
    t.same(calls.fails, [], JSON.stringify(env));
    t.same(calls.skipped, [
      {
        name: 'PostgreSQL not reachable at 127.0.0.1:5432',
        skip: 'PostgreSQL not reachable at 127.0.0.1:5432',
      },
    ]);
  }
});

t.test('missing under CI fails, naming what is missing and the probe error, and skips nothing', async (t) => {
  const { reporter, calls } = recorder();
  missing(reporter, 'Redis not reachable at 127.0.0.1:6379', {
    env: { CI: 'true' },
    error: new Error('ECONNREFUSED'),
  });
  t.same(calls.skipped, []);
  t.same(calls.fails, [
    { message: 'Redis not reachable at 127.0.0.1:6379 (CI=true requires it)', error: 'Error: ECONNREFUSED' },
  ]);
});

t.test('missingSkip returns the skip reason in both cases, and fails only under CI', async (t) => {
  const local = recorder();
  t.equal(missingSkip(local.reporter, 'oathtool not installed', { env: {} }), 'oathtool not installed');
  t.same(local.calls, { fails: [], skipped: [] });

  const ci = recorder();
  t.equal(missingSkip(ci.reporter, 'oathtool not installed', { env: { CI: '1' } }), 'oathtool not installed');
  t.same(ci.calls, { fails: [{ message: 'oathtool not installed (CI=1 requires it)' }], skipped: [] });
});

t.test('a real test file with a missing server passes with a skip locally and fails under CI', async (t) => {
  const run = (ci: string | undefined) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env))
      if (name.startsWith('TAP') || name.startsWith('_TAPJS')) delete env[name];
    delete env.NODE_OPTIONS;
    if (ci === undefined) delete env.CI;
    else env.CI = ci;
    return spawnSync(process.execPath, ['--import=tsx', '--conditions=@twofold/source', FIXTURE], {
      env,
      encoding: 'utf8',
    });
  };
  const local = run(undefined);
  t.equal(local.status, 0, 'outside CI the file passes');
  t.match(local.stdout, /ok 1 - Redis not reachable at 127\.0\.0\.1:1 \(fixture\) # SKIP/);

  const ci = run('true');
  t.not(ci.status, 0, 'under CI=true the file fails');
  t.match(ci.stdout, /not ok 1 - Redis not reachable at 127\.0\.0\.1:1 \(fixture\) \(CI=true requires it\)/);
});
