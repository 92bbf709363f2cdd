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
 *
 * A migration run by another instance (a rolling deploy adding a column) makes PostgreSQL refuse
 * a prepared `select *` whose result shape changed. The first such refusal makes every statement
 * start over under fresh names, so each is prepared again against the new schema. A statement
 * outside a transaction is then simply run again; inside one the error stands and the
 * transaction is retried (db/transaction.ts).
 *
 * BEGIN is held back and sent with the transaction's first statement. On a pool opened with
 * `pipeline: true` (database.ts), the two leave in one write without waiting for each other,
 * which saves every transaction a round trip.
 */
export class PreparingPool implements PostgresPool {
  private names = new Map<string, string>();
  private next = 0;

  constructor(private readonly pool: Pool, private readonly limit = 2000) {}

  /** How many distinct statements have been given names (for tests and diagnostics). */
  get preparedCount(): number {
    return this.names.size;
  }

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.pool.connect();
    // Kysely opens and closes transactions with plain statements on this client.
    let inTransaction = false;
    // A BEGIN not yet sent: it goes out with the transaction's first statement (see below).
    let pendingBegin: string | null = null;
    const run = (sql: string, parameters: unknown[]) => {
      const name = this.nameFor(sql);
      return name ? client.query({ name, text: sql, values: parameters }) : client.query(sql, parameters);
    };
    /**
     * Runs `submit` (which must hand its query to the client synchronously), preceded by the
     * pending BEGIN if there is one. On a pipelining client both leave in one write and the
     * server answers both in one go: opening a transaction costs no round trip of its own.
     */
    const withBegin = async <R>(submit: () => Promise<R>): Promise<R> => {
      if (pendingBegin === null) return submit();
      const begin = pendingBegin;
      pendingBegin = null;
      const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
      stream?.cork?.();
      let began: Promise<unknown>;
      let ran: Promise<R>;
      try {
        began = client.query(begin);
        ran = submit();
      } finally {
        stream?.uncork?.();
      }
      const [b, r] = await Promise.allSettled([began, ran]);
      if (b.status === 'rejected') throw b.reason;
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
    return {
      query: (async (sql: unknown, parameters?: ReadonlyArray<unknown>) => {
        if (typeof sql !== 'string' || !parameters || parameters.length === 0) {
          if (typeof sql === 'string' && /^\s*(begin|start transaction)\b/i.test(sql)) {
            inTransaction = true;
            pendingBegin = sql;
            return { command: 'BEGIN', rowCount: null, rows: [], fields: [] };
          }
          if (typeof sql === 'string' && /^\s*(commit|rollback|end)\b/i.test(sql)) {
            inTransaction = false;
            // A transaction that ran nothing was never opened on the server.
            if (pendingBegin !== null) {
              pendingBegin = null;
              return { command: /^\s*rollback/i.test(sql) ? 'ROLLBACK' : 'COMMIT', rowCount: null, rows: [], fields: [] };
            }
          }
          return withBegin(() => (client as PoolClient).query(sql as string, parameters as unknown[]));
        }
        try {
          return await withBegin(() => run(sql, parameters as unknown[]));
        } catch (error) {
          if (!isStalePlan(error)) throw error;
          this.names = new Map();
          // Outside a transaction nothing was aborted: prepare it again under its new name.
          if (inTransaction) throw error;
          return run(sql, parameters as unknown[]);
        }
      }) as unknown as PostgresPoolClient['query'],
      release: () => {
        // A BEGIN still held back never reached the server: the connection is clean.
        pendingBegin = null;
        client.release();
      },
    };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }

  private nameFor(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < this.limit) {
      name = `mp${this.next++}`;
      this.names.set(sql, name);
    }
    return name;
  }
}

/** PostgreSQL's refusal of a prepared statement whose result shape a schema change altered. */
export function isStalePlan(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}
