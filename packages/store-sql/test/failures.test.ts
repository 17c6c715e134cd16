import t from 'tap';
import { isRetryable, toStoreError } from '../src/internal/failures.js';

/** Builds an error the way the drivers do: a message plus code/errno fields. */
function driverError(message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), fields);
}

t.test('driver errors that mean the database is out of reach become TWOFOLD_STORE_UNAVAILABLE', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['connection refused', driverError('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })],
    ['connection reset', driverError('read ECONNRESET', { code: 'ECONNRESET' })],
    ['every address refused', new AggregateError([driverError('x', { code: 'ECONNREFUSED' })], 'refused')],
    ['pg pool ended', driverError('Cannot use a pool after calling end on the pool')],
    ['pg connect timeout', driverError('timeout exceeded when trying to connect')],
    ['pg connection lost', driverError('Connection terminated unexpectedly')],
    ['pg admin shutdown', driverError('terminating connection', { code: '57P01' })],
    ['pg too many connections', driverError('sorry, too many clients already', { code: '53300' })],
    ['pg statement timeout', driverError('canceling statement', { code: '57014' })],
    ['mysql connection lost', driverError('Connection lost', { code: 'PROTOCOL_CONNECTION_LOST' })],
    ['mysql pool closed', driverError('Pool is closed.')],
    [
      'mysql lock wait timeout',
      driverError('Lock wait timeout', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }),
    ],
    ['sqlite busy', driverError('database is locked', { code: 'SQLITE_BUSY' })],
    ['sqlite I/O error', driverError('disk I/O error', { code: 'SQLITE_IOERR_WRITE' })],
    ['sqlite closed', new TypeError('The database connection is not open')],
    ['Kysely destroyed', driverError('driver has already been destroyed')],
  ];
  for (const [name, error] of cases) {
    const translated = toStoreError(error, 'postgres');
    t.match(translated, { name: 'StoreUnavailableError', code: 'TWOFOLD_STORE_UNAVAILABLE' }, name);
    t.equal((translated as Error).cause, error, `${name}: the driver error is the cause`);
  }
});

t.test('other database errors reject unchanged', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['pg unique violation', driverError('duplicate key value', { code: '23505' })],
    ['pg syntax error', driverError('syntax error at or near', { code: '42601' })],
    ['mysql duplicate entry', driverError('Duplicate entry', { code: 'ER_DUP_ENTRY', errno: 1062 })],
    ['mysql data too long', driverError('Data too long', { code: 'ER_DATA_TOO_LONG', errno: 1406 })],
    ['sqlite constraint', driverError('UNIQUE constraint failed', { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' })],
    ['a RangeError', new RangeError('userId must be at most 255 characters')],
    ['not an Error', 'boom'],
  ];
  for (const [name, error] of cases) t.equal(toStoreError(error, 'mysql'), error, name);
});

t.test('deadlocks and serialization failures are retried, per dialect', async (t) => {
  const cases: Array<[string, unknown, 'postgres' | 'mysql' | 'sqlite', boolean]> = [
    ['pg deadlock', driverError('deadlock detected', { code: '40P01' }), 'postgres', true],
    ['pg serialization failure', driverError('could not serialize', { code: '40001' }), 'postgres', true],
    ['pg unique violation', driverError('duplicate key', { code: '23505' }), 'postgres', false],
    ['mysql deadlock', driverError('Deadlock found', { errno: 1213 }), 'mysql', true],
    [
      'mariadb record changed',
      driverError('Record has changed since last read', { errno: 1020 }),
      'mysql',
      true,
    ],
    ['mysql lock wait timeout', driverError('Lock wait timeout', { errno: 1205 }), 'mysql', false],
    ['sqlite busy', driverError('database is locked', { code: 'SQLITE_BUSY' }), 'sqlite', false],
  ];
  for (const [name, error, dialect, retried] of cases) t.equal(isRetryable(error, dialect), retried, name);
});
