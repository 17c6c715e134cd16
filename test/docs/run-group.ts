/**
 * Runs the generated modules of one README's code samples one after the other in this process
 * (loading node, tsx and the packages once per README, not once per sample) and writes what
 * became of each to a JSON file: `node --import=tsx run-group.ts <results.json> <module>...`.
 * Each module imports its prelude afresh (`?sample=<line>`), so samples share no prelude state.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { servers } from './runtime.js';

const [resultsFile, ...modules] = process.argv.slice(2);
const TIMEOUT_MS = 30_000;

let current: { error?: string } = {};
const describe = (error: unknown) =>
  error instanceof Error ? (error.stack ?? error.message) : inspect(error);
// An error a sample's leftovers raise later is the running sample's failure, not the group's end.
process.on('uncaughtException', (error) => {
  current.error ??= describe(error);
});
process.on('unhandledRejection', (error) => {
  current.error ??= describe(error);
});

const results: Array<{ module: string; ok: boolean; error?: string; ms: number }> = [];
for (const module of modules) {
  servers.length = 0;
  current = {};
  const begin = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      import(pathToFileURL(resolve(module)).href),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no end after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    current.error ??= describe(error);
  } finally {
    clearTimeout(timer);
  }
  // Let late errors of this sample (a listener, a socket) land before the next one starts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  results.push({ module, ok: current.error === undefined, error: current.error, ms: Date.now() - begin });
}
writeFileSync(resultsFile!, JSON.stringify(results));
// Clients a sample opened and left open (its point is the setup, not the shutdown) must not keep
// the process alive.
process.exit(0);
