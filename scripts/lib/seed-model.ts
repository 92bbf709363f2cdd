/**
 * Synthetic member histories for `npm run seed`. Each block of members is simulated in memory
 * with the same rules the ledger applies (lots, soonest-expiring-first draws, proportional
 * refund clawbacks, expiry entries, aggregates), so the rows it yields have the shape the
 * service writes and satisfy what verify-ledger checks. No I/O here: seed-writer.ts stores them.
 *
 * Member i of seed S depends only on (S, i) and its block, so a run is reproducible and an
 * interrupted run resumes block by block.
 */
import { addMonths, allocate, clawbackFor, pointsForAmount, requestHash, type OpenLot } from '../../src/ledger/ledger.rules';
import { Rng } from './prng';

export const BLOCK = 1000;
const DAY = 86_400_000;
const REFERRAL_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const REFERRAL_SPACE = 32 ** 8;
const CHANNELS = [['web', 40], ['app', 35], ['store', 20], ['partner', 5]] as const;
const REDEMPTIONS = [100, 200, 250, 500, 1000] as const;
const CATEGORIES = [['apparel', 30], ['shoes', 20], ['electronics', 15], ['home', 20], ['beauty', 15]] as const;
const COMPLAINTS = [['delivery', 35], ['product', 20], ['billing', 15], ['points', 15], ['app', 10], ['staff', 5]] as const;
const FEEDBACK_CHANNELS = [['email', 50], ['app', 30], ['store', 15], ['phone', 5]] as const;
const ENGAGEMENTS = [['review', 50], ['app_checkin', 35], ['newsletter_click', 15]] as const;
const IDEMPOTENCY_RETENTION_DAYS = 30;

export interface SeedSettings {
  seed: number;
  /** The instant the synthetic history ends: everything happened in the two years before it. */
  asOf: Date;
  earnRate: string;
  earnMultiplier: string;
  pointsName: string;
  currency: string;
}

export interface SeedRows {
  members: Record<string, unknown>[];
  transactions: Record<string, unknown>[];
  lots: Record<string, unknown>[];
  allocations: Record<string, unknown>[];
  orders: Record<string, unknown>[];
  refunds: Record<string, unknown>[];
  idempotencyKeys: Record<string, unknown>[];
  events: Record<string, unknown>[];
  surveyResponses: Record<string, unknown>[];
  complaints: Record<string, unknown>[];
}

interface Lot extends OpenLot {
  points: number;
  availableAt: Date;
  /** The stored row; its remaining is filled in once the history is complete. */
  row: Record<string, unknown>;
}

interface Sim {
  index: number;
  rng: Rng;
  id: string;
  externalId: string;
  enrolledAt: Date;
  lots: Lot[];
  txns: Record<string, unknown>[];
  lastEventAt: Date;
  lifetimeEarned: number;
  lifetimeRedeemed: number;
  expired: number;
  lastActivityAt: Date | null;
  updatedAt: Date;
}

export const ACTOR = 'admin:seed';

/** What every external id of `seed` starts with, and nothing of another seed does. */
export function externalIdPrefix(seed: number): string {
  return `seed${seed}-`;
}

export function externalIdOf(seed: number, index: number): string {
  return `${externalIdPrefix(seed)}${index}`;
}

/** A unique referral code per (seed, index): an affine bijection of the index over 32^8 codes. */
function referralCode(seed: number, index: number): string {
  let n = (index * 2_654_435_761 + (seed % 1_000_003) * 97_531) % REFERRAL_SPACE;
  let code = '';
  for (let i = 0; i < 8; i++) {
    code = REFERRAL_ALPHABET[n % 32] + code;
    n = Math.floor(n / 32);
  }
  return code;
}

const money = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

function spendable(sim: Sim, now: Date): Lot[] {
  const t = now.getTime();
  return sim.lots.filter((l) => l.remaining > 0 && l.availableAt.getTime() <= t && (l.expiresAt === null || l.expiresAt.getTime() > t));
}

export class SeedBlock {
  readonly rows: SeedRows = {
    members: [], transactions: [], lots: [], allocations: [], orders: [], refunds: [], idempotencyKeys: [], events: [], surveyResponses: [], complaints: [],
  };
  private readonly sims: Sim[] = [];

