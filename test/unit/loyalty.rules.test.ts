import {
  averageGapDays, churnReasons, churnRiskAt, churnThresholds, health, highestReached, ladderTimeline, npsCategory, npsScore, rfmScore,
  rfmSegment, share, stageAt, summaryAnswers, topBuyerCount, usualGap,
} from '../../src/insights/loyalty.rules';

const at = (iso: string) => new Date(iso);

describe('NPS', () => {
  test.each([
    [0, 'DETRACTOR'], [6, 'DETRACTOR'], [7, 'PASSIVE'], [8, 'PASSIVE'], [9, 'PROMOTER'], [10, 'PROMOTER'],
  ])('a score of %i is %s', (score, category) => {
    expect(npsCategory(score)).toBe(category);
  });

  test.each([
    [5, 2, 10, 30], [0, 0, 0, null], [0, 3, 3, -100], [3, 0, 3, 100], [6, 2, 11, 36.4], [1, 1, 3, 0],
  ])('%i promoters and %i detractors of %i answers score %p', (promoters, detractors, responses, score) => {
    expect(npsScore(promoters, detractors, responses)).toBe(score);
  });
});

describe('Pareto and shares', () => {
  test.each([[0, 0], [1, 1], [5, 1], [6, 2], [10, 2], [11, 3]])('the top 20 %% of %i buyers is %i', (buyers, top) => {
    expect(topBuyerCount(buyers)).toBe(top);
  });
  test.each([[1, 3, 0.3333], [0, 5, 0], [2, 0, null], [1500, 2300, 0.6522]])('%i of %i is %p', (part, whole, expected) => {
    expect(share(part, whole)).toBe(expected);
  });
});

describe('the loyalty ladder', () => {
  const none = { purchaseTimes: [], firstEngagement: null, firstRewardedReferral: null, latestAnswer: null };
  const jan = at('2025-01-10T00:00:00Z');
  const feb = at('2025-02-10T00:00:00Z');
  const mar = at('2025-03-10T00:00:00Z');
  const now = at('2025-06-01T00:00:00Z');

  test.each([
    ['nothing at all', none, 'SUSPECT'],
    ['engaged only', { ...none, firstEngagement: jan }, 'PROSPECT'],
    ['one purchase', { ...none, purchaseTimes: [jan] }, 'FIRST_TIME'],
    ['one purchase and a promoter answer', { ...none, purchaseTimes: [jan], latestAnswer: { score: 10, at: feb } }, 'FIRST_TIME'],
    ['two purchases', { ...none, purchaseTimes: [jan, feb] }, 'REPEAT'],
    ['two purchases, latest answer passive', { ...none, purchaseTimes: [jan, feb], latestAnswer: { score: 8, at: mar } }, 'REPEAT'],
    ['two purchases, latest answer 9', { ...none, purchaseTimes: [jan, feb], latestAnswer: { score: 9, at: mar } }, 'ADVOCATE'],
    ['two purchases and a rewarded referral', { ...none, purchaseTimes: [jan, feb], firstRewardedReferral: jan }, 'ADVOCATE'],
  ] as const)('%s: %s', (_name, facts, stage) => {
    expect(stageAt(ladderTimeline(facts as Parameters<typeof ladderTimeline>[0]), now)).toBe(stage);
  });

  test('a stage is read as of an instant: advocacy counts from the later of the second purchase and the answer', () => {
    const timeline = ladderTimeline({ purchaseTimes: [jan, mar], firstEngagement: null, firstRewardedReferral: null, latestAnswer: { score: 10, at: feb } });
    expect(timeline).toEqual({ prospectAt: null, firstTimeAt: jan, repeatAt: mar, advocateAt: mar });
    expect(stageAt(timeline, at('2025-01-01T00:00:00Z'))).toBe('SUSPECT');
    expect(stageAt(timeline, feb)).toBe('FIRST_TIME');
    expect(stageAt(timeline, mar)).toBe('ADVOCATE');
  });

  test.each([
    [{ prospect: false, firstTime: false, repeat: false, advocate: false }, 'SUSPECT'],
    [{ prospect: true, firstTime: false, repeat: false, advocate: false }, 'PROSPECT'],
    [{ prospect: true, firstTime: true, repeat: false, advocate: false }, 'FIRST_TIME'],
    [{ prospect: false, firstTime: true, repeat: true, advocate: false }, 'REPEAT'],
    [{ prospect: false, firstTime: true, repeat: true, advocate: true }, 'ADVOCATE'],
  ])('rungs reached %o: %s', (reached, stage) => {
    expect(highestReached(reached)).toBe(stage);
  });
});

