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
  qualification_window: Generated<QualificationWindow>;
  downgrade_mode: Generated<DowngradeMode>;
  grace_months: Generated<number>;
  freeze_expiry_min_rank: number | null;
  streak_period: Generated<StreakPeriod>;
  streak_length: number | null;
  streak_bonus_points: Generated<number>;
  /** IANA time zone: calendar periods, localDay and localDate of the earning rules. */
  timezone: Generated<string>;
  /** Referrals (src/referrals): points to the referrer and the referee at the referee's first purchase. */
  referral_referrer_points: Generated<number>;
  referral_referee_points: Generated<number>;
  /** Rewarded referrals a referrer may have at most; null: no cap. */
  referral_max_per_referrer: number | null;
  complaint_sla_hours: Generated<number>;
}

export type QualificationWindow = 'ROLLING_12_MONTHS' | 'CALENDAR_YEAR' | 'ANNIVERSARY_YEAR';
export type DowngradeMode = 'ONE_TIER' | 'TO_QUALIFIED';
export type StreakPeriod = 'MONTH' | 'QUARTER';

export interface TierTable {
  code: string;
  name: string;
  rank: number;
  qualifying_points_required: number;
  earn_multiplier: Numeric;
  qualifying_spend_required: ColumnType<string | null, string | null | undefined, string | null>;
  qualifying_purchases_required: number | null;
  threshold_match: Generated<'ANY' | 'ALL'>;
  perks: ColumnType<string[], string | undefined, string>;
  reward_codes: ColumnType<string[], string | undefined, string>;
  invitation_only: Generated<boolean>;
  lifetime_qualifying_points_required: number | null;
}

export interface TierMilestoneTable {
  lifetime_qualifying_points: number;
  name: string;
  bonus_points: number;
}

export type TierChangeReason =
  | 'UPGRADE' | 'DOWNGRADE' | 'REQUALIFIED' | 'ASSIGNED' | 'ASSIGNMENT_ENDED' | 'LIFETIME' | 'REFUND_REVERSAL' | 'GRACE_STARTED';

export interface MemberTierTable {
  member_id: string;
  tier_code: string;
  since: Timestamp;
  valid_until: Timestamp | null;
  grace_until: Timestamp | null;
  lifetime_code: string | null;
  assigned_code: string | null;
  assigned_since: Timestamp | null;
  assigned_until: Timestamp | null;
  expiry_frozen: Generated<boolean>;
  version: Generated<number>;
  updated_at: Timestamp;
}

export interface TierHistoryTable {
  seq: Generated<number>;
  member_id: string;
  at: Timestamp;
  from_code: string;
  to_code: string;
  reason: TierChangeReason;
  valid_until: Timestamp | null;
  previous_valid_until: Timestamp | null;
  previous_since: Timestamp | null;
  note: string | null;
  created_at: Timestamp;
}

/** One row: where the review of members owed a milestone bonus stands (migration 008). */
export interface MilestoneReviewTable {
  id: Generated<number>;
  version: Generated<number>;
  reviewed_version: Generated<number>;
  review_after: string | null;
}

export interface MemberMilestoneTable {
  member_id: string;
  lifetime_qualifying_points: number;
  txn_id: string;
  awarded_at: Timestamp;
}

