import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient } from 'kysely';

/**
 * Presents one PGlite connection as a pg-style pool of size one. Each `connect()` waits until
 * the previous holder released it, so a Kysely transaction owns the connection from BEGIN to
 * COMMIT and every other query or transaction queues behind it: no BEGIN is ever interleaved
 * on the shared connection.
 */
export class PGlitePool implements PostgresPool {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly pg: PGlite) {}

  async connect(): Promise<PostgresPoolClient> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => turn);
    await previous;
    const pg = this.pg;
    return {
      async query(sql: string, parameters: ReadonlyArray<unknown>) {
        // Parameterless text may hold several statements (migrations): run it as a script.
        const result =
          parameters.length === 0
            ? ((await pg.exec(sql)).at(-1) ?? { rows: [], affectedRows: 0 })
            : await pg.query<Record<string, unknown>>(sql, parameters as unknown[]);
        return {
          command: (result as { command?: string }).command ?? 'SELECT',
          rowCount: result.affectedRows ?? result.rows.length,
          rows: result.rows,
        };
      },
      release,
    } as unknown as PostgresPoolClient;
  }

  async end(): Promise<void> {
    await this.tail;
    await this.pg.close();
  }
}
