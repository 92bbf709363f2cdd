/**
 * Feedback: NPS answers, complaints and their resolution. Each is a unit of work on the member
 * (ledger/unit-of-work.ts), idempotent per caller and key like a recorded event; resolving a
 * complaint may credit goodwill points, once, as one BONUS entry in the same unit.
 */
import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { actorKey, requireMemberAccess, requireRole } from '../auth/guards';
import { BadInputError, IdempotencyConflictError, InvalidStateError, NotFoundError } from '../errors';
import { isUuid } from '../db/ids';
import type { ComplaintStatus } from '../db/schema';
import { credit } from '../ledger/ledger.core';
import { byRecordRow, checkKeyLength } from '../ledger/idempotency';
import { checkPoints, requestHash } from '../ledger/ledger.rules';
import { runUnit, type Replay } from '../ledger/unit-of-work';
import { tierStatusRules } from '../tiers/tiers.service';
import { npsCategory, type NpsCategory } from './loyalty.rules';
import * as repo from './feedback.repo';
import type { ComplaintRow, SurveyResponseRow } from './feedback.repo';

export type { ComplaintRow, SurveyResponseRow };

/** Trimmed text within `max` characters; null when empty and not required. */
function text(value: string | null | undefined, field: string, max: number, required = false): string | null {
  const trimmed = value?.trim() ?? '';
  if (required && trimmed === '') throw new BadInputError(`${field} is required`, field);
  if (trimmed.length > max) throw new BadInputError(`${field} must be at most ${max} characters`, field);
  return trimmed === '' ? null : trimmed;
}

/** A channel or category: a short label, stored in lower case so "Email" and "email" are one. */
function label(value: string | null | undefined, field: string, required = false): string | null {
  const trimmed = text(value, field, 40, required);
  if (trimmed !== null && !/^[\p{L}\p{N}][\p{L}\p{N} _.-]*$/u.test(trimmed)) {
    throw new BadInputError(`${field} must be letters, digits, spaces, '.', '_' or '-'`, field);
  }
  return trimmed?.toLowerCase() ?? null;
}

function memberIdOf(value: string): string {
  if (!isUuid(value)) throw new NotFoundError('Member');
  return value.toLowerCase();
}

export interface SurveyResponseInput { memberId: string; score: number; comment?: string | null; channel?: string | null; idempotencyKey: string }

export interface SurveyResponseView extends SurveyResponseRow { category: NpsCategory }

export function answerView(row: SurveyResponseRow): SurveyResponseView {
  return { ...row, category: npsCategory(row.score) };
}

/** Records an NPS answer (0–10) for a member: ADMIN, PARTNER, or the member itself. */
export async function submitSurveyResponse(ctx: Ctx, input: SurveyResponseInput): Promise<SurveyResponseView> {
  const actor = requireMemberAccess(ctx, input.memberId);
  if (!Number.isInteger(input.score) || input.score < 0 || input.score > 10) throw new BadInputError('score must be a whole number from 0 to 10', 'score');
  const memberId = memberIdOf(input.memberId);
  const comment = text(input.comment, 'comment', 2000);
  const channel = label(input.channel, 'channel');
  checkKeyLength(input.idempotencyKey);
  const scope = actorKey(actor);
  const hash = requestHash({ operation: 'submitSurveyResponse', memberId, score: input.score, comment, channel });
  const replay = byRecordRow(input.idempotencyKey, hash, repo.answerRecorded(scope, input.idempotencyKey),
    async (db, key) => withoutEntry(await repo.findAnswer(db, scope, key)), (row) => answerView(row));
  return runUnit(ctx, { members: [memberId], status: tierStatusRules, active: false, settle: false, replay }, async (work) => {
    const row: SurveyResponseRow = {
      id: randomUUID(), member_id: memberId, score: input.score, comment, channel, scope, idempotency_key: input.idempotencyKey,
      request_hash: hash, created_at: work.now,
    };
    work.write(repo.insertAnswer(row));
    return answerView(row);
  });
}

export interface ComplaintInput { memberId: string; category: string; description: string; channel?: string | null; idempotencyKey: string }

