import type { Selectable } from 'kysely';
import type { PointsTransactionTable } from '../db/schema';
import type { MemberRow } from '../db/rows';
import type { CountedPage } from '../graphql/pagination';

export type TransactionRow = Selectable<PointsTransactionTable>;
/** A ledger row as GraphQL sees it; status is derived from the service instant. */
export type TransactionView = TransactionRow;

export interface BalanceView {
  memberId: string;
  available: number;
  pending: number;
  lifetimeEarned: number;
  lifetimeRedeemed: number;
  expired: number;
  /** The instant the figures were computed at. */
  at: Date;
}

/** A statement page; the total is counted only if the query selects totalCount. */
export type StatementPageView = CountedPage<TransactionRow>;

export interface EarnComponent {
  /** BASE, TIER_MULTIPLIER or RULE. */
  source: string;
  description: string;
  points: number;
  qualifyingPoints: number;
  /** The rule and version that gave a RULE component. */
  ruleId?: string;
  ruleVersion?: number;
}

export interface PurchaseResultView {
  transaction: TransactionRow | null;
  pointsEarned: number;
  qualifyingPointsEarned: number;
  breakdown: EarnComponent[];
  member: MemberRow;
}

export interface RefundResultView {
  transaction: TransactionRow | null;
  pointsReversed: number;
  member: MemberRow;
}

/** An earning rule's part in a ledger entry, kept with the entry: editing the rule later changes nothing of it. */
export interface RuleAwardRecord {
  ruleId: string;
  ruleVersion: number;
  points: number;
  qualifyingPoints: number;
}

export interface EventResultView {
  pointsEarned: number;
  breakdown: EarnComponent[];
  transaction: TransactionRow | null;
}
