import { earning } from '../../src/points/earning.rules';
import type { ProgramView, TierView } from '../../src/program/program.types';

const tier = (code: string, multiplier: string) => ({ code, name: code[0] + code.slice(1).toLowerCase(), earn_multiplier: multiplier }) as unknown as TierView;
const program = (earnRate: string) => ({ earn_rate: earnRate, points_name: 'points', currency: 'USD', tiers: [] }) as unknown as ProgramView;

describe('earning: what a purchase earns at a tier', () => {
  test.each<[string, string, string, number, number]>([
    // amount, earn rate, multiplier → base (qualifying), total
    ['129.90', '1', '1', 129, 129],
    ['129.90', '1', '1.5', 129, 194],
    ['0.29', '100', '1', 29, 29],
    ['9.99', '1.5', '2', 14, 29],
    ['0.99', '1', '1.25', 0, 1],
    ['100.00', '0', '3', 0, 0],
    ['100000000.00', '10', '3', 1_000_000_000, 3_000_000_000],
  ])('%s at rate %s × %s: base %i, total %i', (amount, rate, multiplier, base, total) => {
    const cents = BigInt(Math.round(Number(amount) * 100));
    const earned = earning(program(rate), cents, tier('GOLD', multiplier));
    expect({ base: earned.base, total: earned.total }).toEqual({ base, total });
  });

  test('the breakdown names the base and, where it adds anything, the tier multiplier', () => {
    const p = program('1');
    expect(earning(p, 10_000n, tier('MEMBER', '1')).breakdown).toEqual([
      { source: 'BASE', description: '1 points per USD', points: 100, qualifyingPoints: 100 },
    ]);
    expect(earning(p, 10_000n, tier('GOLD', '1.5')).breakdown).toEqual([
      { source: 'BASE', description: '1 points per USD', points: 100, qualifyingPoints: 100 },
      { source: 'TIER_MULTIPLIER', description: 'Gold ×1.5', points: 50, qualifyingPoints: 0 },
    ]);
  });
});
