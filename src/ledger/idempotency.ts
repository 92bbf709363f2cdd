import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database';
import { defer, discardDeferred } from '../db/deferred';
import { AppError, IdempotencyConflictError, BadInputError } from '../errors';

export interface IdempotencyRequest {
  scope: string;
  key: string;
  operation: string;
  hash: string;
  memberId: string | null;
}

/**
 * Idempotency for ledger operations, in three parts that cost no round trip of their own:
 *
 * 1. `keyRecorded` is asked as the member lock's probe (ledger.core lockMemberProbing).
 * 2. When it says yes, `replay` returns the stored result, or IDEMPOTENCY_CONFLICT when the key
 *    was used for a different request.
 * 3. Otherwise the operation runs (inside `orReplay`) and `recordKey` queues the record, written
 *    by the operation's ledger statement in the same transaction.
 *
 * The probe reads the lock statement's snapshot, so a duplicate that committed while this one
 * waited for the lock can be missed; its record then collides on the (scope, key) primary key,
 * the whole transaction is retried (inTransaction) and the retry replays. The same holds for a
 * racing duplicate on another member, which shares no lock.
 */
export function checkKey(request: IdempotencyRequest): void {
  if (request.key.length < 1 || request.key.length > 200) throw new BadInputError('idempotencyKey must be 1-200 characters', 'idempotencyKey');
}

export function keyRecorded(request: IdempotencyRequest): RawBuilder<boolean> {
  return sql<boolean>`exists (select 1 from idempotency_keys k where k.scope = ${request.scope} and k.key = ${request.key})`;
}

export async function replay<T>(tx: Db, request: IdempotencyRequest): Promise<T> {
  const stored = await recorded<T>(tx, request);
  if (!stored) throw new Error(`idempotency record ${request.scope}/${request.key} vanished`);
  return stored.result;
}

/** The stored result when the key is recorded (read now, not from an earlier snapshot), else undefined. */
export async function recorded<T>(tx: Db, request: IdempotencyRequest): Promise<{ result: T } | undefined> {
  const existing = await tx
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'result', 'operation'])
    .where('scope', '=', request.scope)
    .where('key', '=', request.key)
    .executeTakeFirst();
  if (!existing) return undefined;
  if (existing.request_hash !== request.hash || existing.operation !== request.operation) {
    throw new IdempotencyConflictError(request.key);
  }
  return { result: existing.result as T };
}

/**
 * Runs new work for a request that the lock's probe found unrecorded. A refusal (an AppError
 * such as INSUFFICIENT_POINTS) may only mean the probe was stale: a duplicate that committed
 * while this request waited for the lock spent the points. `lookup` then finds the duplicate's
 * result (read now, after the lock), the work's queued writes are dropped and the request
 * replays that result, as retries must. Used for idempotency keys and for order ids.
 */
export async function orReplay<T>(tx: Db, work: () => Promise<T>, lookup: () => Promise<T | undefined>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    const replayed = await lookup();
    if (replayed === undefined) throw error;
    discardDeferred(tx);
    return replayed;
  }
}

/** orReplay's lookup for an idempotency key. */
export function storedResult<T>(tx: Db, request: IdempotencyRequest): () => Promise<T | undefined> {
  return async () => (await recorded<T>(tx, request))?.result;
}

export function recordKey(tx: Db, request: IdempotencyRequest, result: unknown, now: Date, retentionDays: number): void {
  defer(tx, (qc) => qc.insertInto('idempotency_keys').values({
    scope: request.scope,
    key: request.key,
    member_id: request.memberId,
    operation: request.operation,
    request_hash: request.hash,
    result: JSON.stringify(result),
    created_at: now,
    expires_at: new Date(now.getTime() + retentionDays * 86_400_000),
  }));
}

/** Deletes records past their retention; returns how many. */
export async function purgeExpiredKeys(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
