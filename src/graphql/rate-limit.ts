import { CompiledQuery } from 'kysely';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../db/database';
import { RateLimitedError } from '../errors';

export interface RateLimiter {
  /** Counts one request for `key`; throws RATE_LIMITED past the limit. */
  consume(key: string): Promise<void>;
}

/**
 * Per-caller request limits kept in the system-of-record database, so every instance shares one
 * count (the API holds no state of its own). Works over PostgreSQL and PGlite alike through the
 * Kysely connection. `perMinute` 0 disables limiting.
 */
export function createRateLimiter(db: Db, perMinute: number): RateLimiter | null {
  if (perMinute === 0) return null;
  const client = {
    async query(q: { text: string; values?: unknown[] }) {
      const result = await db.executeQuery(CompiledQuery.raw(q.text, q.values ?? []));
      return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? result.rows.length) };
    },
  };
  const limiter = new RateLimiterPostgres({
    storeClient: client,
    storeType: 'pool',
    tableName: 'rate_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    points: perMinute,
    duration: 60,
    keyPrefix: 'api',
  });
  return {
    async consume(key) {
      try {
        await limiter.consume(key);
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          throw new RateLimitedError(`Rate limit of ${perMinute} requests a minute exceeded; retry in ${Math.ceil(error.msBeforeNext / 1000)} s`);
        }
        throw error;
      }
    },
  };
}
