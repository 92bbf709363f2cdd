import { isUuid } from '../db/ids';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { actorKey, requireMemberAccess, seesPersonalData } from '../auth/guards';
import { BadInputError, ForbiddenError, NotFoundError, UNIQUE_VIOLATION, pgErrorCode } from '../errors';
import type { MemberStatus } from '../db/schema';
import { checkPageSize, decodeCursor, encodeCursor } from '../graphql/pagination';
import { readCarrying } from '../db/ahead';
import type { Db } from '../db/database';
import { inTransaction } from '../db/transaction';
import { checkReferrer, recordReferral } from '../referrals/referrals.service';
import * as repo from './members.repo';
import { getProgram } from '../program/program.service';
import { recordServiceEvent } from '../points/events.service';
import { hasRules } from '../rules/rules.awards';
import { SIGNUP_EVENT } from '../rules/rules.engine';
import { acceptedPage, memberWithBalance, memberWithPage, type StatementArgs } from '../points/balance.service';
import type { MemberPageView, MemberRow } from './members.repo';
import {
  checkBirthDate, checkEmail, checkExternalId, checkLocale, checkName, checkPhone, checkTags, referralCodeFrom,
} from './members.rules';

export interface EnrollInput {
  externalId: string;
  email?: string | null;
  name?: string | null;
  birthDate?: string | null;
  phone?: string | null;
  locale?: string | null;
  referralCode?: string | null;
}

/**
 * Enrols a member. Idempotent on externalId: a second enrolment, even racing the first,
 * returns the member the first created and changes nothing (its referral included). With another
 * member's referralCode the new member is that member's referee (src/referrals); an unknown code
 * or a self-referral (the code's owner has the same e-mail) is BAD_USER_INPUT and creates nothing.
 */
export async function enrollMember(ctx: Ctx, input: EnrollInput): Promise<MemberRow> {
  const now = await ctx.now();
  const externalId = checkExternalId(input.externalId);
  const fields = {
    email: checkEmail(input.email) ?? null,
    name: checkName(input.name) ?? null,
    birth_date: checkBirthDate(input.birthDate, now) ?? null,
    phone: checkPhone(input.phone) ?? null,
    locale: checkLocale(input.locale) ?? null,
  };
  const existing = await repo.findByExternalId(ctx.db, externalId);
  if (existing) return existing;

  let referredBy: string | null = null;
  if (input.referralCode) {
    const referrer = await repo.findByReferralCode(ctx.db, input.referralCode.trim().toUpperCase());
    if (!referrer) throw new BadInputError(`Unknown referral code "${input.referralCode}"`, 'referralCode');
    checkReferrer(referrer, fields.email);
    referredBy = referrer.id;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const member = {
        id: randomUUID(),
        external_id: externalId,
        ...fields,
        enrolled_at: now,
        referral_code: referralCodeFrom(randomBytes(8)),
        referred_by: referredBy,
        created_at: now,
        updated_at: now,
      };
      const created = await insertMember(ctx.db, member, referredBy, now);
      if (created) {
        ctx.log().info({ memberId: created.id, referredBy, actor: ctx.actor && actorKey(ctx.actor) }, 'member enrolled');
        return signedUp(ctx, created);
      }
      const winner = await repo.findByExternalId(ctx.db, externalId);
      if (winner) return winner;
    } catch (error) {
      // Only a referral-code collision reaches here (externalId conflicts are absorbed above).
      if (pgErrorCode(error) !== UNIQUE_VIOLATION) throw error;
    }
  }
  throw new Error('Could not allocate a unique referral code');
}

/**
 * Inserts the member unless its externalId exists (undefined then); a referred member's referral
 * is written in the same transaction, so neither is there without the other.
 */
async function insertMember(db: Db, member: repo.NewMember, referredBy: string | null, at: Date): Promise<MemberRow | undefined> {
  if (!referredBy) return repo.insertIfAbsent(db, member);
  return inTransaction(db, async (tx) => {
    const created = await repo.insertIfAbsent(tx, member);
    if (created) await recordReferral(tx, referredBy, created.id, at);
    return created;
  });
}

/**
 * Sends the new member's signup event, which the active signup rules reward. Sent by the
 * enrolment that created the member, once (a retried enrolment finds the member and sends
 * nothing): a process that dies between the two loses the event. Returns the member as it then
 * stands.
 */
async function signedUp(ctx: Ctx, member: MemberRow): Promise<MemberRow> {
  if (!hasRules(await getProgram(ctx.db), SIGNUP_EVENT)) return member;
  const { pointsEarned } = await recordServiceEvent(ctx, member.id, SIGNUP_EVENT, `signup:${member.id}`);
  return pointsEarned > 0 ? ((await repo.findById(ctx.db, member.id)) ?? member) : member;
}

/** Replaces the member's tags (members.rules.ts checkTags). */
export async function setMemberTags(ctx: Ctx, memberId: string, tags: readonly string[]): Promise<MemberRow> {
  const clean = checkTags(tags);
  await getMember(ctx, memberId);
  const updated = await repo.update(ctx.db, memberId, { tags: clean }, await ctx.now());
  if (!updated) throw new NotFoundError('Member');
  return updated;
}

/**
 * A member by id or externalId, or undefined; exactly one of the two must be given. With
 * `withBalance` the balance is read in the same statement (see ledger memberWithBalance); with
 * `page`, the statement page the request asks for, where its arguments are accepted (ledger
 * memberWithPage).
 */
