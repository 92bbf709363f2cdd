/**
 * The unit of work: the one way points move. An operation is written as "read what you need →
 * decide in TypeScript → plan the writes" against a UnitOfWork; the unit locks (or reads) the
 * members, hands the operation what it needs, collects what it plans and writes it all in one
 * statement, then commits. The operation never sees a transaction, a connection or a statement
 * order, and nothing of its code can run after the unit's last statement.
 *
 * A unit runs one of two ways, with the same operation code:
 *
 * - optimistic (where the database has connections shared by statements that stand alone, and
 *   the programme allows): the members are read as a snapshot (the request's rate-limit count
 *   rides inside that read), the operation decides on it, and the plan is written in one
 *   statement that also checks, under the members' row locks, that none of them changed since
 *   the read. No transaction is held across a round trip, and the write shares its connection
 *   and its commit with other requests' (db/pipelined-pool.ts);
 * - locked: a transaction locks the members in id order, the operation decides, and the plan is
 *   written by the transaction's last statement, which carries the COMMIT.
 *
 * The optimistic way gives up, having written nothing, whenever it cannot be sure: a member
 * changed meanwhile (MEMBER_CHANGED), the request may be a retry, a refusal (an AppError) that
 * a fresher read might not repeat, a racing duplicate, a lock the shared connection gave up
 * waiting for, or an operation that must write before it can decide (atOnce). The locked way
 * then decides, and its answer stands.
 *
 * A unit that writes anything also writes its members' rows, in the same statement: so every
 * change to a member's lots, entries, orders or tier state changes the member's row version,
 * which is what lets a row version (or an unchanged lock) vouch for all of them.
 */
import type { Insertable } from 'kysely';
import type { Ahead, Embedded } from '../db/ahead';
import type { Db } from '../db/database';
import type { SqlText } from '../db/sql-text';
import type { PointLotTable, PointsTransactionTable } from '../db/schema';
import { RetryTransaction, inTransaction, isRetryable } from '../db/transaction';
import { AppError, InvalidStateError, LOCK_NOT_AVAILABLE, MEMBER_CHANGED, NotFoundError, pgErrorCode } from '../errors';
import type { MemberRow } from '../db/rows';
import { isUuid } from '../db/ids';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { settleExpiry } from './ledger.core';
import type { OpenLot } from './ledger.rules';
import { turnsOf } from './member-turns';
import type { TransactionRow } from './ledger.types';
import * as repo from './unit-of-work.repo';
import type { RowWrite } from './unit-of-work.repo';

export type { RowWrite } from './unit-of-work.repo';

/** What a unit needs of its caller: a request's context satisfies it, and so does a job's. */
export interface UnitEnv {
  db: Db;
  /** Connections shared by statements that stand alone (Database.statements): the optimistic way runs there. */
  statements?: Db;
  config?: { oneStatementWrites: boolean };
  rateCount?: Ahead | null;
  now(): Promise<Date>;
  /** Moves the request's instant forward to `at` when it is earlier (context.ts writeInstant). */
  notBefore?(at: Date): Promise<Date>;
}

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

/** How a request already done is recognised and answered again (an idempotency key, an order id). */
export interface Replay<R> {
  /** Asked in the member read: has this request been done? A stale "no" is caught by a unique key and retried. */
  done: SqlText;
  /** The outcome as first given, read now; undefined when not done. May refuse (IDEMPOTENCY_CONFLICT). */
  read(db: Db, members: ReadonlyMap<string, MemberRow>): Promise<R | undefined>;
  /** Plans the record that marks the request done, given its outcome. */
  record(work: UnitOfWork, outcome: R): void;
}

export interface UnitSpec<R> {
  /** The members whose points move; the first is the one the replay is asked with. */
  members: readonly string[];
  status: StatusRules;
  /** Read the members' spendable lots with them (for a debit). */
  lots?: boolean;
  /** The operation may move qualifying points: the status engine's reads come with the member read. */
  qualifying?: boolean;
  replay?: Replay<R>;
  /** New work demands ACTIVE members (default true); a replay answers whatever the status. */
  active?: boolean;
  /** Settle the members' due expiry before the operation (default true; tier upkeep that moves no points leaves it to the sweep). */
  settle?: boolean;
}

/** Thrown inside an optimistic unit by work that must write before it can go on: the locked way takes over. */
class NeedsLock extends Error {
  constructor() {
    super('this work needs the member lock');
  }
}

/**
 * Thrown inside a locked unit whose refusal may only mean its replay probe was stale: a
 * duplicate committed while it waited for the lock. Rolled back and run again (inTransaction),
 * the unit then finds the request done and replays it.
 */
class ReplayOnRetry extends RetryTransaction {
  constructor() {
    super('the request was done meanwhile: replay it');
  }
}

