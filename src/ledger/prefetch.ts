import type { Db } from '../db/database';
import type { OpenLot } from './ledger.rules';

/**
 * Spendable lots read together with the member lock (ledger.core lockMemberProbing), kept for
 * the debit that follows in the same transaction. Every statement that writes a member's lots
 * forgets them (ledger.repo, tiers.repo), so a debit never draws from a stale list.
 */
const known = new WeakMap<Db, Map<string, { at: number; lots: OpenLot[] }>>();

export function rememberLots(tx: Db, memberId: string, at: Date, lots: OpenLot[]): void {
  let byMember = known.get(tx);
  if (!byMember) {
    byMember = new Map();
    known.set(tx, byMember);
  }
  byMember.set(memberId, { at: at.getTime(), lots });
}

/** The lots remembered for this member at exactly `at`, once; undefined when there are none. */
export function takeLots(tx: Db, memberId: string, at: Date): OpenLot[] | undefined {
  const byMember = known.get(tx);
  const entry = byMember?.get(memberId);
  byMember?.delete(memberId);
  return entry && entry.at === at.getTime() ? entry.lots : undefined;
}

export function forgetLots(db: Db, memberId: string): void {
  known.get(db)?.delete(memberId);
}
