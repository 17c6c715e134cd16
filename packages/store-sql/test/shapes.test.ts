import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
} from 'kysely';
import tap from 'tap';
import { shapes } from '../src/internal/shapes.js';

// A Kysely instance that compiles PostgreSQL and runs nothing: the cache only compiles.
const db = new Kysely<Record<string, Record<string, unknown>>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (kysely) => new PostgresIntrospector(kysely),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

tap.test(
  'a shape is built once; later calls get the same text with their own values, constants kept',
  async (t) => {
    const statements = shapes(db);
    let builds = 0;
    const build = (v: { user: string; limit: number }) => {
      builds++;
      return sql`select * from t where user_id = ${v.user} and count < ${v.limit} and kind = ${'totp'} and owner = ${v.user}`;
    };
    const first = statements.compile('s', { user: 'alice', limit: 5 }, build);
    const second = statements.compile('s', { user: 'bob', limit: 9 }, build);
    t.equal(builds, 1, 'built once, with stand-ins');
    t.equal(first.sql, second.sql);
    t.equal(first.sql, build({ user: 'x', limit: 0 }).compile(db).sql, "the builder's own text");
    t.same(first.parameters, ['alice', 5, 'totp', 'alice']);
    t.same(
      second.parameters,
      ['bob', 9, 'totp', 'bob'],
      'each value where the builder put it, the constant kept',
    );
  },
);

tap.test('a builder that does more with a value than pass it on is built afresh on every call', async (t) => {
  const statements = shapes(db);
  const cases = {
    // arithmetic: the compiled parameter is no stand-in of its own
    arithmetic: (v: { now: number; ttl: number }) => sql`select ${v.now + v.ttl}`,
    // inlined into the text
    inlined: (v: { now: number; ttl: number }) => sql`select ${sql.raw(String(v.now))}, ${v.ttl}`,
    // as an identifier
    identifier: (v: { now: number; ttl: number }) => sql`select ${sql.ref(String(v.now))}, ${v.ttl}`,
  };
  for (const [name, build] of Object.entries(cases)) {
    const a = statements.compile(name, { now: 1000, ttl: 5 }, build);
    const b = statements.compile(name, { now: 2000, ttl: 7 }, build);
    for (const [compiled, values] of [
      [a, { now: 1000, ttl: 5 }],
      [b, { now: 2000, ttl: 7 }],
    ] as const) {
      const own = build(values).compile(db);
      t.same(
        [compiled.sql, compiled.parameters],
        [own.sql, own.parameters],
        `${name}: as the builder compiles it`,
      );
      t.notOk(
        `${compiled.sql} ${compiled.parameters.join(' ')}`.includes(String.fromCharCode(0)),
        `${name}: no stand-in left`,
      );
    }
  }
});

tap.test('shapes beyond the cap are forgotten oldest first and still compile right', async (t) => {
  const statements = shapes(db);
  let builds = 0;
  const build = (v: { n: number }) => {
    builds++;
    return sql`select ${v.n}`;
  };
  for (let shape = 0; shape < 65; shape++) statements.compile(`s${shape}`, { n: shape }, build);
  t.equal(builds, 65);
  t.same(statements.compile('s64', { n: 1 }, build).parameters, [1], 'the newest kept');
  t.equal(builds, 65);
  t.same(statements.compile('s0', { n: 2 }, build).parameters, [2], 'the oldest built again');
  t.equal(builds, 66);
});
