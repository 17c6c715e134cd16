/**
 * Makes packages look uninstalled, to see what the tests do without them (better-sqlite3 whose
 * native build failed, say) without touching node_modules:
 *
 *     TWOFOLD_HIDE_MODULES=better-sqlite3 NODE_OPTIONS=--import=$PWD/packages/test-support/src/hide-modules.mjs \
 *       npx tap packages/cli/test/migrate.test.ts
 *
 * (plain JavaScript: it needs no loader, so it works from NODE_OPTIONS or tap's --node-arg.) Every `import` of a listed package, or of a
 * path inside it, then fails as a missing one does, with ERR_MODULE_NOT_FOUND. Child processes that
 * inherit NODE_OPTIONS see the same; `require()` is not covered (Node 20 resolve hooks see only
 * `import`). Nothing happens when TWOFOLD_HIDE_MODULES is unset or empty.
 */
import { register } from 'node:module';

/** The resolve hook, run on Node's loader thread; kept plain JavaScript, so it needs no loader itself. */
const HOOKS = `
let hidden = new Set();
export function initialize(names) {
  hidden = new Set(names);
}
export async function resolve(specifier, context, nextResolve) {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (hidden.has(name)) {
    const error = new Error(
      "Cannot find package '" + name + "' imported from " + context.parentURL + ' (hidden by TWOFOLD_HIDE_MODULES)',
    );
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return nextResolve(specifier, context);
}
`;

const names = (process.env.TWOFOLD_HIDE_MODULES ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');
if (names.length > 0) register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: names });
