import { startTestApp, type TestApp } from '../support/harness';
import { reviewMilestones } from '../../src/tiers/tiers.jobs';

const SET_CLOCK = `mutation($now: DateTime!) { setTestClock(now: $now) }`;
const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
const TIER_SETTINGS = `mutation($input: TierSettingsInput!) { updateTierSettings(input: $input) { qualificationWindow downgradeMode graceMonths freezeExpiryAtRank } }`;
const SET_MILESTONES = `mutation($m: [MilestoneInput!]!) { setMilestones(milestones: $m) { lifetimeQualifyingPoints } }`;
const UPDATE_PROGRAM = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { pointValue } }`;
const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned qualifyingPointsEarned breakdown { source points qualifyingPoints } } }`;
const REFUND = `mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) { pointsReversed } }`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { id points qualifyingPoints } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { points } }`;
const EVALUATE = `mutation { runTierEvaluation }`;
const TIER = `query($id: ID!) { member(id: $id) {
  tier { current { code } since validUntil qualifyingPoints nextTier { code } pointsToNextTier lifetime lifetimeQualifyingPoints
    graceUntil downgradeAt downgradeTo { code } expiryFrozen retention { tier { code } by met pointsNeeded } }
  tierHistory { fromTier toTier reason at validUntil }
  balance { available expired expiringSoon(days: 400) { points expiresAt } }
  bonuses: transactions(types: [BONUS]) { totalCount edges { node { points description } } }
} }`;
const SWITCHING = `query($id: ID!) { member(id: $id) {
  switchingCost { redeemablePoints pendingPoints redeemableValue currency tier { code } tierValidUntil lifetimeStatus earnMultiplier perks rewardCodes
    qualifyingPoints nextTier { code } pointsToNextTier nextTierProgressPercent lifetimeQualifyingPoints nextLifetimeTier { code }
    pointsToLifetimeTier lifetimeProgressPercent streakLength nextMilestone { name } pointsToNextMilestone }
  streak { length currentPeriodActive breaksAt nextBonusAtLength }
} }`;

const LADDER = [
  { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
  { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 1000, earnMultiplier: 1.25, perks: ['Priority support'], rewardCodes: ['SILVER_LOUNGE'] },
  { code: 'GOLD', name: 'Gold', rank: 2, qualifyingPointsRequired: 5000, earnMultiplier: 1.5, perks: ['Priority support', 'Free upgrades'], lifetimeQualifyingPointsRequired: 1_000_000 },
  { code: 'PLATINUM', name: 'Platinum', rank: 3, qualifyingPointsRequired: 0, earnMultiplier: 2, invitationOnly: true },
];

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

async function ok(query: string, variables: Record<string, unknown> = {}) {
  const res = await t.gql(query, variables);
  expect(res.errors).toBeUndefined();
  return res.data as Record<string, any>;
}
const at = (iso: string) => ok(SET_CLOCK, { now: iso });

/** Each test states every programme setting it relies on. */
async function configure(settings: Record<string, unknown> = {}, milestones: unknown[] = [], expiry: Record<string, unknown> = { mode: 'NONE' }) {
  await ok(SET_TIERS, { tiers: LADDER });
  await ok(TIER_SETTINGS, { input: {
    qualificationWindow: 'ROLLING_12_MONTHS', downgradeMode: 'ONE_TIER', graceMonths: 0, streakLength: 0,
    clearFreezeExpiry: settings.freezeExpiryAtRank === undefined, ...settings,
  } });
  await ok(SET_MILESTONES, { m: milestones });
  await ok(UPDATE_PROGRAM, { input: { expiry, pointValue: '0.01' } });
}
let seq = 0;
async function enroll(): Promise<string> {
  return (await ok(ENROLL, { input: { externalId: `tiers-${Date.now()}-${seq++}` } })).enrollMember.id;
}
const buy = (memberId: string, orderId: string, amount: string) => ok(PURCHASE, { input: { memberId, orderId: `${memberId}-${orderId}`, amount, currency: 'USD' } });
const earn = (memberId: string, points: number, key: string) => ok(EARN, { input: { memberId, points, reason: 'test', idempotencyKey: `${memberId}-${key}` } });
const member = async (id: string) => (await ok(TIER, { id })).member;

test('earning into Silver mid-year upgrades at once, valid to the end of next year, and 1.25x applies to the next purchase', async () => {
  await configure();
  await at('2025-06-15T12:00:00Z');
  const id = await enroll();
  await buy(id, 'a', '1000.00');
  const m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'SILVER' }, since: '2025-06-15T12:00:00.000Z', validUntil: '2027-01-01T00:00:00.000Z', qualifyingPoints: 1000, nextTier: { code: 'GOLD' }, pointsToNextTier: 4000 });
  expect(m.tierHistory).toEqual([{ fromTier: 'MEMBER', toTier: 'SILVER', reason: 'UPGRADE', at: '2025-06-15T12:00:00.000Z', validUntil: '2027-01-01T00:00:00.000Z' }]);
  const next = (await buy(id, 'b', '100.00')).recordPurchase;
  expect(next.pointsEarned).toBe(125);
  expect(next.qualifyingPointsEarned).toBe(100);
  expect(next.breakdown).toEqual([
    { source: 'BASE', points: 100, qualifyingPoints: 100 },
    { source: 'TIER_MULTIPLIER', points: 25, qualifyingPoints: 0 },
  ]);
});

test('spend and purchase-count thresholds: the purchase that meets them upgrades at once; orders outside the window do not count', async () => {
  await configure();
  await ok(SET_TIERS, { tiers: [
    LADDER[0],
    { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 1, qualifyingSpendRequired: '250.00', qualifyingPurchasesRequired: 3, thresholdMatch: 'ALL', earnMultiplier: 1.25 },
  ] });
  await at('2025-06-15T12:00:00Z');
  const id = await enroll();
  // Thirteen months back: outside the rolling window.
  await ok(PURCHASE, { input: { memberId: id, orderId: `${id}-old`, amount: '500.00', currency: 'USD', occurredAt: '2024-05-01T00:00:00Z' } });
  await buy(id, 'a', '200.00');
  // Earns no points, but is a purchase with spend.
  expect((await buy(id, 'b', '0.50')).recordPurchase.pointsEarned).toBe(0);
  expect((await member(id)).tier.current.code).toBe('MEMBER');
  await at('2025-06-15T13:00:00Z');
  const third = (await buy(id, 'c', '60.00')).recordPurchase;
  // The purchase that qualifies earns at the tier held when it was made.
  expect(third).toMatchObject({ pointsEarned: 60, qualifyingPointsEarned: 60 });
  const m = await member(id);
  expect(m.tier.current.code).toBe('SILVER');
  expect(m.tierHistory).toEqual([{ fromTier: 'MEMBER', toTier: 'SILVER', reason: 'UPGRADE', at: '2025-06-15T13:00:00.000Z', validUntil: '2027-01-01T00:00:00.000Z' }]);
  expect((await buy(id, 'd', '100.00')).recordPurchase.pointsEarned).toBe(125);
});

test('an idle year drops one tier at the period end', async () => {
  await configure({ downgradeMode: 'ONE_TIER' });
  await at('2025-03-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 5000, 'e1');
  expect((await member(id)).tier).toMatchObject({ current: { code: 'GOLD' }, validUntil: '2027-01-01T00:00:00.000Z' });
  await at('2026-12-31T23:59:59Z');
  expect((await member(id)).tier).toMatchObject({
    current: { code: 'GOLD' }, downgradeAt: '2027-01-01T00:00:00.000Z', downgradeTo: { code: 'SILVER' },
    retention: { tier: { code: 'GOLD' }, by: '2027-01-01T00:00:00.000Z', met: false, pointsNeeded: 5000 },
  });
  await at('2027-01-01T00:00:00Z');
  // The read already shows what the evaluation will write.
  expect((await member(id)).tier.current.code).toBe('SILVER');
  // Two instances evaluating at once change the member once.
  const runs = await Promise.all([ok(EVALUATE), ok(EVALUATE)]);
  expect(runs.map((r) => r.runTierEvaluation).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  const m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'SILVER' }, since: '2027-01-01T00:00:00.000Z', validUntil: '2028-01-01T00:00:00.000Z' });
  expect(m.tierHistory[0]).toMatchObject({ fromTier: 'GOLD', toTier: 'SILVER', reason: 'DOWNGRADE', at: '2027-01-01T00:00:00.000Z' });
  await ok(EVALUATE);
  expect((await member(id)).tierHistory).toHaveLength(2);
});

test('with TO_QUALIFIED an idle year drops straight to the qualified tier', async () => {
  await configure({ downgradeMode: 'TO_QUALIFIED' });
  await at('2025-03-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 5000, 'e1');
  await at('2027-01-01T00:00:00Z');
  await ok(EVALUATE);
  const m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'MEMBER' }, validUntil: null });
  expect(m.tierHistory[0]).toMatchObject({ fromTier: 'GOLD', toTier: 'MEMBER', reason: 'DOWNGRADE' });
});

test('with a 3-month grace the drop happens only after the grace', async () => {
  await configure({ downgradeMode: 'ONE_TIER', graceMonths: 3 });
  await at('2025-03-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 5000, 'e1');
  await at('2027-01-01T00:00:00Z');
  await ok(EVALUATE);
  expect((await member(id)).tier).toMatchObject({ current: { code: 'GOLD' }, graceUntil: '2027-04-01T00:00:00.000Z', downgradeAt: '2027-04-01T00:00:00.000Z' });
  await at('2027-03-31T23:59:59Z');
  await ok(EVALUATE);
  expect((await member(id)).tier.current.code).toBe('GOLD');
  await at('2027-04-01T00:00:00Z');
  await ok(EVALUATE);
  const m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'SILVER' }, graceUntil: null, validUntil: '2028-01-01T00:00:00.000Z' });
  expect(m.tierHistory.map((h: { reason: string }) => h.reason)).toEqual(['DOWNGRADE', 'GRACE_STARTED', 'UPGRADE']);
});

test('rolling window: qualifying points stop counting exactly 12 months after they were earned', async () => {
  await configure({ qualificationWindow: 'ROLLING_12_MONTHS' });
  await at('2025-03-15T10:00:00Z');
  const id = await enroll();
  await earn(id, 600, 'e1');
  await at('2025-09-01T00:00:00Z');
  await earn(id, 300, 'e2');
  await at('2026-03-15T09:59:59.999Z');
  expect((await member(id)).tier).toMatchObject({ qualifyingPoints: 900, pointsToNextTier: 100 });
  await at('2026-03-15T10:00:00Z');
  expect((await member(id)).tier).toMatchObject({ qualifyingPoints: 300, pointsToNextTier: 700 });
});

test('lifetime status survives an idle year and the milestone bonus is credited once', async () => {
  await configure({}, [{ lifetimeQualifyingPoints: 1_000_000, name: 'One million', bonusPoints: 10_000 }]);
  await at('2025-02-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 1_000_000, 'big');
  let m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'GOLD' }, lifetime: true, validUntil: null, lifetimeQualifyingPoints: 1_000_000 });
  expect(m.tierHistory[0]).toMatchObject({ toTier: 'GOLD', reason: 'LIFETIME' });
  await at('2027-06-01T00:00:00Z');
  await ok(EVALUATE);
  await ok(EVALUATE);
  m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'GOLD' }, lifetime: true, downgradeAt: null });
  expect(m.bonuses.totalCount).toBe(1);
  expect(m.bonuses.edges[0].node).toEqual({ points: 10_000, description: 'Milestone bonus: One million' });
  expect(m.balance.available).toBe(1_010_000);
});

test('a milestone configured after a member passed it is credited by the evaluation, once', async () => {
  await configure();
  await at('2025-02-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 700, 'e1');
  await ok(SET_MILESTONES, { m: [{ lifetimeQualifyingPoints: 500, name: 'First 500', bonusPoints: 50 }] });
  await ok(EVALUATE);
  await ok(EVALUATE);
  const m = await member(id);
  expect(m.bonuses.totalCount).toBe(1);
  expect(m.balance.available).toBe(750);
  await ok(SET_MILESTONES, { m: [] });
});

test('after a milestone change the review credits owed members a batch per pass, from where it stopped; a change meanwhile starts it over', async () => {
  await configure();
  await at('2025-03-01T00:00:00Z');
  const now = new Date('2025-03-01T00:00:00Z');
  const ids = [await enroll(), await enroll(), await enroll()];
  for (const [i, id] of ids.entries()) await earn(id, 700, `r${i}`);
  const review = () => t.database.db.selectFrom('milestone_review').selectAll().executeTakeFirstOrThrow();
  const passesUntilReviewed = async () => {
    let passes = 0;
    for (; ; passes++) {
      const state = await review();
      if (state.reviewed_version === state.version) return passes;
      if (passes > 1000) throw new Error('the review never finished');
      await reviewMilestones(t.database.db, now, { batchSize: 1, budget: 1 });
    }
  };
  await passesUntilReviewed(); // configure() replaced the milestones (with none): one pass, no member read
  expect(await passesUntilReviewed()).toBe(0);

  await ok(SET_MILESTONES, { m: [{ lifetimeQualifyingPoints: 500, name: 'First 500', bonusPoints: 50 }] });
  await reviewMilestones(t.database.db, now, { batchSize: 1, budget: 1 });
  const partway = await review();
  expect(partway.reviewed_version).toBeLessThan(partway.version);
  expect(partway.review_after).not.toBeNull();

  // Changed before the review finished: the new milestones are reviewed from the first member.
  await ok(SET_MILESTONES, { m: [
    { lifetimeQualifyingPoints: 500, name: 'First 500', bonusPoints: 50 },
    { lifetimeQualifyingPoints: 600, name: 'First 600', bonusPoints: 60 },
  ] });
  expect(await review()).toMatchObject({ version: partway.version + 1, review_after: null });
  expect(await passesUntilReviewed()).toBeGreaterThan(1);
  for (const id of ids) {
    const m = await member(id);
    expect(m.bonuses.edges.map((e: { node: { description: string } }) => e.node.description).sort()).toEqual(['Milestone bonus: First 500', 'Milestone bonus: First 600']);
    expect(m.balance.available).toBe(810);
  }
  // Reviewed: a further evaluation credits nothing twice.
  await ok(EVALUATE);
  for (const id of ids) expect((await member(id)).bonuses.totalCount).toBe(2);
  await ok(SET_MILESTONES, { m: [] });
  expect(await passesUntilReviewed()).toBe(1);
});

test('status freeze: a Gold member keeps points past their date; after losing Gold the expiry clock runs', async () => {
  await configure({ freezeExpiryAtRank: 2, downgradeMode: 'TO_QUALIFIED' }, [], { mode: 'FIXED', months: 12 });
  await at('2025-01-10T00:00:00Z');
  const id = await enroll();
  await earn(id, 5000, 'e1');
  await at('2026-06-01T00:00:00Z');
  let m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'GOLD' }, expiryFrozen: true });
  expect(m.balance).toMatchObject({ available: 5000, expired: 0 });
  // Gold lapses at 2027-01-01 after an idle 2026; lots overdue since 2026-01-10 restart from then.
  await at('2027-01-01T00:00:00Z');
  m = await member(id);
  expect(m.balance).toMatchObject({ available: 5000, expired: 0 });
  await ok(EVALUATE);
  m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'MEMBER' }, expiryFrozen: false });
  expect(m.balance).toMatchObject({ available: 5000, expired: 0, expiringSoon: [{ points: 5000, expiresAt: '2028-01-01T00:00:00.000Z' }] });
  await at('2028-01-01T00:00:00Z');
  m = await member(id);
  expect(m.balance).toMatchObject({ available: 0, expired: 5000 });
});

test('refunding the purchase an upgrade rested on undoes it; multiplied points already earned are kept', async () => {
  await configure();
  await at('2025-05-01T00:00:00Z');
  const id = await enroll();
  await buy(id, 'a', '600.00');
  await buy(id, 'b', '500.00');
  expect((await member(id)).tier.current.code).toBe('SILVER');
  await at('2025-05-02T00:00:00Z');
  expect((await buy(id, 'c', '100.00')).recordPurchase.pointsEarned).toBe(125);
  await at('2025-05-03T00:00:00Z');
  await ok(REFUND, { input: { orderId: `${id}-b`, refundId: `${id}-rb`, amount: '500.00' } });
  const m = await member(id);
  expect(m.tier).toMatchObject({ current: { code: 'MEMBER' }, qualifyingPoints: 700, validUntil: null, pointsToNextTier: 300 });
  expect(m.tierHistory[0]).toMatchObject({ fromTier: 'SILVER', toTier: 'MEMBER', reason: 'REFUND_REVERSAL', at: '2025-05-03T00:00:00.000Z' });
  expect(m.balance.available).toBe(600 + 125);
});

test('a refund that leaves the threshold met keeps the upgrade', async () => {
  await configure();
  await at('2025-05-01T00:00:00Z');
  const id = await enroll();
  await buy(id, 'a', '900.00');
  await buy(id, 'b', '300.00');
  await ok(REFUND, { input: { orderId: `${id}-b`, refundId: `${id}-rb`, amount: '100.00' } });
  expect((await member(id)).tier).toMatchObject({ current: { code: 'SILVER' }, qualifyingPoints: 1100 });
});

test('a refund counts in the window of the purchase it refunds, not its own', async () => {
  await configure();
  await at('2024-03-01T00:00:00Z');
  const id = await enroll();
  await buy(id, 'a', '800.00');
  await at('2025-02-01T00:00:00Z');
  await buy(id, 'b', '300.00');
  // a's points left the rolling window on 2025-03-01; its refund, dated inside it, leaves with them.
  await at('2025-04-01T00:00:00Z');
  expect((await ok(REFUND, { input: { orderId: `${id}-a`, refundId: `${id}-ra`, amount: '400.00' } })).refundPurchase.pointsReversed).toBe(400);
  expect((await member(id)).tier).toMatchObject({ current: { code: 'MEMBER' }, qualifyingPoints: 300 });
  await ok(REFUND, { input: { orderId: `${id}-b`, refundId: `${id}-rb`, amount: '100.00' } });
  expect((await member(id)).tier).toMatchObject({ current: { code: 'MEMBER' }, qualifyingPoints: 200, pointsToNextTier: 800 });
  // The purchase's own reading of the figures agrees: 200 + 800 reaches Silver.
  expect((await buy(id, 'c', '800.00')).recordPurchase.pointsEarned).toBe(800);
  expect((await member(id)).tier).toMatchObject({ current: { code: 'SILVER' }, qualifyingPoints: 1000, since: '2025-04-01T00:00:00.000Z' });
});

test('switchingCost matches a hand-computed example', async () => {
  await configure({}, [{ lifetimeQualifyingPoints: 10_000, name: 'Ten thousand', bonusPoints: 1000 }]);
  await ok(UPDATE_PROGRAM, { input: { pointValue: '0.0125' } });
  await at('2025-04-01T00:00:00Z');
  const id = await enroll();
  await buy(id, 'a', '2000.00'); // 2000 points (Member x1), 2000 qualifying -> Silver
  await at('2025-05-10T00:00:00Z');
  await buy(id, 'b', '400.00'); // 400 x 1.25 = 500 points, 400 qualifying
  await ok(REDEEM, { input: { memberId: id, points: 300, idempotencyKey: `${id}-r` } });
  const { switchingCost, streak } = (await ok(SWITCHING, { id })).member;
  // available 2000 + 500 - 300 = 2200; 2200 x 0.0125 = 27.50
  expect(switchingCost).toEqual({
    redeemablePoints: 2200, pendingPoints: 0, redeemableValue: '27.50', currency: 'USD',
    tier: { code: 'SILVER' }, tierValidUntil: '2027-01-01T00:00:00.000Z', lifetimeStatus: false, earnMultiplier: 1.25,
    perks: ['Priority support'], rewardCodes: ['SILVER_LOUNGE'],
    qualifyingPoints: 2400, nextTier: { code: 'GOLD' }, pointsToNextTier: 2600, nextTierProgressPercent: 48,
    lifetimeQualifyingPoints: 2400, nextLifetimeTier: { code: 'GOLD' }, pointsToLifetimeTier: 997_600, lifetimeProgressPercent: 0,
    streakLength: 2, nextMilestone: { name: 'Ten thousand' }, pointsToNextMilestone: 7600,
  });
  expect(streak).toEqual({ length: 2, currentPeriodActive: true, breaksAt: '2025-07-01T00:00:00.000Z', nextBonusAtLength: null });
});

test('a streak of 3 active months credits its bonus once', async () => {
  await configure({ streakPeriod: 'MONTH', streakLength: 3, streakBonusPoints: 100 });
  const id = await enroll();
  for (const [i, day] of ['2025-01-15', '2025-02-15', '2025-03-15'].entries()) {
    await at(`${day}T00:00:00Z`);
    await earn(id, 10, `s${i}`);
  }
  await ok(EVALUATE);
  await ok(EVALUATE);
  const m = await member(id);
  expect(m.bonuses.totalCount).toBe(1);
  expect(m.bonuses.edges[0].node.points).toBe(100);
  await at('2025-04-20T00:00:00Z');
  const { streak } = (await ok(SWITCHING, { id })).member;
  expect(streak).toEqual({ length: 3, currentPeriodActive: false, breaksAt: '2025-05-01T00:00:00.000Z', nextBonusAtLength: 6 });
});

test('an assigned invitation-only tier is a floor until its end date', async () => {
  await configure();
  await at('2025-01-01T00:00:00Z');
  const id = await enroll();
  await earn(id, 1200, 'e1');
  const assigned = await t.gql(`mutation($input: AssignTierInput!) { assignTier(input: $input) { tier { current { code } validUntil earnedTier { code } } } }`,
    { input: { memberId: id, tierCode: 'PLATINUM', until: '2025-07-01T00:00:00Z', reason: 'Invitation' } });
  expect(assigned.errors).toBeUndefined();
  expect(assigned.data!.assignTier.tier).toEqual({ current: { code: 'PLATINUM' }, validUntil: '2025-07-01T00:00:00.000Z', earnedTier: { code: 'SILVER' } });
  await at('2025-07-01T00:00:00Z');
  await ok(EVALUATE);
  const m = await member(id);
  expect(m.tier.current.code).toBe('SILVER');
  expect(m.tierHistory.slice(0, 2).map((h: { reason: string }) => h.reason)).toEqual(['ASSIGNMENT_ENDED', 'ASSIGNED']);
});

test('only ADMIN runs the evaluation or assigns tiers', async () => {
  const partner = await t.partnerToken('p1', { sub: 'p' });
  const res = await t.gql(EVALUATE, {}, partner);
  expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
});
