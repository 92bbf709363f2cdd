/**
 * The state of one unit of work (unit-of-work.ts runUnit): the members as read, what was read with
 * them, the plan, and the activity not yet written; and the types a domain implements to plug into
 * it (StatusRules).
 */
import { randomUUID } from 'node:crypto';
import type { Insertable } from 'kysely';
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import type { PointLotTable, PointsTransactionTable } from '../db/schema';
import type { SqlText } from '../db/sql-text';
import type { ProgramView } from '../program/program.types';
import { entryEvent, pointsHeld, type OpenLot } from './ledger.rules';
import type { TransactionRow } from './ledger.types';
import * as repo from './unit-of-work.repo';
import type { RowWrite } from './unit-of-work.repo';

/** Qualifying activity a unit has planned and not yet written, as the status engine counts it. */
export interface Activity {
  points: number;
  spendCents: number;
  purchase: boolean;
  occurredAt: Date;
  createdAt: Date;
  /**
   * Whether its effect on the member's figures can be counted before it is written. A refund's
   * cannot (it counts against the window of the purchase it refunds, and lowers spend): the
   * status engine then has the unit write first (UnitOfWork.written).
   */
  countable: boolean;
}

/** A read the member read takes in its own statement for a domain (the status engine's tier state, say). */
export interface ExtraRead {
  /** Tells apart reads of one name for different arguments (a window and instant). */
  key: string;
  /** An expression over the member row `m`. */
  sql: SqlText;
}

/**
 * What the programme's status rules (tiers) do when points move. The ledger knows no tiers: the
 * domain above it supplies these (tiers/tiers.service.ts tierStatusRules).
 */
export interface StatusRules {
  /** Reads the member read should take for the unit's instant. */
  reads(program: ProgramView, now: Date): readonly ExtraRead[];
  /** Whether the member's status holds off point expiry now (it may write due reviews first). */
  expiryFrozen(work: UnitOfWork, member: MemberRow): Promise<boolean>;
  /** Reacts to the member's qualifying activity in this unit (upgrades, bonuses): `direction` is its sign. */
  afterActivity(work: UnitOfWork, member: MemberRow, direction: 1 | -1): Promise<void>;
}


/** Thrown inside an optimistic unit by work that must write before it can go on: the locked way takes over. */
export class NeedsLock extends Error {
  constructor() {
    super('this work needs the member lock');
  }
}

/**
 * One unit's state: the members as read (and changed in place as the plan grows), what was read
 * with them, the plan, and the activity not yet written. It lives for one attempt of one unit.
 */
export class UnitOfWork {
  readonly members = new Map<string, MemberRow>();
  /** Points expired by settleExpiry in this unit, by member. */
  readonly settled = new Map<string, number>();
  private readonly versions = new Map<string, string>();
  /**
   * Spendable lots known, by member: every one, or, as the member read takes them, the first in
   * consumption order, with the points held by those not read (`beyond`).
   */
  private readonly lotsRead = new Map<string, { at: number; lots: OpenLot[]; beyond: number }>();
  private readonly nothingDue = new Set<string>();
  private readonly extras = new Map<string, Map<string, unknown>>();
  private readonly activity = new Map<string, Activity[]>();
  /** The net qualifying points each member's activity moved in this unit, written or not: the status engine judges each once. */
  private readonly moved = new Map<string, number>();
  /** Whether this attempt has written part of its plan already (UnitOfWork.written). */
  private wroteEarly = false;
  private readonly entriesById = new Map<string, TransactionRow>();
  private readonly newLots = new Map<string, Insertable<PointLotTable>>();
  private readonly domainState = new Map<object, unknown>();
  private plan = repo.emptyPlan();
  private instant: Date | null = null;
  private finished = false;
  private extraReadsAt: { at: number; reads: readonly ExtraRead[] } | null = null;
  /** The instant the members were read at. */
  private readAt = 0;

  constructor(
    private readonly database: Db,
    readonly program: ProgramView,
    readonly status: StatusRules,
    readonly mode: 'locked' | 'optimistic',
    /** Whether the member read takes the status engine's reads. */
    private readonly readsStatus: boolean,
  ) {}

