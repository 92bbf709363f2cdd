import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type { Client, Pool, PoolClient } from 'pg';
import { takeAhead, type Owed } from './ahead';

/** Opens a transaction's last statement: COMMIT is sent with it (see PreparingPool). */
export const LAST_STATEMENT = '/* last statement */ ';

/**
 * Opens a statement that is planned each time it runs, never prepared under a name: one over a
 * table whose size swings by orders of magnitude, as a queue's does. A plan cached by a connection
 * while the table was empty (sequential scans cost nothing then) would otherwise stay with it as
 * the table fills, until the next ANALYZE, which may be long in coming (autovacuum off).
 */
export const PLANNED_EACH_TIME = '/* planned each time */ ';

/**
 * A pg pool whose parameterised queries run as named prepared statements. The server then parses
 * and plans each distinct statement once per connection instead of on every call (for the hot
 * paths that was most of the database's CPU). Names are derived from the statement text, so the
 * same text always maps to the same name on every connection.
 *
 * Statement texts vary only by the number of rows or list items a query carries, so the set is
 * small; still, only the first `limit` distinct texts are named and anything beyond runs
 * unnamed, as before, so a pathological caller cannot grow the server's statement cache. A text
 * opening with `PLANNED_EACH_TIME` always runs unnamed.
 *
 * A migration run by another instance (a rolling deploy adding a column) makes PostgreSQL refuse
 * a prepared `select *` whose result shape changed. The first such refusal makes every statement
 * start over under fresh names, so each is prepared again against the new schema. A statement
 * outside a transaction is then simply run again; inside one the error stands and the
 * transaction is retried (db/transaction.ts).
 *
 * BEGIN is held back and sent with the transaction's first statement. On a pool opened with
 * `pipeline: true` (database.ts), the two leave in one write without waiting for each other,
 * which saves every transaction a round trip. Likewise a statement that opens with `LAST_STATEMENT`
 * (db/transaction.ts executeLast) takes the COMMIT with it: the COMMIT Kysely sends afterwards
 * is answered from the one already sent. Should that statement fail, the server ends the
 * transaction with ROLLBACK instead, and the statement's error stands.
 *
 * A statement marked as owed ahead (db/ahead.ts: a request's rate-limit count) is held too, and
 * leaves first in the write of the connection's next statement, before a held BEGIN, so it
 * commits on its own. Every later statement on that connection but ROLLBACK waits for its
 * verdict and fails with it: a refused request writes nothing.
 */
