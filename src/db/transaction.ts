import { CompiledQuery, type Compilable } from 'kysely';
import type { Db } from './database';
import { flushDeferred, hasDeferred } from './deferred';
import { LAST_STATEMENT, isStalePlan } from './prepared-pool';
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

/**
 * Runs the transaction's last statement and returns its rows. On PostgreSQL the COMMIT leaves
 * with it (db/prepared-pool.ts), which saves the transaction a round trip; elsewhere the marker
 * is a comment and COMMIT follows as usual. Nothing may run on `tx` afterwards, and the caller's
 * work must not fail after it: by then the transaction may have committed. Writes still queued
 * (db/deferred.ts) must ride on `query` itself.
 */
export async function executeLast<O>(tx: Db, query: Compilable<O>): Promise<O[]> {
  if (!tx.isTransaction) throw new Error('executeLast needs a transaction');
  const compiled = query.compile();
  if (hasDeferred(tx)) throw new Error('writes were queued that the last statement does not carry');
  const result = await tx.executeQuery<O>(CompiledQuery.raw(LAST_STATEMENT + compiled.sql, [...compiled.parameters]));
  return result.rows;
}