  constructor(private readonly settings: SeedSettings) {}

  /** Simulates members [from, to) (one block) and fills `rows`. */
  generate(from: number, to: number): SeedRows {
    for (let i = from; i < to; i++) this.sims.push(this.history(i));
    this.transfers(new Rng(this.settings.seed, 0x7f000000 + Math.floor(from / BLOCK)));
    for (const sim of this.sims) {
      this.settleExpiry(sim, this.settings.asOf);
      this.emitMember(sim);
    }
    return this.rows;
  }

  private history(index: number): Sim {
    const { seed, asOf } = this.settings;
    const rng = new Rng(seed, index + 1);
    const end = asOf.getTime() - DAY; // leaves a day for transfers at the end of the history
    const enrolledAt = new Date(end - Math.floor(rng.next() * 730 * DAY));
    const sim: Sim = {
      index, rng, id: rng.uuid(), externalId: externalIdOf(seed, index), enrolledAt, lots: [], txns: [],
      lastEventAt: enrolledAt, lifetimeEarned: 0, lifetimeRedeemed: 0, expired: 0, lastActivityAt: null, updatedAt: enrolledAt,
    };
    const span = end - enrolledAt.getTime();
    // Feedback, engagement and drift come from a stream of their own, so the rest of each
    // history is drawn as before. About a quarter of members drift away: they stop buying
    // somewhere between 30 % and 70 % of the way through their time in the programme.
    const voice = new Rng(seed, 0x6000_0000 + index);
    const drifting = voice.chance(0.25);
    const buyingSpan = drifting ? span * (0.3 + 0.4 * voice.next()) : span;
    const within = (length: number) => new Date(enrolledAt.getTime() + 60_000 + Math.floor(rng.next() * Math.max(length - 60_000, 1)));
    const at = () => within(span);
    type Event = { at: Date; run: () => void };
    const events: Event[] = [];
    if (rng.chance(0.15)) {
      // A welcome bonus that lapses after a year unless spent: the source of EXPIRE entries.
      const points = rng.int(2, 10) * 50;
      const when = new Date(enrolledAt.getTime() + 30_000);
      events.push({ at: when, run: () => this.welcome(sim, when, points) });
    }
    // Pareto purchase counts and basket sizes: most members buy rarely and small, a few a lot.
    const purchases = Math.min(120, Math.floor(rng.pareto(1, 1.3)));
    for (let k = 0; k < purchases; k++) {
      const when = within(buyingSpan);
      const cents = Math.min(250_000, 500 + Math.floor(rng.pareto(3000, 1.8)));
      const channel = rng.weighted(CHANNELS);
      const refund = rng.chance(0.04) ? { after: rng.int(1, 30) * DAY, full: rng.chance(0.5), share: 0.1 + rng.next() * 0.8 } : null;
      events.push({ at: when, run: () => this.purchase(sim, when, k, cents, channel) });
      if (refund && when.getTime() + refund.after < end) {
        const refundAt = new Date(when.getTime() + refund.after);
        const refundCents = refund.full ? cents : Math.max(1, Math.floor(cents * refund.share));
        events.push({ at: refundAt, run: () => this.refund(sim, refundAt, k, refundCents) });
      }
    }
    if (rng.chance(0.3)) {
      const count = rng.int(1, 3);
      for (let k = 0; k < count; k++) {
        const when = at();
        const points = rng.pick(REDEMPTIONS);
        events.push({ at: when, run: () => this.redeem(sim, when, k, points) });
      }
    }
    events.push(...this.voice(sim, voice, { drifting, purchases, end }));
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    for (const event of events) {
      this.settleExpiry(sim, event.at);
      event.run();
      sim.lastEventAt = event.at;
    }
    return sim;
  }

