/** The module hook of tokens-swap.ts: core's signed tokens resolve to the fast-jwt port. */
import type { ResolveHook } from 'node:module';

const SIGNED_TOKENS = '/packages/core/src/internal/signed-tokens.ts';
const PORT = new URL('./tokens-fast-jwt.ts', import.meta.url).href;

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context);
  return resolved.url.endsWith(SIGNED_TOKENS) ? { ...resolved, url: PORT } : resolved;
};
