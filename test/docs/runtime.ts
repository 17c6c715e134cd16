/**
 * Imported first by every generated sample module (see samples.ts): the assertions of the claims
 * a sample's comments make, the epilogue, and one redirection: a server asked to listen on port
 * 3000 (the port the samples use) listens on a free loopback port instead, so samples run in
 * parallel with each other and with whatever else uses 3000 on this machine.
 */
import { deepStrictEqual } from 'node:assert';
import net from 'node:net';
import { format, inspect } from 'node:util';

/** Servers the samples started, closed by {@link __finish}. */
export const servers: net.Server[] = [];

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  if (args[0] === 3000) args[0] = { port: 0, host: '127.0.0.1' };
  else if (typeof args[0] === 'object' && args[0] !== null && (args[0] as { port?: unknown }).port === 3000) {
    args[0] = { ...(args[0] as object), port: 0, host: '127.0.0.1' };
  }
  servers.push(this);
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;

/** The origin of the first server a sample started. */
export async function origin(): Promise<string> {
  const server = servers[0];
  if (!server) throw new Error('the sample started no server');
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address() as net.AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}

/** Parses a claim's literal: a quoted string, a number, a boolean, null, or JSON. */
function literal(text: string): { ok: true; value: unknown } | { ok: false } {
  if (/^'.*'$/s.test(text)) return { ok: true, value: text.slice(1, -1).replace(/\\'/g, "'") };
  if (text === 'undefined') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text.replace(/_/g, '')) };
  } catch {
    return { ok: false };
  }
}

/** `...` and `<placeholder>` in a claimed string stand for any text. */
function stringMatches(actual: unknown, expected: string): boolean {
  if (typeof actual !== 'string') return false;
  if (!expected.includes('...') && !/<[^>]+>/.test(expected)) return actual === expected;
  const pattern = expected
    .split(/\.\.\.|<[^>]+>/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`, 's').test(actual);
}

function fail(line: number, claim: string, actual: unknown): never {
  throw new Error(
    `README line ${line}: the comment claims ${claim}, the code gives ${inspect(actual, { depth: 3 })}`,
  );
}

/** Asserts that `compute()` gives what the comment on README line `line` claims. */
export async function __claim(line: number, compute: () => Promise<unknown>, claim: string): Promise<void> {
  const actual = await compute();
  if (claim.startsWith('{')) return objectClaim(line, actual, claim);
  const parsed = literal(claim);
  if (!parsed.ok) fail(line, claim, actual);
  if (typeof parsed.value === 'string') {
    if (!stringMatches(actual, parsed.value)) fail(line, claim, actual);
    return;
  }
  try {
    deepStrictEqual(actual, parsed.value);
  } catch {
    fail(line, claim, actual);
  }
}

/**
 * An object claim: JSON is compared whole; otherwise each `key: literal` pair is checked
 * (`Uint8Array(n)` by its length), and a list of bare names (`{ a, b }`) is the exact key set.
 * A string value is parsed as JSON first (the claim is about the text's content).
 */
function objectClaim(line: number, actual: unknown, claim: string): void {
  let value = actual;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      fail(line, claim, actual);
    }
  }
  const json = literal(claim);
  if (json.ok) {
    try {
      deepStrictEqual(value, json.value);
      return;
    } catch {
      fail(line, claim, actual);
    }
  }
  const record = value as Record<string, unknown>;
  if (typeof record !== 'object' || record === null) fail(line, claim, actual);
  const inner = claim.slice(1, -1).trim();
  if (/^[\w$]+(\s*,\s*[\w$]+)*$/.test(inner)) {
    const keys = inner.split(/\s*,\s*/).sort();
    if (JSON.stringify(Object.keys(record).sort()) !== JSON.stringify(keys))
      fail(line, claim, Object.keys(record));
    return;
  }
  for (const [, key, text] of inner.matchAll(
    /([\w$]+):\s*('(?:[^'\\]|\\.)*'|-?\d+|true|false|null|Uint8Array\(\d+\))/g,
  )) {
    const field = record[key!];
    const bytes = /^Uint8Array\((\d+)\)$/.exec(text!);
    if (bytes) {
      if (!(field instanceof Uint8Array) || field.length !== Number(bytes[1]))
        fail(line, `${key}: ${text}`, field);
      continue;
    }
    const parsed = literal(text!);
    if (!parsed.ok) fail(line, claim, actual);
    const ok = typeof parsed.value === 'string' ? stringMatches(field, parsed.value) : field === parsed.value;
    if (!ok) fail(line, `${key}: ${text}`, field);
  }
}

/** `console.log(...args); // claim`: prints as the sample does, and asserts the printed line. */
export function __claimLog(line: number, claim: string, ...args: unknown[]): void {
  const printed = format(...args);
  process.stdout.write(`${printed}\n`);
  if (printed !== claim) fail(line, claim, printed);
}

/** The end of every sample: the prelude's checks on what the sample made, then its servers closed. */
export async function __finish(
  prelude: { after?: (scope: Record<string, unknown>) => unknown },
  scope: Record<string, unknown>,
) {
  await prelude.after?.(scope);
  await Promise.all(
    servers
      .filter((server) => server.listening)
      .map((server) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        return new Promise((resolve) => server.close(resolve));
      }),
  );
}
