import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { missingSkip } from '@twofold/test-support';
import t from 'tap';
import { qrModules, renderQrSvg, svgDataUri } from '../src/qr.js';

const run = promisify(execFile);

const URIS: [string, string][] = [
  ['short', 'otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme'],
  [
    'long issuer with spaces and unicode, percent-encoded',
    `otpauth://totp/${encodeURIComponent('Société Générale — Zürich Büro')}:${encodeURIComponent('jörg.müller+2fa@exämple.com')}?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=${encodeURIComponent('Société Générale — Zürich Büro')}`,
  ],
  [
    'SHA512, 8 digits, 60 s',
    'otpauth://totp/Example%20Corp:bob%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA&issuer=Example%20Corp&algorithm=SHA512&digits=8&period=60',
  ],
  ['hotp with counter', 'otpauth://hotp/Acme:carol?secret=JBSWY3DPEHPK3PXP&issuer=Acme&counter=42'],
];

/** The external tools that do not run. */
function missingTools(): string[] {
  return ['rsvg-convert', 'zbarimg'].filter((tool) => spawnSync(tool, ['--version']).status !== 0);
}

/** Dark modules of an SVG as "x,y" of each unit square in the joined path. */
function darkSquares(svg: string): Set<string> {
  const path = /<path [^>]*d="([^"]*)"/.exec(svg)?.[1] ?? '';
  return new Set([...path.matchAll(/M(\d+),(\d+) V\d+ H\d+ V\d+ H\d+ Z/g)].map((m) => `${m[1]},${m[2]}`));
}

const missing = missingTools();
const scanSkip =
  missing.length > 0 &&
  missingSkip(t, `tool missing: ${missing.join(', ')} (Debian packages librsvg2-bin, zbar-tools)`);

t.test(
  'each otpauth URI renders to a QR code that scans back to exactly the URI',
  { skip: scanSkip },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'twofold-qr-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    for (const [index, [name, uri]] of URIS.entries()) {
      const svgPath = join(dir, `${index}.svg`);
      const pngPath = join(dir, `${index}.png`);
      await writeFile(svgPath, renderQrSvg(uri));
      await run('rsvg-convert', ['-w', '400', '-b', 'white', '-o', pngPath, svgPath]);
      const { stdout } = await run('zbarimg', ['--raw', '-q', pngPath]);
      t.equal(stdout.replace(/\n$/, ''), uri, name);
    }
  },
);

/**
 * The error correction level a symbol's format information declares (ISO/IEC 18004 7.9): 15 bits
 * around the top-left finder pattern, masked with 101010000010010; the first two bits are the level
 * (01 L, 00 M, 11 Q, 10 H). Read from the matrix, independently of the encoder.
 */
function declaredLevel(modules: readonly (readonly boolean[])[]): string {
  const cells: [number, number][] = [
    [8, 0],
    [8, 1],
    [8, 2],
    [8, 3],
    [8, 4],
    [8, 5],
    [8, 7],
    [8, 8],
    [7, 8],
    [5, 8],
    [4, 8],
    [3, 8],
    [2, 8],
    [1, 8],
    [0, 8],
  ]; // [row, column], most significant bit first
  let bits = 0;
  for (const [row, column] of cells) bits = (bits << 1) | (modules[row]![column] ? 1 : 0);
  const level = ((bits ^ 0b101010000010010) >> 13) & 0b11;
  return ['M', 'L', 'H', 'Q'][level]!;
}

t.test(
  'qrModules is a square symbol of a QR version at error correction level M, without quiet zone',
  async (t) => {
    for (const [name, uri] of URIS) {
      const modules = qrModules(uri);
      const size = modules.length;
      t.ok(size >= 21 && (size - 17) % 4 === 0, `${name}: ${size} modules is a QR version's size`);
      t.ok(
        modules.every((row) => row.length === size),
        `${name}: square`,
      );
      // Finder pattern: the top-left corner is dark (no quiet zone), its separator light.
      t.equal(modules[0]![0], true, `${name}: the finder pattern starts at (0, 0)`);
      t.equal(modules[7]![7], false, `${name}: separator`);
      t.equal(declaredLevel(modules), 'M', `${name}: level M`);
    }
  },
);

t.test('qrModules refuses what renderQrSvg refuses, with the same error classes', async (t) => {
  t.throws(() => qrModules('otpauth://totp/Zürich:a?secret=A'), TypeError);
  t.throws(() => qrModules(''), TypeError);
  t.throws(() => qrModules('a'.repeat(2400)), RangeError);
});

t.test(
  'the SVG draws each dark module upright at (4 + column, 4 + row) in a viewBox of whole modules',
  async (t) => {
    for (const [name, uri] of URIS) {
      const modules = qrModules(uri);
      const count = modules.length;
      const wanted = new Set<string>();
      for (let row = 0; row < count; row++) {
        for (let column = 0; column < count; column++) {
          if (modules[row]![column]) wanted.add(`${column + 4},${row + 4}`);
        }
      }
      const svg = renderQrSvg(uri);
      t.match(svg, new RegExp(`viewBox="0 0 ${count + 8} ${count + 8}"`), `${name}: 4-module quiet zone`);
      t.same(darkSquares(svg), wanted, `${name}: modules`);
    }
  },
);

t.test('the SVG is black on white, one joined path, standalone, with no text of the URI', async (t) => {
  const svg = renderQrSvg(URIS[0]![1]);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* viewBox="0 0 \d+ \d+">/);
  t.match(svg, /<rect [^>]*style="fill:#ffffff;/);
  t.equal(svg.match(/<path /g)?.length, 1);
  t.match(svg, /<path [^>]*style="fill:#000000;/);
  t.notOk(svg.includes('JBSWY3DP'), 'the secret is not in the markup');
  t.notOk(svg.includes('otpauth'));
});

t.test('error correction is level M', async (t) => {
  // Level M holds 2331 bytes at version 40; L would take more, Q and H fewer.
  t.doesNotThrow(() => renderQrSvg('a'.repeat(1800)), 'more than Q allows');
  t.throws(() => renderQrSvg('a'.repeat(2400)), RangeError, 'more than M allows');
});

t.test('renderQrSvg refuses empty, non-string and non-ASCII text with a TypeError', async (t) => {
  for (const text of ['', 'otpauth://totp/Zürich:a?secret=A', 'a\nb', 42, null, undefined]) {
    t.throws(() => renderQrSvg(text as string), TypeError, JSON.stringify(text));
  }
});

t.test('a too-long text is a RangeError whose message does not repeat the text', async (t) => {
  const text = `otpauth://totp/A:b?secret=${'JBSWY3DP'.repeat(400)}`;
  const error = t.throws(() => renderQrSvg(text), RangeError) as Error;
  t.notOk(error.message.includes('JBSWY3DP'));
});

t.test('svgDataUri wraps the SVG as base64 that decodes back to it', async (t) => {
  for (const [name, uri] of URIS) {
    const svg = renderQrSvg(uri);
    const dataUri = svgDataUri(svg);
    t.ok(dataUri.startsWith('data:image/svg+xml;base64,'), name);
    const base64 = dataUri.slice('data:image/svg+xml;base64,'.length);
    t.match(base64, /^[A-Za-z0-9+/]+={0,2}$/);
    t.equal(Buffer.from(base64, 'base64').toString('utf8'), svg, name);
  }
});

t.test('svgDataUri refuses a non-string or empty SVG', async (t) => {
  t.throws(() => svgDataUri(''), TypeError);
  t.throws(() => svgDataUri(undefined as unknown as string), TypeError);
});
