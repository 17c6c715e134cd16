import type { Store } from '@twofold/core';
import t from 'tap';
import { runStoreSuite, type StoreSuiteContext } from '../src/index.js';
import { naiveStore } from './fixtures/naive-store.js';

const makeNaive = () => naiveStore();

const BAD_CALLS: ReadonlyArray<{ label: string; call: () => void; error: typeof TypeError; names: RegExp }> =
  [
    { label: 'empty name', call: () => runStoreSuite('', makeNaive), error: TypeError, names: /name/ },
    {
      label: 'makeStore not a function',
      call: () => runStoreSuite('x', {} as never),
      error: TypeError,
      names: /makeStore/,
    },
    {
      label: 'concurrency 1',
      call: () => runStoreSuite('x', makeNaive, { concurrency: 1 }),
      error: RangeError,
      names: /options\.concurrency.*2 to 10000/,
    },
    {
      label: 'concurrency not an integer',
      call: () => runStoreSuite('x', makeNaive, { concurrency: 2.5 }),
      error: RangeError,
      names: /options\.concurrency/,
    },
    {
      label: 'rounds 0',
      call: () => runStoreSuite('x', makeNaive, { rounds: 0 }),
      error: RangeError,
      names: /options\.rounds.*1 to 1000/,
    },
    {
      label: 'skip true',
      call: () => runStoreSuite('x', makeNaive, { skip: true as never }),
      error: TypeError,
      names: /options\.skip/,
    },
    {
      label: 'skip empty',
      call: () => runStoreSuite('x', makeNaive, { skip: '' }),
      error: TypeError,
      names: /options\.skip/,
    },
    {
      label: 'additionalTests not a function',
      call: () => runStoreSuite('x', makeNaive, { additionalTests: 'x' as never }),
      error: TypeError,
      names: /options\.additionalTests/,
    },
  ];

t.test('malformed arguments throw at the call, naming the argument', async (t) => {
  for (const { label, call, error, names } of BAD_CALLS) {
    t.throws(call, error, `${label}: ${error.name}`);
    t.throws(call, { message: names }, `${label}: message`);
  }
});

let skippedStoreMade = false;
runStoreSuite(
  'a skipped suite',
  () => {
    skippedStoreMade = true;
    return naiveStore();
  },
  { skip: 'no database here' },
);

t.test('a skipped suite never makes a store', async (t) => {
  t.equal(skippedStoreMade, false);
});

/**
 * Records every user id a store sees and whether it was closed. findNonces takes a key, not a user
 * id: the user ids it resolves are recorded instead; atomically takes work: the calls of work on the
 * store it is given are recorded.
 */
function recording(store: Store, seen: Set<string>, onClose: () => void): Store {
  const wrapped = {} as Record<string, unknown>;
  for (const [name, operation] of Object.entries(store)) {
    wrapped[name] = async (...args: unknown[]) => {
      if (name === 'atomically') {
        const work = args[0] as (view: Store) => Promise<unknown>;
        return store.atomically!((view) => work(recording(view, seen, () => undefined)));
      }
      if (name === 'findNonces') {
        const found = await store.findNonces(...(args as Parameters<Store['findNonces']>));
        for (const entry of found) seen.add(entry.userId);
        return found;
      }
      const [first] = args;
      const userId = typeof first === 'string' ? first : (first as { userId: string }).userId;
      seen.add(userId);
      return (operation as (...a: unknown[]) => unknown)(...args);
    };
  }
  wrapped.close = async () => onClose();
  return wrapped as unknown as Store;
}

const contexts: StoreSuiteContext[] = [];
const usersPerStore: Set<string>[] = [];
let closed = 0;
let additional: StoreSuiteContext | undefined;
runStoreSuite(
  'a suite run with recording stores',
  (ctx) => {
    contexts.push(ctx);
    const seen = new Set<string>();
    usersPerStore.push(seen);
    return recording(naiveStore(), seen, () => closed++);
  },
  {
    concurrency: 4,
    rounds: 1,
    additionalTests: (t, ctx) => {
      additional = ctx;
      t.test('an additional test runs inside the suite', async (t) => t.pass('ran'));
    },
  },
);

t.test('every behaviour gets a fresh store, a fresh clock and fresh user ids, and closes it', async (t) => {
  t.ok(contexts.length > 50, `${contexts.length} behaviours made a store each`);
  t.equal(closed, contexts.length, 'each store was closed');
  const [first] = contexts;
  t.match(first?.runId, /^[a-z0-9]+$/, 'the run id is lowercase letters and digits');
  t.ok(
    contexts.every((ctx) => ctx.runId === first?.runId),
    'one run id for the whole run',
  );
  t.equal(new Set(contexts.map((ctx) => ctx.clock)).size, contexts.length, 'a clock per behaviour');
  const all = usersPerStore.flatMap((seen) => [...seen]);
  t.ok(
    all.every((userId) => userId.startsWith(`${first?.runId}-`)),
    'every user id starts with the run id',
  );
  t.equal(new Set(all).size, all.length, 'no user id is shared between behaviours');
  t.equal(additional?.runId, first?.runId, 'additionalTests got a context of the same run');
});

t.test('the context clock starts at the real time in whole seconds and moves only by hand', async (t) => {
  const ctx = contexts[0];
  if (!ctx) throw new Error('no context recorded');
  const fresh = additional?.clock;
  if (!fresh) throw new Error('no additionalTests context');
  const start = fresh.now();
  t.equal(start % 1000, 0, 'whole seconds');
  t.ok(Math.abs(start - Date.now()) < 60_000, 'near the real time');
  fresh.advance(1_234);
  t.equal(fresh.now(), start + 1_234, 'advance moves it');
  t.equal(fresh.now(), start + 1_234, 'reading does not move it');
  t.throws(() => fresh.advance(-1), RangeError, 'it never goes back');
  t.throws(() => fresh.advance(Number.NaN), RangeError, 'NaN is refused');
});