/** Files a complaint for a member: ADMIN, PARTNER, or the member itself. */
export async function fileComplaint(ctx: Ctx, input: ComplaintInput): Promise<ComplaintRow> {
  const actor = requireMemberAccess(ctx, input.memberId);
  const memberId = memberIdOf(input.memberId);
  const category = label(input.category, 'category', true) as string;
  const description = text(input.description, 'description', 4000, true) as string;
  const channel = label(input.channel, 'channel');
  checkKeyLength(input.idempotencyKey);
  const scope = actorKey(actor);
  const hash = requestHash({ operation: 'fileComplaint', memberId, category, description, channel });
  const replay = byRecordRow(input.idempotencyKey, hash, repo.complaintFiled(scope, input.idempotencyKey),
    async (db, key) => withoutEntry(await repo.findFiled(db, scope, key)), (row) => row);
  return runUnit(ctx, { members: [memberId], status: tierStatusRules, active: false, settle: false, replay }, async (work) => {
    const row: ComplaintRow = {
      id: randomUUID(), member_id: memberId, category, description, channel, status: 'OPEN', resolution: null, goodwill_points: 0,
      goodwill_txn_id: null, scope, idempotency_key: input.idempotencyKey, request_hash: hash,
      resolve_scope: null, resolve_key: null, resolve_hash: null, created_at: work.now, resolved_at: null,
    };
    work.write(repo.insertComplaint(row));
    return row;
  });
}

export interface ResolveComplaintInput { id: string; resolution: string; goodwillPoints?: number | null; idempotencyKey: string }

/**
 * Resolves an open complaint (ADMIN), crediting `goodwillPoints` as one BONUS entry in the same
 * unit. Resolving a resolved complaint is INVALID_STATE; a retry with the same key answers the
 * complaint as resolved, and credits nothing more.
 */
export async function resolveComplaint(ctx: Ctx, input: ResolveComplaintInput): Promise<ComplaintRow> {
  const actor = requireRole(ctx, 'ADMIN');
  const resolution = text(input.resolution, 'resolution', 2000, true) as string;
  const goodwill = input.goodwillPoints ?? 0;
  if (goodwill !== 0) checkPoints(goodwill, 'goodwillPoints');
  checkKeyLength(input.idempotencyKey);
  const found = isUuid(input.id) ? await repo.findComplaint(ctx.db, input.id.toLowerCase()) : undefined;
  if (!found) throw new NotFoundError('Complaint');
  const scope = actorKey(actor);
  const key = input.idempotencyKey;
  const hash = requestHash({ operation: 'resolveComplaint', id: found.id, resolution, goodwill });
  const replay: Replay<ComplaintRow> = {
    done: repo.complaintResolved(scope, key),
    async read(db) {
      const row = await repo.findResolved(db, scope, key);
      if (!row) return undefined;
      if (row.resolve_hash !== hash) throw new IdempotencyConflictError(key);
      return row;
    },
    record: () => undefined,
  };
  return runUnit(ctx, { members: [found.member_id], status: tierStatusRules, active: false, replay }, async (work) => {
    // Read again within the unit: a resolution racing this one has changed the member's row.
    const complaint = await repo.findComplaint(work.db, found.id);
    if (!complaint) throw new NotFoundError('Complaint');
    if (complaint.status !== 'OPEN') throw new InvalidStateError('This complaint is already resolved');
    const member = work.member(complaint.member_id);
    if (goodwill > 0 && member.status === 'CLOSED') throw new InvalidStateError('Member is closed: goodwill points cannot be credited');
    const entry = goodwill > 0
      ? await credit(work, member, { type: 'BONUS', points: goodwill, qualifyingPoints: 0, description: `Goodwill: ${complaint.category} complaint resolved`, actor: scope })
      : null;
    const at = work.now;
    work.write(repo.resolved(complaint.id, { resolution, goodwillPoints: goodwill, goodwillTxnId: entry?.id ?? null, at, scope, key, hash }));
    return {
      ...complaint, status: 'RESOLVED', resolution, goodwill_points: goodwill, goodwill_txn_id: entry?.id ?? null, resolved_at: at,
      resolve_scope: scope, resolve_key: key, resolve_hash: hash,
    };
  });
}

/** Only what a PARTNER recorded itself: a member's feedback to others stays with the programme. */
function recordedBy(ctx: Ctx): string | undefined {
  return ctx.actor?.role === 'PARTNER' ? actorKey(ctx.actor) : undefined;
}

/** A member's answers, newest first (at most 100). */
export function answersOf(ctx: Ctx, memberId: string, first: number): Promise<SurveyResponseRow[]> {
  return repo.answersOf(ctx.db, { memberId, scope: recordedBy(ctx) }, pageSize(first));
}

/** Complaints newest first: a member's or all (ADMIN), optionally of one status. */
export function complaintsOf(ctx: Ctx, filter: { memberId?: string; status?: ComplaintStatus | null }, first: number): Promise<ComplaintRow[]> {
  return repo.listComplaints(ctx.db, { ...filter, scope: recordedBy(ctx) }, pageSize(first));
}

function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > 100) throw new BadInputError('first must be 1-100', 'first');
  return first;
}

/** A feedback row as a record of the request (idempotency.ts byRecordRow): it carries no ledger entry of its own. */
function withoutEntry<T extends { request_hash: string; member_id: string }>(row: T | undefined): (T & { txn_id: null }) | undefined {
  return row ? { ...row, txn_id: null } : undefined;
}
