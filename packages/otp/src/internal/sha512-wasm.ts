import { ROUND_CONSTANTS, sha512 } from './sha512.js';

/**
 * HMAC-SHA-512 over 8-byte counters, in WebAssembly.
 *
 * SHA-512 is built on 64-bit additions and rotations. In JavaScript each 64-bit word has to be carried as
 * two 32-bit halves (see sha512.ts), which makes one compression several times the work of a SHA-256
 * one. WebAssembly has native 64-bit integers, so the same compression runs at about the speed of
 * SHA-256 in JavaScript. The module is small and is generated here, instruction by instruction, from the
 * FIPS 180-4 definitions: there is no binary blob to trust, and no build step.
 *
 * The generated module exports its memory and two functions:
 *
 * - `compress(out, state, block)`: one SHA-512 compression (FIPS 180-4 section 6.4.2), fully unrolled.
 *   The arguments are byte addresses in the memory, where 64-bit words are stored as native
 *   (little-endian) i64 values, not as big-endian bytes.
 * - `mac(counter)`: HMAC(K, counter) with the key states found at {@link KEY_STATES}, leaving the MAC
 *   words at {@link MAC}, and returning its RFC 4226 dynamic truncation.
 *
 * Everything else (checking arguments, key preparation) stays in JavaScript: see {@link sha512Wasm}.
 * If WebAssembly is unavailable (e.g. `node --jitless`), {@link sha512Wasm} returns undefined and the
 * HMAC falls back to the JavaScript SHA-512.
 */

// Memory layout, in bytes. Every 64-bit word is a native little-endian i64.

/** The inner key state (8 words), then the outer key state (8 words): copied in before each `mac`. */
const KEY_STATES = 0;
/** The second block of the inner hash: counter, padding, length. Only word 0 changes. */
const INNER_BLOCK = 128;
/** The second block of the outer hash: inner digest (written by the inner compression), padding, length. */
const OUTER_BLOCK = 256;
/** The MAC written by the outer compression. */
const MAC = 384;
/** The initial hash value H(0), for preparing key states. */
const INITIAL_STATE = 448;
/** A block to prepare key states in. */
const SCRATCH_BLOCK = 512;

/** Bytes in a SHA-512 block, and in its digest. */
const BLOCK_BYTES = 128;
const DIGEST_BYTES = 64;

/** WebAssembly opcodes used below (WebAssembly Core Specification 2.0, section 5.4). */
const OP = {
  end: 0x0b,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  i32Load: 0x28,
  i64Load: 0x29,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32And: 0x71,
  i32Shl: 0x74,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrU: 0x88,
  i64Rotr: 0x8a,
  i32WrapI64: 0xa7,
  i64TruncF64U: 0xb1,
  i64ExtendI32U: 0xad,
} as const;

const I32 = 0x7f;
const I64 = 0x7e;
const F64 = 0x7c;

