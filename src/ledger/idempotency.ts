import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import type { SqlText } from '../db/sql-text';
import type { TransactionRow } from './ledger.types';
import { IdempotencyConflictError, BadInputError } from '../errors';
import type { Replay, UnitOfWork } from './unit-of-work';
import * as repo from './ledger.repo';

export interface IdempotencyRequest {
  scope: string;
  key: string;
  operation: string;
  hash: string;
  memberId: string | null;
}

export function checkKey(request: IdempotencyRequest): void {
  checkKeyLength(request.key);
}

/** BAD_USER_INPUT unless the key is 1-200 characters. */
export function checkKeyLength(key: string): void {
  if (key.length < 1 || key.length > 200) throw new BadInputError('idempotencyKey must be 1-200 characters', 'idempotencyKey');
}

/**
 * Idempotency by key for a unit of work (unit-of-work.ts Replay), at no round trip of its own:
 * "is the key recorded?" is asked in the member read, the record is written by the unit's own
 * statement, and a replay answers with the stored outcome, or IDEMPOTENCY_CONFLICT when the key
 * was used for a different request. The read can miss a duplicate that committed meanwhile; its
 * record then collides on the (scope, key) primary key, and the retry replays.
 *
 * `store` turns an outcome into what the record keeps (ids), `load` reads the outcome back.
 */
export function byKey<R, S>(
  request: IdempotencyRequest, retentionDays: number,
  { store, load }: { store: (outcome: R) => S; load: (db: Db, stored: S) => Promise<R> },
): Replay<R> {
  return {
    done: repo.keyRecorded(request.scope, request.key),
    async read(db) {
      const stored = await recorded<S>(db, request);
      return stored === undefined ? undefined : load(db, stored.result);
    },
    record(work: UnitOfWork, outcome: R) {
      const now = work.now;
      work.write(repo.recordKey({
        scope: request.scope, key: request.key, member_id: request.memberId, operation: request.operation,
        request_hash: request.hash, result: JSON.stringify(store(outcome)),
        created_at: now, expires_at: new Date(now.getTime() + retentionDays * 86_400_000),
      }));
    },
  };
}

/** The stored result when the key is recorded (read now), else undefined; IDEMPOTENCY_CONFLICT for another request. */
async function recorded<T>(db: Db, request: IdempotencyRequest): Promise<{ result: T } | undefined> {
  const existing = await repo.idempotencyRecord(db, request.scope, request.key);
  if (!existing) return undefined;
  if (existing.request_hash !== request.hash || existing.operation !== request.operation) {
    throw new IdempotencyConflictError(request.key);
  }
  return { result: existing.result as T };
}

/** A row that records a request as done (an order, a refund): the request's fingerprint, its member, its entry. */
interface RecordRow { request_hash: string; member_id: string; txn_id: string | null }

/**
 * A request recorded by a row of its own, which the operation writes (an order id, a refund
 * id): a retry of the same request answers from the row, the same id with another request is
 * IDEMPOTENCY_CONFLICT.
 */
export function byRecordRow<Row extends RecordRow, R>(
  id: string, hash: string, done: SqlText, find: (db: Db, id: string) => Promise<Row | undefined>,
  outcome: (row: Row, member: MemberRow, transaction: TransactionRow | null) => R,
): Replay<R> {
  return {
    done,
    async read(db, members) {
      const row = await find(db, id);
      if (!row) return undefined;
      if (row.request_hash !== hash) throw new IdempotencyConflictError(id);
      const member = members.get(row.member_id);
      if (!member) throw new Error(`${id} belongs to a member outside the unit`);
      return outcome(row, member, row.txn_id ? ((await repo.findTransaction(db, row.txn_id)) ?? null) : null);
    },
    // The row is the record: the operation writes it.
    record: () => undefined,
  };
}
