import { CompiledQuery, type QueryResult } from 'kysely';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { aheadStatement, type Ahead } from '../db/ahead';
import type { Db } from '../db/database';
import { RateLimitedError } from '../errors';

export interface RateLimiter {
  /**
   * Counts one request for `key`. The count's statement is not sent yet: it rides ahead of the
   * request's first statement where the request carries it (db/ahead.ts), and goes alone
   * otherwise. The verdict (RATE_LIMITED past the limit) comes with the statement's answer.
   */
  count(key: string): Promise<Ahead>;
}

export interface RateLimiterOptions {
  /** Whether counts may ride ahead of other statements (a pipelining PostgreSQL pool); otherwise each goes alone. */
  carry: boolean;
}

interface Handed {
  text: string;
  values: unknown[];
  resolve(result: { rows: unknown[]; rowCount: number }): void;
  reject(error: unknown): void;
}

/**
 * Per-caller request limits kept in the system-of-record database, so every instance shares one
 * count (the API holds no state of its own). rate-limiter-flexible keeps the counting rules; this
 * decides only when its statement leaves. Works over PostgreSQL and PGlite alike through the
 * Kysely connection. `perMinute` 0 disables limiting.
 */
export function createRateLimiter(db: Db, perMinute: number, { carry }: RateLimiterOptions): RateLimiter | null {
  if (perMinute === 0) return null;
  const settings = {
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    points: perMinute,
    duration: 60,
    keyPrefix: 'api',
  };
  return {
    async count(key) {
      let handed = null as Handed | null;
      let handOver!: () => void;
      const handedOver = new Promise<void>((resolve) => (handOver = resolve));
      // A limiter per request, whose store client keeps the statement instead of running it.
      const limiter = new RateLimiterPostgres({
        ...settings,
        storeClient: {
          query: (q: { text: string; values?: unknown[] }) => new Promise((resolve, reject) => {
            handed = { text: q.text, values: q.values ?? [], resolve, reject };
            handOver();
          }),
        },
      });
      const verdict = limiter.consume(key).then(() => undefined, (error: unknown) => {
        if (error instanceof RateLimiterRes) {
          throw new RateLimitedError(`Rate limit of ${perMinute} requests a minute exceeded; retry in ${Math.ceil(error.msBeforeNext / 1000)} s`);
        }
        throw error;
      });
      // Observed by settled() or by the statements that wait for it; never left unhandled.
      verdict.catch(() => undefined);
      // The library hands its statement over within a few microtasks (or decides without one).
      await Promise.race([handedOver, verdict.catch(() => undefined)]);
      let gone = false;
      return {
        get rides() {
          return carry && !gone && handed !== null;
        },
        carryOn(on) {
          if (!carry || gone || !handed) return false;
          gone = true;
          const { text, values, resolve, reject } = handed;
          // Acknowledged at once by the pool; the real answer comes to `answer` with the next statement.
          void on.executeQuery(aheadStatement(text, values, { verdict, answer: (r) => resolve({ rows: r.rows, rowCount: r.rowCount ?? r.rows.length }), fail: reject }));
          return true;
        },
        settled() {
          if (!gone && handed) {
            gone = true;
            const { text, values, resolve, reject } = handed;
            db.executeQuery(CompiledQuery.raw(text, values)).then((result) => resolve(asPgResult(result)), reject);
          }
          return verdict;
        },
      };
    },
  };
}

function asPgResult(result: QueryResult<unknown>): { rows: unknown[]; rowCount: number } {
  return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? result.rows.length) };
}
