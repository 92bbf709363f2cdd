import {
  MAX_LIFETIME_POINTS, MAX_POINTS_PER_TRANSACTION, addMonths, allocate, checkLifetime, checkPoints, clawbackFor, consumptionOrder, lotExpiry, pointsForAmount,
  pointsHeld, quarterEnd, requestHash,
  transactionStatus, type ExpiryPolicy, type OpenLot,
} from '../../src/ledger/ledger.rules';

const at = (iso: string) => new Date(iso);
const iso = (date: Date | null) => date?.toISOString() ?? null;

describe('addMonths', () => {
  test.each([
    ['2025-01-15T10:00:00.000Z', 12, '2026-01-15T10:00:00.000Z'],
    ['2025-01-31T00:00:00.000Z', 1, '2025-02-28T00:00:00.000Z'],
    ['2024-01-31T00:00:00.000Z', 1, '2024-02-29T00:00:00.000Z'],
    ['2024-02-29T12:00:00.000Z', 12, '2025-02-28T12:00:00.000Z'],
    ['2025-03-31T23:59:59.999Z', 1, '2025-04-30T23:59:59.999Z'],
    ['2025-08-31T00:00:00.000Z', 6, '2026-02-28T00:00:00.000Z'],
    ['2025-12-15T00:00:00.000Z', 1, '2026-01-15T00:00:00.000Z'],
    ['2025-05-31T00:00:00.000Z', -3, '2025-02-28T00:00:00.000Z'],
    ['2025-01-01T00:00:00.000Z', 240, '2045-01-01T00:00:00.000Z'],
  ])('%s + %i months = %s', (from, months, expected) => {
    expect(iso(addMonths(at(from), months))).toBe(expected);
  });

  test('does not change its argument', () => {
    const date = at('2025-01-31T00:00:00.000Z');
    addMonths(date, 1);
    expect(iso(date)).toBe('2025-01-31T00:00:00.000Z');
  });
});

describe('quarterEnd', () => {
  test.each([
    ['2025-01-01T00:00:00.000Z', '2025-04-01T00:00:00.000Z'],
    ['2025-02-10T08:00:00.000Z', '2025-04-01T00:00:00.000Z'],
    ['2025-03-31T23:59:59.999Z', '2025-04-01T00:00:00.000Z'],
    ['2025-04-01T00:00:00.000Z', '2025-07-01T00:00:00.000Z'],
    ['2025-09-30T12:00:00.000Z', '2025-10-01T00:00:00.000Z'],
    ['2025-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z'],
  ])('the quarter holding %s ends at %s', (date, expected) => {
    expect(iso(quarterEnd(at(date)))).toBe(expected);
  });
});

describe('lotExpiry', () => {
  const earned = at('2025-02-10T08:00:00.000Z');
  const lastActivity = at('2025-06-01T00:00:00.000Z');
  test.each<[string, ExpiryPolicy, string | null]>([
    ['NONE never expires', { mode: 'NONE', months: null, roundToQuarterEnd: false }, null],
    ['FIXED without months never expires', { mode: 'FIXED', months: null, roundToQuarterEnd: false }, null],
    ['FIXED 12 months after earning', { mode: 'FIXED', months: 12, roundToQuarterEnd: false }, '2026-02-10T08:00:00.000Z'],
    ['FIXED 12 rounded to the quarter end', { mode: 'FIXED', months: 12, roundToQuarterEnd: true }, '2026-04-01T00:00:00.000Z'],
    ['INACTIVITY counts from the last activity', { mode: 'INACTIVITY', months: 6, roundToQuarterEnd: false }, '2025-12-01T00:00:00.000Z'],
  ])('%s', (_name, policy, expected) => {
    expect(iso(lotExpiry(policy, earned, lastActivity))).toBe(expected);
  });
});

