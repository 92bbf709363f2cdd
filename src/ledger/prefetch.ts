import type { Db } from '../db/database';
import type { OpenLot } from './ledger.rules';
import type { Metrics, Window } from '../tiers/tiers.rules';

/**
 * What the member lock read in its own statement (ledger.core lockMemberProbing), kept for the
 * work that follows in the same transaction: the spendable lots, for a debit, and the tier
 * metrics, for a purchase's tier check. Each is taken once. Every statement that writes a
 * member's lots forgets both (ledger.repo, tiers.repo), so nothing is read from a stale list.
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

/** Forgets what the lock read for the member (lots and tier metrics). */
export function forgetLots(db: Db, memberId: string): void {
  known.get(db)?.delete(memberId);
  knownMetrics.get(db)?.delete(memberId);
}

/** Tier metrics (tiers.repo metricsQuery) read with the lock, for one window and instant. */
const knownMetrics = new WeakMap<Db, Map<string, { key: string; metrics: Metrics }>>();
const metricsKey = (w: Window, knownAt: Date) => `${w.from.getTime()}/${w.to.getTime()}/${knownAt.getTime()}`;

export function rememberMetrics(tx: Db, memberId: string, w: Window, knownAt: Date, metrics: Metrics): void {
  let byMember = knownMetrics.get(tx);
  if (!byMember) {
    byMember = new Map();
    knownMetrics.set(tx, byMember);
  }
  byMember.set(memberId, { key: metricsKey(w, knownAt), metrics });
}

/** The metrics remembered for this member, window and instant, once (a copy); undefined otherwise. */
export function takeMetrics(db: Db, memberId: string, w: Window, knownAt: Date): Metrics | undefined {
  const byMember = knownMetrics.get(db);
  const entry = byMember?.get(memberId);
  if (!entry || entry.key !== metricsKey(w, knownAt)) return undefined;
  byMember?.delete(memberId);
  return { ...entry.metrics };
}
