import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { SqlText } from '../db/sql-text';
import type { OrderTable, RefundTable } from '../db/schema';
import type { RowWrite } from '../ledger/unit-of-work';

export type OrderRow = Selectable<OrderTable>;
export type RefundRow = Selectable<RefundTable>;

/** "Is this order recorded?", as the unit of work's member read asks it. */
export function orderRecorded(orderId: string): SqlText {
  return { text: 'exists (select 1 from orders o where o.order_id = $1)', values: [orderId] };
}

/** "Is this refund recorded?", likewise. */
export function refundRecorded(refundId: string): SqlText {
  return { text: 'exists (select 1 from refunds r where r.refund_id = $1)', values: [refundId] };
}

export async function findOrder(db: Db, orderId: string): Promise<OrderRow | undefined> {
  return db.selectFrom('orders').selectAll().where('order_id', '=', orderId).executeTakeFirst();
}

export async function orderOwner(db: Db, orderId: string) {
  return db.selectFrom('orders').select(['member_id', 'partner_id']).where('order_id', '=', orderId).executeTakeFirst();
}

export async function findRefund(db: Db, refundId: string): Promise<RefundRow | undefined> {
  return db.selectFrom('refunds').selectAll().where('refund_id', '=', refundId).executeTakeFirst();
}

/** The lot a purchase's entry created. */
export async function lotOfTransaction(db: Db, txnId: string) {
  return db.selectFrom('point_lots').selectAll().where('txn_id', '=', txnId).executeTakeFirst();
}

export function insertOrder(row: Insertable<OrderTable>): RowWrite {
  return { insert: 'orders', rows: [row] };
}

export function insertRefund(row: Insertable<RefundTable>): RowWrite {
  return { insert: 'refunds', rows: [row] };
}

/** What a refund changes on its order. */
export function refundOrder(orderId: string, patch: { refunded_amount: string; points_reversed: number; qualifying_reversed: number }): RowWrite {
  return { update: 'orders', set: patch, where: { order_id: orderId } };
}