  /** Where the operation reads: the unit's transaction, or the pool for an optimistic unit. Closed once the unit has written. */
  get db(): Db {
    this.open();
    return this.database;
  }

  private open(): void {
    if (this.finished) throw new Error('the unit of work has written its last statement: nothing may run after it');
  }

  /** The unit's instant: every entry it writes carries it. */
  get now(): Date {
    if (!this.instant) throw new Error('the unit of work has not started');
    return this.instant;
  }

  /** A member of the unit (read or locked at its start). */
  member(id: string): MemberRow {
    const member = this.members.get(id.toLowerCase());
    if (!member) throw new Error(`member ${id} is not part of this unit of work`);
    return member;
  }

  /** The member's lots spendable at the unit's instant, as this unit has left them (soonest-expiring first is the caller's to sort). */
  async lots(memberId: string): Promise<OpenLot[]> {
    const read = this.lotsRead.get(memberId);
    if (read && read.at === this.now.getTime() && read.beyond === 0) return read.lots.filter((lot) => lot.remaining > 0);
    const rows = await repo.spendableLots(this.db, memberId, this.now);
    const lots = rows.map((r) => ({ id: r.id, remaining: r.remaining - (this.plan.draws.get(r.id)?.points ?? 0), expiresAt: r.expires_at, earnedAt: r.earned_at }));
    // Lots this unit planned and has not written are spendable too, where they are due.
    for (const lot of this.newLots.values()) if (lot.member_id === memberId && this.spendableNow(lot)) lots.push(openLotOf(lot));
    this.lotsRead.set(memberId, { at: this.now.getTime(), lots, beyond: 0 });
    return lots.filter((lot) => lot.remaining > 0);
  }

  /**
   * What a draw of `points` needs of the member's spendable lots: the points they hold in all,
   * and lots that begin the consumption order and hold at least `points` (every lot where they
   * hold less; every lot for Infinity), as this unit has left them. Drawing `points` from these
   * takes what drawing from every lot would.
   */
  async lotsCovering(memberId: string, points: number): Promise<{ lots: OpenLot[]; total: number }> {
    const read = this.lotsRead.get(memberId);
    if (read && read.at === this.now.getTime() && read.beyond > 0) {
      const lots = read.lots.filter((lot) => lot.remaining > 0);
      const held = pointsHeld(lots);
      if (held >= points) return { lots, total: held + read.beyond };
    }
    const lots = await this.lots(memberId);
    return { lots, total: pointsHeld(lots) };
  }

  /** A domain's read taken with the member (ExtraRead), by its key; undefined when not read or no longer current. */
  known<T>(memberId: string, key: string): T | undefined {
    return this.extras.get(memberId)?.get(key) as T | undefined;
  }

  /** State a domain keeps for the length of this unit, under a key of its own (the tier engine's states being evolved, say). */
  state<T>(key: object, init: () => T): T {
    if (!this.domainState.has(key)) this.domainState.set(key, init());
    return this.domainState.get(key) as T;
  }

  /** Activity this unit has planned for the member and not yet written. */
  unwritten(memberId: string): readonly Activity[] {
    return this.activity.get(memberId) ?? [];
  }

  /**
   * Plans a row of the operation's own domain (an order, a record, a tier state), written with
   * the ledger's rows; given as a function, it is taken as the unit's statement is assembled.
   */
  write(row: RowWrite | (() => RowWrite)): void {
    this.open();
    this.plan.rows.push(row);
  }

  /**
   * Plans an event reporting what this unit changes (db/outbox.ts): written by the unit's
   * statement, so it exists exactly when the change does. It carries the unit's instant.
   */
  emit(type: string, memberId: string, data: Record<string, unknown>): void {
    this.open();
    this.plan.events.push({ id: randomUUID(), type, memberId, data: { memberId, ...data }, createdAt: this.now });
  }

  /**
   * Runs a write that cannot wait for the unit's statement (it changes rows the statement may
   * also change), after writing what is planned so far. Only a locked unit can: an optimistic
   * one gives way to the locked way.
   */
  async atOnce(write: (db: Db) => Promise<void>): Promise<void> {
    // The write changes the members' lots: their rows are marked with it.
    this.marked(this.plan);
    await this.written();
    await write(this.db);
    this.forgetReads();
  }