  /**
   * What a member says besides buying: engagement events (one in five), NPS answers (one in
   * four; frequent buyers lean to promoters, drifting members to detractors) and complaints
   * (one in fifteen; most resolved within hours or days, some with goodwill points).
   */
  private voice(sim: Sim, rng: Rng, member: { drifting: boolean; purchases: number; end: number }): { at: Date; run: () => void }[] {
    const start = sim.enrolledAt.getTime() + 60_000;
    const at = () => new Date(start + Math.floor(rng.next() * Math.max(member.end - start, 1)));
    const out: { at: Date; run: () => void }[] = [];
    if (rng.chance(0.2)) {
      for (let k = rng.int(1, 4); k > 0; k--) {
        const when = at();
        const type = rng.weighted(ENGAGEMENTS);
        const key = `event-${sim.externalId}-${k}`;
        out.push({ at: when, run: () => this.rows.events.push({
          id: rng.uuid(), member_id: sim.id, scope: ACTOR, idempotency_key: key, request_hash: requestHash({ key }), type, attributes: '{}',
          occurred_at: when, txn_id: null, points_earned: 0, breakdown: '[]', created_at: when,
        }) });
      }
    }
    if (rng.chance(0.25)) {
      const [promoters, passives] = member.drifting ? [0.15, 0.3] : member.purchases >= 5 ? [0.6, 0.3] : [0.4, 0.35];
      for (let k = rng.int(1, 3); k > 0; k--) {
        const when = at();
        const roll = rng.next();
        const score = roll < promoters ? rng.int(9, 10) : roll < promoters + passives ? rng.int(7, 8) : rng.int(0, 6);
        const key = `nps-${sim.externalId}-${k}`;
        out.push({ at: when, run: () => this.rows.surveyResponses.push({
          id: rng.uuid(), member_id: sim.id, score, comment: null, channel: rng.weighted(FEEDBACK_CHANNELS), scope: ACTOR, idempotency_key: key,
          request_hash: requestHash({ key, score }), created_at: when,
        }) });
      }
    }
    if (rng.chance(member.drifting ? 0.12 : 0.05)) {
      const when = at();
      const category = rng.weighted(COMPLAINTS);
      const key = `complaint-${sim.externalId}`;
      const row: Record<string, unknown> = {
        id: rng.uuid(), member_id: sim.id, category, description: `About ${category}`, channel: rng.weighted(FEEDBACK_CHANNELS), status: 'OPEN',
        resolution: null, goodwill_points: 0, goodwill_txn_id: null, scope: ACTOR, idempotency_key: key, request_hash: requestHash({ key, category }),
        resolve_scope: null, resolve_key: null, resolve_hash: null, created_at: when, resolved_at: null,
      };
      out.push({ at: when, run: () => this.rows.complaints.push(row) });
      // Hours to resolve: mostly within a day or two, a long tail beyond the SLA.
      const resolvedAt = new Date(when.getTime() + Math.min(720, rng.pareto(2, 1.2)) * 3_600_000);
      const goodwill = rng.chance(0.4) ? rng.pick([100, 200, 250, 500]) : 0;
      if (resolvedAt.getTime() < member.end) {
        out.push({ at: resolvedAt, run: () => {
          const txn = goodwill > 0 ? this.credit(sim, resolvedAt, 'BONUS', goodwill, 0, `Goodwill: ${category} complaint resolved`) : null;
          Object.assign(row, {
            status: 'RESOLVED', resolution: 'Resolved', goodwill_points: goodwill, goodwill_txn_id: txn?.id ?? null, resolved_at: resolvedAt,
            resolve_scope: ACTOR, resolve_key: `resolve-${key}`, resolve_hash: requestHash({ key, goodwill }),
          });
        } });
      }
    }
    return out;
  }

  private txn(sim: Sim, row: {
    type: string; points: number; qualifying?: number; shortfall?: number; availableAt?: Date; description: string;
    orderId?: string | null; relatedId?: string | null; occurredAt: Date; createdAt: Date;
  }) {
    const txn = {
      id: sim.rng.uuid(), member_id: sim.id, type: row.type, points: row.points, qualifying_points: row.qualifying ?? 0,
      shortfall: row.shortfall ?? 0, available_at: row.availableAt ?? row.createdAt, cancelled: false, description: row.description,
      order_id: row.orderId ?? null, partner_id: null, actor: ACTOR, related_id: row.relatedId ?? null,
      occurred_at: row.occurredAt, created_at: row.createdAt,
    };
    sim.txns.push(txn);
    sim.updatedAt = row.createdAt;
    return txn;
  }

