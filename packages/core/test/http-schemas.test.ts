/**
 * The body schemas refuse characters no store or host callback can be trusted to hold (a NUL in a
 * user id answered 503 on PostgreSQL, a fake store outage): NUL and lone surrogates in every string
 * field, C0/C1 control characters and DEL in every one but the passwords. Each refusal is a 400
 * TWOFOLD_INVALID_INPUT naming the field.
 */
import t from 'tap';
import { InvalidInputError } from '../src/errors.js';
import { type BodySchemaName, bodyJsonSchema, parseBody } from '../src/http/schemas.js';

interface Field {
  schema: BodySchemaName;
  field: string;
  /** A valid body; the field under test is replaced in it. */
  body: Record<string, unknown>;
  password: boolean;
}

const FIELDS: Field[] = [
  { schema: 'login', field: 'username', body: { username: 'alice', password: 'pw' }, password: false },
  { schema: 'login', field: 'password', body: { username: 'alice', password: 'pw' }, password: true },
  {
    schema: 'loginVerify',
    field: 'challengeToken',
    body: { challengeToken: 'a.b.c', code: '123456' },
    password: false,
  },
  { schema: 'refresh', field: 'refreshToken', body: { refreshToken: 'r1' }, password: false },
  { schema: 'token', field: 'token', body: { token: 'a.b.c' }, password: false },
  { schema: 'recoveryRequest', field: 'email', body: { email: 'a@example.test' }, password: false },
  {
    schema: 'recoveryConfirm',
    field: 'uid',
    body: { uid: 'u1', token: 't1', password: 'pw' },
    password: false,
  },
  {
    schema: 'recoveryConfirm',
    field: 'token',
    body: { uid: 'u1', token: 't1', password: 'pw' },
    password: false,
  },
  {
    schema: 'recoveryConfirm',
    field: 'password',
    body: { uid: 'u1', token: 't1', password: 'pw' },
    password: true,
  },
  { schema: 'enroll', field: 'name', body: { name: 'Phone' }, password: false },
  { schema: 'rename', field: 'name', body: { name: 'Phone' }, password: false },
  {
    schema: 'confirm',
    field: 'authenticatorId',
    body: { code: '123456', authenticatorId: 't_x' },
    password: false,
  },
  { schema: 'webauthnRegisterOptions', field: 'name', body: { name: 'Key' }, password: false },
  { schema: 'webauthnRegisterVerify', field: 'name', body: { response: {}, name: 'Key' }, password: false },
  { schema: 'loginOptions', field: 'challengeToken', body: { challengeToken: 'a.b.c' }, password: false },
];

type Verdict = 'ok' | 'control' | 'nul' | 'surrogate';

/** Each bad character, and what a text field and a password make of it. */
const CHARACTERS: { name: string; char: string; text: Verdict; password: Verdict }[] = [
  { name: 'NUL', char: '\u0000', text: 'control', password: 'nul' },
  { name: 'U+0001', char: '\u0001', text: 'control', password: 'ok' },
  { name: 'tab', char: '\t', text: 'control', password: 'ok' },
  { name: 'line feed', char: '\n', text: 'control', password: 'ok' },
  { name: 'U+001F', char: '\u001f', text: 'control', password: 'ok' },
  { name: 'DEL', char: '\u007f', text: 'control', password: 'ok' },
  { name: 'U+0085 (C1 NEL)', char: '\u0085', text: 'control', password: 'ok' },
  { name: 'U+009F', char: '\u009f', text: 'control', password: 'ok' },
  { name: 'lone high surrogate', char: '\ud800', text: 'surrogate', password: 'surrogate' },
  { name: 'lone low surrogate', char: '\udc00', text: 'surrogate', password: 'surrogate' },
  { name: 'last high surrogate', char: '\udbff', text: 'surrogate', password: 'surrogate' },
  { name: 'last low surrogate', char: '\udfff', text: 'surrogate', password: 'surrogate' },
  { name: 'surrogates in the wrong order', char: '\udc00\ud800', text: 'surrogate', password: 'surrogate' },
  { name: 'pair then a lone high', char: '\u{1f600}\ud83d', text: 'surrogate', password: 'surrogate' },
  { name: 'space', char: ' ', text: 'ok', password: 'ok' },
  { name: 'U+00A0 (first after C1)', char: '\u00a0', text: 'ok', password: 'ok' },
  { name: 'é', char: '\u00e9', text: 'ok', password: 'ok' },
  { name: 'emoji (a surrogate pair)', char: '\u{1f600}', text: 'ok', password: 'ok' },
  { name: 'last code point', char: '\u{10ffff}', text: 'ok', password: 'ok' },
  { name: 'ZWJ emoji sequence', char: '\u{1f469}\u200d\u{1f4bb}', text: 'ok', password: 'ok' },
];

const MESSAGES: Record<Exclude<Verdict, 'ok'>, (field: string) => string> = {
  control: (field) => `"${field}" must not contain control characters`,
  nul: (field) => `"${field}" must not contain NUL characters`,
  surrogate: (field) => `"${field}" must not contain lone surrogates`,
};

/** The field's value with `char` at the start, in the middle or at the end. */
const PLACES: [string, (char: string) => string][] = [
  ['at the start', (char) => `${char}abc`],
  ['in the middle', (char) => `ab${char}cd`],
  ['at the end', (char) => `abc${char}`],
  ['alone', (char) => char],
];