  /**
   * For work that must lock rows besides the members' (a campaign's budget, say) before it can
   * decide: an optimistic unit gives way to the locked way, which runs the work in its transaction.
   */
  requireLock(): void {
    if (this.mode === 'optimistic') throw new NeedsLock();
  }

  /**
   * Writes what is planned so far, for work that must read it back (the status engine after a
   * refund, say). Only a locked unit can; an optimistic one gives way to the locked way.
   */
  async written(): Promise<void> {
    this.requireLock();
    if (repo.isEmpty(this.plan)) return;
    const plan = this.marked(this.plan);
    this.wroteEarly = true;
    this.plan = repo.emptyPlan();
    this.activity.clear();
    this.newLots.clear();
    this.patch(await repo.writePlan(this.db, plan, { last: false }));
    this.forgetReads();
  }

  // The ledger's own planning, for ledger.core: operations move points through credit() and debit().

  /** Plans a ledger entry; returns it as it will read once written. */
  entry(row: Insertable<PointsTransactionTable> & { id: string }): TransactionRow {
    this.open();
    this.plan.entries.push(row);
    const entry: TransactionRow = {
      seq: 0, qualifying_points: 0, shortfall: 0, cancelled: false, description: null, order_id: null, partner_id: null, related_id: null,
      ...row,
    } as TransactionRow;
    this.entriesById.set(row.id, entry);
    this.emit(entryEvent(entry.type), entry.member_id, {
      transactionId: entry.id, type: entry.type, points: entry.points, qualifyingPoints: entry.qualifying_points,
      description: entry.description, orderId: entry.order_id, partnerId: entry.partner_id, relatedTransactionId: entry.related_id,
      occurredAt: entry.occurred_at, availableAt: entry.available_at,
    });
    return entry;
  }

  /** Plans a new lot; a spendable one joins the member's lots for later draws in this unit. */
  lot(lot: Insertable<PointLotTable> & { id: string }): void {
    this.open();
    this.plan.lots.push(lot);
    this.newLots.set(lot.id, lot);
    const read = this.lotsRead.get(lot.member_id);
    if (!read || !this.spendableNow(lot)) return;
    // Beside the first lots only, a new one may belong after some not read: they are read in full when needed.
    if (read.beyond > 0) this.lotsRead.delete(lot.member_id);
    else read.lots.push(openLotOf(lot));
  }

  private spendableNow(lot: Insertable<PointLotTable>): boolean {
    return (lot.available_at as Date).getTime() <= this.now.getTime() && (lot.remaining as number) > 0;
  }

  /** Plans a draw of `points` from a lot by entry `txnId`, and takes them off the lot. */
  draw(memberId: string, txnId: string, a: { lotId: string; points: number }, kind: 'DEBIT' | 'EXPIRE' | 'DEBT'): void {
    this.open();
    this.plan.allocations.push({ member_id: memberId, txn_id: txnId, lot_id: a.lotId, points: a.points, kind });
    if (kind === 'DEBT') return; // the lot is written with the payment already taken off
    const fresh = this.newLots.get(a.lotId);
    if (fresh) {
      // A lot this statement inserts is not there yet for its UPDATE: insert it drawn.
      fresh.remaining = (fresh.remaining as number) - a.points;
    } else {
      const draw = this.plan.draws.get(a.lotId);
      this.plan.draws.set(a.lotId, { memberId, points: (draw?.points ?? 0) + a.points });
    }
    const known = this.lotsRead.get(memberId)?.lots.find((lot) => lot.id === a.lotId);
    if (known) known.remaining -= a.points;
  }

  /** The member's aggregates changed (in place): the unit's statement writes their final values. */
  changed(member: MemberRow): void {
    this.open();
    this.plan.members.set(member.id, member);
  }

  /** Qualifying activity planned for the member, for the status engine. */
  noteActivity(memberId: string, activity: Activity): void {
    this.activity.set(memberId, [...this.unwritten(memberId), activity]);
    this.moved.set(memberId, (this.moved.get(memberId) ?? 0) + activity.points);
  }

