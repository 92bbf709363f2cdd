/**
 * A dry run of a draft rule over history: the purchases (or events) recorded in a period are
 * replayed through the rule alone, in time order, as if it had been active then, with its
 * per-member limit and its budget. Nothing is written.
 */
import type { Ctx } from '../context';
import { BadInputError } from '../errors';
import { fromUnits, mulDivRound, toUnits } from '../money';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { candidates, periodStart, settle, type RuleDefinition } from './rules.engine';
import * as repo from './rules.repo';
import { PURCHASE_TRIGGER, draftRule, factsOf, type EarningRuleInput } from './rules.service';

export interface SimulationView {
  evaluated: number;
  matched: number;
  points: number;
  value: string;
  members: number;
  topMembers: { memberId: string; points: number; matched: number }[];
}

const PAGE = 20_000;

export async function simulateRule(ctx: Ctx, input: EarningRuleInput, from: Date, to: Date): Promise<SimulationView> {
  if (to.getTime() <= from.getTime()) throw new BadInputError('to must be after from', 'to');
  const program = await getProgram(ctx.db);
  const rule = await draftRule(input, await ctx.now());
  const tally = new Tally(rule, program);
  if (rule.trigger === PURCHASE_TRIGGER) {
    const counts = /\bpurchaseCount\b/.test(`${input.condition ?? ''} ${input.effect.itemCondition ?? ''}`) ? await repo.purchaseCountsBefore(ctx.db, from) : null;
    for (let after: { at: Date; id: string } | null = null; ;) {
      const page = await repo.ordersIn(ctx.db, from, to, after, PAGE);
      for (const order of page) {
        const count = counts?.get(order.member_id) ?? 0;
        counts?.set(order.member_id, count + 1);
        tally.replay(order, order.occurred_at, {
          kind: 'purchase', cents: toUnits(order.amount, 2), currency: order.currency, channel: order.channel, orderId: order.order_id,
          partnerId: order.partner_id, items: (order.items as { sku: string; category: string | null; quantity: number; unitPrice: string }[] | null) ?? null,
        }, count);
      }
      if (page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { at: last.occurred_at, id: last.order_id };
    }
  } else {
    for (let after: { at: Date; id: string } | null = null; ;) {
      const page = await repo.eventsIn(ctx.db, rule.trigger, from, to, after, PAGE);
      for (const event of page) {
        tally.replay(event, event.occurred_at, { kind: 'event', type: event.type, attributes: (event.attributes as Record<string, unknown>) ?? {} }, 0);
      }
      if (page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { at: last.occurred_at, id: last.id };
    }
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
    const member = { id: who.member_id, tags: who.tags ?? [], enrolled_at: who.enrolled_at, birth_date: who.birth_date };
    const found = candidates([this.rule], factsOf(this.program, member, tier, act, at, purchaseCount));
    if (found.length === 0) return;
    const mine = this.byMember.get(who.member_id) ?? { points: 0, matched: 0, period: Number.NaN, inPeriod: 0 };
    const period = this.rule.limit ? (periodStart(this.rule.limit.period, at, this.program.timezone)?.getTime() ?? 0) : 0;
    if (period !== mine.period) {
      mine.period = period;
      mine.inPeriod = 0;
    }
    const budget = this.rule.budgetPoints;
    const [award] = settle(found, () => ({ awards: mine.inPeriod, budgetLeft: budget === null ? null : budget - this.spent })).awards;
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
