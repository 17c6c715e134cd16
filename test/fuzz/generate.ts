/**
 * Request generators for the fuzz suite: a seeded PRNG, a JSON writer that can say what
 * JSON.stringify cannot (duplicated keys, `__proto__` as a plain key, raw number tokens, lone
 * surrogate escapes) and one generator per kind of hostile input.
 *
 * Everything random comes from the PRNG, so one seed gives the same sequence of requests; only the
 * live token values (tokens the app issued during the run) differ between runs.
 */

/** sfc32 seeded through splitmix32: fast, good enough, and reproducible from one 32-bit seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.float();
  }

  /** Uniform in [0, 1). */
  float(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }
}

// ---------------------------------------------------------------------------------------------
// A JSON value that may hold what JSON.stringify cannot write

/** Written verbatim into the JSON text (e.g. `1e309`, `NaN`, `-0`). */
export interface RawToken {
  raw: string;
}
/** An object as ordered entries: keys may repeat and may be `__proto__`. */
export interface Entries {
  entries: [string, Value][];
}
export type Value = string | number | boolean | null | RawToken | Entries | Value[];

export function obj(entries: [string, Value][]): Entries {
  return { entries };
}

/** Writes `value` as JSON text. Strings go through JSON.stringify, so lone surrogates become `\udXXX`. */
export function writeJson(value: Value): string {
  // Iterative, so 10,000-deep values do not overflow the stack here.
  const out: string[] = [];
  const stack: (Value | { close: string } | { sep: string })[] = [value];
  while (stack.length > 0) {
    const item = stack.pop() as Value | { close: string } | { sep: string };
    if (item !== null && typeof item === 'object' && 'close' in item) {
      out.push(item.close);
    } else if (item !== null && typeof item === 'object' && 'sep' in item) {
      out.push(item.sep);
    } else if (Array.isArray(item)) {
      out.push('[');
      stack.push({ close: ']' });
      for (let i = item.length - 1; i >= 0; i--) {
        stack.push(item[i] as Value);
        if (i > 0) stack.push({ sep: ',' });
      }
    } else if (item !== null && typeof item === 'object' && 'entries' in item) {
      out.push('{');
      stack.push({ close: '}' });
      for (let i = item.entries.length - 1; i >= 0; i--) {
        const [key, child] = item.entries[i] as [string, Value];
        stack.push(child);
        stack.push({ sep: `${JSON.stringify(key)}:` });
        if (i > 0) stack.push({ sep: ',' });
      }
    } else if (item !== null && typeof item === 'object' && 'raw' in item) {
      out.push(item.raw);
    } else {
      out.push(JSON.stringify(item));
    }
  }
  return out.join('');
}

// ---------------------------------------------------------------------------------------------
// The routes and their fields

export type FieldKind =
  | 'code'
  | 'recoveryCode'
  | 'challengeToken'
  | 'refreshToken'
  | 'jwt'
  | 'username'
  | 'password'
  | 'email'
  | 'uid'
  | 'recoveryToken';