describe('allocate', () => {
  const lot = (id: string, remaining: number, expiresAt: string | null, earnedAt = '2025-01-01T00:00:00.000Z'): OpenLot =>
    ({ id, remaining, expiresAt: expiresAt ? at(expiresAt) : null, earnedAt: at(earnedAt) });
  const lots = [
    lot('never', 100, null),
    lot('march', 200, '2026-03-20T00:00:00.000Z', '2025-03-20T00:00:00.000Z'),
    lot('january', 70, '2026-01-15T00:00:00.000Z', '2025-01-15T00:00:00.000Z'),
    lot('january-b', 10, '2026-01-15T00:00:00.000Z', '2025-01-15T00:00:00.000Z'),
    lot('older-same-expiry', 5, '2026-01-15T00:00:00.000Z', '2024-12-01T00:00:00.000Z'),
    lot('empty', 0, '2025-06-01T00:00:00.000Z'),
  ];

  test.each<[number, [string, number][], number]>([
    [3, [['older-same-expiry', 3]], 0],
    [30, [['older-same-expiry', 5], ['january', 25]], 0],
    [85, [['older-same-expiry', 5], ['january', 70], ['january-b', 10]], 0],
    [100, [['older-same-expiry', 5], ['january', 70], ['january-b', 10], ['march', 15]], 0],
    [385, [['older-same-expiry', 5], ['january', 70], ['january-b', 10], ['march', 200], ['never', 100]], 0],
    [400, [['older-same-expiry', 5], ['january', 70], ['january-b', 10], ['march', 200], ['never', 100]], 15],
  ])('%i points: soonest expiry first, then oldest, then id; never-expiring last', (points, expected, shortfall) => {
    const result = allocate(lots, points);
    expect(result.allocations.map((a) => [a.lotId, a.points])).toEqual(expected);
    expect(result.shortfall).toBe(shortfall);
  });

  test('the order given does not matter', () => {
    expect(allocate([...lots].reverse(), 100)).toEqual(allocate(lots, 100));
  });

  test('no lots: everything is short', () => {
    expect(allocate([], 10)).toEqual({ allocations: [], shortfall: 10 });
  });

  // What a debit that read only its member's first lots relies on (UnitOfWork.lotsCovering).
  test.each([1, 5, 6, 75, 85, 86, 285])('%i points from the first lots in consumption order that hold them: the same draws as from every lot', (points) => {
    const ordered = [...lots].sort(consumptionOrder);
    const first = ordered.slice(0, ordered.findIndex((_, i) => pointsHeld(ordered.slice(0, i + 1)) >= points) + 1);
    expect(pointsHeld(first)).toBeGreaterThanOrEqual(points);
    expect(first.length).toBeLessThan(ordered.length);
    expect(allocate(first, points)).toEqual(allocate(lots, points));
  });
});

describe('pointsHeld', () => {
  test.each<[number[], number]>([[[], 0], [[7], 7], [[5, 0, 70], 75]])('%j hold %i', (remaining, held) => {
    expect(pointsHeld(remaining.map((r) => ({ remaining: r })))).toBe(held);
  });
});

describe('pointsForAmount', () => {
  test.each<[string, string, string | number, number]>([
    ['100.00', '1', 1, 100],
    ['129.90', '1', 1, 129],
    ['0.29', '100', 1, 29], // 0.29 * 100 is 28.999999999999996 in floating point
    ['0.57', '100', 1, 57], // 56.99999999999999 in floating point
    ['1.15', '100', 1, 115],
    ['10.00', '1.5', 1, 15],
    ['9.99', '1.5', 1, 14],
    ['33.33', '3', 1, 99],
    ['100.00', '1', 1.5, 150],
    ['100.00', '1', '1.25', 125],
    ['0.99', '1', 1, 0],
    ['100.00', '0', 1, 0],
    ['100000000.00', '10', 3, 3_000_000_000],
  ])('%s × rate %s × %s = %i', (amount, rate, multiplier, expected) => {
    expect(pointsForAmount(amount, rate, multiplier)).toBe(expected);
  });
});

