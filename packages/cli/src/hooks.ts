/** The `--hooks` module of the commands that act on users: the app's notify, messages and audit. */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SecurityNotice, Store, TwoFactor, TwoFactorEvents } from '@twofold/core';
import { CommandError, UsageError } from './errors.js';
import type { Io } from './io.js';

/** What a `--hooks` module may export. */
export interface Hooks {
  notify?: (notice: SecurityNotice) => unknown;
  audit?: (record: TwoFactorEvents['audit']) => unknown;
  messages?: Record<string, unknown>;
  issuer?: string;
  lockout?: { maxFailures?: number };
}

/** Imports the `--hooks` module and checks what it exports. */
export async function loadHooks(path: string): Promise<Hooks> {
  const url = pathToFileURL(isAbsolute(path) ? path : resolve(path)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new CommandError(`--hooks: cannot load ${path}: ${(error as Error).message}`, { cause: error });
  }
  const hooks = (module.default && typeof module.default === 'object' ? module.default : module) as Record<
    string,
    unknown
  >;
  for (const name of ['notify', 'audit'] as const) {
    if (hooks[name] !== undefined && typeof hooks[name] !== 'function') {
      throw new UsageError(`--hooks: the export "${name}" must be a function`);
    }
  }
  if (hooks.issuer !== undefined && typeof hooks.issuer !== 'string') {
    throw new UsageError('--hooks: the export "issuer" must be a string');
  }
  if (!['notify', 'audit', 'messages', 'issuer', 'lockout'].some((name) => hooks[name] !== undefined)) {
    throw new UsageError('--hooks: the module exports none of notify, audit, messages, issuer, lockout');
  }
  return hooks as Hooks;
}

/**
 * The engine of an operator command on the app's store: a throwaway keyring (operator actions open
 * no secret), the hooks' notify and messages, each audit record printed on stderr as a JSON line
 * and given to the hooks' audit. `settle` waits for every hook it started; false when one failed
 * (each failure printed as `<label>: a hook failed: ...`).
 */
export async function operatorEngine(
  io: Io,
  store: Store,
  hooks: Hooks,
  settings: { issuer: string; maxFailures: number },
): Promise<{ twoFactor: TwoFactor; settle(label: string): Promise<boolean> }> {
  const failures: unknown[] = [];
  const pending: Promise<unknown>[] = [];
  /** Runs a hook, keeping its promise: the command waits for every notice before it exits. */
  const track = (work: () => unknown) => {
    pending.push(
      Promise.resolve()
        .then(work)
        .catch((error: unknown) => failures.push(error)),
    );
  };
  const { createTwoFactor, generateKey } = await import('@twofold/core');
  let twoFactor: TwoFactor;
  try {
    twoFactor = createTwoFactor({
      store,
      keyring: generateKey('cli'),
      issuer: settings.issuer,
      lockout: { maxFailures: settings.maxFailures },
      ...(hooks.messages ? { messages: hooks.messages } : {}),
      ...(hooks.notify ? { notify: (notice: SecurityNotice) => track(() => hooks.notify!(notice)) } : {}),
      onListenerError: (error) => failures.push(error),
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(`--hooks: ${error.message}`);
    throw error;
  }
  twoFactor.on('audit', (record) => {
    io.stderr.write(`${JSON.stringify({ audit: record })}\n`);
    if (hooks.audit) track(() => hooks.audit!(record));
  });
  return {
    twoFactor,
    async settle(label) {
      // Events and hooks run after the action, each in its own turn of the event loop.
      await new Promise((done) => setImmediate(() => setImmediate(done)));
      await Promise.all(pending);
      for (const error of failures) {
        io.stderr.write(`${label}: a hook failed: ${(error as Error)?.message ?? String(error)}\n`);
      }
      return failures.length === 0;
    },
  };
}