export interface RouteSpec {
  method: 'GET' | 'POST';
  path: string;
  /** Alternative field sets the route accepts (the first is the main one). */
  shapes: [string, FieldKind][][];
  /** Needs an access token in `Authorization`. */
  auth: boolean;
  /**
   * Valid access tokens that must not be sent here because the request could then succeed and
   * legitimately change what the run compares (enrolling the pending user again) or end the
   * sessions the run goes on using (signing the pending user out everywhere).
   */
  forbidAuthOf?: 'pending';
}

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST',
    path: '/login',
    shapes: [
      [
        ['username', 'username'],
        ['password', 'password'],
      ],
      [
        ['username', 'username'],
        ['password', 'password'],
        ['deviceToken', 'jwt'],
      ],
    ],
    auth: false,
  },
  {
    method: 'POST',
    path: '/login/verify',
    shapes: [
      [
        ['challengeToken', 'challengeToken'],
        ['code', 'code'],
      ],
      [
        ['challengeToken', 'challengeToken'],
        ['recoveryCode', 'recoveryCode'],
      ],
    ],
    auth: false,
  },
  { method: 'POST', path: '/token/refresh', shapes: [[['refreshToken', 'refreshToken']]], auth: false },
  { method: 'POST', path: '/token/revoke', shapes: [[['refreshToken', 'refreshToken']]], auth: false },
  { method: 'POST', path: '/token/verify', shapes: [[['token', 'jwt']]], auth: false },
  { method: 'POST', path: '/totp/enroll', shapes: [[]], auth: true, forbidAuthOf: 'pending' },
  { method: 'POST', path: '/totp/confirm', shapes: [[['code', 'code']]], auth: true },
  {
    method: 'POST',
    path: '/totp/disable',
    shapes: [[['code', 'code']], [['recoveryCode', 'recoveryCode']]],
    auth: true,
  },
  { method: 'POST', path: '/recovery-codes/rotate', shapes: [[['code', 'code']]], auth: true },
  {
    method: 'POST',
    path: '/step-up',
    shapes: [[['code', 'code']], [['recoveryCode', 'recoveryCode']]],
    auth: true,
  },
  { method: 'GET', path: '/status', shapes: [[]], auth: true },
  {
    method: 'POST',
    path: '/sessions/revoke-all',
    shapes: [[], [['code', 'code']], [['recoveryCode', 'recoveryCode']]],
    auth: true,
    forbidAuthOf: 'pending',
  },
  { method: 'POST', path: '/recovery/request', shapes: [[['email', 'email']]], auth: false },
  {
    method: 'POST',
    path: '/recovery/confirm',
    shapes: [
      [
        ['uid', 'uid'],
        ['token', 'recoveryToken'],
        ['password', 'password'],
      ],
    ],
    auth: false,
  },
  {
    method: 'POST',
    path: '/recovery/cancel',
    shapes: [
      [
        ['uid', 'uid'],
        ['token', 'recoveryToken'],
      ],
    ],
    auth: false,
  },
];

// ---------------------------------------------------------------------------------------------
// What the generators may draw on: the run's users and the tokens the app issued

export interface Pools {
  /** Usernames (known and unknown), passwords, emails, user ids. */
  usernames: string[];
  passwords: string[];
  emails: string[];
  uids: string[];
  /** Valid tokens of each kind, refreshed as the run goes. */
  accessTokens: { enrolled: string[]; pending: string[]; scratch: string[] };
  refreshTokens: string[];
  challengeTokens: string[];
  /** Forged JWTs: alg none, tampered payloads, wrong keys. */
  forgedTokens: string[];
  /** True if `code` (after dropping spaces and hyphens) would be accepted now by someone. */
  isLiveCode(code: string): boolean;
}

export interface FuzzRequest {
  /** Index in the run: with the seed, names the request for reproduction. */
  index: number;
  route: RouteSpec;
  strategy: string;
  /** The body: text or bytes; undefined for none. */
  body?: string | Uint8Array;
  /** `Content-Type`; undefined for none. */
  contentType?: string;
  authorization?: string;
}

const JSON_TYPE = 'application/json';

/**
 * Mixed into values and keys by `unicode` (and, a character at a time, into `junk`): among them
 * what no store may be handed: NUL, C0/C1 controls, DEL, lone surrogates.
 */
const UNICODE_BITS = [
  '\u0000',
  '\u0001',
  '\u001b',
  '\u007f',
  '\u009b',
  '\ud800',
  '\udc00',
  '\udfff',
  '\udbff\udfff',
  '\u202e',
  '\u200f',
  '\u200b',
  '\ufeff',
  '\ufffd',
  '\u0301',
  '\u{1f600}',
  '\u{1f469}\u200d\u{1f4bb}',
  '\uff11\uff12\uff13\uff14\uff15\uff16',
  '\u0661\u0662\u0663\u0664\u0665\u0666',
  '\u00e9',
  'e\u0301',
  '\u2028',
  '\u0085',
  '\\',
  '"',
  '%00',
  '\r\n',
  '\t',
];

/** Characters no store may be handed in an id or token: NUL, C0/C1 controls, DEL, lone surrogates. */
export const HOSTILE_CHARACTERS = [
  '\u0000',
  '\u0001',
  '\t',
  '\n',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009b',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
];

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

const EDGE_NUMBERS = [
  '1e309',
  '-1e309',
  '-0',
  '0',
  '1e-400',
  '9007199254740993',
  '-9007199254740993',
  '123456.0',
  '1.5',
  '-1',
  '4294967296',
  `1${'0'.repeat(400)}`,
  `0.${'0'.repeat(400)}1`,
];

/** Not JSON at all, for a value position (the whole body then fails to parse). */
const BAD_NUMBER_TOKENS = [
  'NaN',
  '-NaN',
  'Infinity',
  '-Infinity',
  '0x1F',
  '00123',
  '+1',
  '.5',
  '1.',
  '1e',
  'undefined',
];

