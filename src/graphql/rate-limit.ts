import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import { createClient } from '@redis/client';
import type { Logger } from 'pino';
import type { Ahead } from '../db/ahead';
import type { Db } from '../db/database';
import type { RateLimitStore } from '../config';
import { RateLimitedError } from '../errors';
import { postgresRateLimiter } from './rate-limit-postgres';

export interface RateLimiter {
  /**
   * Counts one request for `key`. Kept in PostgreSQL, the count's statement is not sent yet: it
   * rides ahead of the request's first statement where the request carries it (db/ahead.ts),
   * and goes alone otherwise. In memory or Redis it needs no statement and settles at once.
   * The verdict (RATE_LIMITED past the limit) comes with the count's answer.
   */
  count(key: string): Ahead;
  /** Lets go of the store's connection (Redis); the database is the caller's. */
  close(): Promise<void>;
}

export interface RateLimiterDeps {
  db: Db;
  logger: Logger;
  /** Whether PostgreSQL counts may ride ahead of other statements (a pipelining PostgreSQL pool); otherwise each goes alone. */
  carry: boolean;
}

/** Turns the library's answer to a count into the request's verdict. */
export type Verdict = (consumed: Promise<unknown>) => Promise<void>;

/** How long a count may wait for Redis before the in-process count answers instead. */
const REDIS_TIMEOUT_MS = 500;

/**
 * Per-caller request limits, `perMinute` requests in a fixed minute window per key, kept where
 * `store` says: in this process (one instance), in PostgreSQL or in Redis (shared by every
 * instance). `perMinute` 0 disables limiting. rate-limiter-flexible keeps the counting rules.
 */
export function createRateLimiter(deps: RateLimiterDeps, perMinute: number, store: RateLimitStore): RateLimiter | null {
  if (perMinute === 0) return null;
  const verdictOf: Verdict = (consumed) => consumed.then(() => undefined, (error: unknown) => {
    if (error instanceof RateLimiterRes) {
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new RateLimitedError(`Rate limit of ${perMinute} requests a minute exceeded; retry in ${seconds} s`, seconds);
    }
    throw error;
  });
  const window = { points: perMinute, duration: 60 };
  if (store.kind === 'postgres') return postgresRateLimiter(deps.db, perMinute, deps.carry, verdictOf);
  if (store.kind === 'memory') {
    const limiter = new RateLimiterMemory({ ...window, keyPrefix: 'api' });
    return { count: (key) => new Settled(verdictOf(limiter.consume(key))), close: async () => undefined };
  }
  return redisRateLimiter(store, window, deps.logger, verdictOf);
}

/**
 * Counts in Redis, shared by every instance. Redis unreachable, slow (past REDIS_TIMEOUT_MS) or
 * not yet connected, each instance counts in its own memory with the same limit until Redis
 * answers again: limiting never stops, though a caller spread over n instances may then make up
 * to n times the limit. Commands fail at once while disconnected rather than queue, so no
 * request waits on an outage.
 */
function redisRateLimiter(store: { url: string; keyPrefix: string }, window: { points: number; duration: number }, logger: Logger, verdictOf: Verdict): RateLimiter {
  const client = createClient({
    url: store.url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5_000) },
  });
  const where = new URL(store.url).host;
  // An outage is logged when it starts and when it ends, not once per failed reconnection.
  let reachable: boolean | null = null;
  client.on('ready', () => {
    if (reachable !== true) logger.info({ redis: where }, 'rate limits shared through Redis');
    reachable = true;
  });
  client.on('error', (error: Error) => {
    if (reachable !== false) logger.warn({ redis: where, err: error }, 'Redis unreachable: each instance counts rate limits in its own memory until it answers');
    reachable = false;
  });
  // Errors reach the listener above; commands meanwhile go to the in-process count.
  client.connect().catch(() => undefined);
  const insurance = new RateLimiterMemory({ ...window, keyPrefix: store.keyPrefix });
  const redis = new RateLimiterRedis({
    ...window,
    storeClient: client,
    useRedisPackage: true,
    rejectIfRedisNotReady: true,
    keyPrefix: `${store.keyPrefix}:rate`,
    insuranceLimiter: insurance,
  });
  const limiter = new RLWrapperTimeouts({ limiter: redis, insuranceLimiter: insurance, timeoutMs: REDIS_TIMEOUT_MS });
  return {
    count: (key) => new Settled(verdictOf(limiter.consume(key))),
    close: async () => {
      client.destroy();
    },
  };
}

/** A count whose verdict needs no database statement: nothing rides, and it settles with its verdict. */
class Settled implements Ahead {
  readonly rides = false;

  constructor(private readonly verdict: Promise<void>) {
    // Observed by settled(); never left unhandled when a request ends before asking.
    verdict.catch(() => undefined);
  }

  carryOn(): boolean {
    return false;
  }

  embed(): null {
    return null;
  }

  settled(): Promise<void> {
    return this.verdict;
  }
}