type Operation<R> = (work: UnitOfWork) => Promise<R>;

/**
 * Runs `operation` as one unit of work on `spec.members` and returns its outcome (or the
 * outcome a replay finds). Points move only here: an operation that throws after planning
 * writes leaves nothing behind, and nothing runs after the unit's last statement.
 */
export async function runUnit<R>(env: UnitEnv, spec: UnitSpec<R>, operation: Operation<R>): Promise<R> {
  // Ids are uuids, which the database reads in either case: one member is one id here too.
  const ids = [...new Set(spec.members.map((id) => id.toLowerCase()))];
  if (!ids.every(isUuid)) throw new NotFoundError('Member');
  const program = await getProgram(env.db);
  // The request's instant is read before either way holds a connection: a clock kept in the
  // database (the test clock) would otherwise wait behind the locked way's own transaction.
  await env.now();
  if (env.statements && env.config?.oneStatementWrites) {
    const done = await optimistic(env, env.statements, program, ids, spec, operation);
    if (done) return done.outcome;
  }
  return locked(env, program, ids, spec, operation);
}

async function locked<R>(env: UnitEnv, program: ProgramView, ids: string[], spec: UnitSpec<R>, operation: Operation<R>): Promise<R> {
  return inTransaction(env.db, async (tx) => {
    const work = new UnitOfWork(tx, program, spec.status, 'locked', spec.qualifying === true);
    const now = await env.now();
    // In id order, so two units on the same members never wait for each other in a circle.
    let probed = false;
    for (const id of [...ids].sort()) {
      const read = await repo.readMember(tx, id, readOptions(work, spec, now, { lock: true, probe: id === ids[0] }));
      if (!read.member) throw new NotFoundError('Member');
      work.adopt(read, now);
      if (id === ids[0]) probed = read.probed;
    }
    if (probed && spec.replay) return replayed(env, tx, work, spec.replay);
    try {
      return await decide(env, work, spec, operation);
    } catch (error) {
      // A refusal after a stale probe: the duplicate's outcome, if there is one, is the answer.
      // (Once the attempt has written, what the replay would find may be its own records.)
      if (error instanceof AppError && spec.replay && !work.hasWritten && (await spec.replay.read(tx, work.members)) !== undefined) {
        throw new ReplayOnRetry();
      }
      throw error;
    }
  }, { ahead: env.rateCount ?? null });
}

async function replayed<R>(env: UnitEnv, db: Db, work: UnitOfWork, replay: Replay<R>): Promise<R> {
  const outcome = await replay.read(db, work.members);
  // A retry that arrived before the write it replays answers as of that write, as the first
  // request did (its points are not shown pending for longer than they are).
  await writeInstant(env, new Date(Math.max(...[...work.members.values()].map((m) => m.updated_at.getTime()))));
  if (outcome === undefined) throw new Error('a request found done has no stored outcome');
  return outcome;
}

/** The optimistic way (see the top of this file); undefined when it gave up, having written nothing. */
async function optimistic<R>(
  env: UnitEnv, statements: Db, program: ProgramView, ids: string[], spec: UnitSpec<R>, operation: Operation<R>,
): Promise<{ outcome: R } | undefined> {
  const leave = await turnsOf(statements).enter(ids);
  try {
    return await optimisticTurn(env, statements, program, ids, spec, operation);
  } finally {
    leave();
  }
}

async function optimisticTurn<R>(
  env: UnitEnv, statements: Db, program: ProgramView, ids: string[], spec: UnitSpec<R>, operation: Operation<R>,
): Promise<{ outcome: R } | undefined> {
  const work = new UnitOfWork(env.db, program, spec.status, 'optimistic', spec.qualifying === true);
  const now = await env.now();
  const ahead = env.rateCount ?? null;
  let count = ahead?.embed() ?? null;
  if (ahead && !count) await ahead.settled();
  for (const [i, id] of ids.entries()) {
    let read: repo.MemberRead;
    try {
      read = await repo.readMember(statements, id, readOptions(work, spec, now, { lock: false, probe: i === 0, count }));
    } catch (error) {
      count?.owedAgain();
      if (fallsBack(error)) return undefined;
      await ahead?.settled().catch(() => undefined);
      throw error;
    }
    if (count) {
      count.answer(read.counted ?? {});
      count = null;
      // A refused request ends here, its count written.
      await ahead?.settled();
    }
    if (!read.member || (i === 0 && read.probed)) return undefined;
    work.adopt(read, now);
  }
  try {
    return { outcome: await decide(env, work, spec, operation, statements) };
  } catch (error) {
    if (error instanceof NeedsLock || error instanceof AppError || fallsBack(error)) return undefined;
    throw error;
  }
}

/** Failures after which the locked way decides: nothing was written, and a transaction may not meet them. */
function fallsBack(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === MEMBER_CHANGED || code === LOCK_NOT_AVAILABLE || isRetryable(error);
}