const CONTENT_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/jsonx',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/octet-stream',
  'application/vnd.api+json',
  'APPLICATION/JSON',
  'application/json, text/plain',
  '*/*',
  ';',
  '',
];

export class Generator {
  constructor(
    private readonly rng: Rng,
    private readonly pools: Pools,
    private readonly bodyLimit: number,
  ) {}

  private index = 0;

  /** The next request, over the routes in turn (so every route gets its share). */
  next(): FuzzRequest {
    const index = this.index++;
    const route = ROUTES[index % ROUTES.length] as RouteSpec;
    const strategy = this.rng.pick(STRATEGIES);
    const request: FuzzRequest = { index, route, strategy, authorization: this.authorization(route) };
    if (route.method === 'GET') {
      // Bodies do not go with GET; the headers are the input.
      return request;
    }
    const made = this.body(route, strategy);
    return { ...request, ...made };
  }

  // -------------------------------------------------------------------------------------------
  // Authorization

  private authorization(route: RouteSpec): string | undefined {
    const rng = this.rng;
    const { accessTokens, refreshTokens, challengeTokens, forgedTokens } = this.pools;
    const valid =
      route.forbidAuthOf === 'pending'
        ? [accessTokens.enrolled]
        : [accessTokens.enrolled, accessTokens.pending];
    if (route.path === '/totp/enroll') valid.push(accessTokens.scratch);
    const roll = rng.float();
    if (roll < (route.auth ? 0.45 : 0.1)) return `Bearer ${rng.pick(rng.pick(valid))}`;
    if (roll < 0.55) return undefined;
    if (roll < 0.65) return `Bearer ${rng.pick(forgedTokens)}`;
    if (roll < 0.7) return `Bearer ${rng.pick([...refreshTokens, ...challengeTokens])}`;
    return rng.pick([
      'Bearer',
      'Bearer ',
      'bearer x.y.z',
      `Bearer ${this.headerJunk(rng.int(1, 300))}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      `Bearer ${'a'.repeat(rng.int(1000, 8000))}`,
      `Bearer ${rng.pick(valid)[0]} extra`,
      `Bearer  ${rng.pick(valid)[0]}`,
      `Bearer ${rng.pick(valid)[0]?.slice(0, -2)}`,
      'Bearer eyJhbGciOiJub25lIn0.e30.',
      'Bearer ..',
    ]);
  }

  // -------------------------------------------------------------------------------------------
  // Bodies

  private body(route: RouteSpec, strategy: string): Pick<FuzzRequest, 'body' | 'contentType'> {
    const rng = this.rng;
    const shape = rng.pick(route.shapes);
    const fields = (): [string, Value][] => shape.map(([name, kind]) => [name, this.fieldValue(kind)]);
    const json = (value: Value) => ({ body: writeJson(value), contentType: JSON_TYPE });
    switch (strategy) {
      case 'plausible':
        return json(obj(fields()));
      case 'wrong-type': {
        const entries = fields();
        const names = entries.length > 0 ? entries : [[this.fieldName(route), null] as [string, Value]];
        return json(obj(names.map(([name, value]) => [name, rng.chance(0.7) ? this.wrongType() : value])));
      }
      case 'huge-string': {
        const entries = fields();
        const name = entries.length > 0 ? rng.int(0, entries.length - 1) : -1;
        const length = rng.chance(0.5)
          ? rng.int(this.bodyLimit - 200, this.bodyLimit + 200)
          : rng.int(100, this.bodyLimit);
        const huge = this.hugeString(length);
        if (name < 0) return json(obj([[this.fieldName(route), huge]]));
        (entries[name] as [string, Value])[1] = huge;
        return json(obj(entries));
      }
      case 'deep': {
        const depth = rng.int(1000, 3000);
        const nested = this.deep(depth);
        if (rng.chance(0.3)) return json(nested);
        const entries = fields();
        if (entries.length === 0) return json(obj([['a', nested]]));
        (entries[rng.int(0, entries.length - 1)] as [string, Value])[1] = nested;
        return json(obj(entries));
      }
      case 'unicode': {
        const entries = fields();
        const target = entries.length > 0 ? entries : [[this.fieldName(route), ''] as [string, Value]];
        return json(
          obj(
            target.map(([name, value]) => [
              rng.chance(0.2) ? this.unicodeString() : name,
              rng.chance(0.8) ? this.unicodeAround(value) : value,
            ]),
          ),
        );
      }
      case 'proto':
        return json(this.protoPolluted(fields()));
      case 'truncated': {
        const text = writeJson(obj(fields().length > 0 ? fields() : [['a', this.wrongType()]]));
        return { body: text.slice(0, rng.int(0, Math.max(0, text.length - 1))), contentType: JSON_TYPE };
      }
      case 'duplicate-keys': {
        const entries = fields();
        const base = entries.length > 0 ? entries : [[this.fieldName(route), 'x'] as [string, Value]];
        const doubled: [string, Value][] = [];
        for (const [name, value] of base) {
          const other = rng.chance(0.5) ? this.wrongType() : this.fieldValue(rng.pick(FIELD_KINDS));
          if (rng.chance(0.5)) doubled.push([name, value], [name, other]);
          else doubled.push([name, other], [name, value]);
        }
        return json(obj(doubled));
      }
      case 'edge-number': {
        const entries = fields();
        const base = entries.length > 0 ? entries : [[this.fieldName(route), 0] as [string, Value]];
        const bad = rng.chance(0.3);
        return json(
          obj(
            base.map(([name, value]) => [
              name,
              rng.chance(0.7) ? { raw: bad ? rng.pick(BAD_NUMBER_TOKENS) : rng.pick(EDGE_NUMBERS) } : value,
            ]),
          ),
        );
      }
      case 'empty':
        return rng.pick([
          { body: '', contentType: JSON_TYPE },
          { body: undefined, contentType: JSON_TYPE },
          { body: ' \n\t ', contentType: JSON_TYPE },
          { body: 'null', contentType: JSON_TYPE },
          { body: '{}', contentType: JSON_TYPE },
          { body: '""', contentType: JSON_TYPE },
          { body: '0', contentType: JSON_TYPE },
          { body: 'true', contentType: JSON_TYPE },
          { body: '[]', contentType: JSON_TYPE },
          { body: undefined, contentType: undefined },
          { body: new Uint8Array(0), contentType: undefined },
        ]);
      case 'content-type': {
        const entries = fields();
        // URLSearchParams, not encodeURIComponent: it writes lone surrogates as U+FFFD instead of throwing.
        const form = new URLSearchParams(
          entries.map(([name, value]): [string, string] => [
            name,
            typeof value === 'string' ? value : writeJson(value),
          ]),
        );
        const body = rng.chance(0.5) ? writeJson(obj(entries)) : form.toString();
        const contentType = rng.pick(CONTENT_TYPES);
        return contentType === '' ? { body: new TextEncoder().encode(body) } : { body, contentType };
      }
      case 'bytes': {
        const bytes = new Uint8Array(rng.int(1, 2000));
        for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
        if (rng.chance(0.5)) {
          // Valid JSON framing around invalid UTF-8.
          const head = new TextEncoder().encode(`{"${this.fieldName(route)}":"`);
          const bad = Uint8Array.from([
            0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80,
          ]);
          const tail = new TextEncoder().encode('"}');
          return {
            body: Buffer.concat([head, bad.slice(0, rng.int(1, bad.length)), tail]),
            contentType: JSON_TYPE,
          };
        }
        return { body: bytes, contentType: rng.chance(0.7) ? JSON_TYPE : undefined };
      }
      default: {
        // 'shape': missing, unknown and extra fields, arrays and primitives as the body.
        const entries = fields();
        const options: Value[] = [
          obj(entries.slice(1)),
          obj([...entries, ['extra', this.fieldValue(rng.pick(FIELD_KINDS))]]),
          obj([
            ...entries,
            ...ROUTES.flatMap((r) => r.shapes[0] ?? []).map(([n, k]): [string, Value] => [
              n,
              this.fieldValue(k),
            ]),
          ]),
          entries.map(([, value]) => value),
          [obj(entries)],
          this.fieldValue(rng.pick(FIELD_KINDS)),
          obj(entries.map(([name, value]) => [name.toUpperCase(), value])),
          obj(entries.map(([name, value]) => [` ${name}`, value])),
        ];
        return json(rng.pick(options));
      }
    }
  }

