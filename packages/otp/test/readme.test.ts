import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

// Every ```ts example of the README runs as written (against the source of this package), so
// that what users copy works. Their console.log output is captured and checked where it matters.

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const source = pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href;
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((found) => found[1]!);

t.test('the README has its examples', async (t) => {
  t.ok(examples.length >= 7, `${examples.length} examples`);
});

t.test('every README example runs without throwing', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'otp-readme-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const logged: unknown[][] = [];
  // biome-ignore lint/suspicious/noConsole: the examples print with console.log; capture it
  const log = console.log;
  console.log = (...values: unknown[]) => logged.push(values);
  t.teardown(() => {
    console.log = log;
  });
  for (const [index, example] of examples.entries()) {
    const file = join(directory, `example-${index}.ts`);
    writeFileSync(file, example.replaceAll(`'@twofold/otp'`, `'${source}'`));
    await t.resolves(import(pathToFileURL(file).href), `example ${index + 1}: ${example.split('\n')[0]}`);
  }
  t.match(logged[0], [
    /^otpauth:\/\/totp\/ACME%20Co:jane%40example\.com\?secret=[A-Z2-7]{32}&issuer=ACME%20Co$/,
    Number,
  ]);
  t.same(
    logged[1],
    [true, false, false],
    'the login example accepts once, then refuses the replay and a bad code',
  );
});
