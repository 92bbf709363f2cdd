import { CompiledQuery, type QueryResult } from 'kysely';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { aheadStatement, type Ahead, type Embedded } from '../db/ahead';
import type { Db } from '../db/database';
import type { RateLimiter, Verdict } from './rate-limit';

interface Statement {
  text: string;
  values: unknown[];
  resolve(result: { rows: unknown[]; rowCount: number }): void;
  reject(error: unknown): void;
}

/**
 * Per-caller request limits kept in the system-of-record database, so every instance shares one
 * count with nothing else to run. rate-limiter-flexible keeps the counting rules; this decides
 * only when its statement leaves: where `carry` (a pipelining PostgreSQL pool), ahead of the
 * request's first statement, otherwise alone. Works over PostgreSQL and PGlite alike through the
 * Kysely connection. `verdictOf` turns the library's answer into the request's verdict.
 */
export function postgresRateLimiter(db: Db, perMinute: number, carry: boolean, verdictOf: Verdict): RateLimiter {
  // Counts waiting for the library's statement, by the key the statement names (its $1). Any
  // count of a key may take any statement for that key: they are the same statement.
  const waiting = new Map<string, Count[]>();
  const limiter = new RateLimiterPostgres({
    storeClient: {
      query: (q: { text: string; values?: unknown[] }) => {
        const key = q.values?.[0];
        const queue = typeof key === 'string' ? waiting.get(key) : undefined;
        const count = queue?.shift();
        if (queue?.length === 0) waiting.delete(key as string);
        if (!count) return db.executeQuery(CompiledQuery.raw(q.text, q.values ?? [])).then(asPgResult);
        return new Promise((resolve, reject) => count.hand({ text: q.text, values: q.values ?? [], resolve, reject }));
      },
    },
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    points: perMinute,
    duration: 60,
    keyPrefix: 'api',
  });
  return {
    count(key) {
      const storeKey = limiter.getKey(key);
      const count = new Count(db, carry);
      const queue = waiting.get(storeKey);
      if (queue) queue.push(count);
      else waiting.set(storeKey, [count]);
      count.verdict = verdictOf(limiter.consume(key));
      // Observed by settled() or by the statements that wait for it; never left unhandled. A
      // verdict reached without a statement leaves no count waiting for one.
      count.verdict.catch(() => undefined).then(() => {
        const left = waiting.get(storeKey)?.filter((c) => c !== count);
        if (left?.length) waiting.set(storeKey, left);
        else if (left) waiting.delete(storeKey);
      });
      return count;
    },
    close: async () => undefined,
  };
}

/** One request's count: the library's statement, once handed over, and its verdict. */
class Count implements Ahead {
  verdict: Promise<void> = Promise.resolve();
  private statement: Statement | null = null;
  private gone = false;
  private onHand: (() => void) | null = null;

  constructor(private readonly db: Db, private readonly carry: boolean) {}

  hand(statement: Statement): void {
    this.statement = statement;
    this.onHand?.();
  }

  get rides(): boolean {
    return this.carry && !this.gone && this.statement !== null;
  }

  carryOn(on: Db): boolean {
    if (!this.rides) return false;
    this.gone = true;
    const { text, values, resolve, reject } = this.statement as Statement;
    // Acknowledged at once by the pool; the real answer comes to `answer` with the next statement.
    void on.executeQuery(aheadStatement(text, values, { verdict: this.verdict, answer: (r) => resolve({ rows: r.rows, rowCount: r.rowCount ?? r.rows.length }), fail: reject }));
    return true;
  }

  embed(): Embedded | null {
    if (!this.rides) return null;
    this.gone = true;
    const { text, values, resolve } = this.statement as Statement;
    // The library's upsert ends with a semicolon, which a CTE body cannot.
    const body = text.trim().replace(/;$/, '');
    return {
      text: body,
      values,
      answer: (row) => resolve({ rows: [row], rowCount: 1 }),
      owedAgain: () => {
        this.gone = false;
      },
    };
  }

  async settled(): Promise<void> {
    // The library hands its statement over a few microtasks after the count began.
    if (!this.gone && !this.statement) await Promise.race([new Promise<void>((resolve) => (this.onHand = resolve)), this.verdict.catch(() => undefined)]);
    if (!this.gone && this.statement) {
      this.gone = true;
      const { text, values, resolve, reject } = this.statement;
      this.db.executeQuery(CompiledQuery.raw(text, values)).then((result) => resolve(asPgResult(result)), reject);
    }
    return this.verdict;
  }
}

function asPgResult(result: QueryResult<unknown>): { rows: unknown[]; rowCount: number } {
  return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? result.rows.length) };
}