describe('churn risk', () => {
  const last = at('2025-03-01T00:00:00Z');
  const days = (n: number) => new Date(last.getTime() + n * 86_400_000);

  test.each([
    [3, 10, 30, { days: 10, own: true }],
    [1, null, 30, { days: 30, own: false }],
    [2, 0, 30, { days: 7, own: true }],
    [4, 0.2, 30, { days: 7, own: true }],
    [1, null, 2, { days: 7, own: false }],
    [1, null, null, null],
  ])('%i purchases, own gap %p, programme median %p: measured against %o', (purchases, own, median, expected) => {
    expect(usualGap(purchases, own, median)).toEqual(expected);
  });

  test.each([
    [10, 'LOW'], [15, 'LOW'], [15.5, 'MEDIUM'], [30, 'MEDIUM'], [30.5, 'HIGH'], [90, 'HIGH'],
  ])('%p days after the last purchase with a 10-day gap: %s', (elapsed, risk) => {
    expect(churnRiskAt(churnThresholds(last, { days: 10, own: true }), days(elapsed))).toBe(risk);
  });

  test('no purchase, or no gap to measure by, is LOW', () => {
    expect(churnRiskAt(churnThresholds(null, { days: 10, own: true }), days(400))).toBe('LOW');
    expect(churnRiskAt(churnThresholds(last, null), days(400))).toBe('LOW');
  });

  test('average gap: first to last over the gaps between them', () => {
    expect(averageGapDays(3, at('2025-01-01T00:00:00Z'), at('2025-01-21T00:00:00Z'))).toBe(10);
    expect(averageGapDays(1, last, last)).toBeNull();
  });

  test.each([
    [{ risk: 'LOW', purchases: 0, daysSinceLast: null, gap: null, latestScore: null, complaintsOpen: 0 }, ['No purchase yet']],
    [{ risk: 'LOW', purchases: 3, daysSinceLast: 5, gap: { days: 10, own: true }, latestScore: null, complaintsOpen: 0 },
      ['Last purchase 5 days ago, within the usual gap of 10 days (its own average)']],
    [{ risk: 'HIGH', purchases: 1, daysSinceLast: 100, gap: { days: 30, own: false }, latestScore: 4, complaintsOpen: 1 }, [
      "No purchase for 100 days: 3.3× the usual gap of 30 days (the programme's median)", 'Bought only once', 'Latest NPS answer 4 (detractor)', '1 complaint open',
    ]],
    [{ risk: 'LOW', purchases: 1, daysSinceLast: 1, gap: null, latestScore: null, complaintsOpen: 0 }, ['Last purchase 1 day ago; no usual gap to compare with yet']],
  ] as const)('reasons for %o', (input, reasons) => {
    expect(churnReasons(input as Parameters<typeof churnReasons>[0])).toEqual(reasons);
  });
});

describe('health', () => {
  test.each([
    [{ purchases: 3, risk: 'LOW', latestScore: null, complaintsOpen: 0, complaintsPastSla: 0 }, 'GOOD'],
    [{ purchases: 3, risk: 'LOW', latestScore: 3, complaintsOpen: 0, complaintsPastSla: 0 }, 'AVERAGE'],
    [{ purchases: 3, risk: 'MEDIUM', latestScore: 10, complaintsOpen: 0, complaintsPastSla: 0 }, 'GOOD'],
    [{ purchases: 3, risk: 'MEDIUM', latestScore: null, complaintsOpen: 0, complaintsPastSla: 0 }, 'AVERAGE'],
    [{ purchases: 3, risk: 'HIGH', latestScore: 10, complaintsOpen: 0, complaintsPastSla: 0 }, 'AVERAGE'],
    [{ purchases: 3, risk: 'HIGH', latestScore: null, complaintsOpen: 0, complaintsPastSla: 0 }, 'POOR'],
    [{ purchases: 0, risk: 'LOW', latestScore: null, complaintsOpen: 0, complaintsPastSla: 0 }, 'AVERAGE'],
    [{ purchases: 3, risk: 'LOW', latestScore: null, complaintsOpen: 1, complaintsPastSla: 0 }, 'AVERAGE'],
    [{ purchases: 3, risk: 'LOW', latestScore: null, complaintsOpen: 1, complaintsPastSla: 1 }, 'POOR'],
  ] as const)('%o is %s', (input, expected) => {
    expect(health(input)).toBe(expected);
  });
});

