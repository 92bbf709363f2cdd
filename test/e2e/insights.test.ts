/**
 * Loyalty insights and feedback over HTTP, against hand-computed fixtures: NPS of ten answers,
 * retention of a known cohort, the Pareto share of a known spend list, one member on each rung
 * of the ladder (now and as of an earlier instant), churn risk from a member's own gap on the
 * test clock, complaint figures, points issued, redeemed and expired with the liability, and
 * goodwill points credited once. Each group of members carries a tag of its own, and the
 * programme figures are narrowed to it, so the groups do not count each other.
 */
import { randomUUID } from 'node:crypto';
import { type TestApp, startTestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, PURCHASE, REFUND, STATEMENT, balance, errorCode, expectLedgerTrue, key, ok, redeem, setClock, updateProgram,
} from './ledger-fixtures';
import { serverTest } from '../support/on-server';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await updateProgram(t, { ...DEFAULT_PROGRAM, pointValue: '0.01' });
});
afterAll(async () => { await t.close(); });

const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
const TAGS = `mutation($memberId: ID!, $tags: [String!]!) { setMemberTags(memberId: $memberId, tags: $tags) { id } }`;
const ANSWER = `mutation($input: SurveyResponseInput!) { submitSurveyResponse(input: $input) { id memberId score category comment channel createdAt } }`;
const COMPLAIN = `mutation($input: ComplaintInput!) { fileComplaint(input: $input) { id memberId category description channel status goodwillPoints createdAt } }`;
const RESOLVE = `mutation($input: ResolveComplaintInput!) { resolveComplaint(input: $input) {
  id status resolution goodwillPoints goodwillTransactionId resolvedAt pastSla } }`;
const LOYALTY = `query($id: ID!) { member(id: $id) { loyalty {
  recencyDays frequency monetary rfm { recency frequency monetary segment } purchaseCount repeatPurchases avgDaysBetweenPurchases
  channels referralsMade complaintsFiled complaintsOpen lastNps npsCategory stage health churnRisk churnReasons asOf } } }`;
const MAINTENANCE = `mutation { runMaintenance { loyaltyRefreshed } }`;
const INSIGHTS = `query($from: DateTime!, $to: DateTime!, $baseFrom: DateTime, $baseTo: DateTime, $tag: String, $tier: String) {
  programInsights(from: $from, to: $to, baseFrom: $baseFrom, baseTo: $baseTo, tag: $tag, tier: $tier) {
    nps { score responses promoters passives detractors monthly { month score responses } }
    retention { baseActive retained rate } repeatPurchaseRate pareto { buyers topBuyers topShare revenue }
    membersByTier { key count } membersByStage { key count } churnRisk { key count } atRisk(first: 5) { id }
    complaints { filed resolved open medianHoursToResolve p90HoursToResolve resolvedWithinSla }
    points { issued redeemed expired outstanding liabilityValue breakageRate } asOf } }`;

/** A member enrolled with `tag`. */
async function member(tag: string): Promise<string> {
  const id = ok(await t.gql(ENROLL, { input: { externalId: `insights-${randomUUID()}` } })).enrollMember.id as string;
  ok(await t.gql(TAGS, { memberId: id, tags: [tag] }));
  return id;
}