  /** The points this unit expired for the member before its operation ran. */
  expiredBySettling(memberId: string): number {
    return this.settled.get(memberId) ?? 0;
  }

  /** Whether this attempt has written part of its plan (its own records are then visible to it). */
  get hasWritten(): boolean {
    return this.wroteEarly;
  }

  /** Whether the unit has sent its last statement (which may have failed: a count past its cap). */
  get closed(): boolean {
    return this.finished;
  }

  /** Whether a lot of the member may be past its expiry at the unit's instant. */
  mayHaveDueLots(memberId: string): boolean {
    return !this.nothingDue.has(memberId);
  }

  // The unit's own steps, for runUnit.

  /** @internal The reads a member read takes for the status engine at `now`. */
  extraReads(now: Date): readonly ExtraRead[] {
    if (!this.extraReadsAt || this.extraReadsAt.at !== now.getTime()) {
      this.extraReadsAt = { at: now.getTime(), reads: this.readsStatus ? this.status.reads(this.program, now) : [] };
    }
    return this.extraReadsAt.reads;
  }

  /** @internal Takes a member read into the unit. */
  adopt(read: repo.MemberRead, readAt: Date): void {
    const member = read.member as MemberRow;
    this.members.set(member.id, member);
    if (read.version) this.versions.set(member.id, read.version);
    // What the statement read besides the row holds only if the row locked is the one it saw.
    if (!read.unchanged) return;
    if (!read.hasDueLots) this.nothingDue.add(member.id);
    if (read.openLots) {
      const lots = read.openLots.lots.map((l) => ({ id: l.id, remaining: l.remaining, expiresAt: l.expires_at === null ? null : new Date(l.expires_at), earnedAt: new Date(l.earned_at) }));
      const beyond = read.openLots.count > lots.length ? read.openLots.total - pointsHeld(lots) : 0;
      this.lotsRead.set(member.id, { at: readAt.getTime(), lots, beyond });
    }
    const reads = this.extraReads(readAt);
    this.extras.set(member.id, new Map(reads.map((r, i) => [r.key, read.extras[i]])));
    this.readAt = readAt.getTime();
  }

  /** @internal Sets the unit's instant; what was read at another instant no longer stands in for a read. */
  start(at: Date): void {
    this.instant = at;
    if (at.getTime() !== this.readAt) {
      this.nothingDue.clear();
      this.extras.clear();
    }
  }

  /** @internal Lets the status engine react to the activity planned, then writes the plan as the unit's last statement. */
  async finish(statements?: Db): Promise<void> {
    for (const [memberId, net] of [...this.moved]) {
      await this.status.afterActivity(this, this.member(memberId), net < 0 ? -1 : 1);
    }
    this.finished = true;
    if (repo.isEmpty(this.plan)) return;
    const plan = this.marked(this.plan);
    const seqs = this.mode === 'optimistic'
      ? await repo.writePlan(statements ?? this.database, plan, { last: false, versions: this.versions })
      : await repo.writePlan(this.database, plan, { last: true });
    this.patch(seqs);
  }

  /**
   * The plan with every member of the unit marked changed: whatever a unit writes (an order, a
   * tier state, an entry) writes its members' rows too, which is what lets a row version, or a
   * lock that finds the row unchanged, vouch for everything of theirs (see the top of this file).
   */
  private marked(plan: repo.Planned): repo.Planned {
    for (const id of this.members.keys()) if (!plan.members.has(id)) plan.touched.set(id, this.now);
    return plan;
  }

  private patch(seqs: Map<string, number>): void {
    for (const [id, seq] of seqs) {
      const entry = this.entriesById.get(id);
      if (entry) entry.seq = seq;
    }
  }

  /** Once the unit has written, reads taken with the members no longer describe them. */
  private forgetReads(): void {
    this.extras.clear();
    this.lotsRead.clear();
    this.nothingDue.clear();
  }
}

/** A lot this unit planned, as a debit draws on it. */
function openLotOf(lot: Insertable<PointLotTable>): OpenLot {
  return { id: lot.id, remaining: lot.remaining as number, expiresAt: (lot.expires_at as Date | null) ?? null, earnedAt: lot.earned_at as Date };
}