export interface MemberStreakAwardTable {
  member_id: string;
  period_start: Timestamp;
  streak_length: number;
  txn_id: string;
  awarded_at: Timestamp;
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
  tags: ColumnType<string[], string[] | undefined, string[]>;
  erased_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
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
  /** The rule versions that gave the entry its points (RuleAwardRecord[]), or null. */
  rule_awards: ColumnType<unknown, string | null | undefined, string | null>;
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

export type EffectKind = 'FIXED' | 'PER_UNIT' | 'MULTIPLIER';
export type LimitPeriod = 'DAY' | 'WEEK' | 'MONTH' | 'YEAR' | 'LIFETIME';

export interface EarningRuleTable {
  id: string;
  seq: ColumnType<string, never, never>;
  version: number;
  name: string;
  trigger: string;
  condition: string | null;
  effect_kind: EffectKind;
  effect_points: number | null;
  effect_rate: ColumnType<string | null, string | null, string | null>;
  item_condition: string | null;
  qualifying: boolean;
  limit_count: number | null;
  limit_period: LimitPeriod | null;
  budget_points: number | null;
  budget_spent: Generated<number>;
  priority: number;
  exclusive: boolean;
  starts_at: Timestamp | null;
  ends_at: Timestamp | null;
  active: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EarningRuleVersionTable {
  rule_id: string;
  version: number;
  definition: ColumnType<unknown, string, string>;
  created_at: Timestamp;
}

export interface MemberEventTable {
  id: string;
  member_id: string;
  scope: string;
  idempotency_key: string;
  request_hash: string;
  type: string;
  attributes: ColumnType<unknown, string, string>;
  occurred_at: Timestamp;
  txn_id: string | null;
  points_earned: number;
  breakdown: ColumnType<unknown, string, string>;
  created_at: Timestamp;
}

export interface PartnerTable {
  partner_id: string;
  name: string;
  active: Generated<boolean>;
  earn_rate: ColumnType<string | null, string | null | undefined, string | null>;
  personal_data: Generated<boolean>;
  /** scrypt hash of the client secret (partners/partners.secrets.ts). */
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_secret_expires_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type RewardType = 'VOUCHER' | 'DISCOUNT' | 'FREE_PRODUCT' | 'PARTNER';
export type RedemptionStatus = 'ISSUED' | 'USED' | 'CANCELLED' | 'EXPIRED';

export interface RewardTable {
  id: string;
  code: string;
  name: string;
  description: string | null;
  points_cost: number;
  type: RewardType;
  stock: number | null;
  issued: Generated<number>;
  per_member_limit: number | null;
  min_tier_rank: number | null;
  valid_from: Timestamp | null;
  valid_until: Timestamp | null;
  active: boolean;
  partner_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RedemptionTable {
  id: string;
  reward_id: string;
  member_id: string;
  points_spent: number;
  voucher_code: string;
  status: RedemptionStatus;
  partner_id: string | null;
  txn_id: string;
  reversal_txn_id: string | null;
  valid_until: Timestamp | null;
  created_at: Timestamp;
  used_at: Timestamp | null;
  cancelled_at: Timestamp | null;
  cancel_reason: string | null;
  expired_at: Timestamp | null;
}

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface WebhookTable {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  secret: string;
  active: boolean;
  disabled_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OutboxEventTable {
  id: string;
  seq: ColumnType<string, never, never>;
  type: string;
  member_id: string;
  data: ColumnType<unknown, string, string>;
  created_at: Timestamp;
}

export interface WebhookDeliveryTable {
  id: string;
  webhook_id: string;
  event_id: string;
  event_seq: ColumnType<string, string | number, string | number>;
  event_type: string;
  member_id: string;
  status: DeliveryStatus;
  attempts: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Timestamp;
  leased_until: Timestamp | null;
  claim: string | null;
  delivered_at: Timestamp | null;
  created_at: Timestamp;
}

export interface WebhookAttemptTable {
  delivery_id: string;
  attempt: number;
  at: Timestamp;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface ExpiringNoticeTable {
  lot_id: string;
  expires_at: Timestamp;
  member_id: string;
  created_at: Timestamp;
}

export interface DB {
  program: ProgramTable;
  tiers: TierTable;
  tier_milestones: TierMilestoneTable;
  member_tiers: MemberTierTable;
  tier_history: TierHistoryTable;
  member_milestones: MemberMilestoneTable;
  milestone_review: MilestoneReviewTable;
  member_streak_awards: MemberStreakAwardTable;
  service_clock: ServiceClockTable;
  members: MemberTable;
  points_transactions: PointsTransactionTable;
  point_lots: PointLotTable;
  lot_allocations: LotAllocationTable;
  orders: OrderTable;
  refunds: RefundTable;
  idempotency_keys: IdempotencyKeyTable;
  rate_limits: RateLimitTable;
  earning_rules: EarningRuleTable;
  earning_rule_versions: EarningRuleVersionTable;
  member_events: MemberEventTable;
  rewards: RewardTable;
  redemptions: RedemptionTable;
  webhooks: WebhookTable;
  outbox_events: OutboxEventTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  expiring_notices: ExpiringNoticeTable;
  partners: PartnerTable;
  referrals: ReferralTable;
  survey_responses: SurveyResponseTable;
  complaints: ComplaintTable;
  member_loyalty: MemberLoyaltyTable;
  loyalty_summary: LoyaltySummaryTable;
}

export type ReferralStatus = 'PENDING' | 'REWARDED' | 'REVERSED' | 'CAPPED';

/** One referred member (src/referrals): attributed at enrolment, decided at its first purchase. */
export interface ReferralTable {
  id: string;
  referrer_id: string;
  referee_id: string;
  status: Generated<ReferralStatus>;
  order_id: string | null;
  referrer_points: Generated<number>;
  referee_points: Generated<number>;
  referrer_txn_id: string | null;
  referee_txn_id: string | null;
  created_at: Timestamp;
  decided_at: Timestamp | null;
  reversed_at: Timestamp | null;
}

/** An NPS answer (src/insights). */
export interface SurveyResponseTable {
  id: string;
  member_id: string;
  score: number;
  comment: string | null;
  channel: string | null;
  scope: string;
  idempotency_key: string;
  request_hash: string;
  created_at: Timestamp;
}

export type ComplaintStatus = 'OPEN' | 'RESOLVED';

export interface ComplaintTable {
  id: string;
  member_id: string;
  category: string;
  description: string;
  channel: string | null;
  status: Generated<ComplaintStatus>;
  resolution: string | null;
  goodwill_points: Generated<number>;
  goodwill_txn_id: string | null;
  scope: string;
  idempotency_key: string;
  request_hash: string;
  resolve_scope: string | null;
  resolve_key: string | null;
  resolve_hash: string | null;
  created_at: Timestamp;
  resolved_at: Timestamp | null;
}

/** A member's loyalty summary (migration 018), as the maintenance pass last found it; refreshed_at: when the row last changed. */
export interface MemberLoyaltyTable {
  member_id: string;
  purchases: number;
  last_purchase_at: Timestamp | null;
  prospect_at: Timestamp | null;
  first_time_at: Timestamp | null;
  repeat_at: Timestamp | null;
  advocate_at: Timestamp | null;
  churn_medium_at: Timestamp | null;
  churn_high_at: Timestamp | null;
  spend_365: Numeric;
  frequency_365: number;
  /** Purchases and net spend in the 365 days before the 365-day window. */
  spend_prior_365: Numeric;
  frequency_prior_365: number;
  enrolled_at: Timestamp;
  /** Erased (eraseMember): its purchases still count in the buyer figures; it counts in no stage or risk. */
  erased: boolean;
  refreshed_at: Timestamp;
}

export interface LoyaltySummaryTable {
  id: Generated<number>;
  refreshed_at: Timestamp;
  full_refreshed_at: Timestamp;
  median_gap_days: number | null;
  buyers: number;
  recency_breaks: number[];
  frequency_breaks: number[];
  monetary_breaks: number[];
}
