import t from 'tap';
import * as http from '../src/http/index.js';
import { describeError, HTTP_STATUS_BY_CODE, RateLimitedError, toHttpError } from '../src/http/index.js';
import * as core from '../src/index.js';
import { LockedError, StoreUnavailableError, TwofoldError } from '../src/index.js';

type ErrorClass = (new (...args: never[]) => TwofoldError) & { code: string };

const exported: [string, unknown][] = [...Object.entries(core), ...Object.entries(http)];
const errorClasses = exported.filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof TwofoldError,
);

t.test('each error class declares its code once: the instance reads the static one', async (t) => {
  t.ok(errorClasses.length >= 19, `${errorClasses.length} classes`);
  const codes = new Set<string>();
  for (const [name, ErrorClass] of errorClasses) {
    const error = new ErrorClass(...(['x', 'y'] as never[]));
    t.equal(error.code, ErrorClass.code, `${name}: instance code equals static code`);
    t.equal(error.name, name, `${name}: name`);
    t.ok(error.code in HTTP_STATUS_BY_CODE, `${name}: ${error.code} has a status`);
    codes.add(ErrorClass.code);
  }
  // A subclass may share its parent's code (RouteNotFoundError is a NotFoundError): it declares none.
  const declaring = errorClasses.filter(([, ErrorClass]) => Object.hasOwn(ErrorClass, 'code'));
  t.equal(codes.size, declaring.length, 'codes are unique among the classes that declare one');
});

t.test("another package's TwofoldError answers 500 with its own code and a generic message", async (t) => {
  class SchemaMismatchError extends TwofoldError {
    static override readonly code = 'TWOFOLD_SCHEMA_MISMATCH' as never;
  }
  const answer = toHttpError(new SchemaMismatchError('tables at version 0'));
  t.equal(answer.status, 500);
  t.strictSame(answer.body, {
    statusCode: 500,
    code: 'TWOFOLD_SCHEMA_MISMATCH',
    error: 'Internal Server Error',
    message: 'Something went wrong on the server',
  });
  t.equal(toHttpError(new Error('boom')).body.code, 'TWOFOLD_INTERNAL', 'anything else: TWOFOLD_INTERNAL');
});

t.test('a rate limit and a lock answer 429 with Retry-After in whole seconds, at least 1', async (t) => {
  const limited = toHttpError(new RateLimitedError(4_200));
  t.equal(limited.status, 429);
  t.strictSame(limited.headers, { 'retry-after': '5' });
  t.equal(limited.body.message, 'Too many requests: try again in 5 seconds');
  t.strictSame(toHttpError(new RateLimitedError(0)).headers, { 'retry-after': '1' });
  t.strictSame(toHttpError(new LockedError(61_000)).headers, { 'retry-after': '61' });
});

t.test('describeError gives name, code, message, stack and causes, nothing else', async (t) => {
  const driverError = Object.assign(new Error('connect ECONNREFUSED'), {
    code: 'ECONNREFUSED',
    command: 'AUTH secret',
  });
  const described = describeError(new StoreUnavailableError(undefined, { cause: driverError }));
  t.strictSame(Object.keys(described).sort(), ['cause', 'code', 'message', 'name', 'stack']);
  t.match(described, { name: 'StoreUnavailableError', code: 'TWOFOLD_STORE_UNAVAILABLE' });
  t.strictSame(Object.keys(described.cause as object).sort(), ['code', 'message', 'name', 'stack']);
  t.notMatch(JSON.stringify(described), /AUTH secret/, 'never other properties');
  t.strictSame(describeError('a string'), { type: 'string' });
});
