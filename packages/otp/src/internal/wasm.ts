/**
 * What the generated WebAssembly HMAC modules share (sha512-wasm.ts, hmac32-wasm.ts): a small encoder
 * for the binary format, instruction by instruction (WebAssembly Core Specification 2.0, chapter 5), the
 * interface of a module's HMAC, and its instantiation. There is no binary blob to trust, and no build step.
 */

/** WebAssembly opcodes used by the modules (section 5.4). */
export const OP = {
  end: 0x0b,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  i32Load: 0x28,
  i64Load: 0x29,
  i32Store: 0x36,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Add: 0x6a,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i32Rotl: 0x77,
  i32Rotr: 0x78,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrU: 0x88,
  i64Rotr: 0x8a,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
  i64TruncF64U: 0xb1,
} as const;

/** Value types (section 5.3.1). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;

/** Unsigned LEB128 (section 5.2.2), for sizes, counts and indices. */
export function unsigned(value: number): number[] {
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
export function signed(value: bigint): number[] {
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
export function vector(items: readonly (readonly number[])[]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

/** A section: id, byte size, content (section 5.5.2). */
export function section(id: number, content: readonly number[]): number[] {
  return [id, ...unsigned(content.length), ...content];
}

export function name(text: string): number[] {
  return vector([...text].map((char) => [char.charCodeAt(0)]));
}

/** A function type (section 5.3.5). */
export function functionType(params: readonly number[], results: readonly number[]): number[] {
  return [0x60, ...vector(params.map((type) => [type])), ...vector(results.map((type) => [type]))];
}

/** Appends instructions to a function body. */
export class Body {
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
    this.code.push(OP.i32Const, ...signed(BigInt(value | 0)));
    return this;
  }

  i64(value: bigint): this {
    this.code.push(OP.i64Const, ...signed(BigInt.asIntN(64, value)));
    return this;
  }

  call(index: number): this {
    this.code.push(OP.call, ...unsigned(index));
    return this;
  }

  /** Loads the i32 at (address on the stack) + offset; 4-byte aligned (memarg align = 2). */
  load32(offset: number): this {
    this.code.push(OP.i32Load, 2, ...unsigned(offset));
    return this;
  }

  /** Stores an i32 (value on top of the address) at address + offset. */
  store32(offset: number): this {
    this.code.push(OP.i32Store, 2, ...unsigned(offset));
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

/**
 * A whole module (section 5.5): two functions, `compress` (type `compressType`, index 0) and `mac`
 * (index 1), one page of memory, all three exported.
 */
export function hmacModule(
  compressType: readonly number[],
  macType: readonly number[],
  compressBody: readonly number[],
  macBody: readonly number[],
): Uint8Array {
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
    ...section(10, vector([compressBody, macBody])),
  ];
  return Uint8Array.from(bytes);
}

/** The parts of the WebAssembly JS API used here (not in the TypeScript libs this package builds with). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** The exports of a module built by {@link hmacModule}. */
export interface HmacExports {
  memory: { buffer: ArrayBuffer };
  compress(out: number, state: number, block: number): void;
  mac(counter: number): number;
}

/**
 * Compiles and instantiates `bytes()`; undefined when this runtime has no WebAssembly (e.g.
 * `node --jitless`) or refuses to compile it.
 */
export function instantiate(bytes: () => Uint8Array): HmacExports | undefined {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (api === undefined) return undefined;
  try {
    return new api.Instance(new api.Module(bytes())).exports as unknown as HmacExports;
  } catch {
    return undefined;
  }
}

/**
 * The inner and outer hash states of an HMAC after the key block (RFC 2104), in a module's word layout.
 * Two arrays of at most 64 bytes rather than one: V8 keeps typed arrays up to 64 bytes on its heap, which
 * makes them several times cheaper to allocate than larger ones (this is paid per new secret).
 */
export interface KeyStates {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}

/** HMAC over 8-byte counters in WebAssembly, with the key states kept by the caller (one per secret). */
export interface WasmHmac {
  /** The key states of the HMAC under `key` (K0 of RFC 2104, at most one block), to pass to the others. */
  keyStates(key: Uint8Array): KeyStates;
  /** RFC 4226 dynamic truncation of HMAC(key, counter). `counter` must be a non-negative safe integer. */
  truncated(keyStates: KeyStates, counter: number): number;
  /** HMAC(key, counter) into `out` as big-endian 32-bit words (SHA-512 words as hi/lo pairs). */
  mac(keyStates: KeyStates, counter: number, out: Int32Array): Int32Array;
}
