import { CompiledQuery, type Kysely, type QueryExecutorProvider } from 'kysely';
import { type NamedStatements, nameStatement } from './connect.js';

/** A query builder or a `sql` template: what compiles to one statement. */
export interface Statement {
  compile(executorProvider: QueryExecutorProvider): CompiledQuery<unknown>;
}

/**
 * Statements built once per shape. A hot statement (a login's one-statement begin, its consume and
 * reset) is the same SQL text every time for the same shape (a claim or not, how many attempts):
 * only its values change. Building it with Kysely's query builder and compiling it costs more CPU
 * than the database's own work on it, so the first call of each shape builds it with stand-ins for
 * the values, remembers which compiled parameter is which value, and every later call fills the
 * same text with its own values.
 *
 * The builders stay the one home of each statement: the cache only replays what they compiled. A
 * builder that does anything with a value besides passing it on as a parameter (arithmetic,
 * inlining it into the text) makes the stand-ins show in the text or in a parameter of their own:
 * such a shape is never cached, and is built afresh on every call. A branch on a value cannot be
 * seen that way (the stand-in takes one branch, which would then be replayed for every value), so
 * whatever a builder branches on must be part of the shape's name.
 *
 * On a pg Pool the texts of cached shapes also run as named statements (`Connection.named`
 * in connect.ts), so PostgreSQL plans them once per connection.
 */
export interface Shapes {
  /**
   * The compiled statement of `build(values)`: from the cache of `shape` when it has one. Every call
   * of one `shape` must give `values` the same names and `build` the same structure.
   */
  compile<V extends Record<string, unknown>>(
    shape: string,
    values: V,
    build: (values: V) => Statement,
  ): CompiledQuery;
}

/** The parameters of a cached shape: the name of a value, or a constant of the builder's own. */
type Slot = { value: string } | { constant: unknown };

/** Shapes a store keeps at most: the shapes come from the engine's options, so a few in practice. */
const MAX_SHAPES = 64;

const STAND_IN = '\u0000twofold-shape:';

/**
 * The shapes of statements run on `db`.
 *
 * @param named where the texts of cached shapes are marked to run as named statements, if anywhere
 */
// biome-ignore lint/suspicious/noExplicitAny: any database: the cache only compiles.
export function shapes(db: Kysely<any>, named?: NamedStatements): Shapes {
  const cached = new Map<string, { sql: string; slots: Slot[] } | null>();

  function learn(values: Record<string, unknown>, build: (values: never) => Statement) {
    const standIns: Record<string, string> = {};
    const names = new Map<string, string>();
    for (const name of Object.keys(values)) {
      standIns[name] = `${STAND_IN}${name}\u0000`;
      names.set(standIns[name], name);
    }
    const compiled = build(standIns as never).compile(db);
    if (compiled.sql.includes('\u0000')) return null;
    const slots: Slot[] = [];
    for (const parameter of compiled.parameters) {
      if (typeof parameter === 'string' && parameter.includes('\u0000')) {
        const name = names.get(parameter);
        if (name === undefined) return null;
        slots.push({ value: name });
      } else {
        slots.push({ constant: parameter });
      }
    }
    if (named) nameStatement(named, compiled.sql);
    return { sql: compiled.sql, slots };
  }

  return {
    compile(shape, values, build) {
      let entry = cached.get(shape);
      if (entry === undefined) {
        entry = learn(values, build as (values: never) => Statement);
        if (cached.size >= MAX_SHAPES) cached.delete(cached.keys().next().value as string);
        cached.set(shape, entry);
      }
      if (entry === null) return build(values).compile(db);
      const parameters = entry.slots.map((slot) => ('value' in slot ? values[slot.value] : slot.constant));
      return CompiledQuery.raw(entry.sql, parameters);
    },
  };
}