  private fieldName(route: RouteSpec): string {
    return route.shapes[0]?.[0]?.[0] ?? this.rng.pick(['code', 'token', 'a']);
  }

  /**
   * A value of the right type (mostly a string) for a field: valid-looking or a valid token; one in
   * ten of the ids, names, emails, tokens and passwords with a character no store may be handed
   * (a user id with a NUL inside is how a client once faked a PostgreSQL outage).
   */
  fieldValue(kind: FieldKind): Value {
    const value = this.wellTypedValue(kind);
    if (kind === 'code' || kind === 'recoveryCode' || typeof value !== 'string') return value;
    return this.rng.chance(0.1) ? this.withHostileCharacter(value) : value;
  }

  /** `value` with one of {@link HOSTILE_CHARACTERS} inserted, replacing a character or added. */
  private withHostileCharacter(value: string): string {
    const rng = this.rng;
    const at = rng.int(0, value.length);
    const replace = rng.chance(0.3) ? 1 : 0;
    return `${value.slice(0, at)}${rng.pick(HOSTILE_CHARACTERS)}${value.slice(at + replace)}`;
  }

  private wellTypedValue(kind: FieldKind): Value {
    const rng = this.rng;
    const p = this.pools;
    switch (kind) {
      case 'code':
        return this.code();
      case 'recoveryCode':
        return rng.pick([
          this.alnum(10),
          `${this.alnum(5)}-${this.alnum(5)}`,
          this.alnum(rng.int(0, 40)),
          this.code(),
          this.alnum(10).toLowerCase(),
        ]);
      case 'challengeToken':
        return this.token(p.challengeTokens);
      case 'refreshToken':
        return this.token(p.refreshTokens);
      case 'jwt':
        return this.token([...p.accessTokens.enrolled, ...p.accessTokens.pending, ...p.accessTokens.scratch]);
      case 'username':
        return rng.chance(0.8) ? rng.pick(p.usernames) : this.junk(rng.int(0, 64));
      case 'password':
        return rng.chance(0.7) ? rng.pick(p.passwords) : this.junk(rng.int(0, 64));
      case 'email':
        return rng.chance(0.7)
          ? rng.pick(p.emails)
          : `${this.junk(rng.int(0, 20))}@${this.junk(rng.int(0, 10))}`;
      case 'uid':
        return rng.chance(0.7) ? rng.pick(p.uids) : this.junk(rng.int(0, 64));
      case 'recoveryToken':
        return rng.pick([
          this.alnum(43),
          this.junk(rng.int(0, 80)),
          rng.pick(p.refreshTokens),
          rng.pick(p.forgedTokens),
        ]);
    }
  }