  private credit(sim: Sim, now: Date, type: string, points: number, qualifying: number, description: string,
    extra: { orderId?: string; relatedId?: string; expiresAt?: Date | null } = {}) {
    const txn = this.txn(sim, { type, points, qualifying, description, occurredAt: now, createdAt: now, orderId: extra.orderId, relatedId: extra.relatedId });
    const id = sim.rng.uuid();
    const expiresAt = extra.expiresAt ?? null;
    const row = { id, member_id: sim.id, txn_id: txn.id, points, remaining: points, available_at: now, expires_at: expiresAt, earned_at: now };
    sim.lots.push({ id, points, remaining: points, availableAt: now, expiresAt, earnedAt: now, row });
    this.rows.lots.push(row);
    sim.lifetimeEarned += points;
    sim.lastActivityAt = now;
    return txn;
  }

  /** Takes up to `points` from spendable lots, soonest-expiring first; returns what it took. */
  private draw(sim: Sim, now: Date, txnId: string, points: number, kind: 'DEBIT' | 'EXPIRE', lots = spendable(sim, now)): number {
    const { allocations } = allocate(lots, points);
    let taken = 0;
    for (const a of allocations) {
      const lot = sim.lots.find((l) => l.id === a.lotId) as Lot;
      lot.remaining -= a.points;
      taken += a.points;
      this.rows.allocations.push({ member_id: sim.id, txn_id: txnId, lot_id: a.lotId, points: a.points, kind });
    }
    return taken;
  }

  private available(sim: Sim, now: Date): number {
    return spendable(sim, now).reduce((sum, l) => sum + l.remaining, 0);
  }

  private idempotencyKey(sim: Sim, now: Date, key: string, operation: string, hash: string, transactionId: unknown, memberId = sim.id) {
    const expiresAt = new Date(now.getTime() + IDEMPOTENCY_RETENTION_DAYS * DAY);
    // Older records would already have been purged by the retention sweep.
    if (expiresAt.getTime() <= this.settings.asOf.getTime()) return;
    this.rows.idempotencyKeys.push({
      scope: ACTOR, key, member_id: memberId, operation, request_hash: hash, result: JSON.stringify(transactionId),
      created_at: now, expires_at: expiresAt,
    });
  }

  private welcome(sim: Sim, now: Date, points: number) {
    const reason = 'Welcome bonus';
    const txn = this.credit(sim, now, 'EARN', points, points, reason, { expiresAt: addMonths(now, 12) });
    const hash = requestHash({ operation: 'earnPoints', memberId: sim.id, request: { points, reason, qualifying: true } });
    this.idempotencyKey(sim, now, `welcome-${sim.externalId}`, 'earnPoints', hash, { transactionId: txn.id });
  }

  private orderId(sim: Sim, k: number) {
    return `SO-${this.settings.seed}-${sim.index}-${k}`;
  }

  /**
   * The basket of purchase k: 1-3 lines whose totals add up to the order. Drawn from a stream of
   * its own, so the rest of the history is the same with or without baskets.
   */
  private basket(sim: Sim, k: number, cents: number) {
    const rng = new Rng(this.settings.seed, 0x4000_0000 + sim.index * 128 + k);
    const lines = Math.min(cents, rng.int(1, 3));
    let left = cents;
    return Array.from({ length: lines }, (_, i) => {
      const line = i === lines - 1 ? left : Math.max(1, Math.floor((left * rng.int(30, 70)) / 100));
      left -= line;
      const quantity = line % 2 === 0 && rng.chance(0.3) ? 2 : 1;
      return { sku: `SKU-${rng.int(1, 500)}`, category: rng.weighted(CATEGORIES), quantity, unitPrice: money(line / quantity) };
    });
  }

