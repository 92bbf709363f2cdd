import type DataLoader from 'dataloader';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { readCarrying } from '../db/ahead';
import { sharedLoader } from '../db/batch';
import { BadInputError } from '../errors';
import type { TransactionType } from '../db/schema';
import type { MemberRow } from '../db/rows';
import { checkPageSize, decodeCursor, encodeCursor } from '../graphql/pagination';
import { runUnit } from '../ledger/unit-of-work';
import * as repo from '../ledger/ledger.repo';
import { getProgram } from '../program/program.service';
import { expiryFrozenOnRead, tierStatusRules } from '../tiers/tiers.service';
import type { BalanceView, StatementPageView } from '../ledger/ledger.types';

/**
 * The balance at the service instant, computed from the lots (one indexed read): pending lots
 * count once their date passes and lapsed lots stop counting at their expiry, whether or not
 * the expiry job has written their EXPIRE entries yet. The member's aggregates are read in the
 * same statement, not taken from the already-loaded row, which a racing write may have outdated.
 */
export async function balanceOf(ctx: Ctx, member: MemberRow): Promise<BalanceView> {
  let balance = balanceOfRow.get(member);
  if (!balance) {
    balance = (async () => {
      const now = await ctx.now();
      const [figures, frozen] = await Promise.all([repo.balanceFigures(ctx.db, member.id, now), isFrozen(ctx, member, now)]);
      return balanceView(member.id, figures, frozen, now);
    })();
    balanceOfRow.set(member, balance);
  }
  return balance;
}

// Balances by member row object, so one request reads each member's balance once: filled by
// memberWithBalance (read with the row) or by the first balanceOf.
const balanceOfRow = new WeakMap<MemberRow, Promise<BalanceView>>();

/**
 * The member and its balance in one statement, for reads that ask for both (a balance check is
 * the hottest read there is). The balance resolver then answers from what was read here.
 * Concurrent requests share statements (db/batch.ts): under load one round trip serves many.
 */
export async function memberWithBalance(ctx: Ctx, memberId: string): Promise<MemberRow | undefined> {
  const row = await memberReads(ctx.db).load({ id: memberId, ctx });
  if (!row) return undefined;
  const { spendable, pending, lapsed, ...member } = row;
  const now = await ctx.now();
  const frozen = await isFrozen(ctx, member, now);
  balanceOfRow.set(member, Promise.resolve(balanceView(member.id, { ...member, spendable, pending, lapsed }, frozen, now)));
  return member;
}

type MemberRead = NonNullable<Awaited<ReturnType<typeof repo.membersWithLotFigures>>[number]>;
const loaders = new WeakMap<Db, DataLoader<{ id: string; ctx: Ctx }, MemberRead | undefined>>();

function memberReads(db: Db) {
  let loader = loaders.get(db);
  if (!loader) {
    loader = sharedLoader(async (asks: readonly { id: string; ctx: Ctx }[]) => {
      // Each request's instant is fixed when its read goes out, not when it joined the queue:
      // a read must not be evaluated at an instant earlier than writes its snapshot already
      // holds (a credit made available at its own instant would otherwise show as pending).
      const instants = await Promise.all(asks.map((ask) => ask.ctx.now()));
      // The statement also carries the rate-limit counts these requests still owe (db/ahead.ts).
      return readCarrying(db, asks.map((ask) => ask.ctx.rateCount), (on) =>
        repo.membersWithLotFigures(on, asks.map((ask, i) => ({ id: ask.id, at: instants[i] as Date }))));
    });
    loaders.set(db, loader);
  }
  return loader;
}

async function isFrozen(ctx: Ctx, member: MemberRow, now: Date): Promise<boolean> {
  return expiryFrozenOnRead(ctx.db, member, await getProgram(ctx.db), now);
}

interface Figures {
  spendable: number; pending: number; lapsed: number; debt: number; lifetime_earned: number; lifetime_redeemed: number; expired: number;
}

function balanceView(memberId: string, figures: Figures, frozen: boolean, now: Date): BalanceView {
  // While status holds expiry off, lots past their date still count as spendable.
  const lapsed = frozen ? 0 : figures.lapsed;
  return {
    memberId,
    available: figures.spendable + figures.lapsed - lapsed - figures.debt,
    pending: figures.pending,
    lifetimeEarned: figures.lifetime_earned,
    lifetimeRedeemed: figures.lifetime_redeemed,
    expired: figures.expired + lapsed,
    at: now,
  };
}

