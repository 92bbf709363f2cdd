/**
 * Row types for Kysely, one interface per table in src/db/migrations.
 * Generated<T> marks columns with a database default.
 */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** numeric columns travel as decimal strings in both directions. */
type Numeric = ColumnType<string, string | number, string | number>;

export interface ProgramTable {
  id: Generated<number>;
  name: Generated<string>;
  points_name: Generated<string>;
  currency: Generated<string>;
  earn_rate: Numeric;
  pending_days: Generated<number>;
  expiry_mode: Generated<'NONE' | 'FIXED' | 'INACTIVITY'>;
  expiry_months: number | null;
  round_to_quarter_end: Generated<boolean>;
  allow_negative_balance: Generated<boolean>;
  point_value: Numeric;
  updated_at: Timestamp;
}

export interface TierTable {
  code: string;
  name: string;
  rank: number;
  qualifying_points_required: number;
  earn_multiplier: Numeric;
}

export interface ServiceClockTable {
  id: Generated<number>;
  frozen_at: Timestamp | null;
}

export type MemberStatus = 'ACTIVE' | 'SUSPENDED' | 'CLOSED';

export interface MemberTable {
  id: string;
  external_id: string;
  email: string | null;
  name: string | null;
  birth_date: ColumnType<string | null, string | null, string | null>;
  phone: string | null;
  locale: string | null;
  status: Generated<MemberStatus>;
  status_reason: string | null;
  enrolled_at: Timestamp;
  referral_code: string;
  referred_by: string | null;
  debt: Generated<number>;
  lifetime_earned: Generated<number>;
  lifetime_redeemed: Generated<number>;
  expired: Generated<number>;
  last_activity_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type TransactionType =
  | 'EARN' | 'PURCHASE' | 'REDEEM' | 'REFUND' | 'EXPIRE' | 'ADJUST'
  | 'TRANSFER_IN' | 'TRANSFER_OUT' | 'REVERSAL' | 'BONUS';

export interface PointsTransactionTable {
  seq: Generated<number>;
  id: string;
  member_id: string;
  type: TransactionType;
  points: number;
  qualifying_points: Generated<number>;
  shortfall: Generated<number>;
  available_at: Timestamp;
  cancelled: Generated<boolean>;
  description: string | null;
  order_id: string | null;
  partner_id: string | null;
  actor: string;
  related_id: string | null;
  occurred_at: Timestamp;
  created_at: Timestamp;
}

export interface PointLotTable {
  id: string;
  member_id: string;
  txn_id: string;
  points: number;
  remaining: number;
  available_at: Timestamp;
  expires_at: Timestamp | null;
  earned_at: Timestamp;
}

export type AllocationKind = 'DEBIT' | 'EXPIRE' | 'DEBT';

export interface LotAllocationTable {
  member_id: string;
  txn_id: string;
  lot_id: string;
  points: number;
  kind: AllocationKind;
}

export interface OrderTable {
  order_id: string;
  member_id: string;
  partner_id: string | null;
  amount: Numeric;
  currency: string;
  channel: string | null;
  items: ColumnType<unknown, string | null, string | null>;
  occurred_at: Timestamp;
  txn_id: string | null;
  points_earned: number;
  qualifying_points: number;
  breakdown: ColumnType<unknown, string, string>;
  refunded_amount: ColumnType<string, string | number | undefined, string | number>;
  points_reversed: Generated<number>;
  qualifying_reversed: Generated<number>;
  request_hash: string;
  created_at: Timestamp;
}

export interface RefundTable {
  refund_id: string;
  order_id: string;
  member_id: string;
  amount: Numeric;
  txn_id: string | null;
  points_reversed: number;
  request_hash: string;
  created_at: Timestamp;
}

export interface IdempotencyKeyTable {
  scope: string;
  key: string;
  member_id: string | null;
  operation: string;
  request_hash: string;
  result: ColumnType<unknown, string, string>;
  created_at: Timestamp;
  expires_at: Timestamp;
}

export interface RateLimitTable {
  key: string;
  points: number;
  expire: number | null;
}

export interface DB {
  program: ProgramTable;
  tiers: TierTable;
  service_clock: ServiceClockTable;
  members: MemberTable;
  points_transactions: PointsTransactionTable;
  point_lots: PointLotTable;
  lot_allocations: LotAllocationTable;
  orders: OrderTable;
  refunds: RefundTable;
  idempotency_keys: IdempotencyKeyTable;
  rate_limits: RateLimitTable;
}