  private purchase(sim: Sim, now: Date, k: number, cents: number, channel: string) {
    const { earnRate, earnMultiplier, pointsName, currency } = this.settings;
    const amount = money(cents);
    const orderId = this.orderId(sim, k);
    const items = this.basket(sim, k, cents);
    const base = pointsForAmount(amount, earnRate);
    const total = pointsForAmount(amount, earnRate, earnMultiplier);
    const breakdown = [{ source: 'BASE', description: `${earnRate} ${pointsName} per ${currency}`, points: base, qualifyingPoints: base }];
    if (total !== base) breakdown.push({ source: 'TIER_MULTIPLIER', description: `×${Number(earnMultiplier)}`, points: total - base, qualifyingPoints: 0 });
    const txn = total > 0 ? this.credit(sim, now, 'PURCHASE', total, base, `Purchase ${orderId}`, { orderId }) : null;
    this.rows.orders.push({
      order_id: orderId, member_id: sim.id, partner_id: null, amount, currency, channel, items: JSON.stringify(items), occurred_at: now,
      txn_id: txn?.id ?? null, points_earned: total, qualifying_points: base, breakdown: JSON.stringify(breakdown),
      refunded_amount: '0.00', points_reversed: 0, qualifying_reversed: 0,
      request_hash: requestHash({ memberId: sim.id, amount, currency, channel, occurredAt: now, items, partnerId: null }),
      created_at: now,
    });
  }

  private refund(sim: Sim, now: Date, k: number, cents: number) {
    const orderId = this.orderId(sim, k);
    const order = this.rows.orders.find((o) => o.order_id === orderId && o.member_id === sim.id);
    if (!order) return;
    const amount = money(cents);
    const refundId = `SR-${this.settings.seed}-${sim.index}-${k}`;
    const points = clawbackFor(order.amount as string, order.refunded_amount as string, amount, order.points_earned as number, order.points_reversed as number);
    const qualifying = clawbackFor(order.amount as string, order.refunded_amount as string, amount, order.qualifying_points as number, order.qualifying_reversed as number);
    let txnId: string | null = null;
    if (points > 0 || qualifying > 0) {
      // The default programme forbids negative balances: what is already spent stays as shortfall.
      const id = sim.rng.uuid();
      const taken = this.draw(sim, now, id, points, 'DEBIT');
      const txn = this.txn(sim, {
        type: 'REFUND', points: -taken, qualifying: -qualifying, shortfall: points - taken,
        description: `Refund ${refundId} of ${orderId}`, orderId, relatedId: order.txn_id as string | null, occurredAt: now, createdAt: now,
      });
      txn.id = id;
      sim.lifetimeEarned -= points;
      txnId = id;
    }
    order.refunded_amount = money(Math.round(Number(order.refunded_amount) * 100) + cents);
    order.points_reversed = (order.points_reversed as number) + points;
    order.qualifying_reversed = (order.qualifying_reversed as number) + qualifying;
    this.rows.refunds.push({
      refund_id: refundId, order_id: orderId, member_id: sim.id, amount, txn_id: txnId, points_reversed: points,
      request_hash: requestHash({ orderId, amount }), created_at: now,
    });
  }

  private redeem(sim: Sim, now: Date, k: number, points: number) {
    if (this.available(sim, now) < points) return; // the service would answer INSUFFICIENT_POINTS
    const id = sim.rng.uuid();
    this.draw(sim, now, id, points, 'DEBIT');
    const txn = this.txn(sim, { type: 'REDEEM', points: -points, description: 'Redemption', occurredAt: now, createdAt: now });
    txn.id = id;
    sim.lifetimeRedeemed += points;
    sim.lastActivityAt = now;
    const hash = requestHash({ operation: 'redeemPoints', memberId: sim.id, request: { points, description: null } });
    this.idempotencyKey(sim, now, `redeem-${sim.externalId}-${k}`, 'redeemPoints', hash, { transactionId: id });
  }

