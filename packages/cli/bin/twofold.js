#!/usr/bin/env node
// The `twofold` command. Runs the compiled dist/ when it exists (an installed package). Without it
// (a workspace checkout, no build step) it runs the TypeScript sources through tsx and resolves the
// sibling @twofold packages to their sources too, as the tests do; TWOFOLD_CLI_SOURCE=1 forces that.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const dist = new URL('../dist/main.js', import.meta.url);

if (process.env.TWOFOLD_CLI_SOURCE !== '1' && existsSync(dist)) {
  await import(dist.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write(
      'twofold: dist/ is missing and tsx is not installed; build the package first (pnpm --filter @twofold/cli build)\n',
    );
    process.exit(1);
  }
  tsx.register();
  // Registered last, so it runs first: every resolution (tsx's included) prefers the
  // "@twofold/source" export condition, like `node --conditions=@twofold/source`.
  const addSourceCondition = `export async function resolve(specifier, context, next) {
    const conditions = context.conditions.includes('@twofold/source')
      ? context.conditions
      : ['@twofold/source', ...context.conditions];
    return next(specifier, { ...context, conditions });
  }`;
  register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`);
  await import(new URL('../src/main.ts', import.meta.url).href);
}
