/**
 * The earning rules a seeded programme runs, so benchmarks measure a programme that has some: a
 * category bonus, a weekend multiplier, an app-channel bonus and a review event rule. Created
 * through the rules service as an ADMIN, once: a programme with any rule keeps its own.
 */
import pino from 'pino';
import type { Config } from '../../src/config';
import type { Ctx } from '../../src/context';
import type { Db } from '../../src/db/database';
import { createRule, listRules, type EarningRuleInput } from '../../src/rules/rules.service';
import { ACTOR } from './seed-model';

export const SEED_RULES: EarningRuleInput[] = [
  {
    name: 'Electronics: 2 extra points per unit', trigger: 'PURCHASE',
    effect: { kind: 'PER_UNIT', rate: '2', itemCondition: 'item.category == "electronics"' },
  },
  {
    name: 'Weekend ×1.5', trigger: 'PURCHASE', condition: 'localDay == 0 || localDay == 6', priority: 10,
    effect: { kind: 'MULTIPLIER', rate: '1.5' },
  },
  {
    name: 'App order bonus', trigger: 'PURCHASE', condition: 'purchase.channel == "app" && purchase.amount >= 20.0',
    effect: { kind: 'FIXED', points: 25 },
  },
  {
    name: 'Review reward', trigger: 'review', condition: 'event.attributes.rating >= 1', limit: { count: 3, period: 'MONTH' },
    effect: { kind: 'FIXED', points: 50 },
  },
];

/** Creates the seed's rules unless the programme has rules already; returns how many it created. */
export async function ensureRules(db: Db, config: Config, now: Date): Promise<number> {
  const silent = pino({ level: 'silent' });
  const ctx: Ctx = {
    actor: { role: 'ADMIN', sub: ACTOR }, db, statements: db, reads: db, config, log: () => silent, requestId: 'seed', rateCount: null, now: async () => now,
  };
  if ((await listRules(ctx, false)).length > 0) return 0;
  for (const rule of SEED_RULES) await createRule(ctx, rule);
  return SEED_RULES.length;
}
