import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type { Pool, PoolClient } from 'pg';

/**
 * A pg pool whose parameterised queries run as named prepared statements. The server then parses
 * and plans each distinct statement once per connection instead of on every call (for the hot
 * paths that was most of the database's CPU). Names are derived from the statement text, so the
 * same text always maps to the same name on every connection.
 *
 * Statement texts vary only by the number of rows or list items a query carries, so the set is
 * small; still, only the first `limit` distinct texts are named and anything beyond runs
 * unnamed, as before, so a pathological caller cannot grow the server's statement cache.
 */
export class PreparingPool implements PostgresPool {
  private readonly names = new Map<string, string>();

  constructor(private readonly pool: Pool, private readonly limit = 2000) {}

  /** How many distinct statements have been given names (for tests and diagnostics). */
  get preparedCount(): number {
    return this.names.size;
  }

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.pool.connect();
    return {
      query: ((sql: unknown, parameters?: ReadonlyArray<unknown>) => {
        if (typeof sql !== 'string' || !parameters || parameters.length === 0) {
          return (client as PoolClient).query(sql as string, parameters as unknown[]);
        }
        const name = this.nameFor(sql);
        return name
          ? client.query({ name, text: sql, values: parameters as unknown[] })
          : client.query(sql, parameters as unknown[]);
      }) as unknown as PostgresPoolClient['query'],
      release: () => client.release(),
    };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }

  private nameFor(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < this.limit) {
      name = `mp${this.names.size}`;
      this.names.set(sql, name);
    }
    return name;
  }
}
