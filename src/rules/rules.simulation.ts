/**
 * A dry run of a draft rule over history: the purchases (or events) recorded in a period are
 * replayed through the rule alone, in time order, as if it had been active then, with its
 * per-member limit and its budget. Nothing is written.
 */
import type { Ctx } from '../context';
import { BadInputError } from '../errors';
import { MAX_POINTS_PER_TRANSACTION } from '../ledger/ledger.rules';
import { fromUnits, mulDivRound, toUnits } from '../money';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { PURCHASE_TRIGGER, candidates, periodStart, readsPurchaseCount, settle, type RuleDefinition } from './rules.engine';
import * as repo from './rules.repo';
import { factsOf } from './rules.awards';
import { draftRule, type EarningRuleInput } from './rules.service';

export interface SimulationView {
  evaluated: number;
  matched: number;
  points: number;
  value: string;
  members: number;
  topMembers: { memberId: string; points: number; matched: number }[];
}

const PAGE = 20_000;
/** Three years: a dry run reads every purchase of its range within one request. */
const MAX_RANGE_DAYS = 1_096;

export async function simulateRule(ctx: Ctx, input: EarningRuleInput, from: Date, to: Date): Promise<SimulationView> {
  if (to.getTime() <= from.getTime()) throw new BadInputError('to must be after from', 'to');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) throw new BadInputError(`a dry run covers at most ${MAX_RANGE_DAYS} days`, 'to');
  const program = await getProgram(ctx.db);
  const rule = await draftRule(input, await ctx.now());
  const tally = new Tally(rule, program);
  const conditions = `${input.condition ?? ''} ${input.effect.itemCondition ?? ''}`;
  const reads = {
    items: Boolean(input.effect.itemCondition?.trim()) || /\bitems\b/.test(conditions),
    tags: /\btags\b/.test(conditions),
    member: /\bmember\b/.test(conditions),
  };
  if (rule.trigger === PURCHASE_TRIGGER) {
    const counts = readsPurchaseCount(input.condition, input.effect.itemCondition) ? await repo.purchaseCountsBefore(ctx.db, from) : null;
    await repo.replayOrders(ctx.db, from, to, reads, PAGE, (page) => {
      for (const order of page) {
        const count = counts?.get(order.member_id) ?? 0;
        counts?.set(order.member_id, count + 1);
        tally.replay(order, new Date(order.occurred_ms), {
          kind: 'purchase', cents: toUnits(order.amount, 2), currency: order.currency, channel: order.channel, orderId: order.order_id,
          partnerId: order.partner_id, items: (order.items as { sku: string; category: string | null; quantity: number; unitPrice: string }[] | null) ?? null,
        }, count);
      }
    });
  } else {
    if (readsPurchaseCount(input.condition)) {
      throw new BadInputError('a dry run of an event rule does not replay member.purchaseCount', 'input.condition');
    }
    await repo.replayEvents(ctx.db, rule.trigger, from, to, reads, PAGE, (page) => {
      for (const event of page) {
        tally.replay(event, new Date(event.occurred_ms), { kind: 'event', type: event.type, attributes: (event.attributes as Record<string, unknown>) ?? {} }, 0);
      }
    });
  }
  return tally.result();
}

/** The running outcome of a dry run: each member's awards (for limits and the top ten) and the budget spent. */
class Tally {
  evaluated = 0;
  matched = 0;
  points = 0;
  private spent = 0;
  private readonly byMember = new Map<string, { points: number; matched: number; period: number; inPeriod: number }>();

  constructor(private readonly rule: RuleDefinition, private readonly program: ProgramView) {}

  replay(who: repo.ReplayedMember, at: Date, act: Parameters<typeof factsOf>[3], purchaseCount: number): void {
    this.evaluated++;
    const tier = who.tier_code ?? this.program.tiers[0]?.code ?? '';
    const member = { id: who.member_id, tags: who.tags ?? [], enrolled_at: new Date(who.enrolled_ms), birth_date: who.birth_date };
    const found = candidates([this.rule], factsOf(this.program, member, tier, act, at, purchaseCount));
    if (found.length === 0) return;
    const mine = this.byMember.get(who.member_id) ?? { points: 0, matched: 0, period: Number.NaN, inPeriod: 0 };
    const period = this.rule.limit ? (periodStart(this.rule.limit.period, at, this.program.timezone)?.getTime() ?? 0) : 0;
    if (period !== mine.period) {
      mine.period = period;
      mine.inPeriod = 0;
    }
    const budget = this.rule.budgetPoints;
    const standing = () => ({ awards: mine.inPeriod, budgetLeft: budget === null ? null : budget - this.spent });
    const [award] = settle(found, standing, MAX_POINTS_PER_TRANSACTION).awards;
    if (!award) return;
    mine.points += award.points;
    mine.matched++;
    mine.inPeriod++;
    this.byMember.set(who.member_id, mine);
    this.matched++;
    this.points += award.points;
    this.spent += award.points;
  }

  result(): SimulationView {
    const top = [...this.byMember].sort(([ia, a], [ib, b]) => b.points - a.points || (ia < ib ? -1 : 1)).slice(0, 10);
    return {
      evaluated: this.evaluated, matched: this.matched, points: this.points,
      value: fromUnits(mulDivRound(BigInt(this.points), toUnits(this.program.point_value, 6), 10_000n), 2),
      members: this.byMember.size,
      topMembers: top.map(([memberId, m]) => ({ memberId, points: m.points, matched: m.matched })),
    };
  }
}
