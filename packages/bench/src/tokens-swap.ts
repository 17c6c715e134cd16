/**
 * `node --import tsx --import ./tokens-swap.ts server.ts`: runs a process with the fast-jwt port of
 * the signed tokens (tokens-fast-jwt.ts) in place of core's `internal/signed-tokens.ts`, so `pnpm
 * bench tokens` can measure the verify route with either implementation and nothing else changed.
 * Registered after tsx, so its hook sees the resolved source paths first.
 */
import { register } from 'node:module';

register('./tokens-swap-hooks.ts', import.meta.url);