describe('clawbackFor', () => {
  /** Runs refunds in turn the way refundPurchase does and returns each clawback. */
  function refunds(order: string, earned: number, amounts: string[]): number[] {
    let refunded = 0n;
    let reversed = 0;
    return amounts.map((amount) => {
      const points = clawbackFor(order, (Number(refunded) / 100).toFixed(2), amount, earned, reversed);
      refunded += BigInt(Math.round(Number(amount) * 100));
      reversed += points;
      return points;
    });
  }

  test.each<[string, number, string[], number[]]>([
    ['100.00', 100, ['30.00', '30.00', '40.00'], [30, 30, 40]],
    ['10.00', 10, ['3.33', '3.33', '3.34'], [3, 4, 3]],
    ['100.00', 100, ['100.00'], [100]],
    ['99.99', 7, ['33.33', '33.33', '33.33'], [2, 3, 2]],
    ['1.00', 1, ['0.01', '0.01', '0.98'], [0, 0, 1]],
    ['3.00', 100, ['1.00', '1.00', '1.00'], [33, 34, 33]],
    ['129.90', 259, ['0.01', '64.94', '64.95'], [0, 130, 129]],
  ])('%s earning %i refunded as %j claws back %j', (order, earned, amounts, expected) => {
    const clawed = refunds(order, earned, amounts);
    expect(clawed).toEqual(expected);
    expect(clawed.reduce((a, b) => a + b, 0)).toBe(earned);
  });

  test('partial refunds never add up to more than the order earned', () => {
    for (let earned = 0; earned <= 50; earned++) {
      const clawed = refunds('7.00', earned, ['1.00', '1.00', '1.00', '1.00', '1.00', '1.00', '1.00']);
      expect(clawed.every((points) => points >= 0)).toBe(true);
      expect(clawed.reduce((a, b) => a + b, 0)).toBe(earned);
    }
  });
});

describe('checkPoints', () => {
  test.each([[1], [MAX_POINTS_PER_TRANSACTION]])('%i is accepted', (points) => {
    expect(checkPoints(points)).toBe(points);
  });
  test.each([[0], [-1], [1.5], [MAX_POINTS_PER_TRANSACTION + 1], [Number.NaN]])('%d is BAD_USER_INPUT', (points) => {
    expect(() => checkPoints(points)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
  test('negative points only where allowed, never zero', () => {
    expect(checkPoints(-5, 'points', { allowNegative: true })).toBe(-5);
    expect(() => checkPoints(0, 'points', { allowNegative: true })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    expect(() => checkPoints(-MAX_POINTS_PER_TRANSACTION - 1, 'points', { allowNegative: true })).toThrow();
  });
});

describe('requestHash', () => {
  test('ignores key order, at every depth', () => {
    expect(requestHash({ a: 1, b: { c: [1, { d: 2, e: 3 }], f: 'x' } }))
      .toBe(requestHash({ b: { f: 'x', c: [1, { e: 3, d: 2 }] }, a: 1 }));
  });
  test('treats an undefined field as absent', () => {
    expect(requestHash({ a: 1, b: undefined })).toBe(requestHash({ a: 1 }));
  });
  test.each<[unknown, unknown]>([
    [{ amount: '10.00' }, { amount: '10.01' }],
    [{ a: [1, 2] }, { a: [2, 1] }],
    [{ a: 1 }, { a: '1' }],
    [{ a: null }, { a: 'null' }],
    [{ at: new Date('2025-01-01T00:00:00Z') }, { at: new Date('2025-01-01T00:00:00.001Z') }],
  ])('%j and %j differ', (a, b) => {
    expect(requestHash(a)).not.toBe(requestHash(b));
  });
});

describe('transactionStatus', () => {
  const now = at('2025-06-01T00:00:00.000Z');
  test.each([
    ['a cancelled entry', 'CANCELLED', { cancelled: true, points: 10, available_at: now }],
    ['a credit not yet available', 'PENDING', { cancelled: false, points: 10, available_at: at('2025-06-01T00:00:00.001Z') }],
    ['a credit available right now', 'AVAILABLE', { cancelled: false, points: 10, available_at: now }],
    ['a debit', 'AVAILABLE', { cancelled: false, points: -10, available_at: at('2025-07-01T00:00:00.000Z') }],
  ])('%s is %s', (_name, expected, row) => {
    expect(transactionStatus(row, now)).toBe(expected);
  });
});

describe('checkLifetime', () => {
  test.each<[number, number, boolean]>([
    [0, 10_000_000, true],
    [1_990_000_000, 10_000_000, true],
    [1_990_000_001, 10_000_000, false],
    [MAX_LIFETIME_POINTS, 1, false],
  ])('%i earned so far, %i more: allowed %s', (earned, points, allowed) => {
    const check = () => checkLifetime(earned, points);
    if (allowed) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });
});
