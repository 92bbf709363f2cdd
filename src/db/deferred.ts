import { sql, type Compilable, type OperationNodeSource, type QueryCreator } from 'kysely';
import type { Db } from './database';
import type { DB } from './schema';
import type { MemberRow } from '../members/members.repo';

/**
 * Writes a transaction must make but whose outcome nothing in it reads back: the member's
 * aggregates, an order row, an idempotency record. Instead of a round trip each, they ride as
 * data-modifying CTEs on the transaction's next ledger statement (repo.insertCredit and
 * friends), and inTransaction writes whatever is left just before COMMIT.
 *
 * Every write is still inside the transaction, so a failure anywhere rolls all of them back; a
 * unique violation surfaces at the statement that carried the write and is retried as before.
 */
/** An INSERT or UPDATE (without RETURNING) built on the query creator it is given. */
export type DeferredWrite = (qc: QueryCreator<DB>) => Compilable & OperationNodeSource;

interface Pending {
  writes: DeferredWrite[];
  /** Locked member rows whose aggregates changed; written once each, with their final values. */
  members: Map<string, MemberRow>;
  /** Members whose row is only touched (updated_at), to mark a change made elsewhere. */
  touched: Map<string, Date>;
}

const pendingByTx = new WeakMap<Db, Pending>();

function pendingOf(tx: Db): Pending {
  let pending = pendingByTx.get(tx);
  if (!pending) {
    pending = { writes: [], members: new Map(), touched: new Map() };
    pendingByTx.set(tx, pending);
  }
  return pending;
}

/** Queues `write` for the transaction's next ledger statement (or its end). */
export function defer(tx: Db, write: DeferredWrite): void {
  if (!tx.isTransaction) throw new Error('defer needs a transaction');
  pendingOf(tx).writes.push(write);
}

/**
 * Queues the member's stored aggregates for writing. The caller holds the row lock and has
 * already changed `member` in place, so the values written are the final ones, however many
 * changes the transaction makes (one statement may not update the same row twice).
 */
export function deferMemberAggregates(tx: Db, member: MemberRow): void {
  if (!tx.isTransaction) throw new Error('deferMemberAggregates needs a transaction');
  pendingOf(tx).members.set(member.id, member);
}

/**
 * Queues a write of the member's row that changes only updated_at. Every change to a member's
 * lots or tier state writes the member's row in the same transaction, so a lock that finds the
 * row as its snapshot saw it knows that nothing of the member's changed in between
 * (ledger.core lockMemberProbing relies on this).
 */
export function touchMember(tx: Db, memberId: string, at: Date): void {
  if (!tx.isTransaction) throw new Error('touchMember needs a transaction');
  pendingOf(tx).touched.set(memberId, at);
}

/**
 * The transaction as a query creator carrying every queued write as a CTE (d0, d1, …), and the
 * queue emptied. Build the statement from it and run it at once.
 */
export function withDeferred(tx: Db): QueryCreator<DB> {
  const writes = takeDeferred(tx);
  let qc: QueryCreator<DB> = tx;
  writes.forEach((write, i) => {
    qc = qc.with(`d${i}`, write as never) as unknown as QueryCreator<DB>;
  });
  return qc;
}

/**
 * Runs `work` with the writes queued so far held back, then queues them again: they ride on the
 * first statement after `work` rather than on one inside it. For writes that reference a row
 * that statement writes (an order row naming its ledger entry). Member aggregates and marks are
 * not held: any statement may carry them.
 */
export async function holdingWrites<T>(tx: Db, work: () => Promise<T>): Promise<T> {
  const pending = pendingOf(tx);
  const held = pending.writes;
  pending.writes = [];
  try {
    return await work();
  } finally {
    const current = pendingByTx.get(tx);
    // Discarded meanwhile (the work was abandoned): nothing to put back.
    if (current) current.writes = [...held, ...current.writes];
  }
}

/** Drops every queued write: the work that queued them was abandoned (its caller answers otherwise). */
export function discardDeferred(tx: Db): void {
  pendingByTx.delete(tx);
}

/** Writes whatever is still queued, in one statement; inTransaction calls it before COMMIT. */
export async function flushDeferred(tx: Db): Promise<void> {
  if (!hasDeferred(tx)) return;
  await withDeferred(tx).selectNoFrom(sql<number>`1`.as('flushed')).execute();
}

/** Whether writes are queued on `tx` that no statement has carried yet. */
export function hasDeferred(tx: Db): boolean {
  const pending = pendingByTx.get(tx);
  return pending !== undefined && (pending.writes.length > 0 || pending.members.size > 0 || pending.touched.size > 0);
}

function takeDeferred(tx: Db): DeferredWrite[] {
  const pending = pendingByTx.get(tx);
  if (!pending) return [];
  const writes = [...pending.writes];
  for (const member of pending.members.values()) {
    const { id, debt, lifetime_earned, lifetime_redeemed, expired, last_activity_at, updated_at } = member;
    writes.push((qc) => qc.updateTable('members')
      .set({ debt, lifetime_earned, lifetime_redeemed, expired, last_activity_at, updated_at })
      .where('id', '=', id));
  }
  // A row written with its aggregates is touched already (one statement may write a row once).
  for (const [id, at] of pending.touched) {
    if (!pending.members.has(id)) writes.push((qc) => qc.updateTable('members').set({ updated_at: at }).where('id', '=', id));
  }
  pending.writes = [];
  pending.members.clear();
  pending.touched.clear();
  return writes;
}