async function buy(memberId: string, amount: string, occurredAt?: string, channel?: string): Promise<string> {
  const orderId = key('order');
  ok(await t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD', ...(occurredAt ? { occurredAt } : {}), ...(channel ? { channel } : {}) } }));
  return orderId;
}

async function answer(memberId: string, score: number, extra: Record<string, unknown> = {}) {
  return ok(await t.gql(ANSWER, { input: { memberId, score, idempotencyKey: key('nps'), ...extra } })).submitSurveyResponse;
}

async function complain(memberId: string, category = 'delivery') {
  return ok(await t.gql(COMPLAIN, { input: { memberId, category, description: 'The parcel came late', idempotencyKey: key('complaint') } })).fileComplaint;
}

async function loyalty(memberId: string) {
  return ok(await t.gql(LOYALTY, { id: memberId })).member.loyalty;
}

async function pointsByMonth(vars: Record<string, unknown>) {
  const query = `query($from: DateTime!, $to: DateTime!, $tag: String) { programInsights(from: $from, to: $to, tag: $tag) {
    pointsByMonth { month issued redeemed expired outstanding } } }`;
  return ok(await t.gql(query, vars)).programInsights.pointsByMonth;
}

async function insights(vars: Record<string, unknown>) {
  return ok(await t.gql(INSIGHTS, vars)).programInsights;
}

const counts = (list: { key: string; count: number }[]) => Object.fromEntries(list.map((c) => [c.key, c.count]));

describe('feedback', () => {
  test('an answer is categorised and kept once per key; a MEMBER answers for itself only; bad input changes nothing', async () => {
    await setClock(t, '2025-06-01T09:00:00Z');
    const id = await member('feedback');
    const other = await member('feedback');
    const input = { memberId: id, score: 9, comment: '  Great app  ', channel: 'Email', idempotencyKey: 'nps-1' };
    const first = ok(await t.gql(ANSWER, { input })).submitSurveyResponse;
    expect(first).toMatchObject({ memberId: id, score: 9, category: 'PROMOTER', comment: 'Great app', channel: 'email', createdAt: '2025-06-01T09:00:00.000Z' });
    expect(ok(await t.gql(ANSWER, { input })).submitSurveyResponse.id).toBe(first.id);
    expect(errorCode(await t.gql(ANSWER, { input: { ...input, score: 3 } }))).toBe('IDEMPOTENCY_CONFLICT');

    const self = t.token({ role: 'MEMBER', sub: 'm', memberId: id });
    await setClock(t, '2025-06-01T09:05:00Z');
    expect(ok(await t.gql(ANSWER, { input: { memberId: id, score: 7, idempotencyKey: 'mine' } }, self)).submitSurveyResponse.category).toBe('PASSIVE');
    expect(errorCode(await t.gql(ANSWER, { input: { memberId: other, score: 7, idempotencyKey: 'theirs' } }, self))).toBe('FORBIDDEN');
    for (const score of [-1, 11]) {
      expect(errorCode(await t.gql(ANSWER, { input: { memberId: id, score, idempotencyKey: key() } }))).toBe('BAD_USER_INPUT');
    }
    expect(errorCode(await t.gql(ANSWER, { input: { memberId: id, score: 5, channel: 'e\u202email', idempotencyKey: key() } }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(ANSWER, { input: { memberId: randomUUID(), score: 5, idempotencyKey: key() } }))).toBe('NOT_FOUND');
    const listed = ok(await t.gql(`query($id: ID!) { member(id: $id) { surveyResponses { score } } }`, { id })).member.surveyResponses;
    expect(listed).toEqual([{ score: 7 }, { score: 9 }]);
  });

  test('a complaint is filed once per key, listed by status, and a PARTNER sees only what it filed', async () => {
    await setClock(t, '2025-06-01T09:00:00Z');
    const id = await member('feedback');
    const input = { memberId: id, category: 'Billing', description: 'Charged twice', channel: 'phone', idempotencyKey: 'c-1' };
    const filed = ok(await t.gql(COMPLAIN, { input })).fileComplaint;
    expect(filed).toMatchObject({ category: 'billing', status: 'OPEN', goodwillPoints: 0, channel: 'phone' });
    expect(ok(await t.gql(COMPLAIN, { input })).fileComplaint.id).toBe(filed.id);
    expect(errorCode(await t.gql(COMPLAIN, { input: { ...input, description: 'Other' } }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(errorCode(await t.gql(COMPLAIN, { input: { ...input, description: '   ', idempotencyKey: key() } }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(COMPLAIN, { input: { ...input, description: 'x'.repeat(4001), idempotencyKey: key() } }))).toBe('BAD_USER_INPUT');

    const partner = await t.partnerToken('insights-hotel');
    await setClock(t, '2025-06-01T09:05:00Z');
    ok(await t.gql(COMPLAIN, { input: { memberId: id, category: 'stay', description: 'Noisy room', idempotencyKey: 'p-1' } }, partner));
    const LIST = `query($id: ID!) { member(id: $id) { complaints { category } } }`;
    expect(ok(await t.gql(LIST, { id })).member.complaints.map((c: { category: string }) => c.category)).toEqual(['stay', 'billing']);
    expect(ok(await t.gql(LIST, { id }, partner)).member.complaints.map((c: { category: string }) => c.category)).toEqual(['stay']);
    const open = ok(await t.gql(`{ complaints(status: OPEN, first: 100) { id } }`)).complaints.map((c: { id: string }) => c.id);
    expect(open).toContain(filed.id);
    expect(errorCode(await t.gql(`{ complaints { id } }`, {}, partner))).toBe('FORBIDDEN');
  });

  test('resolving with goodwill credits one BONUS entry, once; resolving again is INVALID_STATE', async () => {
    await setClock(t, '2025-06-02T08:00:00Z');
    const id = await member('goodwill');
    const complaint = await complain(id);
    await setClock(t, '2025-06-02T18:00:00Z');
    const input = { id: complaint.id, resolution: 'Refunded the shipping', goodwillPoints: 250, idempotencyKey: 'resolve-1' };
    const resolved = ok(await t.gql(RESOLVE, { input })).resolveComplaint;
    expect(resolved).toMatchObject({ status: 'RESOLVED', goodwillPoints: 250, resolvedAt: '2025-06-02T18:00:00.000Z', pastSla: false });
    // The same request again answers the same resolution and credits nothing more.
    expect(ok(await t.gql(RESOLVE, { input })).resolveComplaint.goodwillTransactionId).toBe(resolved.goodwillTransactionId);
    expect(errorCode(await t.gql(RESOLVE, { input: { ...input, idempotencyKey: 'resolve-2' } }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(RESOLVE, { input: { ...input, resolution: 'Other', idempotencyKey: 'resolve-1' } }))).toBe('IDEMPOTENCY_CONFLICT');

    const entries = ok(await t.gql(STATEMENT, { id })).member.transactions.edges.map((e: { node: { id: string; type: string; points: number } }) => e.node);
    expect(entries).toEqual([expect.objectContaining({ id: resolved.goodwillTransactionId, type: 'BONUS', points: 250 })]);
    expect((await balance(t, id)).available).toBe(250);
    await expectLedgerTrue(t, [id]);

    const self = t.token({ role: 'MEMBER', sub: 'm', memberId: id });
    const other = await complain(id, 'app');
    expect(errorCode(await t.gql(RESOLVE, { input: { id: other.id, resolution: 'x', idempotencyKey: key() } }, self))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(RESOLVE, { input: { id: other.id, resolution: 'x', goodwillPoints: -5, idempotencyKey: key() } }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(RESOLVE, { input: { id: randomUUID(), resolution: 'x', idempotencyKey: key() } }))).toBe('NOT_FOUND');
    expect((await balance(t, id)).available).toBe(250);
  });
});

describe('programme figures', () => {
  test('NPS of ten answers: 5 promoters, 3 passives, 2 detractors is 30, each member counted once by its latest answer', async () => {
    const tag = 'nps-ten';
    // A member who answered 0 in February and 10 in March counts once per range, by its latest answer.
    await setClock(t, '2025-02-10T10:00:00Z');
    const changed = await member(tag);
    await answer(changed, 0);
    await setClock(t, '2025-03-05T10:00:00Z');
    for (const score of [9, 10, 9, 10, 9, 7, 8, 7, 3, 6]) await answer(await member(tag), score);
    await setClock(t, '2025-03-20T10:00:00Z');
    await answer(changed, 10);

    const march = await insights({ from: '2025-03-01T00:00:00Z', to: '2025-04-01T00:00:00Z', tag });
    expect(march.nps).toMatchObject({ score: 36.4, responses: 11, promoters: 6, passives: 3, detractors: 2 });
    const tenOnly = await insights({ from: '2025-03-05T00:00:00Z', to: '2025-03-06T00:00:00Z', tag });
    expect(tenOnly.nps).toMatchObject({ score: 30, responses: 10, promoters: 5, passives: 3, detractors: 2 });
    const quarter = await insights({ from: '2025-01-01T00:00:00Z', to: '2025-04-01T00:00:00Z', tag });
    expect(quarter.nps.monthly).toEqual([{ month: '2025-02', score: -100, responses: 1 }, { month: '2025-03', score: 36.4, responses: 11 }]);
    expect(quarter.nps.responses).toBe(11);
    const none = await insights({ from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z', tag });
    expect(none.nps).toMatchObject({ score: null, responses: 0, monthly: [] });
  });

  test('retention of a base cohort, repeat-purchase rate and the Pareto share of a known spend list', async () => {
    await setClock(t, '2025-03-01T00:00:00Z');
    const tag = 'cohort';
    const [a, b, c, d, e] = [await member(tag), await member(tag), await member(tag), await member(tag), await member(tag)];
    for (const m of [a, b, c, d] as string[]) await buy(m, '10.00', '2025-01-15T12:00:00Z');
    await buy(a as string, '10.00', '2025-02-03T12:00:00Z');
    await buy(a as string, '10.00', '2025-02-20T12:00:00Z');
    await buy(b as string, '10.00', '2025-02-04T12:00:00Z');
    await buy(e as string, '10.00', '2025-02-05T12:00:00Z');
    // Refunded in full, C's February purchase does not make it active.
    const refunded = await buy(c as string, '40.00', '2025-02-06T12:00:00Z');
    ok(await t.gql(REFUND, { input: { orderId: refunded, refundId: key('refund'), amount: '40.00' } }));

    const feb = await insights({ from: '2025-02-01T00:00:00Z', to: '2025-03-01T00:00:00Z', baseFrom: '2025-01-01T00:00:00Z', baseTo: '2025-02-01T00:00:00Z', tag });
    expect(feb.retention).toEqual({ baseActive: 4, retained: 2, rate: 0.5 });
    // Buyers in February: A (twice), B, E.
    expect(feb.repeatPurchaseRate).toBe(0.3333);
    expect((await insights({ from: '2025-02-01T00:00:00Z', to: '2025-03-01T00:00:00Z', tag })).retention).toBeNull();

    const pareto = 'pareto';
    const spends = ['1000.00', '500.00', '100.00', '100.00', '100.00', '100.00', '100.00', '100.00', '100.00', '100.00'];
    for (const amount of spends) await buy(await member(pareto), amount, '2025-02-10T12:00:00Z');
    // A partial refund nets: 1,000 − 200 = 800; the top two (800 + 500) of 2,100.
    const top = await member(pareto);
    const order = await buy(top, '300.00', '2025-02-11T12:00:00Z');
    ok(await t.gql(REFUND, { input: { orderId: order, refundId: key('refund'), amount: '300.00' } }));
    const split = await insights({ from: '2025-02-01T00:00:00Z', to: '2025-03-01T00:00:00Z', tag: pareto });
    expect(split.pareto).toEqual({ buyers: 10, topBuyers: 2, topShare: 0.6522, revenue: '2300.00' });
  });

  test('one member on each rung of the ladder, in Member.loyalty and in the counts, now and as of an earlier instant', async () => {
    await setClock(t, '2025-02-01T00:00:00Z');
    const tag = 'ladder';
    const [suspect, prospect, firstTime, repeat, advocate, refunded] = await Promise.all(Array.from({ length: 6 }, () => member(tag)));
    await setClock(t, '2025-04-01T00:00:00Z');
    await complain(prospect as string, 'app');
    await buy(firstTime as string, '20.00', '2025-03-01T12:00:00Z');
    await buy(repeat as string, '20.00', '2025-03-01T12:00:00Z');
    await buy(repeat as string, '20.00', '2025-03-20T12:00:00Z');
    await buy(advocate as string, '20.00', '2025-03-01T12:00:00Z', 'store');
    await buy(advocate as string, '20.00', '2025-03-21T12:00:00Z', 'web');
    await answer(advocate as string, 10, { channel: 'email' });
    // Refunded in full, a purchase does not count: still a suspect.
    const order = await buy(refunded as string, '20.00', '2025-03-02T12:00:00Z');
    ok(await t.gql(REFUND, { input: { orderId: order, refundId: key('refund'), amount: '20.00' } }));

    const stages = await Promise.all([suspect, prospect, firstTime, repeat, advocate, refunded].map(async (id) => (await loyalty(id as string)).stage));
    expect(stages).toEqual(['SUSPECT', 'PROSPECT', 'FIRST_TIME', 'REPEAT', 'ADVOCATE', 'SUSPECT']);
    const profile = await loyalty(advocate as string);
    expect(profile).toMatchObject({
      purchaseCount: 2, repeatPurchases: 1, avgDaysBetweenPurchases: 20, frequency: 2, monetary: '40.00', recencyDays: 10,
      channels: ['email', 'store', 'web'], lastNps: 10, npsCategory: 'PROMOTER', complaintsFiled: 0, complaintsOpen: 0,
    });
    expect(profile.rfm).toEqual(expect.objectContaining({ segment: expect.any(String) }));
    expect((await loyalty(suspect as string))).toMatchObject({ rfm: null, recencyDays: null, purchaseCount: 0, repeatPurchases: 0, churnRisk: 'LOW', churnReasons: ['No purchase yet'] });

    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBeGreaterThanOrEqual(6);
    const now = await insights({ from: '2025-03-01T00:00:00Z', to: '2025-04-01T00:00:00Z', tag });
    expect(counts(now.membersByStage)).toEqual({ SUSPECT: 2, PROSPECT: 1, FIRST_TIME: 1, REPEAT: 1, ADVOCATE: 1 });
    expect(now.asOf).toBe('2025-04-01T00:00:00.000Z');
    const lowest = ok(await t.gql('{ program { tiers { code } } }')).program.tiers[0].code as string;
    expect(counts(now.membersByTier)[lowest]).toBe(6);
    expect(counts((await insights({ from: '2025-03-01T00:00:00Z', to: '2025-04-01T00:00:00Z', tag, tier: lowest })).membersByStage))
      .toEqual({ SUSPECT: 2, PROSPECT: 1, FIRST_TIME: 1, REPEAT: 1, ADVOCATE: 1 });
    // On 10 March the repeat buyers had bought once, and the advocate had not answered yet.
    const earlier = await insights({ from: '2025-03-01T00:00:00Z', to: '2025-03-10T00:00:00Z', tag });
    expect(counts(earlier.membersByStage)).toEqual({ SUSPECT: 3, PROSPECT: 0, FIRST_TIME: 3, REPEAT: 0, ADVOCATE: 0 });
  });

  test('churn risk from a member\'s own gap: HIGH past 3×, MEDIUM past 1.5×, with reasons, and the at-risk list by spend', async () => {
    const tag = 'churn';
    await setClock(t, '2025-05-01T00:00:00Z');
    const high = await member(tag);
    const medium = await member(tag);
    const low = await member(tag);
    for (const day of ['01', '11', '21']) {
      await buy(high, '50.00', `2025-03-${day}T00:00:00Z`);
      await buy(medium, '20.00', `2025-04-${day}T00:00:00Z`);
    }
    await buy(low, '20.00', '2025-04-20T00:00:00Z');
    await buy(low, '20.00', '2025-04-30T00:00:00Z');
    // Each bought every 10 days. On 1 May the first last bought 41 days before (more than 3 × 10).
    const h = await loyalty(high);
    expect(h).toMatchObject({ churnRisk: 'HIGH', health: 'POOR', recencyDays: 41, avgDaysBetweenPurchases: 10 });
    expect(h.churnReasons[0]).toBe('No purchase for 41 days: 4.1× the usual gap of 10 days (its own average)');
    await setClock(t, '2025-05-08T00:00:00Z');
    expect(await loyalty(medium)).toMatchObject({ churnRisk: 'MEDIUM', health: 'AVERAGE', recencyDays: 17 });
    expect(await loyalty(low)).toMatchObject({ churnRisk: 'LOW', health: 'GOOD' });

    ok(await t.gql(MAINTENANCE));
    const figures = await insights({ from: '2025-03-01T00:00:00Z', to: '2025-05-08T00:00:00Z', tag });
    expect(counts(figures.churnRisk)).toEqual({ LOW: 1, MEDIUM: 1, HIGH: 1 });
    expect(figures.atRisk.map((m: { id: string }) => m.id)).toEqual([high]);
  });

  test('complaint figures: filed, resolved, open, hours to resolve and the share within the SLA', async () => {
    const tag = 'complaints';
    await setClock(t, '2025-07-01T00:00:00Z');
    const id = await member(tag);
    const quick = await complain(id);
    const slow = await complain(id);
    const open = await complain(id);
    await setClock(t, '2025-07-01T10:00:00Z');
    ok(await t.gql(RESOLVE, { input: { id: quick.id, resolution: 'Sorry', idempotencyKey: key() } }));
    await setClock(t, '2025-07-04T00:00:00Z');
    const late = ok(await t.gql(RESOLVE, { input: { id: slow.id, resolution: 'Sorry', idempotencyKey: key() } })).resolveComplaint;
    expect(late.pastSla).toBe(true);

    const july = await insights({ from: '2025-07-01T00:00:00Z', to: '2025-08-01T00:00:00Z', tag });
    expect(july.complaints).toEqual({ filed: 3, resolved: 2, open: 1, medianHoursToResolve: 41, p90HoursToResolve: 65.8, resolvedWithinSla: 0.5 });
    expect(open.status).toBe('OPEN');
    expect(await loyalty(id)).toMatchObject({ complaintsFiled: 3, complaintsOpen: 1, stage: 'PROSPECT', health: 'POOR' });
  });

  test('points issued, redeemed and expired over the range; outstanding, liability and breakage', async () => {
    const tag = 'points';
    await setClock(t, '2025-08-01T00:00:00Z');
    await updateProgram(t, { expiry: { mode: 'FIXED', months: 1 } });
    try {
      const id = await member(tag);
      await buy(id, '100.00');
      await redeem(t, id, 30);
      const keep = await member(tag);
      await buy(keep, '50.00');
      await setClock(t, '2025-09-15T00:00:00Z');
      ok(await t.gql(MAINTENANCE));
      const range = { from: '2025-08-01T00:00:00Z', to: '2025-10-01T00:00:00Z', tag };
      const figures = await insights(range);
      expect(figures.points).toEqual({ issued: 150, redeemed: 30, expired: 120, outstanding: 0, liabilityValue: '0.00', breakageRate: 0.8 });
      const before = await insights({ ...range, to: '2025-08-02T00:00:00Z' });
      expect(before.points).toEqual({ issued: 150, redeemed: 30, expired: 0, outstanding: 120, liabilityValue: '1.20', breakageRate: 0 });

      // Month by month: every month the range touches, an empty one included, in the programme's time zone.
      expect(await pointsByMonth({ ...range, from: '2025-07-15T00:00:00Z' })).toEqual([
        { month: '2025-07', issued: 0, redeemed: 0, expired: 0, outstanding: 0 },
        { month: '2025-08', issued: 150, redeemed: 30, expired: 0, outstanding: 120 },
        { month: '2025-09', issued: 0, redeemed: 0, expired: 120, outstanding: 0 },
      ]);
      // A month clipped by the range counts only its part in it; what is held carries over from before
      // (the points expired when the maintenance pass ran, on 15 September).
      expect(await pointsByMonth({ ...range, from: '2025-08-01T00:00:01Z', to: '2025-09-20T00:00:00Z' })).toEqual([
        { month: '2025-08', issued: 0, redeemed: 0, expired: 0, outstanding: 120 },
        { month: '2025-09', issued: 0, redeemed: 0, expired: 120, outstanding: 0 },
      ]);
      // Each month's flows are the range's own figures for that month.
      const august = (await insights({ ...range, to: '2025-09-01T00:00:00Z' })).points;
      expect((await pointsByMonth({ ...range, to: '2025-09-01T00:00:00Z' }))).toEqual([
        { month: '2025-08', issued: august.issued, redeemed: august.redeemed, expired: august.expired, outstanding: august.outstanding },
      ]);
      // In New York, 1 August 00:00 UTC is still 31 July.
      await updateProgram(t, { timezone: 'America/New_York' });
      expect((await pointsByMonth({ ...range, to: '2025-08-15T00:00:00Z' }))).toEqual([
        { month: '2025-07', issued: 150, redeemed: 30, expired: 0, outstanding: 120 },
        { month: '2025-08', issued: 0, redeemed: 0, expired: 0, outstanding: 120 },
      ]);
    } finally {
      await updateProgram(t, { ...DEFAULT_PROGRAM, timezone: 'UTC' });
    }
  });

  test('the maintenance pass refreshes the summary of the members that changed only, and every member once a day', async () => {
    const tag = 'refresh';
    await setClock(t, '2025-10-01T00:00:00Z');
    const id = await member(tag);
    const full = ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed as number;
    const everyone = await t.database.db.selectFrom('members').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(full).toBe(Number(everyone.n));
    await setClock(t, '2025-10-01T01:00:00Z');
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBe(0);
    await buy(id, '30.00');
    await answer(id, 10);
    await setClock(t, '2025-10-01T02:00:00Z');
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBe(1);
    const figures = await insights({ from: '2025-09-01T00:00:00Z', to: '2025-10-02T00:00:00Z', tag });
    expect(counts(figures.membersByStage)).toMatchObject({ FIRST_TIME: 1 });
    expect(figures.asOf).toBe('2025-10-01T02:00:00.000Z');
    // An erased member is counted nowhere once the next pass has run.
    const everything = async () => counts((await insights({ from: '2025-09-01T00:00:00Z', to: '2025-10-02T00:00:00Z' })).membersByStage);
    const before = await everything();
    ok(await t.gql(`mutation($memberId: ID!) { eraseMember(memberId: $memberId, reason: "asked") { id } }`, { memberId: id }));
    await setClock(t, '2025-10-01T03:00:00Z');
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBe(1);
    expect(await everything()).toEqual({ ...before, FIRST_TIME: (before.FIRST_TIME as number) - 1 });
    // A day after the last full refresh, every member is visited again.
    await setClock(t, '2025-10-02T00:30:00Z');
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBe(full);
  });

  test('the year up to now is answered from the summary as of its refresh; the same figures as counted from the orders; purchases crossing a window\'s start are refreshed', async () => {
    const tag = 'rolling';
    const DAY = 86_400_000;
    const T0 = Date.parse('2026-03-01T00:00:00Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    await setClock(t, iso(T0));
    const [a, b, c, d, e, f] = [await member(tag), await member(tag), await member(tag), await member(tag), await member(tag), await member(tag)] as string[];
    await buy(a as string, '10.00', iso(T0 - 500 * DAY));
    await buy(a as string, '20.00', iso(T0 - 100 * DAY));
    await buy(a as string, '30.00', iso(T0 - 50 * DAY));
    await buy(b as string, '40.00', iso(T0 - 730 * DAY + 3_600_000));
    await buy(c as string, '100.00', iso(T0 - 10 * DAY));
    await buy(d as string, '5.00', iso(T0 - 600 * DAY));
    await buy(d as string, '15.00', iso(T0 - 20 * DAY));
    const refunded = await buy(e as string, '50.00', iso(T0 - 30 * DAY));
    ok(await t.gql(REFUND, { input: { orderId: refunded, refundId: key('refund'), amount: '50.00' } }));
    await buy(f as string, '70.00', iso(T0 - 800 * DAY));
    ok(await t.gql(MAINTENANCE));

    /** The 365 days up to `to` against the 365 before (from the summary when it stands for them); `longer` a second more: always counted from the orders. */
    const year = async (to: number, longer = false) => {
      const from = to - 365 * DAY - (longer ? 1000 : 0);
      return insights({ from: iso(from), to: iso(to), baseFrom: iso(from - 365 * DAY), baseTo: iso(from), tag });
    };
    const figures = (i: any) => ({ retention: i.retention, repeatPurchaseRate: i.repeatPurchaseRate, pareto: i.pareto });
    // This year A (twice, 50.00), C (100.00) and D (15.00); E's purchase was refunded in full. The year before: A, B, D.
    const expected = {
      retention: { baseActive: 3, retained: 2, rate: 0.6667 },
      repeatPurchaseRate: 0.3333,
      pareto: { buyers: 3, topBuyers: 1, topShare: 0.6061, revenue: '165.00' },
    };
    await setClock(t, iso(T0 + 10 * 60_000));
    const rolling = await year(T0 + 10 * 60_000);
    expect(figures(rolling)).toEqual(expected);
    expect(rolling.asOf).toBe(iso(T0));
    expect(figures(await year(T0 + 10 * 60_000, true))).toEqual(expected);

    // Purchases recorded after the refresh, one this year and one dated into the year before:
    // counted from the orders at once, in the summary's years after the next pass.
    const g = await member(tag);
    await buy(g, '1.00', iso(T0 + 5 * 60_000));
    const h = await member(tag);
    await buy(h, '2.00', iso(T0 - 400 * DAY));
    const stale = await year(T0 + 10 * 60_000);
    expect([stale.pareto.buyers, stale.retention.baseActive]).toEqual([3, 3]);
    const live = await year(T0 + 10 * 60_000, true);
    expect([live.pareto.buyers, live.retention.baseActive]).toEqual([4, 4]);
    await setClock(t, iso(T0 + 20 * 60_000));
    ok(await t.gql(MAINTENANCE));
    const refreshed = await year(T0 + 20 * 60_000);
    expect(refreshed.pareto).toEqual({ buyers: 4, topBuyers: 1, topShare: 0.6024, revenue: '166.00' });
    expect(refreshed.retention).toEqual({ baseActive: 4, retained: 2, rate: 0.5 });
    expect(refreshed.asOf).toBe(iso(T0 + 20 * 60_000));

    // Two hours on, B's purchase is more than two years old: the next pass (not a full one) refreshes B, and the base loses it.
    await setClock(t, iso(T0 + 2 * 3_600_000));
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.loyaltyRefreshed).toBeGreaterThanOrEqual(1);
    const later = await year(T0 + 2 * 3_600_000);
    expect(later.retention).toEqual({ baseActive: 3, retained: 2, rate: 0.6667 });
    expect(figures(await year(T0 + 2 * 3_600_000, true))).toEqual(figures(later));
    // An hour after the last pass the summary no longer stands for now: counted from the orders, the same figures.
    await setClock(t, iso(T0 + 3 * 3_600_000 + 1000));
    expect(figures(await year(T0 + 3 * 3_600_000 + 1000))).toEqual(figures(later));
  });

  test('bad ranges and unknown tiers are BAD_USER_INPUT; programInsights is for ADMIN only', async () => {
    const at = '2025-01-01T00:00:00Z';
    expect(errorCode(await t.gql(INSIGHTS, { from: at, to: at }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(INSIGHTS, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', baseFrom: at }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(INSIGHTS, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z', tier: 'NOPE' }))).toBe('BAD_USER_INPUT');
    const partner = await t.partnerToken('insights-hotel');
    expect(errorCode(await t.gql(INSIGHTS, { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z' }, partner))).toBe('FORBIDDEN');
  });
});


describe('resolutions racing', () => {
  serverTest('ten resolutions of one complaint at once: one resolves it and credits the goodwill, the rest are INVALID_STATE', async () => {
    await setClock(t, '2025-11-01T00:00:00Z');
    const id = await member('race');
    const complaint = await complain(id);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      t.gql(RESOLVE, { input: { id: complaint.id, resolution: `Sorry ${i}`, goodwillPoints: 300, idempotencyKey: `race-${i}` } })));
    const resolved = answers.filter((r) => r.data?.resolveComplaint?.status === 'RESOLVED');
    expect(resolved).toHaveLength(1);
    expect(answers.filter((r) => r.errors?.[0]?.extensions?.code === 'INVALID_STATE')).toHaveLength(9);
    const entries = ok(await t.gql(STATEMENT, { id })).member.transactions.edges.map((e: { node: { type: string; points: number } }) => e.node);
    expect(entries).toEqual([expect.objectContaining({ type: 'BONUS', points: 300 })]);
    expect((await balance(t, id)).available).toBe(300);
    await expectLedgerTrue(t, [id]);
  });
});

describe('tiers as of an instant', () => {
  test('membersByTier reads the tier a member held then: before its upgrade the rung below', async () => {
    const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
    ok(await t.gql(SET_TIERS, { tiers: [
      { code: 'BASE', name: 'Base', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
      { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 100, earnMultiplier: 1 },
    ] }));
    const tag = 'tier-history';
    await setClock(t, '2026-01-10T00:00:00Z');
    const upgraded = await member(tag);
    await member(tag);
    await setClock(t, '2026-01-20T00:00:00Z');
    await buy(upgraded, '150.00');
    const range = { from: '2026-01-01T00:00:00Z', tag };
    const then = await insights({ ...range, to: '2026-01-15T00:00:00Z' });
    expect(counts(then.membersByTier)).toEqual({ BASE: 2, SILVER: 0 });
    const now = await insights({ ...range, to: '2026-02-01T00:00:00Z' });
    expect(counts(now.membersByTier)).toEqual({ BASE: 1, SILVER: 1 });
    expect(counts((await insights({ ...range, to: '2026-02-01T00:00:00Z', tier: 'SILVER' })).membersByTier)).toEqual({ BASE: 0, SILVER: 1 });

    // A member enrolled later is not counted before its enrolment, whatever its tier now.
    await setClock(t, '2026-01-25T00:00:00Z');
    await buy(await member(tag), '150.00');
    expect(counts((await insights({ ...range, to: '2026-01-15T00:00:00Z' })).membersByTier)).toEqual({ BASE: 2, SILVER: 0 });
    expect(counts((await insights({ ...range, to: '2026-02-01T00:00:00Z' })).membersByTier)).toEqual({ BASE: 1, SILVER: 2 });
    // An erased member is counted in no tier.
    const everyone = async () => counts((await insights({ from: range.from, to: '2026-02-01T00:00:00Z' })).membersByTier);
    const before = await everyone();
    ok(await t.gql(`mutation($memberId: ID!) { eraseMember(memberId: $memberId, reason: "asked") { id } }`, { memberId: upgraded }));
    expect(await everyone()).toEqual({ ...before, SILVER: (before.SILVER as number) - 1 });
  });
});