/** Points expiring within `days` of now, grouped by expiry instant, soonest first. */
export async function expiringSoon(ctx: Ctx, balance: BalanceView, days: number) {
  if (!Number.isInteger(days) || days < 1 || days > 3660) throw new BadInputError('days must be 1-3660', 'days');
  const until = new Date(balance.at.getTime() + days * 86_400_000);
  const rows = await repo.expiringSoon(ctx.db, balance.memberId, balance.at, until);
  return rows.map((r) => ({ points: r.points, expiresAt: r.expires_at as Date }));
}

/** Writes the EXPIRE entries due for this member (every unit of work settles its members' expiry first). */
async function settleDue(ctx: Ctx, memberId: string): Promise<void> {
  await runUnit(ctx, { members: [memberId], status: tierStatusRules, active: false }, async () => undefined);
}

export interface StatementArgs {
  first?: number | null;
  after?: string | null;
  types?: readonly TransactionType[] | null;
  from?: Date | null;
  to?: Date | null;
}

/** A statement page's request after its checks; `key` tells two requests apart. */
export interface PageRequest { filter: repo.StatementFilter; limit: number; beforeSeq: number | undefined; key: string }

/** The page's request, or undefined where the page refuses its arguments (its resolver reports why). */
export function acceptedPage(ctx: Ctx, args: StatementArgs): PageRequest | undefined {
  try {
    return pageRequest(ctx, args);
  } catch (error) {
    if (error instanceof BadInputError) return undefined;
    throw error;
  }
}

function pageRequest(ctx: Ctx, args: StatementArgs): PageRequest {
  const limit = checkPageSize(args.first);
  let beforeSeq: number | undefined;
  if (args.after) {
    const [seq] = decodeCursor(args.after, 1);
    beforeSeq = Number(seq);
    if (!Number.isSafeInteger(beforeSeq) || beforeSeq < 1) throw new BadInputError('Invalid cursor', 'after');
  }
  if (args.from && args.to && args.from.getTime() >= args.to.getTime()) throw new BadInputError('from must be before to', 'from');
  const partnerId = ctx.actor?.role === 'PARTNER' ? ctx.actor.partnerId : null;
  const filter = { types: args.types, from: args.from, to: args.to, partnerId };
  const key = JSON.stringify([limit, beforeSeq ?? null, args.types ?? null, args.from ?? null, args.to ?? null, partnerId ?? null]);
  return { filter, limit, beforeSeq, key };
}

type PageRead = Awaited<ReturnType<typeof repo.statement>>;

// Pages read with their member's row (memberWithPage), by row object: the transactions
// resolver answers from the page read for the same request.
const pageOfRow = new WeakMap<MemberRow, { key: string; read: PageRead }>();

/**
 * The member and the statement page the request asks of it (acceptedPage) in one statement: a
 * statement page's request otherwise reads the member, then the page. Undefined where there is
 * no such member.
 */
export async function memberWithPage(ctx: Ctx, memberId: string, request: PageRequest): Promise<MemberRow | undefined> {
  const now = await ctx.now();
  const read = await readCarrying(ctx.db, [ctx.rateCount], (db) =>
    repo.statement(db, memberId, request.filter, request.limit, request.beforeSeq, now, { withMember: true }));
  if (!read.member) return undefined;
  pageOfRow.set(read.member, { key: request.key, read });
  return read.member;
}

/**
 * The member's statement, newest first. Cursors are the ledger sequence, so rows written
 * while a client pages never shift or repeat a page. A PARTNER sees only its own entries.
 */
export async function statement(ctx: Ctx, member: MemberRow, args: StatementArgs): Promise<StatementPageView> {
  const { filter, limit, beforeSeq, key } = pageRequest(ctx, args);
  // The page's statement also asks whether lots are due to expire; where they are, the EXPIRE
  // entries are written first and the page read again, so it shows them.
  const now = await ctx.now();
  const prefetched = pageOfRow.get(member);
  let read = prefetched?.key === key ? prefetched.read : await repo.statement(ctx.db, member.id, filter, limit, beforeSeq, now);
  if (read.due) {
    await settleDue(ctx, member.id);
    read = await repo.statement(ctx.db, member.id, filter, limit, beforeSeq);
  }
  const { rows, total } = read;
  const page = rows.slice(0, limit);
  const edges = page.map((node) => ({ cursor: encodeCursor([node.seq]), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, countTotal: total };
}