export async function findMember(
  ctx: Ctx, by: { id?: string | null; externalId?: string | null },
  { withBalance = false, page }: { withBalance?: boolean; page?: StatementArgs } = {},
): Promise<MemberRow | undefined> {
  if ((by.id == null) === (by.externalId == null)) throw new BadInputError('Give exactly one of id or externalId');
  if (by.id != null) {
    if (!isUuid(by.id)) return undefined;
    const id = by.id;
    if (withBalance) return memberWithBalance(ctx, id);
    const request = page && acceptedPage(ctx, page);
    if (request) return memberWithPage(ctx, id, request);
    return readCarrying(ctx.db, [ctx.rateCount], (db) => repo.findById(db, id));
  }
  return repo.findByExternalId(ctx.db, by.externalId as string);
}

/** The member, or NOT_FOUND. */
export async function getMember(ctx: Ctx, id: string): Promise<MemberRow> {
  const member = isUuid(id) ? await repo.findById(ctx.db, id) : undefined;
  if (!member) throw new NotFoundError('Member');
  return member;
}

export interface UpdateInput {
  id: string;
  email?: string | null;
  name?: string | null;
  birthDate?: string | null;
  phone?: string | null;
  locale?: string | null;
}

/** Changes profile fields; omitted fields stay, null clears. A MEMBER may change only itself, a PARTNER only with personalData. */
export async function updateMember(ctx: Ctx, input: UpdateInput): Promise<MemberRow> {
  requireMemberAccess(ctx, input.id);
  if (!seesPersonalData(ctx)) throw new ForbiddenError('A partner changes members\' personal data only with a personalData token');
  const now = await ctx.now();
  const patch: repo.MemberPatch = {};
  if (input.email !== undefined) patch.email = checkEmail(input.email) ?? null;
  if (input.name !== undefined) patch.name = checkName(input.name) ?? null;
  if (input.birthDate !== undefined) patch.birth_date = checkBirthDate(input.birthDate, now) ?? null;
  if (input.phone !== undefined) patch.phone = checkPhone(input.phone) ?? null;
  if (input.locale !== undefined) patch.locale = checkLocale(input.locale) ?? null;
  await getMember(ctx, input.id);
  const updated = await repo.update(ctx.db, input.id, patch, now);
  if (!updated) throw new NotFoundError('Member');
  return updated;
}

/** Sets a member's standing; SUSPENDED and CLOSED block point movements. CLOSED is final. */
export async function setMemberStatus(ctx: Ctx, input: { id: string; status: MemberStatus; reason?: string | null }): Promise<MemberRow> {
  const member = await getMember(ctx, input.id);
  if (member.status === 'CLOSED' && input.status !== 'CLOSED') {
    throw new BadInputError('A closed member cannot be reopened', 'status');
  }
  const updated = await repo.update(ctx.db, input.id, { status: input.status, status_reason: input.reason ?? null }, await ctx.now());
  if (!updated) throw new NotFoundError('Member');
  ctx.log().info({ memberId: input.id, status: input.status }, 'member status changed');
  return updated;
}

/** Everything held about a member, as one JSON document (ADMIN, or the MEMBER itself): a privacy request's export. */
export async function exportMemberData(ctx: Ctx, memberId: string): Promise<Record<string, unknown>> {
  requireMemberAccess(ctx, memberId, ['ADMIN', 'MEMBER']);
  const member = await getMember(ctx, memberId);
  return { exportedAt: await ctx.now(), member, ...(await repo.memberData(ctx.db, member.id)) };
}

/**
 * Erases a member's personal data for good (ADMIN): name, email, phone, birth date, locale,
 * tags and event attributes cleared, the external id replaced by `erased:<id>`, the account
 * closed with `reason`. Points and ledger entries stay as amounts, so the books still add up.
 * Idempotent: erasing again answers the erased member and changes nothing.
 */
export async function eraseMember(ctx: Ctx, memberId: string, reason: string): Promise<MemberRow> {
  const text = reason.trim();
  if (text.length < 1 || text.length > 500) throw new BadInputError('reason must be 1-500 characters', 'reason');
  const member = await getMember(ctx, memberId);
  if (member.erased_at) return member;
  const erased = await repo.erase(ctx.db, member.id, text, await ctx.now());
  if (!erased) throw new NotFoundError('Member');
  ctx.log().info({ memberId: member.id }, 'member erased');
  return erased;
}

/** Members newest first, with cursor pagination. */
export async function listMembers(ctx: Ctx, args: { first?: number | null; after?: string | null; search?: string | null; status?: MemberStatus | null }): Promise<MemberPageView> {
  const limit = checkPageSize(args.first);
  let after: { createdAt: Date; id: string } | undefined;
  if (args.after) {
    const [createdAt, id] = decodeCursor(args.after, 2) as [string, string];
    const date = new Date(createdAt);
    if (Number.isNaN(date.getTime()) || !isUuid(id)) throw new BadInputError('Invalid cursor', 'after');
    after = { createdAt: date, id };
  }
  const { rows, total } = await repo.list(ctx.db, { search: args.search?.trim() || null, status: args.status }, limit, after);
  const page = rows.slice(0, limit);
  const edges = page.map((node) => ({ cursor: encodeCursor([node.created_at.toISOString(), node.id]), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null },
    countTotal: total,
  };
}
