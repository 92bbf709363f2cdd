/**
 * Engagement events (reviews, check-ins, surveys, signup, birthdays…): recorded once per
 * idempotency key, and credited with what the active earning rules for their type award, as one
 * EARN entry.
 */
import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { actorKey, requireActor } from '../auth/guards';
import { BadInputError } from '../errors';
import { credit } from '../ledger/ledger.core';
import { byRecordRow, checkKeyLength } from '../ledger/idempotency';
import { creditRoom, requestHash } from '../ledger/ledger.rules';
import type { EarnComponent, EventResultView, TransactionRow } from '../ledger/ledger.types';
import { runUnit, type UnitEnv } from '../ledger/unit-of-work';
import { awardRecords, planBudgets, ruleAwards, ruleComponent, unitReads } from '../rules/rules.awards';
import { checkEventType } from '../rules/rules.service';
import { currentTier, tierStatusRules } from '../tiers/tiers.service';
import * as repo from './events.repo';

export interface EventInput {
  memberId: string;
  type: string;
  idempotencyKey: string;
  occurredAt?: Date | null;
  attributes?: unknown;
}

/** What the service records an event as: who sent it and under which key. */
interface EventRequest {
  memberId: string;
  type: string;
  occurredAt: Date | null;
  attributes: Record<string, unknown>;
  scope: string;
  key: string;
  actor: string;
  partnerId: string | null;
}

const MAX_ATTRIBUTES_JSON = 4_096;

function checkAttributes(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadInputError('attributes must be a JSON object', 'attributes');
  if (JSON.stringify(value).length > MAX_ATTRIBUTES_JSON) throw new BadInputError(`attributes must be at most ${MAX_ATTRIBUTES_JSON} characters of JSON`, 'attributes');
  return value as Record<string, unknown>;
}

/** Records an event sent by a caller (ADMIN, PARTNER); idempotent on (caller, idempotencyKey). */
export async function recordEvent(ctx: Ctx, input: EventInput): Promise<EventResultView> {
  const actor = requireActor(ctx);
  const type = checkEventType(input.type);
  const now = await ctx.now();
  if (input.occurredAt && input.occurredAt.getTime() > now.getTime()) throw new BadInputError('occurredAt cannot be in the future', 'occurredAt');
  checkKeyLength(input.idempotencyKey);
  const scope = actorKey(actor);
  return eventUnit(ctx, {
    memberId: input.memberId, type, occurredAt: input.occurredAt ?? null, attributes: checkAttributes(input.attributes),
    scope, key: input.idempotencyKey, actor: scope, partnerId: actor.partnerId ?? null,
  });
}

/** Records an event the service itself sends (signup, birthday) once per `key`, ever. */
export function recordServiceEvent(env: UnitEnv, memberId: string, type: string, key: string): Promise<EventResultView> {
  return eventUnit(env, { memberId, type, occurredAt: null, attributes: {}, scope: 'system', key, actor: 'system', partnerId: null });
}

async function eventUnit(env: UnitEnv, request: EventRequest): Promise<EventResultView> {
  const hash = requestHash({ memberId: request.memberId.toLowerCase(), type: request.type, occurredAt: request.occurredAt, attributes: request.attributes });
  const replay = byRecordRow(request.key, hash, repo.eventRecorded(request.scope, request.key), (db, key) => repo.findEvent(db, request.scope, key),
    (row, _member, transaction): EventResultView => ({ pointsEarned: row.points_earned, breakdown: row.breakdown as EarnComponent[], transaction }));

  return runUnit(env, { members: [request.memberId], status: tierStatusRules, qualifying: true, replay }, async (work) => {
    const member = work.member(request.memberId);
    const at = work.now;
    const awards = await ruleAwards(unitReads(work), work.program, member, async () => (await currentTier(work, member, work.program, at)).code,
      { kind: 'event', type: request.type, attributes: request.attributes }, at, creditRoom(member.lifetime_earned));
    const points = awards.reduce((sum, a) => sum + a.points, 0);
    const breakdown = awards.map(ruleComponent);
    let txn: TransactionRow | null = null;
    if (points > 0) {
      txn = await credit(work, member, {
        type: 'EARN', points, qualifyingPoints: awards.reduce((sum, a) => sum + a.qualifyingPoints, 0),
        description: `${request.type}: ${awards.map((a) => a.name).join(', ')}`,
        partnerId: request.partnerId, actor: request.actor, occurredAt: request.occurredAt ?? at, ruleAwards: awardRecords(awards),
      });
      planBudgets(work, awards);
    }
    work.write(repo.insertEvent({
      id: randomUUID(), member_id: member.id, scope: request.scope, idempotency_key: request.key, request_hash: hash, type: request.type,
      attributes: JSON.stringify(request.attributes), occurred_at: request.occurredAt ?? at, txn_id: txn?.id ?? null,
      points_earned: points, breakdown: JSON.stringify(breakdown), created_at: at,
    }));
    return { pointsEarned: points, breakdown, transaction: txn };
  });
}
