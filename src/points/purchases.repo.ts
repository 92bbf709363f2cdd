import { sql, type Insertable, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { OrderTable, RefundTable } from '../db/schema';
import type { RowWrite } from '../ledger/unit-of-work';

export type OrderRow = Selectable<OrderTable>;
export type RefundRow = Selectable<RefundTable>;

/** "Is this order recorded?", as the unit of work's member read asks it. */
export function orderRecorded(orderId: string): RawBuilder<boolean> {
  return sql<boolean>`exists (select 1 from orders o where o.order_id = ${orderId})`;
}

/** "Is this refund recorded?", likewise. */
export function refundRecorded(refundId: string): RawBuilder<boolean> {
  return sql<boolean>`exists (select 1 from refunds r where r.refund_id = ${refundId})`;
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
  return (qc) => qc.insertInto('orders').values(row);
}

export function insertRefund(row: Insertable<RefundTable>): RowWrite {
  return (qc) => qc.insertInto('refunds').values(row);
}

/** What a refund changes on its order. */
export function refundOrder(orderId: string, patch: { refunded_amount: string; points_reversed: number; qualifying_reversed: number }): RowWrite {
  return (qc) => qc.updateTable('orders').set(patch).where('order_id', '=', orderId);
}