describe('RFM', () => {
  const breaks = { recency: [10, 30, 60, 120], frequency: [1, 2, 4, 8], monetary: [50, 100, 200, 500] };
  test.each([
    [{ recencyDays: 3, frequency: 12, monetary: 900 }, { recency: 5, frequency: 5, monetary: 5, segment: 'Champions' }],
    [{ recencyDays: 200, frequency: 1, monetary: 20 }, { recency: 1, frequency: 1, monetary: 1, segment: 'Lost' }],
    [{ recencyDays: 30, frequency: 2, monetary: 100 }, { recency: 4, frequency: 2, monetary: 2, segment: 'Potential loyalists' }],
    [{ recencyDays: 150, frequency: 9, monetary: 600 }, { recency: 1, frequency: 5, monetary: 5, segment: "Can't lose them" }],
  ])('%o scores %o', (measure, expected) => {
    expect(rfmScore(measure, breaks)).toEqual(expected);
  });

  test.each([
    [5, 5, 5, 'Champions'], [4, 4, 4, 'Champions'], [3, 5, 2, 'Loyal'], [1, 4, 4, "Can't lose them"], [1, 4, 2, 'At risk'], [2, 3, 3, 'At risk'],
    [5, 2, 1, 'Potential loyalists'], [5, 1, 1, 'New'], [4, 1, 3, 'Promising'], [3, 3, 3, 'Need attention'], [3, 1, 1, 'About to sleep'],
    [2, 2, 2, 'Hibernating'], [2, 1, 5, 'Hibernating'], [1, 1, 1, 'Lost'], [1, 2, 5, 'Lost'],
  ])('R%i F%i M%i is %s', (r, f, m, segment) => {
    expect(rfmSegment(r, f, m)).toBe(segment);
  });

  test('with no buyers to compare with (a summary older than the first purchase), every measure scores 1', () => {
    expect(rfmScore({ recencyDays: 0, frequency: 1, monetary: 10 }, { recency: [], frequency: [], monetary: [] })).toMatchObject({ recency: 1, frequency: 1, monetary: 1 });
  });
});

describe('which buyer figures the loyalty summary answers', () => {
  const DAY = 86_400_000;
  const now = at('2026-06-01T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const refreshed = ago(10 * 60_000);
  const year = (to: Date) => ({ from: new Date(to.getTime() - 365 * DAY), to });
  const baseOf = (range: { from: Date }) => year(range.from);
  test.each([
    ['the year up to now, base the year before', year(now), 'prior', refreshed, { buyers: true, retention: true }],
    ['the year up to now, no base', year(now), null, refreshed, { buyers: true, retention: false }],
    ['the year up to the refresh itself', year(refreshed), 'prior', refreshed, { buyers: true, retention: true }],
    ['ending a minute ahead of the clock', year(new Date(now.getTime() + 60_000)), 'prior', refreshed, { buyers: true, retention: true }],
    ['ending two minutes ahead of the clock', year(new Date(now.getTime() + 120_000)), 'prior', refreshed, { buyers: false, retention: false }],
    ['ending before the refresh', year(ago(11 * 60_000)), 'prior', refreshed, { buyers: false, retention: false }],
    ['a summary over an hour old', year(now), 'prior', ago(3_600_001), { buyers: false, retention: false }],
    ['a summary exactly an hour old', year(now), 'prior', ago(3_600_000), { buyers: true, retention: true }],
    ['no summary yet', year(now), 'prior', null, { buyers: false, retention: false }],
    ['366 days', { from: ago(366 * DAY), to: now }, null, refreshed, { buyers: false, retention: false }],
    ['a calendar month', { from: ago(30 * DAY), to: now }, null, refreshed, { buyers: false, retention: false }],
    ['a base that is not the year before', year(now), 'shifted', refreshed, { buyers: true, retention: false }],
  ] as const)('%s', (_name, range, base, refreshedAt, expected) => {
    const baseRange = base === 'prior' ? baseOf(range) : base === 'shifted' ? year(new Date(range.from.getTime() - DAY)) : null;
    expect(summaryAnswers({ range, base: baseRange, refreshedAt, now })).toEqual(expected);
  });
});
