import { CompiledQuery, type RawBuilder } from 'kysely';
import type { Db } from './database';

const SLOT = Symbol('slot');

interface Slot {
  readonly [SLOT]: string;
}

const isSlot = (value: unknown): value is Slot => typeof value === 'object' && value !== null && SLOT in value;

/**
 * A statement that is built and compiled once per shape instead of on every call. A hot
 * read's statement (a statement page) is a tree of some forty fragments and as many
 * values; building and compiling it took tens of microseconds of every request's API time, to
 * produce the same text each time.
 *
 * `build` writes the statement as usual, but every value it interpolates must be read from
 * `v`: on the first call for a shape, `v` hands out placeholders, and each placeholder the
 * compiled statement carries names the value that takes its place on every later call. A
 * value interpolated from anywhere else would be frozen into the cache with the first call's
 * value, so compiling refuses it. What changes the text (which CTEs there are, a literal) is
 * `shape`, and `keyOf` must tell every such shape apart. A value read in several places is one
 * parameter, so the places must agree on its type (PostgreSQL infers it once).
 */
export class ShapedStatement<V extends object, S, R> {
  private readonly compiled = new Map<string, { sql: string; keys: string[] }>();

  constructor(
    private readonly keyOf: (shape: S) => string,
    private readonly build: (v: V, shape: S) => RawBuilder<R>,
  ) {}

  /** How many shapes have been compiled (for tests). */
  get shapes(): number {
    return this.compiled.size;
  }

  async execute(db: Db, shape: S, values: V): Promise<R[]> {
    const key = this.keyOf(shape);
    let statement = this.compiled.get(key);
    if (!statement) {
      statement = this.compile(db, shape);
      this.compiled.set(key, statement);
    }
    const byName = values as Record<string, unknown>;
    const parameters = statement.keys.map((name) => {
      if (!(name in byName)) throw new Error(`the statement's value ${name} was not given`);
      return byName[name];
    });
    const result = await db.executeQuery<R>(CompiledQuery.raw(statement.sql, parameters));
    return result.rows;
  }

  private compile(db: Db, shape: S): { sql: string; keys: string[] } {
    const slots = new Proxy({}, { get: (_target, name) => (typeof name === 'string' ? { [SLOT]: name } : undefined) }) as V;
    const { sql, parameters } = this.build(slots, shape).compile(db);
    const named = parameters.map((parameter, i) => {
      if (!isSlot(parameter)) throw new Error(`value $${i + 1} of a shaped statement was not read from its values`);
      return parameter[SLOT];
    });
    // A value read in several places is sent once: every place refers to the same placeholder.
    const keys = [...new Set(named)];
    const text = sql.replace(/\$(\d+)/g, (_match, n: string) => `$${keys.indexOf(named[Number(n) - 1] as string) + 1}`);
    return { sql: text, keys };
  }
}
