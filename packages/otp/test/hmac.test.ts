import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { promisify } from 'node:util';
import t from 'tap';
import { digest, wordsToBytes } from '../src/internal/block-hash.js';
import {
  createCounterMac,
  createTruncatedHmac,
  type HashAlgorithm,
  type HmacOptions,
} from '../src/internal/hmac.js';
import { sha1Wasm, sha256Wasm } from '../src/internal/hmac32-wasm.js';
import { sha1 } from '../src/internal/sha1.js';
import { sha256 } from '../src/internal/sha256.js';
import { sha512 } from '../src/internal/sha512.js';
import { sha512Wasm } from '../src/internal/sha512-wasm.js';
import { seededRandom, TEST_SEED } from './helpers.js';

// The HMAC is proved against node:crypto (OpenSSL) on every key length from empty to well past each block
// size (64 bytes for SHA-1/SHA-256, 128 for SHA-512: keys longer than a block are hashed first, RFC 2104),
// and on counters at the 32-bit and 53-bit edges of the 8-byte big-endian counter. Every hash has two
// implementations, WebAssembly (the default where available) and JavaScript (the fallback): both are proved.

interface Variant {
  label: string;
  algorithm: HashAlgorithm;
  options: HmacOptions;
  nodeName: string;
  hash: typeof sha1;
  blockBytes: number;
  digestBytes: number;
}

const ALGORITHMS: readonly Variant[] = [
  {
    label: 'SHA1 (WebAssembly)',
    algorithm: 'SHA1',
    options: {},
    nodeName: 'sha1',
    hash: sha1,
    blockBytes: 64,
    digestBytes: 20,
  },
  {
    label: 'SHA1 (JavaScript)',
    algorithm: 'SHA1',
    options: { wasm: false },
    nodeName: 'sha1',
    hash: sha1,
    blockBytes: 64,
    digestBytes: 20,
  },
  {
    label: 'SHA256 (WebAssembly)',
    algorithm: 'SHA256',
    options: {},
    nodeName: 'sha256',
    hash: sha256,
    blockBytes: 64,
    digestBytes: 32,
  },
  {
    label: 'SHA256 (JavaScript)',
    algorithm: 'SHA256',
    options: { wasm: false },
    nodeName: 'sha256',
    hash: sha256,
    blockBytes: 64,
    digestBytes: 32,
  },
  {
    label: 'SHA512 (WebAssembly)',
    algorithm: 'SHA512',
    options: {},
    nodeName: 'sha512',
    hash: sha512,
    blockBytes: 128,
    digestBytes: 64,
  },
  {
    label: 'SHA512 (JavaScript)',
    algorithm: 'SHA512',
    options: { wasm: false },
    nodeName: 'sha512',
    hash: sha512,
    blockBytes: 128,
    digestBytes: 64,
  },
];

const MAX_KEY_BYTES = 200;
const RANDOM_COUNTERS_PER_KEY = 6;
const TWO_POW_32 = 2 ** 32;

/** Counters where the high and low 32-bit halves of the 8-byte message change shape. */
const EDGE_COUNTERS = [
  0,
  1,
  TWO_POW_32 - 1,
  TWO_POW_32,
  TWO_POW_32 + 5,
  Number.MAX_SAFE_INTEGER, // 2^53 - 1
];

function counterMessage(counter: number): Buffer {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  return message;
}

function referenceMac(nodeName: string, key: Uint8Array, counter: number): Buffer {
  return createHmac(nodeName, key).update(counterMessage(counter)).digest();
}

/** RFC 4226 section 5.3 dynamic truncation, written on the MAC bytes independently of the library. */
function referenceTruncation(mac: Buffer): number {
  const offset = mac[mac.length - 1]! & 0x0f;
  return mac.readUInt32BE(offset) & 0x7fffffff;
}

