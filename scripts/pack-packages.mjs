#!/usr/bin/env node
/**
 * Builds every publishable package and packs it as `pnpm publish` would: `tsc -b tsconfig.build.json`
 * (the root `pnpm build`, incremental), then `pnpm pack` in each package, which rewrites the
 * `workspace:` and `catalog:` ranges to real versions.
 *
 *   node scripts/pack-packages.mjs <destination>   prints { "<name>": "<tarball path>", ... } as JSON
 *
 * scripts/check-packages.mjs and test/packaging/packed-install.test.ts use it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The packages under packages/* that are published (no `"private": true`), in directory order. */
export function publishablePackages() {
  const packagesDir = join(ROOT, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      let manifest;
      try {
        manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      } catch {
        return undefined;
      }
      return { name: manifest.name, dir, manifest };
    })
    .filter((pkg) => pkg !== undefined && pkg.manifest.private !== true);
}

/** `pnpm build`: tsc -b over the root tsconfig.build.json, run directly so no install check runs first. */
export function buildPackages(stdio = 'inherit') {
  const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, stdio });
}

/** Packs each package into `destination`; returns a map from package name to tarball path. */
export function packPackages(destination, packages = publishablePackages()) {
  mkdirSync(destination, { recursive: true });
  const tarballs = {};
  for (const pkg of packages) {
    const out = execFileSync('pnpm', ['pack', '--json', '--pack-destination', destination], {
      cwd: pkg.dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // --json prints the result object last; lifecycle output (none today) would come before it.
    const result = JSON.parse(out.slice(out.indexOf('{')));
    tarballs[pkg.name] = resolve(destination, result.filename);
  }
  return tarballs;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const destination = process.argv[2];
  if (!destination) {
    console.error('usage: node scripts/pack-packages.mjs <destination>');
    process.exit(2);
  }
  // Compiler errors go to stderr: stdout is the JSON answer only.
  buildPackages(['ignore', process.stderr, process.stderr]);
  process.stdout.write(`${JSON.stringify(packPackages(resolve(destination)), null, 2)}\n`);
}