function readOptions(
  work: UnitOfWork, spec: UnitSpec<unknown>, now: Date, o: { lock: boolean; probe: boolean; count?: Embedded | null },
): repo.MemberReadOptions {
  return {
    lock: o.lock, at: now, lots: spec.lots === true, probe: o.probe ? spec.replay?.done : undefined,
    extras: work.extraReads(now).map((r) => r.sql), count: o.count ?? null,
  };
}

/** New work on the members read: its instant, expiry settled, the operation, its record, its writes. */
async function decide<R>(env: UnitEnv, work: UnitOfWork, spec: UnitSpec<R>, operation: Operation<R>, statements?: Db): Promise<R> {
  if (spec.active !== false) for (const member of work.members.values()) requireActive(member);
  const lastChange = Math.max(...[...work.members.values()].map((m) => m.updated_at.getTime()));
  await work.start(await writeInstant(env, new Date(lastChange)));
  if (spec.settle !== false) for (const member of work.members.values()) await settleExpiry(work, member);
  const outcome = await operation(work);
  spec.replay?.record(work, outcome);
  await work.finish(statements);
  return outcome;
}

async function writeInstant(env: UnitEnv, lastChange: Date): Promise<Date> {
  if (env.notBefore) return env.notBefore(lastChange);
  const now = await env.now();
  return now.getTime() < lastChange.getTime() ? lastChange : now;
}

/** INVALID_STATE unless the member may move points. */
export function requireActive(member: MemberRow): MemberRow {
  if (member.status !== 'ACTIVE') throw new InvalidStateError(`Member is ${member.status.toLowerCase()}: points cannot move`);
  return member;
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
  private readonly lotsRead = new Map<string, { at: number; lots: OpenLot[] }>();
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
    if (read && read.at === this.now.getTime()) return read.lots.filter((lot) => lot.remaining > 0);
    const rows = await repo.spendableLots(this.db, memberId, this.now);
    const lots = rows.map((r) => ({ id: r.id, remaining: r.remaining - (this.plan.draws.get(r.id)?.points ?? 0), expiresAt: r.expires_at, earnedAt: r.earned_at }));
    // Lots this unit planned and has not written are spendable too, where they are due.
    for (const lot of this.newLots.values()) {
      if (lot.member_id === memberId && (lot.available_at as Date).getTime() <= this.now.getTime()) {
        lots.push({ id: lot.id as string, remaining: lot.remaining as number, expiresAt: (lot.expires_at as Date | null) ?? null, earnedAt: lot.earned_at as Date });
      }
    }
    this.lotsRead.set(memberId, { at: this.now.getTime(), lots });
    return lots.filter((lot) => lot.remaining > 0);
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
   * Runs a write that cannot wait for the unit's statement (it changes rows the statement may
   * also change), after writing what is planned so far. Only a locked unit can: an optimistic
   * one gives way to the locked way.
   */
  async atOnce(write: (db: Db) => Promise<void>): Promise<void> {
    // The write changes the members' lots: their rows are marked with it.
    for (const id of this.members.keys()) if (!this.plan.members.has(id)) this.plan.touched.set(id, this.now);
    await this.written();
    await write(this.db);
    this.forgetReads();
  }

  /**
   * Writes what is planned so far, for work that must read it back (the status engine after a
   * refund, say). Only a locked unit can; an optimistic one gives way to the locked way.
   */
  async written(): Promise<void> {
    if (this.mode === 'optimistic') throw new NeedsLock();
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
    return entry;
  }

  /** Plans a new lot; a spendable one joins the member's lots for later draws in this unit. */
  lot(lot: Insertable<PointLotTable> & { id: string }): void {
    this.open();
    this.plan.lots.push(lot);
    this.newLots.set(lot.id, lot);
    const read = this.lotsRead.get(lot.member_id);
    if (read && (lot.available_at as Date).getTime() <= this.now.getTime() && lot.remaining > 0) {
      read.lots.push({ id: lot.id, remaining: lot.remaining, expiresAt: (lot.expires_at as Date | null) ?? null, earnedAt: lot.earned_at as Date });
    }
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
      this.lotsRead.set(member.id, {
        at: readAt.getTime(),
        lots: read.openLots.map((l) => ({ id: l.id, remaining: l.remaining, expiresAt: l.expires_at === null ? null : new Date(l.expires_at), earnedAt: new Date(l.earned_at) })),
      });
    }
    const reads = this.extraReads(readAt);
    this.extras.set(member.id, new Map(reads.map((r, i) => [r.key, read.extras[i]])));
    this.readAt = readAt.getTime();
  }

  /** @internal Sets the unit's instant; what was read at another instant no longer stands in for a read. */
  async start(at: Date): Promise<void> {
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