function outcome(schema: BodySchemaName, body: Record<string, unknown>): string {
  try {
    parseBody(schema, body);
    return 'ok';
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return `${error.code} ${error.field}: ${error.message}`;
  }
}

for (const { schema, field, body, password } of FIELDS) {
  t.test(`${schema}.${field}`, async (t) => {
    t.equal(outcome(schema, body), 'ok', 'the valid body passes');
    for (const character of CHARACTERS) {
      const verdict = password ? character.password : character.text;
      for (const [where, place] of PLACES) {
        const value = place(character.char);
        const expected =
          verdict === 'ok' ? 'ok' : `TWOFOLD_INVALID_INPUT ${field}: ${MESSAGES[verdict](field)}`;
        t.equal(outcome(schema, { ...body, [field]: value }), expected, `${character.name} ${where}`);
      }
    }
  });
}

t.test('a valid surrogate pair passes in username and password, and comes out unchanged', async (t) => {
  const body = { username: 'ali\u{1f600}ce\u{1f469}\u200d\u{1f4bb}', password: '\u{1f511}pw\u{10ffff}' };
  t.strictSame(parseBody('login', body), body);
});

t.test('passwords keep their control characters, byte for byte', async (t) => {
  const password = 'p\tw\u0001\u007f\u0085\u009f d';
  t.strictSame(parseBody('recoveryConfirm', { uid: 'u1', token: 't1', password }), {
    uid: 'u1',
    token: 't1',
    password,
  });
});

t.test('the first problem wins: length and type come before characters', async (t) => {
  t.equal(
    outcome('recoveryConfirm', { uid: `${'x'.repeat(300)}\u0000`, token: 't', password: 'p' }),
    'TWOFOLD_INVALID_INPUT uid: "uid" must be at most 255 characters',
  );
  t.equal(
    outcome('recoveryConfirm', { uid: 7, token: '\u0000', password: 'p' }),
    'TWOFOLD_INVALID_INPUT uid: "uid" must be a string',
  );
  t.equal(
    outcome('recoveryConfirm', { uid: 'u1', token: 't\u0000', password: '\ud800' }),
    'TWOFOLD_INVALID_INPUT token: "token" must not contain control characters',
  );
});

t.test('code and recoveryCode stay free-form: a wrong code is the engine’s to count', async (t) => {
  t.strictSame(parseBody('code', { code: '12\u00003456' }), { code: '12\u00003456' });
  t.strictSame(parseBody('secondFactor', { recoveryCode: '\ud800ABCD' }), { recoveryCode: '\ud800ABCD' });
});

t.test('"exactly one second factor" is still named on the code field', async (t) => {
  const message =
    'TWOFOLD_INVALID_INPUT code: exactly one of "code", "recoveryCode" and "webauthn" is required';
  t.equal(outcome('secondFactor', {}), message, 'neither');
  t.equal(outcome('secondFactor', { code: '1', recoveryCode: '2' }), message, 'both');
  t.equal(outcome('secondFactor', { code: '1', webauthn: {} }), message, 'a code and a key');
  t.equal(outcome('secondFactor', { recoveryCode: '1', webauthn: {} }), message, 'a recovery code and a key');
  t.equal(outcome('secondFactor', { webauthn: { id: 'x' } }), 'ok', 'a key alone');
  t.equal(outcome('loginVerify', { challengeToken: 'a.b.c' }), message, 'neither, with a challenge');
  t.equal(
    outcome('loginVerify', { challengeToken: 'a.b.c', code: '1', webauthn: {} }),
    message,
    'two, with a challenge',
  );
  t.equal(outcome('optionalSecondFactor', { code: '1', recoveryCode: '2' }), message, 'both, optional');
  t.equal(outcome('optionalSecondFactor', { code: '1', webauthn: {} }), message, 'two, optional');
  t.equal(outcome('optionalSecondFactor', {}), 'ok', 'neither, optional');
  const fromAuthenticator = 'TWOFOLD_INVALID_INPUT code: exactly one of "code" and "webauthn" is required';
  t.equal(outcome('authenticatorFactor', {}), fromAuthenticator, 'neither, from an authenticator');
  t.equal(outcome('authenticatorFactor', { code: '1', webauthn: {} }), fromAuthenticator, 'both');
  t.equal(outcome('authenticatorFactor', { code: '1' }), 'ok');
  t.match(
    outcome('authenticatorFactor', { recoveryCode: 'ABCD-EFGH-JKMN' }),
    /^TWOFOLD_INVALID_INPUT /,
    'a recovery code does not prove a rotation',
  );
});

t.test('the JSON Schema documents the same rule as a pattern, with and without the u flag', async (t) => {
  for (const { schema, field, password } of FIELDS) {
    const properties = bodyJsonSchema(schema).properties as Record<string, Record<string, unknown>>;
    const property = properties[field] ?? {};
    t.equal(property.type, 'string', `${schema}.${field}: type`);
    t.type(property.pattern, 'string', `${schema}.${field}: pattern`);
    for (const flags of ['', 'u']) {
      const pattern = new RegExp(String(property.pattern), flags);
      const disagree = CHARACTERS.filter(({ char, text, password: forPassword }) => {
        const verdict = password ? forPassword : text;
        return PLACES.some(([, place]) => pattern.test(place(char)) !== (verdict === 'ok'));
      }).map(({ name }) => name);
      t.strictSame(disagree, [], `${schema}.${field}: pattern agrees with parseBody (flags "${flags}")`);
    }
  }
});