/** Unsigned LEB128 (section 5.2.2), for sizes, counts and indices. */
function unsigned(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128 (section 5.2.2), for constants. */
function signed(value: bigint): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(value & 0x7fn);
    value >>= 7n;
    const done = (value === 0n && (byte & 0x40) === 0) || (value === -1n && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** A vector: its length, then its items (section 5.1.3). */
function vector(items: readonly (readonly number[])[]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

/** A section: id, byte size, content (section 5.5.2). */
function section(id: number, content: readonly number[]): number[] {
  return [id, ...unsigned(content.length), ...content];
}

function name(text: string): number[] {
  return vector([...text].map((char) => [char.charCodeAt(0)]));
}

/** Appends instructions to a function body. */
class Body {
  readonly code: number[] = [];

  get(local: number): this {
    this.code.push(OP.localGet, ...unsigned(local));
    return this;
  }

  set(local: number): this {
    this.code.push(OP.localSet, ...unsigned(local));
    return this;
  }

  op(...opcodes: number[]): this {
    this.code.push(...opcodes);
    return this;
  }

  i32(value: number): this {
    this.code.push(OP.i32Const, ...signed(BigInt(value)));
    return this;
  }

  i64(value: bigint): this {
    this.code.push(OP.i64Const, ...signed(BigInt.asIntN(64, value)));
    return this;
  }

  /** Loads the i64 at (address on the stack) + offset; 8-byte aligned (memarg align = 3). */
  load64(offset: number): this {
    this.code.push(OP.i64Load, 3, ...unsigned(offset));
    return this;
  }

  /** Stores an i64 (value on top of the address) at address + offset. */
  store64(offset: number): this {
    this.code.push(OP.i64Store, 3, ...unsigned(offset));
    return this;
  }

  /** Pushes ROTR(a, x) ^ ROTR(b, x) ^ ROTR(c, x), or SHR(c, x) for the last term when `shiftLast`. */
  mix(x: number, a: number, b: number, c: number, shiftLast: boolean): this {
    this.get(x).i64(BigInt(a)).op(OP.i64Rotr);
    this.get(x).i64(BigInt(b)).op(OP.i64Rotr, OP.i64Xor);
    this.get(x)
      .i64(BigInt(c))
      .op(shiftLast ? OP.i64ShrU : OP.i64Rotr, OP.i64Xor);
    return this;
  }

  /** The function body: local declarations, instructions, end (section 5.5.13). */
  encode(locals: readonly [count: number, type: number][]): number[] {
    const content = [
      ...vector(locals.map(([count, type]) => [...unsigned(count), type])),
      ...this.code,
      OP.end,
    ];
    return [...unsigned(content.length), ...content];
  }
}

/** `compress(out, state, block)`: FIPS 180-4 section 6.4.2 for one block, every round unrolled. */
function compressBody(): number[] {
  const OUT = 0;
  const STATE = 1;
  const BLOCK = 2;
  /** W(t) for t mod 16: the schedule is computed in place, 16 words at a time. */
  const w = (t: number): number => 3 + (t % 16);
  /** The working variables live in 8 locals; instead of moving them each round, their roles rotate. */
  const vars = 3 + 16;
  const role = (t: number, letter: number): number => vars + ((((letter - t) % 8) + 8) % 8);
  const T1 = vars + 8;
  const body = new Body();

  for (let t = 0; t < 16; t++)
    body
      .get(BLOCK)
      .load64(8 * t)
      .set(w(t));
  for (let i = 0; i < 8; i++)
    body
      .get(STATE)
      .load64(8 * i)
      .set(vars + i);

  for (let t = 0; t < 80; t++) {
    if (t >= 16) {
      // W(t) = sigma1(W(t-2)) + W(t-7) + sigma0(W(t-15)) + W(t-16); W(t-16) is the local W(t) replaces.
      body
        .mix(w(t - 2), 19, 61, 6, true)
        .get(w(t - 7))
        .op(OP.i64Add);
      body.mix(w(t - 15), 1, 8, 7, true).op(OP.i64Add);
      body.get(w(t)).op(OP.i64Add).set(w(t));
    }
    const [a, b, c, d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7].map((letter) => role(t, letter)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    // T1 = h + Sigma1(e) + Ch(e, f, g) + K(t) + W(t), with Ch(e, f, g) = g ^ (e & (f ^ g)).
    body.get(h).mix(e, 14, 18, 41, false).op(OP.i64Add);
    body.get(g).get(e).get(f).get(g).op(OP.i64Xor, OP.i64And, OP.i64Xor, OP.i64Add);
    const k = (BigInt(ROUND_CONSTANTS[2 * t]! >>> 0) << 32n) | BigInt(ROUND_CONSTANTS[2 * t + 1]! >>> 0);
    body.i64(k).op(OP.i64Add).get(w(t)).op(OP.i64Add).set(T1);
    // d becomes e of the next round: d + T1.
    body.get(d).get(T1).op(OP.i64Add).set(d);
    // h becomes a of the next round: T1 + T2, with T2 = Sigma0(a) + Maj(a, b, c),
    // Maj(a, b, c) = (a & b) | (c & (a | b)).
    body.get(T1).mix(a, 28, 34, 39, false).op(OP.i64Add);
    body.get(a).get(b).op(OP.i64And).get(c).get(a).get(b).op(OP.i64Or, OP.i64And, OP.i64Or, OP.i64Add);
    body.set(h);
  }

  // H(i) = H(i-1) + (a, ..., h). 80 rounds are a whole number of rotations: the roles are back in place.
  for (let i = 0; i < 8; i++) {
    body
      .get(OUT)
      .get(STATE)
      .load64(8 * i)
      .get(vars + i)
      .op(OP.i64Add)
      .store64(8 * i);
  }
  return body.encode([[16 + 8 + 1, I64]]);
}

/**
 * `mac(counter)`: the counter (a non-negative safe integer, checked by the caller) into the inner block,
 * the inner compression (its digest lands in the outer block), the outer compression, then RFC 4226
 * section 5.3 dynamic truncation of the MAC.
 */
function macBody(compressIndex: number): number[] {
  const COUNTER = 0;
  const OFFSET = 1; // i32
  const HIGH = 2; // i64
  const LOW = 3; // i64
  const SHIFT = 4; // i64
  const body = new Body();
  body.i32(INNER_BLOCK).get(COUNTER).op(OP.i64TruncF64U).store64(0);
  body
    .i32(OUTER_BLOCK)
    .i32(KEY_STATES)
    .i32(INNER_BLOCK)
    .op(OP.call, ...unsigned(compressIndex));
  body
    .i32(MAC)
    .i32(KEY_STATES + DIGEST_BYTES)
    .i32(OUTER_BLOCK)
    .op(OP.call, ...unsigned(compressIndex));

  // The offset is the low 4 bits of the last MAC byte: the low byte of word 7.
  body
    .i32(MAC + 56)
    .op(OP.i32Load, 2, 0)
    .i32(0x0f)
    .op(OP.i32And)
    .set(OFFSET);
  // The 4 bytes at the offset start in word 0 (offset < 8) or word 1; take that word and the next.
  body.i32(MAC).load64(8).i32(MAC).load64(0).get(OFFSET).i32(8).op(OP.i32And, OP.select).set(HIGH);
  body.i32(MAC).load64(16).i32(MAC).load64(8).get(OFFSET).i32(8).op(OP.i32And, OP.select).set(LOW);
  body.get(OFFSET).i32(7).op(OP.i32And).i32(3).op(OP.i32Shl, OP.i64ExtendI32U).set(SHIFT);
  // (HIGH << SHIFT) | (LOW >>> (64 - SHIFT)), written as (LOW >>> 1) >>> (63 - SHIFT) so that a shift of 0
  // leaves a stray bit only in bit 0; the top 32 bits are the 4 bytes, the top bit of which is dropped.
  body.get(HIGH).get(SHIFT).op(OP.i64Shl);
  body.get(LOW).i64(1n).op(OP.i64ShrU).i64(63n).get(SHIFT).op(OP.i64Sub, OP.i64ShrU, OP.i64Or);
  body.i64(32n).op(OP.i64ShrU, OP.i32WrapI64).i32(0x7fffffff).op(OP.i32And);
  return body.encode([
    [1, I32],
    [3, I64],
  ]);
}

/** The whole module (section 5.5): types, functions, one page of memory, exports, code. */
function moduleBytes(): Uint8Array {
  const compressType = [0x60, ...vector([[I32], [I32], [I32]]), ...vector([])];
  const macType = [0x60, ...vector([[F64]]), ...vector([[I32]])];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, vector([compressType, macType])),
    ...section(3, vector([[0], [1]])), // compress: type 0, mac: type 1
    ...section(5, vector([[0x01, 1, 1]])), // one memory, exactly one 64 KiB page
    ...section(
      7,
      vector([
        [...name('memory'), 0x02, 0],
        [...name('compress'), 0x00, 0],
        [...name('mac'), 0x00, 1],
      ]),
    ),
    ...section(10, vector([compressBody(), macBody(0)])),
  ];
  return Uint8Array.from(bytes);
}

/** The parts of the WebAssembly JS API used here (not in the TypeScript libs this package builds with). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

interface Exports {
  memory: { buffer: ArrayBuffer };
  compress(out: number, state: number, block: number): void;
  mac(counter: number): number;
}

/**
 * The inner and outer hash states of HMAC-SHA-512 after the key block (RFC 2104), in the module's word
 * layout. Two arrays of 64 bytes rather than one of 128: V8 keeps typed arrays up to 64 bytes on its heap,
 * which makes them several times cheaper to allocate than larger ones (this is paid per new secret).
 */
export interface KeyStates {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}

/** HMAC-SHA-512 over counters, with the key states kept by the caller (one per secret). */
export interface Sha512Wasm {
  /** The key states of HMAC-SHA-512 under `key`, to pass to {@link Sha512Wasm.truncated} and {@link Sha512Wasm.mac}. */
  keyStates(key: Uint8Array): KeyStates;
  /** RFC 4226 dynamic truncation of HMAC(key, counter). `counter` must be a non-negative safe integer. */
  truncated(keyStates: KeyStates, counter: number): number;
  /** HMAC(key, counter) into `out` as 16 big-endian 32-bit words (hi/lo pairs, like sha512.ts). */
  mac(keyStates: KeyStates, counter: number, out: Int32Array): Int32Array;
}

/** Inner and outer HMAC pads (RFC 2104 section 2). */
const IPAD = 0x36;
const OPAD = 0x5c;

function create(api: WebAssemblyApi): Sha512Wasm {
  const exports = new api.Instance(new api.Module(moduleBytes())).exports as unknown as Exports;
  const { compress, mac } = exports;
  const bytes = new Uint8Array(exports.memory.buffer);
  // Only ever used to copy opaque key states in and out: its byte order does not matter.
  const words = new Int32Array(exports.memory.buffer);
  const view = new DataView(exports.memory.buffer);
  const setWord = (address: number, value: bigint): void => view.setBigUint64(address, value, true);

  // The constant words of the two last blocks (RFC 4226 counter message, RFC 2104 outer message).
  setWord(INNER_BLOCK + 8, 0x80n << 56n);
  setWord(INNER_BLOCK + 120, BigInt((BLOCK_BYTES + 8) * 8));
  setWord(OUTER_BLOCK + 64, 0x80n << 56n);
  setWord(OUTER_BLOCK + 120, BigInt((BLOCK_BYTES + DIGEST_BYTES) * 8));
  for (let i = 0; i < 8; i++) {
    // WebAssembly memory is little-endian on every host: the low half of a word comes first.
    view.setInt32(INITIAL_STATE + 8 * i, sha512.initial[2 * i + 1]!, true);
    view.setInt32(INITIAL_STATE + 8 * i + 4, sha512.initial[2 * i]!, true);
  }

  /** Writes K0 ^ pad as a block of native words: big-endian byte j of the block goes to j ^ 7. */
  const writePaddedKey = (key: Uint8Array, pad: number): void => {
    bytes.fill(pad, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES); // the zero bytes after the key, padded
    for (let j = 0; j < key.length; j++) bytes[SCRATCH_BLOCK + (j ^ 7)] = key[j]! ^ pad;
  };

  const loadKeyStates = (keyStates: KeyStates): void => {
    words.set(keyStates.inner, KEY_STATES / 4);
    words.set(keyStates.outer, KEY_STATES / 4 + 16);
  };

  return {
    keyStates(key) {
      writePaddedKey(key, IPAD);
      compress(KEY_STATES, INITIAL_STATE, SCRATCH_BLOCK);
      writePaddedKey(key, OPAD);
      compress(KEY_STATES + DIGEST_BYTES, INITIAL_STATE, SCRATCH_BLOCK);
      // K0 ^ opad gives the key back: do not leave it in the module's memory.
      bytes.fill(0, SCRATCH_BLOCK, SCRATCH_BLOCK + BLOCK_BYTES);
      return {
        inner: words.slice(KEY_STATES / 4, KEY_STATES / 4 + 16),
        outer: words.slice(KEY_STATES / 4 + 16, KEY_STATES / 4 + 32),
      };
    },
    truncated(keyStates, counter) {
      loadKeyStates(keyStates);
      return mac(counter);
    },
    mac(keyStates, counter, out) {
      loadKeyStates(keyStates);
      mac(counter);
      for (let i = 0; i < 16; i += 2) {
        out[i] = view.getInt32(MAC + 4 * i + 4, true);
        out[i + 1] = view.getInt32(MAC + 4 * i, true);
      }
      return out;
    },
  };
}

let instance: Sha512Wasm | null | undefined;

/**
 * The WebAssembly HMAC-SHA-512, built on first use; undefined when this runtime has no WebAssembly or
 * refuses to compile it, in which case callers use the JavaScript SHA-512.
 *
 * The key passed to `keyStates` must already be K0 of RFC 2104 (at most one block: longer keys are hashed
 * first by the caller).
 */
export function sha512Wasm(): Sha512Wasm | undefined {
  if (instance === undefined) {
    const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
    try {
      instance = api === undefined ? null : create(api);
    } catch {
      instance = null;
    }
  }
  return instance ?? undefined;
}
