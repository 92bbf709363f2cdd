import type { TierView } from '../../src/program/program.types';
import {
  downgradeTarget, lifetimeTier, meetsTier, percent, pointsValue, qualificationWindow, qualifiedTier, reviewWindow, statusPeriod, streakAt, validityEnd,
} from '../../src/tiers/tiers.rules';

const d = (iso: string) => new Date(iso);
function tier(code: string, rank: number, points: number, extra: Partial<TierView> = {}): TierView {
  return {
    code, name: code, rank, qualifying_points_required: points, earn_multiplier: '1.000', qualifying_spend_required: null,
    qualifying_purchases_required: null, threshold_match: 'ANY', perks: [], reward_codes: [], invitation_only: false,
    lifetime_qualifying_points_required: null, ...extra,
  };
}
const MEMBER = tier('MEMBER', 0, 0);
const SILVER = tier('SILVER', 1, 1000, { qualifying_spend_required: '2000.00' });
const GOLD = tier('GOLD', 2, 5000, { qualifying_purchases_required: 20, threshold_match: 'ALL', lifetime_qualifying_points_required: 1_000_000 });
const PLATINUM = tier('PLATINUM', 3, 0, { invitation_only: true });
const LADDER = [MEMBER, SILVER, GOLD, PLATINUM];
const ENROLLED = d('2024-08-31T00:00:00Z');