export class PreparingPool implements PostgresPool {
  constructor(private readonly pool: Pool, private readonly names = new StatementNames()) {}

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
    // The COMMIT sent with a transaction's last statement, until Kysely asks for it.
    let sentCommit: Promise<unknown> | null = null;
    // Whether that last statement succeeded (so the COMMIT, if it succeeded, made it durable).
    let lastSucceeded = false;
    // Statements owed ahead (see above), not yet sent; and the verdicts of those sent.
    let ahead: Held[] = [];
    let verdicts: Promise<void>[] = [];
    const stream = () => socketOf(client);
    const run = (sql: string, parameters: unknown[]) => {
      const name = this.names.nameFor(sql);
      return name ? client.query({ name, text: sql, values: parameters }) : client.query(sql, parameters);
    };
    /** Submits the owed statements (synchronously, so they share the caller's write) and returns when they are answered. */
    const submitAhead = (): Promise<unknown> => {
      const owed = ahead;
      ahead = [];
      verdicts.push(...owed.map((o) => o.verdict));
      return Promise.allSettled(owed.map((o) => run(o.sql, o.parameters).then(o.answer, o.fail)));
    };
    /** Sends what is owed in a write of its own, when no statement is left to carry it. */
    const flushAhead = async () => {
      if (ahead.length === 0) return;
      const s = stream();
      s?.cork?.();
      let answered: Promise<unknown>;
      try {
        answered = submitAhead();
      } finally {
        s?.uncork?.();
      }
      await answered;
    };
    /** Waits for the verdicts of what went ahead; a refusal stands for every later statement. */
    const gate = async () => {
      if (verdicts.length === 0) return;
      await Promise.all(verdicts);
      verdicts = [];
    };
    /**
     * Runs `submit` (which must hand its query to the client synchronously), preceded by the
     * pending BEGIN if there is one and followed by COMMIT when `commit` is set. On a pipelining
     * client they leave in one write and the server answers them in one go.
     */
    const send = async <R>(submit: () => Promise<R>, commit = false): Promise<R> => {
      // A COMMIT must not leave before the verdict of what is owed ahead: that goes first, alone.
      if (commit && ahead.length > 0) {
        await flushAhead();
        await gate();
      }
      if (pendingBegin === null && !commit && ahead.length === 0) return submit();
      const begin = pendingBegin;
      pendingBegin = null;
      const s = stream();
      s?.cork?.();
      let began: Promise<unknown> = Promise.resolve();
      let ran: Promise<R>;
      try {
        if (ahead.length > 0) void submitAhead();
        if (begin !== null) began = client.query(begin);
        ran = submit();
        if (commit) {
          sentCommit = client.query('commit');
          // Answered when Kysely commits (or rolls back); never left unobserved meanwhile.
          sentCommit.catch(() => undefined);
        }
      } finally {
        s?.uncork?.();
      }
      const [b, r] = await Promise.allSettled([began, ran]);
      if (b.status === 'rejected') throw b.reason;
      if (r.status === 'rejected') throw r.reason;
      if (commit) lastSucceeded = true;
      return r.value;
    };
    /** Kysely's own COMMIT or ROLLBACK after a last statement took the COMMIT with it. */
    const endAfterLast = async (sql: string) => {
      const commit = sentCommit as Promise<unknown>;
      const succeeded = lastSucceeded;
      sentCommit = null;
      lastSucceeded = false;
      inTransaction = false;
      if (/^\s*rollback/i.test(sql)) {
        const outcome = await commit.then(() => 'committed', () => 'failed');
        // Work that failed after its last statement had committed cannot be undone: say so loudly.
        if (succeeded && outcome === 'committed') throw new Error('the transaction committed with its last statement before the work failed');
        return { command: 'ROLLBACK', rowCount: null, rows: [], fields: [] };
      }
      const ended = (await commit) as { command?: string } | undefined;
      // The server answers the COMMIT of a transaction its last statement aborted with ROLLBACK.
      if (!succeeded || ended?.command === 'ROLLBACK') throw new Error('the transaction\'s last statement failed, so it was rolled back');
      return { command: 'COMMIT', rowCount: null, rows: [], fields: [] };
    };
    return {
      query: (async (sql: unknown, parameters?: ReadonlyArray<unknown>) => {
        const owed = typeof sql === 'string' ? takeAhead(sql) : null;
        if (owed) {
          ahead.push({ ...owed, parameters: [...(parameters ?? [])] });
          return { command: 'SELECT', rowCount: 0, rows: [], fields: [] };
        }
        if (sentCommit !== null) {
          if (typeof sql === 'string' && /^\s*(commit|rollback|end)\b/i.test(sql)) return endAfterLast(sql);
          throw new Error('a statement was run after the transaction\'s last statement');
        }
        const rollback = typeof sql === 'string' && /^\s*rollback\b/i.test(sql);
        if (!rollback && verdicts.length > 0) await gate();
        if (typeof sql !== 'string' || !parameters || parameters.length === 0) {
          if (typeof sql === 'string' && /^\s*(begin|start transaction)\b/i.test(sql)) {
            inTransaction = true;
            pendingBegin = sql;
            return { command: 'BEGIN', rowCount: null, rows: [], fields: [] };
          }
          if (typeof sql === 'string' && /^\s*(commit|rollback|end)\b/i.test(sql)) {
            inTransaction = false;
            // A transaction that ran nothing was never opened on the server; what it owed still goes.
            if (pendingBegin !== null) {
              pendingBegin = null;
              await flushAhead();
              return { command: rollback ? 'ROLLBACK' : 'COMMIT', rowCount: null, rows: [], fields: [] };
            }
          }
          return send(() => (client as PoolClient).query(sql as string, parameters as unknown[]));
        }
        const last = inTransaction && sql.startsWith(LAST_STATEMENT);
        try {
          return await send(() => run(sql, parameters as unknown[]), last);
        } catch (error) {
          if (!isStalePlan(error)) throw error;
          this.names.reset();
          // Outside a transaction nothing was aborted: prepare it again under its new name.
          if (inTransaction) throw error;
          return run(sql, parameters as unknown[]);
        }
      }) as unknown as PostgresPoolClient['query'],
      release: () => {
        // A BEGIN still held back never reached the server: the connection is clean.
        pendingBegin = null;
        sentCommit = null;
        lastSucceeded = false;
        verdicts = [];
        // What is owed ahead still goes, in a write of its own, before the connection is reused.
        if (ahead.length > 0) void flushAhead().finally(() => client.release());
        else client.release();
      },
    };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }

}

/**
 * The names under which statements are prepared, shared by every pool of one database so a
 * statement has one name on all its connections. Only the first `limit` distinct texts are
 * named; anything beyond runs unnamed. A schema change that outdates a prepared plan starts
 * every statement over under fresh names (see PreparingPool).
 */
export class StatementNames {
  private names = new Map<string, string>();
  private next = 0;

  constructor(private readonly limit = 2000) {}

  get size(): number {
    return this.names.size;
  }

  nameFor(sql: string): string | undefined {
    if (sql.startsWith(PLANNED_EACH_TIME)) return undefined;
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < this.limit) {
      name = `mp${this.next++}`;
      this.names.set(sql, name);
    }
    return name;
  }

  reset(): void {
    this.names = new Map();
  }
}

/** The socket under a pg client, to cork so that several messages leave in one write. */
export function socketOf(client: PoolClient | Client): { cork?: () => void; uncork?: () => void } | undefined {
  return (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
}

/** A statement owed ahead (db/ahead.ts), held until the connection's next write. */
interface Held extends Owed {
  sql: string;
  parameters: unknown[];
}

/** PostgreSQL's refusal of a prepared statement whose result shape a schema change altered. */
export function isStalePlan(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}
