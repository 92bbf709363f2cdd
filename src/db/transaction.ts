import { CompiledQuery, type Compilable } from 'kysely';
import type { Ahead, Embedded } from './ahead';
import type { Db } from './database';
import { flushDeferred, hasDeferred } from './deferred';
import { LAST_STATEMENT, isStalePlan } from './prepared-pool';
import { DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE, SERIALIZATION_FAILURE, UNIQUE_VIOLATION, pgErrorCode } from '../errors';

const RETRYABLE = new Set([UNIQUE_VIOLATION, SERIALIZATION_FAILURE, DEADLOCK_DETECTED]);

/** A failure that running the work again may not meet: a racing duplicate, a serialization failure or deadlock, an outdated prepared statement. */
export function isRetryable(error: unknown): boolean {
  const code = pgErrorCode(error);
  return (code !== undefined && RETRYABLE.has(code)) || isStalePlan(error);
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
 * serialization failure, deadlock or prepared statement outdated by a schema change rolls
 * everything back and runs `work` again, a few times: the retry then sees the winner's rows and
 * answers from them. Writes deferred during `work`
 * (db/deferred.ts) and not yet carried by a ledger statement are written before COMMIT.
 */
export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>, { ahead = null, attempts = 4 }: TransactionOptions = {}): Promise<T> {
  // A count that cannot ride goes (or is waited for) before the transaction holds a connection:
  // PGlite has only one.
  if (ahead && !ahead.rides) await ahead.settled();
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (tx) => {
        if (ahead?.rides) ahead.carryOn(tx);
        const result = await work(tx);
        await flushDeferred(tx);
        return result;
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

/**
 * Runs a write of one statement that stands alone (Database.statements) and carries the request's rate-limit count
 * inside it (Ahead.embed), where the count can ride; where it cannot, its verdict is awaited
 * first and the statement runs without it. The count's row goes back to the count for its
 * verdict. A failure rolls the count back with the statement, so the count is owed again:
 * it then rides ahead of the general path's transaction, which a retryable failure (a racing
 * duplicate, say) or a row lock the statement gave up waiting for (a shared connection waits
 * for one only so long, db/pipelined-pool.ts) falls back to (undefined), or is sent on its own
 * before any other failure is thrown, so the failed request still counts.
 */
export async function withEmbeddedCount<R extends { counted: Record<string, unknown> | null }>(
  ahead: Ahead | null | undefined, run: (count: Embedded | null) => Promise<R>,
): Promise<R | undefined> {
  const count = ahead?.embed() ?? null;
  if (ahead && !count) await ahead.settled();
  let outcome: R;
  try {
    outcome = await run(count);
  } catch (error) {
    count?.owedAgain();
    if (isRetryable(error) || pgErrorCode(error) === LOCK_NOT_AVAILABLE) return undefined;
    await ahead?.settled().catch(() => undefined);
    throw error;
  }
  if (count) count.answer(outcome.counted ?? {});
  return outcome;
}
