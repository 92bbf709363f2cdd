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
import { writeInstant } from '../context';
import type { Ahead, Embedded } from '../db/ahead';
import type { Db } from '../db/database';
import type { SqlText } from '../db/sql-text';
import { RetryTransaction, inTransaction, isRetryable } from '../db/transaction';
import { AppError, InvalidStateError, LOCK_NOT_AVAILABLE, MEMBER_CHANGED, NotFoundError, pgErrorCode } from '../errors';
import type { MemberRow } from '../db/rows';
import { isUuid } from '../db/ids';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { settleExpiry } from './ledger.core';
import { turnsOf } from './member-turns';
import * as repo from './unit-of-work.repo';
import { NeedsLock, UnitOfWork, type StatusRules } from './unit-of-work.state';

export type { RowWrite } from './unit-of-work.repo';
export { UnitOfWork, type Activity, type ExtraRead, type StatusRules } from './unit-of-work.state';

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
  const ids = memberIds(spec.members);
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
  let attempt: UnitOfWork | undefined;
  try {
    return await lockedAttempts(env, program, ids, spec, operation, (work) => { attempt = work; });
  } catch (error) {
    // Refused by its last statement (a write that found no row to change: the last unit of
    // stock gone), the unit may have been a retry of a request a duplicate did meanwhile, which
    // its probe, read before the duplicate committed, could not see: the duplicate's outcome is
    // the answer then.
    if (error instanceof AppError && spec.replay && attempt?.closed) {
      const outcome = await spec.replay.read(env.db, attempt.members);
      if (outcome !== undefined) return outcome;
    }
    throw error;
  }
}

async function lockedAttempts<R>(
  env: UnitEnv, program: ProgramView, ids: string[], spec: UnitSpec<R>, operation: Operation<R>, started: (work: UnitOfWork) => void,
): Promise<R> {
  return inTransaction(env.db, async (tx) => {
    const work = new UnitOfWork(tx, program, spec.status, 'locked', spec.qualifying === true);
    started(work);
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
      // (Once the attempt has written, what the replay would find may be its own records; after
      // a refusal by the last statement itself the transaction is over: see locked.)
      if (error instanceof AppError && spec.replay && !work.hasWritten && !work.closed && (await spec.replay.read(tx, work.members)) !== undefined) {
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
  await writeInstant(env, lastChange(work));
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
  try {
    if ((await readSnapshot(env, statements, work, ids, spec, now, true)) !== 'adopted') return undefined;
  } catch (error) {
    if (fallsBack(error)) return undefined;
    throw error;
  }
  try {
    return { outcome: await decide(env, work, spec, operation, statements) };
  } catch (error) {
    if (error instanceof NeedsLock || error instanceof AppError || fallsBack(error)) return undefined;
    throw error;
  }
}

/**
 * Reads the members as a snapshot into `work`, the request's rate-limit count riding in the first
 * read; with `probe`, the first read also asks whether the request was done. Answers 'adopted',
 * or where it stopped: a member missing, or the request found done. A read that fails leaves the
 * count owed: to the locked way where that may meet the failure again (fallsBack), otherwise paid
 * before the failure is thrown.
 */
async function readSnapshot(
  env: UnitEnv, statements: Db, work: UnitOfWork, ids: string[], spec: Pick<UnitSpec<unknown>, 'lots' | 'replay'>, now: Date, probe: boolean,
): Promise<'adopted' | 'missing' | 'done'> {
  const ahead = env.rateCount ?? null;
  let count = ahead?.embed() ?? null;
  if (ahead && !count) await ahead.settled();
  for (const [i, id] of ids.entries()) {
    let read: repo.MemberRead;
    try {
      read = await repo.readMember(statements, id, readOptions(work, spec, now, { lock: false, probe: probe && i === 0, count }));
    } catch (error) {
      count?.owedAgain();
      if (!fallsBack(error)) await ahead?.settled().catch(() => undefined);
      throw error;
    }
    if (count) {
      count.answer(read.counted ?? {});
      count = null;
      // A refused request ends here, its count written.
      await ahead?.settled();
    }
    if (!read.member) return 'missing';
    if (probe && i === 0 && read.probed) return 'done';
    work.adopt(read, now);
  }
  return 'adopted';
}

/**
 * Runs `operation` on the members as a unit of work would read them (one snapshot statement
 * carrying the status engine's reads and the request's rate-limit count, at the instant a unit
 * would write at) and writes nothing: a quote. Whatever the operation plans is dropped; it must
 * not ask to lock or to write first (work.requireLock, work.written), which an optimistic unit
 * cannot.
 */
export async function readOnlyUnit<R>(
  env: UnitEnv, spec: Pick<UnitSpec<R>, 'members' | 'status' | 'qualifying' | 'active'>, operation: Operation<R>,
): Promise<R> {
  const ids = memberIds(spec.members);
  const program = await getProgram(env.db);
  const now = await env.now();
  const work = new UnitOfWork(env.db, program, spec.status, 'optimistic', spec.qualifying === true);
  if ((await readSnapshot(env, env.statements ?? env.db, work, ids, {}, now, false)) !== 'adopted') throw new NotFoundError('Member');
  if (spec.active !== false) for (const member of work.members.values()) requireActive(member);
  work.start(await writeInstant(env, lastChange(work)));
  return operation(work);
}

/** The unit's member ids, once each: uuids, which the database reads in either case; NOT_FOUND for anything else. */
function memberIds(members: readonly string[]): string[] {
  const ids = [...new Set(members.map((id) => id.toLowerCase()))];
  if (!ids.every(isUuid)) throw new NotFoundError('Member');
  return ids;
}

/** Failures after which the locked way decides: nothing was written, and a transaction may not meet them. */
function fallsBack(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === MEMBER_CHANGED || code === LOCK_NOT_AVAILABLE || isRetryable(error);
}

function readOptions(
  work: UnitOfWork, spec: Pick<UnitSpec<unknown>, 'lots' | 'replay'>, now: Date, o: { lock: boolean; probe: boolean; count?: Embedded | null },
): repo.MemberReadOptions {
  return {
    lock: o.lock, at: now, lots: spec.lots === true, probe: o.probe ? spec.replay?.done : undefined,
    extras: work.extraReads(now).map((r) => r.sql), count: o.count ?? null,
  };
}

/** New work on the members read: its instant, expiry settled, the operation, its record, its writes. */
async function decide<R>(env: UnitEnv, work: UnitOfWork, spec: UnitSpec<R>, operation: Operation<R>, statements?: Db): Promise<R> {
  if (spec.active !== false) for (const member of work.members.values()) requireActive(member);
  work.start(await writeInstant(env, lastChange(work)));
  if (spec.settle !== false) for (const member of work.members.values()) await settleExpiry(work, member);
  const outcome = await operation(work);
  spec.replay?.record(work, outcome);
  await work.finish(statements);
  return outcome;
}

/** The members' last change: a unit writes at that instant or after it (context.ts writeInstant). */
function lastChange(work: UnitOfWork): Date {
  return new Date(Math.max(...[...work.members.values()].map((m) => m.updated_at.getTime())));
}

/** INVALID_STATE unless the member may move points. */
function requireActive(member: MemberRow): MemberRow {
  if (member.status !== 'ACTIVE') throw new InvalidStateError(`Member is ${member.status.toLowerCase()}: points cannot move`);
  return member;
}
