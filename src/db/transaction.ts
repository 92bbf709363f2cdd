import { CompiledQuery } from 'kysely';
import type { Ahead } from './ahead';
import type { Db } from './database';
import { LAST_STATEMENT, isStalePlan } from './prepared-pool';
import { DEADLOCK_DETECTED, SERIALIZATION_FAILURE, UNIQUE_VIOLATION, pgErrorCode } from '../errors';

const RETRYABLE = new Set([UNIQUE_VIOLATION, SERIALIZATION_FAILURE, DEADLOCK_DETECTED]);

/** Thrown by work that knows a fresh attempt will answer differently: inTransaction rolls back and runs it again. */
export class RetryTransaction extends Error {}

/** A failure that running the work again may not meet: a racing duplicate, a serialization failure or deadlock, an outdated prepared statement. */
export function isRetryable(error: unknown): boolean {
  const code = pgErrorCode(error);
  return (code !== undefined && RETRYABLE.has(code)) || isStalePlan(error) || error instanceof RetryTransaction;
}

export interface TransactionOptions {
  /**
   * What the request owes the database first (its rate-limit count, db/ahead.ts): it rides ahead
   * of the transaction's first statement, or, where it has gone already, its verdict is awaited
   * before the transaction starts. A refusal fails the transaction before anything is written.
   */
  ahead?: Ahead | null;
  attempts?: number;
}

/**
 * Runs `work` in one transaction. A unique violation (a racing duplicate that committed first),
 * serialization failure, deadlock, prepared statement outdated by a schema change or
 * RetryTransaction rolls everything back and runs `work` again, a few times: the retry then sees
 * the winner's rows and answers from them.
 */
export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>, { ahead = null, attempts = 4 }: TransactionOptions = {}): Promise<T> {
  // A count that cannot ride goes (or is waited for) before the transaction holds a connection:
  // PGlite has only one.
  if (ahead && !ahead.rides) await ahead.settled();
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (tx) => {
        if (ahead?.rides) ahead.carryOn(tx);
        return work(tx);
      });
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
      // The count left with the first attempt; a retry writes only once its verdict allows.
      if (ahead) await ahead.settled();
    }
  }
}

/**
 * Runs the transaction's last statement and returns its rows. On PostgreSQL the COMMIT leaves
 * with it (db/prepared-pool.ts), which saves the transaction a round trip; elsewhere the marker
 * is a comment and COMMIT follows as usual. Nothing may run on `tx` afterwards: the unit of
 * work (ledger/unit-of-work.ts), its only caller, sends it once the work has returned.
 */
export async function executeLast<O>(tx: Db, compiled: CompiledQuery): Promise<O[]> {
  if (!tx.isTransaction) throw new Error('executeLast needs a transaction');
  const result = await tx.executeQuery<O>(CompiledQuery.raw(LAST_STATEMENT + compiled.sql, [...compiled.parameters]));
  return result.rows;
}