describe('statusPeriod and validityEnd', () => {
  test.each([
    ['CALENDAR_YEAR', '2025-06-15T12:00:00Z', '2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['ROLLING_12_MONTHS', '2025-12-31T23:59:59Z', '2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['ANNIVERSARY_YEAR', '2025-03-01T00:00:00Z', '2024-08-31T00:00:00.000Z', '2025-08-31T00:00:00.000Z', '2026-08-31T00:00:00.000Z'],
    ['ANNIVERSARY_YEAR', '2025-08-31T00:00:00Z', '2025-08-31T00:00:00.000Z', '2026-08-31T00:00:00.000Z', '2027-08-31T00:00:00.000Z'],
  ] as const)('%s at %s', (kind, at, from, to, validUntil) => {
    const period = statusPeriod(kind, ENROLLED, d(at));
    expect([period.from.toISOString(), period.to.toISOString()]).toEqual([from, to]);
    expect(validityEnd(kind, ENROLLED, d(at)).toISOString()).toBe(validUntil);
  });
});

describe('windows', () => {
  test.each([
    ['ROLLING_12_MONTHS', '2026-03-15T10:00:00Z', '2025-03-15T10:00:00.001Z', '2026-03-15T10:00:00.001Z'],
    ['CALENDAR_YEAR', '2026-03-15T10:00:00Z', '2026-01-01T00:00:00.000Z', '2026-03-15T10:00:00.001Z'],
    ['ANNIVERSARY_YEAR', '2026-03-15T10:00:00Z', '2025-08-31T00:00:00.000Z', '2026-03-15T10:00:00.001Z'],
  ] as const)('qualification window %s at %s', (kind, at, from, to) => {
    const w = qualificationWindow(kind, ENROLLED, d(at));
    expect([w.from.toISOString(), w.to.toISOString()]).toEqual([from, to]);
  });
  test.each([
    ['ROLLING_12_MONTHS', '2027-04-01T00:00:00Z', '2026-04-01T00:00:00.000Z'],
    ['CALENDAR_YEAR', '2027-04-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
    ['CALENDAR_YEAR', '2027-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
  ] as const)('review window %s for a period ending 2027-01-01, reviewed at %s', (kind, reviewAt, from) => {
    const w = reviewWindow(kind, ENROLLED, d('2027-01-01T00:00:00Z'), d(reviewAt));
    expect([w.from.toISOString(), w.to.toISOString()]).toEqual([from, d(reviewAt).toISOString()]);
  });
});

describe('thresholds', () => {
  test.each([
    [{ points: 999, spendCents: 0, purchases: 0 }, 'MEMBER'],
    [{ points: 1000, spendCents: 0, purchases: 0 }, 'SILVER'],
    [{ points: 0, spendCents: 200_000, purchases: 0 }, 'SILVER'], // ANY: spend alone qualifies
    [{ points: 6000, spendCents: 0, purchases: 19 }, 'SILVER'], // ALL: Gold needs both
    [{ points: 6000, spendCents: 0, purchases: 20 }, 'GOLD'],
    [{ points: 99_999_999, spendCents: 0, purchases: 999 }, 'GOLD'], // invitation-only is never earned
  ])('%o qualifies for %s', (m, code) => {
    expect(qualifiedTier(LADDER, m).code).toBe(code);
  });
  test('meetsTier on the lowest rung is always true', () => {
    expect(meetsTier(MEMBER, { points: 0, spendCents: 0, purchases: 0 })).toBe(true);
  });
  test.each([[999_999, null], [1_000_000, 'GOLD']])('lifetime points %d give lifetime %s', (points, code) => {
    expect(lifetimeTier(LADDER, points)?.code ?? null).toBe(code);
  });
});

describe('downgradeTarget', () => {
  const byCode = (code: string | null) => LADDER.find((t) => t.code === code) ?? null;
  test.each([
    ['ONE_TIER', 'GOLD', 'MEMBER', null, 'SILVER'],
    ['ONE_TIER', 'SILVER', 'MEMBER', null, 'MEMBER'],
    ['ONE_TIER', 'PLATINUM', 'MEMBER', null, 'GOLD'],
    ['TO_QUALIFIED', 'GOLD', 'MEMBER', null, 'MEMBER'],
    ['TO_QUALIFIED', 'GOLD', 'SILVER', null, 'SILVER'],
    ['TO_QUALIFIED', 'GOLD', 'MEMBER', 'SILVER', 'SILVER'],
    ['ONE_TIER', 'GOLD', 'MEMBER', 'GOLD', 'GOLD'],
  ] as const)('%s from %s, qualified %s, floor %s -> %s', (mode, current, qualified, floor, code) => {
    expect(downgradeTarget(LADDER, byCode(current)!, byCode(qualified)!, mode, byCode(floor)).code).toBe(code);
  });
});

describe('streakAt', () => {
  const months = (...isos: string[]) => isos.map((iso) => d(`${iso}-10T00:00:00Z`));
  test.each([
    ['current month active', months('2025-01', '2025-02', '2025-03'), '2025-03-20T00:00:00Z', 3, true, '2025-05-01T00:00:00.000Z', ['2025-03-01T00:00:00.000Z']],
    ['current month not yet active', months('2025-01', '2025-02', '2025-03'), '2025-04-20T00:00:00Z', 3, false, '2025-05-01T00:00:00.000Z', ['2025-03-01T00:00:00.000Z']],
    ['broken by an idle month', months('2025-01', '2025-03'), '2025-03-20T00:00:00Z', 1, true, '2025-05-01T00:00:00.000Z', []],
    ['no activity', [], '2025-03-20T00:00:00Z', 0, false, null, []],
    ['six months: two bonuses', months('2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06'), '2025-06-30T00:00:00Z', 6, true, '2025-08-01T00:00:00.000Z', ['2025-03-01T00:00:00.000Z', '2025-06-01T00:00:00.000Z']],
  ] as const)('%s', (_name, active, now, length, currentActive, breaksAt, completed) => {
    const s = streakAt('MONTH', [...active], d(now), 3);
    expect(s.length).toBe(length);
    expect(s.currentPeriodActive).toBe(currentActive);
    expect(s.breaksAt?.toISOString() ?? null).toBe(breaksAt);
    expect(s.completed.map((c) => c.periodStart.toISOString())).toEqual(completed);
  });
  test('quarters', () => {
    const s = streakAt('QUARTER', [d('2025-02-01T00:00:00Z'), d('2025-05-01T00:00:00Z')], d('2025-06-30T00:00:00Z'), null);
    expect(s).toMatchObject({ length: 2, currentPeriodActive: true, completed: [] });
    expect(s.breaksAt?.toISOString()).toBe('2025-10-01T00:00:00.000Z');
  });
});

describe('money and progress', () => {
  test.each([[2200, '0.012500', '27.50'], [1, '0.005', '0.01'], [1, '0.004999', '0.00'], [0, '0.01', '0.00'], [-5, '0.01', '0.00']])(
    '%d points at %s are worth %s', (points, value, expected) => {
      expect(pointsValue(points, value)).toBe(expected);
    });
  test.each([[2400, 5000, 48], [0, 5000, 0], [6000, 5000, 100], [1, 0, 100]])('%d of %d is %d%%', (have, need, pct) => {
    expect(percent(have, need)).toBe(pct);
  });
});