  /** Writes EXPIRE entries for lots lapsed by `now`, one per expiry instant, as settleExpiry does. */
  private settleExpiry(sim: Sim, now: Date) {
    const due = sim.lots
      .filter((l) => l.remaining > 0 && l.expiresAt !== null && l.expiresAt.getTime() <= now.getTime())
      .sort((a, b) => (a.expiresAt as Date).getTime() - (b.expiresAt as Date).getTime() || (a.id < b.id ? -1 : 1));
    if (due.length === 0) return;
    const byInstant = new Map<number, Lot[]>();
    for (const lot of due) {
      const t = (lot.expiresAt as Date).getTime();
      byInstant.set(t, [...(byInstant.get(t) ?? []), lot]);
    }
    for (const [t, lots] of byInstant) {
      const points = lots.reduce((sum, l) => sum + l.remaining, 0);
      const id = sim.rng.uuid();
      for (const lot of lots) {
        this.rows.allocations.push({ member_id: sim.id, txn_id: id, lot_id: lot.id, points: lot.remaining, kind: 'EXPIRE' });
        lot.remaining = 0;
      }
      const txn = this.txn(sim, { type: 'EXPIRE', points: -points, availableAt: new Date(t), description: 'Points expired', occurredAt: new Date(t), createdAt: now });
      txn.id = id;
      sim.expired += points;
    }
  }

  /** About one member in twenty sends points to another member of the same block. */
  private transfers(rng: Rng) {
    if (this.sims.length < 2) return;
    for (const sender of this.sims) {
      if (!rng.chance(0.05)) continue;
      let receiver = rng.pick(this.sims);
      if (receiver === sender) receiver = this.sims[(this.sims.indexOf(sender) + 1) % this.sims.length] as Sim;
      const points = rng.pick([100, 250, 500]);
      const now = new Date(Math.max(sender.lastEventAt.getTime(), receiver.lastEventAt.getTime()) + 60_000 + rng.int(0, 3_600_000));
      this.settleExpiry(sender, now);
      this.settleExpiry(receiver, now);
      if (this.available(sender, now) < points) continue;
      const outId = sender.rng.uuid();
      this.draw(sender, now, outId, points, 'DEBIT');
      const into = this.credit(receiver, now, 'TRANSFER_IN', points, 0, `Transfer from ${sender.externalId}`, { relatedId: outId });
      const out = this.txn(sender, {
        type: 'TRANSFER_OUT', points: -points, description: `Transfer to ${receiver.externalId}`, relatedId: into.id, occurredAt: now, createdAt: now,
      });
      out.id = outId;
      sender.lastActivityAt = now;
      sender.lastEventAt = now;
      receiver.lastEventAt = now;
      const hash = requestHash({ operation: 'transferPoints', fromMemberId: sender.id, toMemberId: receiver.id, points });
      this.idempotencyKey(sender, now, `transfer-${sender.externalId}`, 'transferPoints', hash, { fromId: outId, toId: into.id });
    }
  }

  private emitMember(sim: Sim) {
    const { seed } = this.settings;
    const rng = sim.rng;
    const suspended = rng.chance(0.005);
    this.rows.members.push({
      id: sim.id, external_id: sim.externalId, email: `member${sim.index}.s${seed}@example.com`, name: `Member ${sim.index}`,
      birth_date: rng.chance(0.6) ? `${rng.int(1950, 2005)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}` : null,
      phone: null, locale: rng.pick(['en-US', 'en-GB', 'fr-FR', 'de-DE', null]),
      status: suspended ? 'SUSPENDED' : 'ACTIVE', status_reason: suspended ? 'Fraud review' : null,
      enrolled_at: sim.enrolledAt, referral_code: referralCode(seed, sim.index), referred_by: null,
      debt: 0, lifetime_earned: sim.lifetimeEarned, lifetime_redeemed: sim.lifetimeRedeemed, expired: sim.expired,
      last_activity_at: sim.lastActivityAt, created_at: sim.enrolledAt, updated_at: sim.updatedAt,
    });
    for (const lot of sim.lots) lot.row.remaining = lot.remaining;
    // Ledger rows in the order the service would have written them, so seq follows time per member.
    const ordered = sim.txns
      .map((t, i) => ({ t, i }))
      .sort((a, b) => (a.t.created_at as Date).getTime() - (b.t.created_at as Date).getTime() || a.i - b.i);
    for (const { t } of ordered) this.rows.transactions.push(t);
  }
}