/** Any counter from 0 to 2^53 - 1, both halves drawn independently so every bit gets exercised. */
function randomCounter(random: ReturnType<typeof seededRandom>): number {
  const high = random.int(0, 2 ** 21 - 1);
  const low = random.int(0, TWO_POW_32 - 1);
  return high * TWO_POW_32 + low;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

t.comment(`seed ${TEST_SEED} (set OTP_TEST_SEED to reproduce another run)`);

t.test('every hash runs in WebAssembly on this Node.js', async (t) => {
  // Otherwise the "(WebAssembly)" cases below would silently test the JavaScript fallback twice.
  t.ok(sha1Wasm(), 'SHA-1: WebAssembly is available and the generated module compiles');
  t.ok(sha256Wasm(), 'SHA-256: WebAssembly is available and the generated module compiles');
  t.ok(sha512Wasm(), 'SHA-512: WebAssembly is available and the generated module compiles');
});

for (const { label, algorithm, options, nodeName, hash, blockBytes, digestBytes } of ALGORITHMS) {
  // The whole-message digest (used for keys longer than a block) is JavaScript in every variant.
  t.test(
    `${label}: hashing agrees with node:crypto for messages of 0 to ${2 * blockBytes + 1} bytes`,
    async (t) => {
      // Covers the padding cases: room for the length field in the last block or not, exact block multiples.
      const random = seededRandom(TEST_SEED);
      const mismatches: string[] = [];
      for (let length = 0; length <= 2 * blockBytes + 1; length++) {
        const message = random.bytes(length);
        const expected = createHash(nodeName).update(message).digest('hex');
        const actual = hex(wordsToBytes(digest(hash, message), digestBytes));
        if (actual !== expected) mismatches.push(`length ${length}`);
      }
      t.same(mismatches, [], `seed ${TEST_SEED}`);
    },
  );

  t.test(`${label}: full MAC agrees with node:crypto for keys of 0 to ${MAX_KEY_BYTES} bytes`, async (t) => {
    const random = seededRandom(TEST_SEED);
    const mismatches: string[] = [];
    let cases = 0;
    for (let keyLength = 0; keyLength <= MAX_KEY_BYTES; keyLength++) {
      const key = random.bytes(keyLength);
      const mac = createCounterMac(algorithm, key, options);
      const counters = [...EDGE_COUNTERS];
      for (let i = 0; i < RANDOM_COUNTERS_PER_KEY; i++) counters.push(randomCounter(random));
      for (const counter of counters) {
        cases++;
        const expected = referenceMac(nodeName, key, counter).toString('hex');
        const actual = hex(wordsToBytes(mac(counter), digestBytes));
        if (actual !== expected) mismatches.push(`key length ${keyLength}, counter ${counter}`);
      }
    }
    t.equal(cases, (MAX_KEY_BYTES + 1) * (EDGE_COUNTERS.length + RANDOM_COUNTERS_PER_KEY));
    t.same(mismatches, [], `seed ${TEST_SEED}`);
  });

  t.test(`${label}: truncated value agrees with RFC 4226 truncation of node:crypto's MAC`, async (t) => {
    const random = seededRandom(TEST_SEED + 1);
    const mismatches: string[] = [];
    for (let keyLength = 0; keyLength <= MAX_KEY_BYTES; keyLength++) {
      const key = random.bytes(keyLength);
      const truncated = createTruncatedHmac(algorithm, key, options);
      const counters = [...EDGE_COUNTERS];
      for (let i = 0; i < RANDOM_COUNTERS_PER_KEY; i++) counters.push(randomCounter(random));
      for (const counter of counters) {
        const expected = referenceTruncation(referenceMac(nodeName, key, counter));
        const actual = truncated(counter);
        if (actual !== expected) mismatches.push(`key length ${keyLength}, counter ${counter}`);
      }
    }
    t.same(mismatches, [], `seed ${TEST_SEED + 1}`);
  });

  t.test(`${label}: every truncation offset 0 to 15 is reached and agrees`, async (t) => {
    // The offset comes from the last MAC byte; search counters until each offset has been seen.
    const random = seededRandom(TEST_SEED + 2);
    const key = random.bytes(digestBytes);
    const truncated = createTruncatedHmac(algorithm, key, options);
    const seen = new Set<number>();
    const mismatches: number[] = [];
    for (let counter = 0; seen.size < 16 && counter < 10_000; counter++) {
      const mac = referenceMac(nodeName, key, counter);
      seen.add(mac[mac.length - 1]! & 0x0f);
      if (truncated(counter) !== referenceTruncation(mac)) mismatches.push(counter);
    }
    t.equal(seen.size, 16);
    t.same(mismatches, [], `seed ${TEST_SEED + 2}`);
  });
}

t.test('instances of different algorithms and keys called in turn do not disturb each other', async (t) => {
  // The compression functions share scratch arrays; each call must leave no state behind.
  const random = seededRandom(TEST_SEED + 3);
  const instances = ALGORITHMS.flatMap(({ algorithm, options, nodeName, blockBytes }) =>
    [0, 20, blockBytes, blockBytes + 1].map((keyLength) => {
      const key = random.bytes(keyLength);
      return { nodeName, key, truncated: createTruncatedHmac(algorithm, key, options) };
    }),
  );
  const mismatches: string[] = [];
  for (let round = 0; round < 50; round++) {
    for (const [index, { nodeName, key, truncated }] of instances.entries()) {
      const counter = randomCounter(random);
      if (truncated(counter) !== referenceTruncation(referenceMac(nodeName, key, counter))) {
        mismatches.push(`instance ${index}, counter ${counter}`);
      }
    }
  }
  t.same(mismatches, [], `seed ${TEST_SEED + 3}`);
});

t.test('the key is read once: changing its bytes afterwards does not change the results', async (t) => {
  for (const { label, algorithm, options, nodeName } of ALGORITHMS) {
    const key = new Uint8Array(20).fill(7);
    const truncated = createTruncatedHmac(algorithm, key, options);
    const before = truncated(42);
    key.fill(8);
    t.equal(truncated(42), before, label);
    t.equal(before, referenceTruncation(referenceMac(nodeName, new Uint8Array(20).fill(7), 42)), label);
  }
});

t.test('without WebAssembly (node --jitless), every hash falls back to JavaScript and agrees', async (t) => {
  // A real runtime without WebAssembly rather than a mock: --jitless removes the WebAssembly global.
  const random = seededRandom(TEST_SEED + 4);
  const cases = (['SHA1', 'SHA256', 'SHA512'] as const).flatMap((algorithm) =>
    [0, 1, 64, 128, 129, 200].map((keyLength) => ({
      algorithm,
      key: Buffer.from(random.bytes(keyLength)).toString('hex'),
      counter: randomCounter(random),
    })),
  );
  const hmacModule = new URL('../src/internal/hmac.ts', import.meta.url).href;
  const wasm32Module = new URL('../src/internal/hmac32-wasm.ts', import.meta.url).href;
  const wasm64Module = new URL('../src/internal/sha512-wasm.ts', import.meta.url).href;
  const script = `
    const { createTruncatedHmac } = await import(${JSON.stringify(hmacModule)});
    const { sha1Wasm, sha256Wasm } = await import(${JSON.stringify(wasm32Module)});
    const { sha512Wasm } = await import(${JSON.stringify(wasm64Module)});
    const cases = JSON.parse(process.argv[1]);
    const values = cases.map(({ algorithm, key, counter }) =>
      createTruncatedHmac(algorithm, Uint8Array.from(Buffer.from(key, 'hex')), {})(counter));
    const wasm = [sha1Wasm, sha256Wasm, sha512Wasm].some((build) => build() !== undefined);
    console.log(JSON.stringify({ webAssembly: typeof WebAssembly, wasm, values }));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--jitless',
      '--no-warnings',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
      JSON.stringify(cases),
    ],
    { timeout: 60_000 },
  );
  const result = JSON.parse(stdout) as { webAssembly: string; wasm: boolean; values: number[] };
  t.equal(result.webAssembly, 'undefined', 'no WebAssembly in the child');
  t.equal(result.wasm, false, 'sha1Wasm(), sha256Wasm() and sha512Wasm() report it unavailable');
  t.same(
    result.values,
    cases.map(({ algorithm, key, counter }) =>
      referenceTruncation(referenceMac(algorithm.toLowerCase(), Buffer.from(key, 'hex'), counter)),
    ),
  );
});

// RFC 4226 appendix D, intermediate values: secret '12345678901234567890', HMAC-SHA-1, and the
// "Truncated" column as a decimal.
const RFC4226_INTERMEDIATE: [counter: number, hmac: string, truncated: number][] = [
  [0, 'cc93cf18508d94934c64b65d8ba7667fb7cde4b0', 1284755224],
  [1, '75a48a19d4cbe100644e8ac1397eea747a2d33ab', 1094287082],
  [2, '0bacb7fa082fef30782211938bc1c5e70416ff44', 137359152],
  [3, '66c28227d03a2d5529262ff016a1e6ef76557ece', 1726969429],
  [4, 'a904c900a64b35909874b33e61c5938a8e15ed1c', 1640338314],
  [5, 'a37e783d7b7233c083d4f62926c7a25f238d0316', 868254676],
  [6, 'bc9cd28561042c83f219324d3c607256c03272ae', 1918287922],
  [7, 'a4fb960c0bc06e1eabb804e5b397cdc4b45596fa', 82162583],
  [8, '1b3c89f65e6c9e883012052823443f048b4332db', 673399871],
  [9, '1637409809a679dc698207310c8c7fc07290d9e5', 645520489],
];

t.test('RFC 4226 appendix D: HMAC-SHA-1 values and truncations', async (t) => {
  const key = new TextEncoder().encode('12345678901234567890');
  const mac = createCounterMac('SHA1', key);
  const truncated = createTruncatedHmac('SHA1', key);
  for (const [counter, expectedMac, expectedTruncated] of RFC4226_INTERMEDIATE) {
    t.equal(hex(wordsToBytes(mac(counter), 20)), expectedMac, `HMAC at counter ${counter}`);
    t.equal(truncated(counter), expectedTruncated, `truncation at counter ${counter}`);
  }
});

t.test('an unknown algorithm is a TypeError at setup', async (t) => {
  for (const algorithm of ['sha1', 'MD5', 'SHA384', 'toString', '']) {
    t.throws(() => createTruncatedHmac(algorithm as HashAlgorithm, new Uint8Array(20)), TypeError, algorithm);
  }
});

t.test('a key that is not a Uint8Array is a TypeError at setup', async (t) => {
  for (const key of ['secret', [1, 2, 3], null, new ArrayBuffer(20)]) {
    t.throws(() => createTruncatedHmac('SHA1', key as unknown as Uint8Array), TypeError);
  }
});

t.test('a counter that is not a non-negative safe integer is a RangeError', async (t) => {
  for (const { label, algorithm, options } of ALGORITHMS) {
    const truncated = createTruncatedHmac(algorithm, new Uint8Array(20), options);
    const mac = createCounterMac(algorithm, new Uint8Array(20), options);
    for (const counter of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      t.throws(() => truncated(counter), RangeError, `${label} truncated(${counter})`);
      t.throws(() => mac(counter), RangeError, `${label} mac(${counter})`);
    }
  }
});
