import type { Db } from './database';
import { flushDeferred } from './deferred';
import { isStalePlan } from './prepared-pool';
import { DEADLOCK_DETECTED, SERIALIZATION_FAILURE, UNIQUE_VIOLATION, pgErrorCode } from '../errors';

const RETRYABLE = new Set([UNIQUE_VIOLATION, SERIALIZATION_FAILURE, DEADLOCK_DETECTED]);

/**
 * Runs `work` in one transaction. A unique violation (a racing duplicate that committed first),
 * serialization failure, deadlock or prepared statement outdated by a schema change rolls
 * everything back and runs `work` again, a few times: the retry then sees the winner's rows and
 * answers from them. Writes deferred during `work`
 * (db/deferred.ts) and not yet carried by a ledger statement are written before COMMIT.
 */
export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (tx) => {
        const result = await work(tx);
        await flushDeferred(tx);
        return result;
      });
    } catch (error) {
      const code = pgErrorCode(error);
      if (attempt >= attempts || !((code && RETRYABLE.has(code)) || isStalePlan(error))) throw error;
    }
  }
}
