import type { Db } from '../db/database';
import { IdempotencyConflictError, BadInputError } from '../errors';

export interface IdempotencyRequest {
  scope: string;
  key: string;
  operation: string;
  hash: string;
  memberId: string | null;
}

/**
 * Inside a transaction that already holds the member lock: returns the stored result for a
 * repeated request, throws IDEMPOTENCY_CONFLICT when the key was used for another request, or
 * runs `work` and stores its result under the key. A racing duplicate on another member (no
 * shared lock) fails on the primary key and is retried by the caller (see withRetry).
 */
export async function idempotent<T>(
  tx: Db,
  request: IdempotencyRequest,
  now: Date,
  retentionDays: number,
  work: () => Promise<T>,
): Promise<{ result: T; replayed: boolean }> {
  if (request.key.length < 1 || request.key.length > 200) throw new BadInputError('idempotencyKey must be 1-200 characters', 'idempotencyKey');
  const existing = await tx
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'result', 'operation'])
    .where('scope', '=', request.scope)
    .where('key', '=', request.key)
    .executeTakeFirst();
  if (existing) {
    if (existing.request_hash !== request.hash || existing.operation !== request.operation) {
      throw new IdempotencyConflictError(request.key);
    }
    return { result: existing.result as T, replayed: true };
  }
  const result = await work();
  await tx
    .insertInto('idempotency_keys')
    .values({
      scope: request.scope,
      key: request.key,
      member_id: request.memberId,
      operation: request.operation,
      request_hash: request.hash,
      result: JSON.stringify(result),
      created_at: now,
      expires_at: new Date(now.getTime() + retentionDays * 86_400_000),
    })
    .execute();
  return { result, replayed: false };
}

/** Deletes records past their retention; returns how many. */
export async function purgeExpiredKeys(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
