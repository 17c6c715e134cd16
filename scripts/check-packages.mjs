#!/usr/bin/env node
/**
 * `pnpm check:packages`: builds every publishable package (`pnpm build`), packs each as a publish
 * would, and lints each tarball with publint (--strict: warnings fail too) and
 * @arethetypeswrong/cli (profile esm-only: the packages are ESM only, so CommonJS `require` and the
 * node10 resolution are out of scope; node16 from ESM and bundler must resolve to the types).
 * A package without `exports` (the `twofold` command, @twofold/cli) has no types to check: attw is
 * skipped for it, publint still runs. And every package that plugs into @twofold/core takes it as a
 * peer dependency, never a dependency of its own: two copies of core break its `instanceof` checks.
 * (@twofold/cli, a command of its own, depends on core.) Exits non-zero if any check fails.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackages, packPackages, publishablePackages, ROOT } from './pack-packages.mjs';

/** The bin script of a root devDependency (linked in node_modules/), run with this node. */
function binOf(pkg, bin) {
  const dir = join(ROOT, 'node_modules', pkg);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return join(dir, typeof manifest.bin === 'string' ? manifest.bin : manifest.bin[bin]);
}
const PUBLINT = binOf('publint', 'publint');
const ATTW = binOf('@arethetypeswrong/cli', 'attw');

function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Packages that use @twofold/core but are not plugged into a host's copy of it. */
const OWN_CORE = new Set(['@twofold/core', '@twofold/cli']);

/** The peer dependency rule, from the workspace manifests: a list of problems. */
function peerProblems(pkg) {
  const { dependencies = {}, peerDependencies = {}, devDependencies = {} } = pkg.manifest;
  const usesCore = '@twofold/core' in dependencies || '@twofold/core' in peerDependencies;
  if (OWN_CORE.has(pkg.name) || !usesCore) return [];
  const problems = [];
  if ('@twofold/core' in dependencies) problems.push('@twofold/core is in dependencies; make it a peer');
  if (!('@twofold/core' in peerDependencies)) problems.push('@twofold/core is not in peerDependencies');
  if (!String(devDependencies['@twofold/core'] ?? '').startsWith('workspace:')) {
    problems.push('@twofold/core is not in devDependencies as workspace:');
  }
  return problems;
}

const started = Date.now();
buildPackages();

const packages = publishablePackages();
const destination = mkdtempSync(join(tmpdir(), 'twofold-check-packages-'));
let failures = 0;
try {
  const tarballs = packPackages(destination, packages);
  const checks = [];
  for (const pkg of packages) {
    const tarball = tarballs[pkg.name];
    checks.push({ pkg, tool: 'publint', args: [PUBLINT, 'run', tarball, '--strict'] });
    if (pkg.manifest.exports) {
      checks.push({
        pkg,
        tool: 'attw',
        args: [ATTW, tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color'],
      });
    }
  }
  // Two at a time: each is a short node process, attw loads TypeScript.
  const queue = [...checks];
  await Promise.all(
    [0, 1].map(async () => {
      for (let check = queue.shift(); check; check = queue.shift()) {
        const { code, output } = await run(check.args);
        check.code = code;
        check.output = output;
      }
    }),
  );
  for (const pkg of packages) {
    const problems = peerProblems(pkg);
    checks.push({ pkg, tool: 'peers', code: problems.length === 0 ? 0 : 1, output: problems.join('\n') });
  }
  for (const check of checks) {
    const ok = check.code === 0;
    if (!ok) failures += 1;
    console.log(`${ok ? 'ok' : 'FAIL'}  ${check.tool.padEnd(7)} ${check.pkg.name}`);
    if (!ok) console.log(check.output.replace(/^/gm, '    '));
  }
  console.log(
    `\n${packages.length} packages, ${checks.length} checks, ${failures} failed ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
} finally {
  rmSync(destination, { recursive: true, force: true });
}
process.exitCode = failures === 0 ? 0 : 1;