  /** A valid token of the right kind, a token of another kind, a forged one or junk. */
  private token(valid: string[]): Value {
    const rng = this.rng;
    const p = this.pools;
    const roll = rng.float();
    if (roll < 0.35 && valid.length > 0) return rng.pick(valid);
    if (roll < 0.5) return rng.pick(p.forgedTokens);
    if (roll < 0.65) return rng.pick([...p.refreshTokens, ...p.challengeTokens, ...p.accessTokens.scratch]);
    if (roll < 0.75 && valid.length > 0) {
      const token = rng.pick(valid);
      const at = rng.int(0, token.length - 1);
      return `${token.slice(0, at)}${rng.pick(['A', '.', '', '=', '%'])}${token.slice(at + 1)}`;
    }
    return this.junk(rng.int(0, 200));
  }

  /** A code that no user can have now: well-formed mostly, sometimes not. */
  private code(): string {
    const rng = this.rng;
    for (;;) {
      const digits = String(rng.int(0, 999_999)).padStart(6, '0');
      const candidate = rng.pick([
        digits,
        digits,
        `${digits.slice(0, 3)} ${digits.slice(3)}`,
        `${digits.slice(0, 3)}-${digits.slice(3)}`,
        digits.slice(0, rng.int(0, 5)),
        `${digits}${rng.int(0, 9)}`,
        `${digits.slice(0, 5)}a`,
        ` ${digits} `,
        digits.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))),
        `-${digits}`,
        `${digits}\u0000`,
      ]);
      if (!this.pools.isLiveCode(candidate)) return candidate;
    }
  }

  private wrongType(): Value {
    const rng = this.rng;
    return rng.pick<() => Value>([
      () => rng.int(-1_000_000, 1_000_000),
      () => rng.float() * 1e6,
      () => true,
      () => false,
      () => null,
      () => [],
      () => [this.code()],
      () => obj([]),
      () => obj([['code', this.code()]]),
      () => this.deep(rng.int(1, 50)),
      () => ({ raw: rng.pick(EDGE_NUMBERS) }),
      () => obj([['length', 6]]),
      () => [[[[]]]],
    ])();
  }

  private deep(depth: number): Value {
    const rng = this.rng;
    const kind = rng.int(0, 2);
    let value: Value = rng.pick<Value>([this.code(), 1, null, obj([]), []]);
    for (let i = 0; i < depth; i++) {
      if (kind === 0 || (kind === 2 && i % 2 === 0)) value = [value];
      else value = obj([[rng.pick(['a', 'code', '__proto__', 'constructor']), value]]);
    }
    return value;
  }

  private hugeString(length: number): string {
    const rng = this.rng;
    const unit = rng.pick(['a', '0', '\u00e9', '\u{1f600}', '\\', '"', ' ', '-']);
    return unit.repeat(
      Math.max(1, Math.ceil(length / Math.max(1, Buffer.byteLength(JSON.stringify(unit)) - 2))),
    );
  }

  private unicodeString(): string {
    const rng = this.rng;
    let text = '';
    const parts = rng.int(1, 8);
    for (let i = 0; i < parts; i++)
      text += rng.chance(0.6) ? rng.pick(UNICODE_BITS) : this.alnum(rng.int(0, 6));
    return text;
  }

  /** The value with unicode mixed in, or replaced by it. */
  private unicodeAround(value: Value): Value {
    const rng = this.rng;
    const text = typeof value === 'string' ? value : '';
    const candidate = rng.pick([
      `${rng.pick(UNICODE_BITS)}${text}`,
      `${text}${rng.pick(UNICODE_BITS)}`,
      `${text.slice(0, text.length >> 1)}${rng.pick(UNICODE_BITS)}${text.slice(text.length >> 1)}`,
      this.unicodeString(),
    ]);
    return this.pools.isLiveCode(candidate) ? this.unicodeString() : candidate;
  }

  /** The fields with `__proto__` / `constructor` / `prototype` at the top and nested levels. */
  private protoPolluted(entries: [string, Value][]): Value {
    const rng = this.rng;
    const payload = (): Value =>
      rng.pick<Value>([
        obj([['polluted', 'yes']]),
        obj([['isAdmin', true]]),
        obj([...entries]),
        obj([['prototype', obj([['polluted', 'yes']])]]),
        obj([
          ['code', this.code()],
          ['toString', 'x'],
          ['hasOwnProperty', 1],
        ]),
        'x',
        null,
        [],
      ]);
    const nest = (depth: number): Value => {
      let value = payload();
      for (let i = 0; i < depth; i++) value = obj([[rng.pick(PROTO_KEYS), value]]);
      return value;
    };
    const out: [string, Value][] = [];
    for (const [name, value] of entries) {
      if (rng.chance(0.3)) out.push([rng.pick(PROTO_KEYS), nest(rng.int(0, 4))]);
      out.push([name, rng.chance(0.3) ? nest(rng.int(1, 4)) : value]);
    }
    out.splice(rng.int(0, out.length), 0, [rng.pick(PROTO_KEYS), nest(rng.int(0, 4))]);
    if (rng.chance(0.3)) out.push(['__proto__', obj(entries)]);
    return rng.chance(0.1) ? [obj(out)] : obj(out);
  }

  private alnum(length: number): string {
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[this.rng.int(0, alphabet.length - 1)];
    return text;
  }

  /** What a header value can carry at all: visible ASCII, spaces and Latin-1 bytes (no CR or LF). */
  private headerJunk(length: number): string {
    let text = '';
    for (let i = 0; i < length; i++) {
      text += String.fromCharCode(
        this.rng.chance(0.05) ? this.rng.int(0x80, 0xff) : this.rng.int(0x20, 0x7e),
      );
    }
    return text;
  }

  /** Printable ASCII plus a few odd characters. */
  junk(length: number): string {
    let text = '';
    for (let i = 0; i < length; i++) {
      text += this.rng.chance(0.05)
        ? this.rng.pick(UNICODE_BITS)
        : String.fromCharCode(this.rng.int(0x20, 0x7e));
    }
    return text;
  }
}

const FIELD_KINDS: readonly FieldKind[] = [
  'code',
  'recoveryCode',
  'challengeToken',
  'refreshToken',
  'jwt',
  'username',
  'password',
  'email',
  'uid',
  'recoveryToken',
];

export const STRATEGIES = [
  'plausible',
  'wrong-type',
  'huge-string',
  'deep',
  'unicode',
  'proto',
  'truncated',
  'duplicate-keys',
  'edge-number',
  'empty',
  'content-type',
  'bytes',
  'shape',
] as const;
