/**
 * The one-statement purchase (ledger/purchase.repo.ts). Three things hold it to the general
 * path: the same purchases run through the API with it on and with it off
 * (LEDGER_ONE_STATEMENT=false) leave the same rows; called directly, it writes the rows the
 * general path writes where it may, and nothing at all wherever the general path must decide;
 * and its SQL threshold test agrees with tiers.rules meetsTier.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { atOncePlan } from '../../src/ledger/purchases.service';
import { purchaseAtOnce, purchasesAtOnce, type PurchaseAtOnce, type PurchaseAtOnceOutcome } from '../../src/ledger/purchase.repo';
import { PurchaseBatcher } from '../../src/ledger/purchase.batch';
import type { Embedded } from '../../src/db/ahead';
import { getProgram } from '../../src/program/program.service';
import { tierMetSql } from '../../src/tiers/tiers.repo';
import { meetsTier, thresholdsOf } from '../../src/tiers/tiers.rules';
import type { TierView } from '../../src/program/program.types';
import {
  DEFAULT_PROGRAM, REFUND, SET_STATUS, enroll, expectLedgerTrue, key, ok, setClock, updateProgram, whileLockHeld,
} from './ledger-fixtures';

const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
const TIER_SETTINGS = `mutation($input: TierSettingsInput!) { updateTierSettings(input: $input) { graceMonths } }`;
const ASSIGN = `mutation($input: AssignTierInput!) { assignTier(input: $input) { id } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    pointsEarned qualifyingPointsEarned breakdown { source description points qualifyingPoints }
    transaction { type points status availableAt occurredAt description orderId }
    member { balance { available pending lifetimeEarned } tier { current { code } } }
  } }`;

/** No lifetime thresholds: with them every purchase takes the general path. */
const LADDER = [
  { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
  { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 100, earnMultiplier: 1.25 },
  { code: 'GOLD', name: 'Gold', rank: 2, qualifyingPointsRequired: 400, earnMultiplier: 1.5, qualifyingSpendRequired: '350.00', qualifyingPurchasesRequired: 6, thresholdMatch: 'ALL' },
  { code: 'PLATINUM', name: 'Platinum', rank: 3, qualifyingPointsRequired: 0, earnMultiplier: 2, invitationOnly: true },
];

/** Three earnable rungs above the lowest, by points alone, and an invitation-only rung above them. */
const TALL_LADDER = [
  { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
  { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 100, earnMultiplier: 1.25 },
  { code: 'GOLD', name: 'Gold', rank: 2, qualifyingPointsRequired: 400, earnMultiplier: 1.5 },
  { code: 'DIAMOND', name: 'Diamond', rank: 3, qualifyingPointsRequired: 1000, earnMultiplier: 1.75 },
  { code: 'PLATINUM', name: 'Platinum', rank: 4, qualifyingPointsRequired: 0, earnMultiplier: 2, invitationOnly: true },
];

async function configure(t: TestApp, { graceMonths = 0, pendingDays = 0, ladder = LADDER } = {}): Promise<void> {
  await updateProgram(t, { ...DEFAULT_PROGRAM, pendingDays, expiry: { mode: 'FIXED', months: 24 } });
  ok(await t.gql(SET_TIERS, { tiers: ladder }));
  ok(await t.gql(TIER_SETTINGS, { input: { qualificationWindow: 'ROLLING_12_MONTHS', downgradeMode: 'ONE_TIER', graceMonths, streakLength: 0, clearFreezeExpiry: true } }));
}

function purchase(t: TestApp, memberId: string, amount: string, orderId = key('order')) {
  return t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD' } });
}

/** Everything a purchase writes for a member, without ids, in order. */
async function rowsOf(t: TestApp, memberId: string) {
  const db = t.database.db;
  const entries = await sql`select type, points, qualifying_points, shortfall, available_at, occurred_at, created_at, description, order_id
    from points_transactions where member_id = ${memberId} order by seq`.execute(db);
  const lots = await sql`select l.points, l.remaining, l.available_at, l.expires_at, l.earned_at from point_lots l
    join points_transactions t on t.id = l.txn_id where l.member_id = ${memberId} order by t.seq`.execute(db);
  const orders = await sql`select order_id, amount, points_earned, qualifying_points, breakdown, occurred_at, created_at, request_hash
    from orders where member_id = ${memberId} order by created_at, order_id`.execute(db);
  const member = await sql`select debt, lifetime_earned, lifetime_redeemed, expired, last_activity_at, updated_at, status
    from members where id = ${memberId}`.execute(db);
  const state = await sql`select tier_code, since, valid_until, grace_until, lifetime_code, assigned_code, assigned_until, version,
      expiry_frozen, updated_at
    from member_tiers where member_id = ${memberId}`.execute(db);
  const history = await sql`select at, from_code, to_code, reason, valid_until, previous_valid_until, previous_since, note, created_at
    from tier_history where member_id = ${memberId} order by seq`.execute(db);
  return { entries: entries.rows, lots: lots.rows, orders: orders.rows, member: member.rows, state: state.rows, history: history.rows };
}

describe('with and without the one statement, the same purchases leave the same rows', () => {
  let fast: TestApp;
  let slow: TestApp;
  beforeAll(async () => {
    [fast, slow] = await Promise.all([startTestApp(), startTestApp({ LEDGER_ONE_STATEMENT: 'false' })]);
  });
  afterAll(async () => { await Promise.all([fast.close(), slow.close()]); });

  type Step = (t: TestApp, member: string) => Promise<unknown>;

  /** A script of steps, each run for a member of its own on both apps (named `name`). */
  function script() {
    const steps: Step[] = [];
    const step = (run: Step) => steps.push(run);
    const buy = (amount: string, orderId: string) => step(async (t, member) => ok(await purchase(t, member, amount, `${orderId}-${member}`)));
    const clock = (iso: string) => step((t) => setClock(t, iso));
    return { steps, step, buy, clock };
  }

  /**
   * Enrols a member on each app at `from`, runs the steps for both, each answer compared as it
   * comes, then compares every row the two members have. Returns the fast side's rows.
   */
  async function expectSameRows(steps: Step[], name: string, from: string) {
    // A member enrolled later than a step's clock would be written at its enrolment instant
    // (the general path's writeInstant), which the statement declines to do.
    await Promise.all([setClock(fast, from), setClock(slow, from)]);
    const fastMember = await enroll(fast, name);
    const slowMember = await enroll(slow, name);
    // Ids are random on each side (members, entries, lots, and the orders named after members).
    const withoutIds = (value: unknown) => JSON.stringify(value)?.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');
    for (const run of steps) expect(withoutIds(await run(fast, fastMember))).toEqual(withoutIds(await run(slow, slowMember)));
    // The orders' request hashes cover the member's id, which differs too; so do enrolment instants.
    const { rows: [fastEnrolled] } = await sql<{ at: Date }>`select enrolled_at as at from members where id = ${fastMember}`.execute(fast.database.db);
    const { rows: [slowEnrolled] } = await sql<{ at: Date }>`select enrolled_at as at from members where id = ${slowMember}`.execute(slow.database.db);
    const comparable = async (t: TestApp, member: string, enrolled: Date | undefined) => {
      const rows = await rowsOf(t, member);
      const enrolment = (at: unknown) => (at instanceof Date && enrolled && at.getTime() === enrolled.getTime() ? 'ENROLLED' : at);
      return {
        ...rows,
        orders: rows.orders.map((o) => ({ ...(o as object), request_hash: undefined })),
        history: rows.history.map((h): Record<string, unknown> => ({ ...(h as object), previous_since: enrolment((h as { previous_since: unknown }).previous_since) })),
      };
    };
    const a = await comparable(fast, fastMember, fastEnrolled?.at);
    expect(withoutIds(a)).toEqual(withoutIds(await comparable(slow, slowMember, slowEnrolled?.at)));
    await expectLedgerTrue(fast, [fastMember]);
    return a;
  }

  test('pending points, tier multipliers, upgrades by points and by ALL thresholds, an assignment, a refund, a review, grace', async () => {
    const { steps, step, buy, clock } = script();
    step((t) => configure(t, { graceMonths: 2, pendingDays: 3 }));
    buy('40.00', 'a'); // MEMBER ×1, pending three days
    // The first activity stores the member's tier state: the lowest rung since enrolment.
    step(async (t, member) => {
      const { rows } = await sql`select s.tier_code, s.since = m.enrolled_at as since_enrolment, s.valid_until, s.grace_until,
          s.lifetime_code, s.assigned_code, s.assigned_until, s.expiry_frozen, s.version, s.updated_at
        from member_tiers s join members m on m.id = s.member_id where s.member_id = ${member}`.execute(t.database.db);
      expect(rows).toHaveLength(1);
      return rows;
    });
    // Lots of one instant are drawn in the order of their random ids: the refund below draws
    // from these two, so they are earned an hour apart.
    clock('2032-01-10T01:00:00.000Z');
    buy('59.99', 'b'); // 99 qualifying points: still MEMBER
    clock('2032-01-20T00:00:00.000Z');
    buy('0.80', 'c'); // 0 points at ×1: earns nothing, upgrades nobody
    buy('1.50', 'd'); // 101: SILVER
    buy('12.34', 'e'); // ×1.25
    buy('120.00', 'f');
    buy('100.00', 'g'); // 333 points, 5 purchases, 333.84 spent: GOLD needs all three
    clock('2032-03-01T00:00:00.000Z');
    buy('80.00', 'h'); // 413, 6 purchases, 413.84: GOLD
    buy('10.00', 'i'); // ×1.5
    step(async (t, member) => ok(await t.gql(REFUND, { input: { orderId: `f-${member}`, refundId: `r-${member}`, amount: '60.00' } })));
    buy('5.55', 'j');
    step(async (t, member) => ok(await t.gql(ASSIGN, { input: { memberId: member, tierCode: 'PLATINUM', until: '2032-04-01T00:00:00.000Z', reason: 'test' } })));
    buy('10.00', 'k'); // ×2 while assigned
    clock('2032-04-02T00:00:00.000Z');
    buy('10.00', 'l'); // the assignment ended: ×1.5 again
    // The year's status lapses at its review; grace follows, then a purchase in grace.
    clock('2034-01-02T00:00:00.000Z');
    buy('20.00', 'm');
    clock('2034-04-01T00:00:00.000Z');
    buy('20.00', 'n');

    const a = await expectSameRows(steps, 'twin', '2032-01-10T00:00:00.000Z');
    // Not a comparison of two empty ledgers: the script moved the member up and down the ladder.
    expect(a.entries.length).toBeGreaterThan(12);
    expect(a.history.map((h) => (h as { to_code: string }).to_code)).toEqual(expect.arrayContaining(['SILVER', 'GOLD', 'PLATINUM']));
  });

  test('a first activity that upgrades two rungs at once, and an upgrade while a higher assignment runs', async () => {
    const { steps, step, buy, clock } = script();
    step((t) => configure(t, { ladder: TALL_LADDER }));
    buy('450.00', 'a'); // the first activity: MEMBER to GOLD (SILVER's threshold met too), 450 points at ×1
    step(async (t, member) => ok(await t.gql(ASSIGN, { input: { memberId: member, tierCode: 'PLATINUM', until: '2032-02-01T00:00:00.000Z', reason: 'test' } })));
    buy('600.00', 'b'); // 1,050 qualifying points: DIAMOND earned, PLATINUM still held; ×2
    clock('2032-02-02T00:00:00.000Z');
    buy('10.00', 'c'); // the assignment ended: ×1.75
    const a = await expectSameRows(steps, 'twin-tall', '2032-01-10T00:00:00.000Z');
    expect(a.history).toEqual([
      expect.objectContaining({ from_code: 'MEMBER', to_code: 'GOLD', reason: 'UPGRADE', previous_valid_until: null, previous_since: 'ENROLLED' }),
      expect.objectContaining({ reason: 'ASSIGNED' }),
      expect.objectContaining({ from_code: 'PLATINUM', to_code: 'PLATINUM', reason: 'UPGRADE', valid_until: new Date('2034-01-01T00:00:00.000Z') }),
      expect.objectContaining({ from_code: 'PLATINUM', to_code: 'DIAMOND', reason: 'ASSIGNMENT_ENDED' }),
    ]);
    expect(a.entries.map((e) => (e as { points: number }).points)).toEqual([450, 1200, 17]);
  });
});

describe('called directly', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t.close(); });

  async function direct(memberId: string, amount: string, now: Date, orderId = key('order')) {
    const plan = atOncePlan(await getProgram(t.database.db), {
      memberId, orderId, amount, currency: 'USD', channel: 'web', items: null, occurredAt: now, hash: `hash-${orderId}`, now,
      partnerId: null, actor: 'admin:test-admin',
    });
    if (!plan) throw new Error('no plan for this programme');
    return { plan, outcome: await purchaseAtOnce(t.database.db, { ...plan, count: null }) };
  }

  test('on the one-rung ladder: the order, the entry, its pending lot and the member\'s totals', async () => {
    await updateProgram(t, { ...DEFAULT_PROGRAM, pendingDays: 7, expiry: { mode: 'FIXED', months: 12 } });
    ok(await t.gql(SET_TIERS, { tiers: [LADDER[0]] }));
    const member = await enroll(t, 'direct-plain');
    const now = new Date('2032-05-01T10:00:00.000Z');
    const { plan, outcome } = await direct(member, '123.45', now);
    expect(outcome.written?.rung.code).toBe('MEMBER');
    expect(outcome.written?.entry).toMatchObject({
      id: plan.txnId, member_id: member, type: 'PURCHASE', points: 123, qualifying_points: 123, shortfall: 0, cancelled: false,
      available_at: new Date('2032-05-08T10:00:00.000Z'), occurred_at: now, created_at: now, order_id: plan.orderId, actor: 'admin:test-admin',
    });
    expect(outcome.written?.member).toMatchObject({ id: member, lifetime_earned: 123, last_activity_at: now, updated_at: now, debt: 0 });
    const rows = await rowsOf(t, member);
    expect(rows.lots).toEqual([{
      points: 123, remaining: 123, available_at: new Date('2032-05-08T10:00:00.000Z'), expires_at: new Date('2033-05-01T10:00:00.000Z'), earned_at: now,
    }]);
    expect(rows.orders).toEqual([expect.objectContaining({
      order_id: plan.orderId, points_earned: 123, qualifying_points: 123, request_hash: `hash-${plan.orderId}`, created_at: now,
      breakdown: [{ source: 'BASE', description: '1.0000 points per USD', points: 123, qualifyingPoints: 123 }],
    })]);
    expect(rows.state).toEqual([]);
    await expectLedgerTrue(t, [member]);
  });

  describe('on a ladder', () => {
    const start = new Date('2032-06-01T00:00:00.000Z');
    beforeEach(async () => {
      await setClock(t, start.toISOString());
      await configure(t);
    });

    /** A member at SILVER since `start`, upgraded by its first purchase. */
    async function silverMember(prefix: string): Promise<string> {
      const member = await enroll(t, prefix);
      ok(await purchase(t, member, '150.00'));
      const [state] = (await rowsOf(t, member)).state as { tier_code: string }[];
      expect(state?.tier_code).toBe('SILVER');
      return member;
    }

    test('the held rung\'s multiplier; a purchase that meets a rung above upgrades to it, earning at the rung held before', async () => {
      const member = await silverMember('direct-silver');
      const at = new Date(start.getTime() + 60_000);
      const { outcome } = await direct(member, '100.00', at);
      expect(outcome.written?.rung.code).toBe('SILVER');
      expect(outcome.written?.entry).toMatchObject({ points: 125, qualifying_points: 100 });
      expect(outcome.written?.rung.breakdown).toEqual([
        { source: 'BASE', description: '1.0000 points per USD', points: 100, qualifyingPoints: 100 },
        { source: 'TIER_MULTIPLIER', description: 'Silver ×1.25', points: 25, qualifyingPoints: 0 },
      ]);
      // 250 qualifying points so far. With 160 more: 410 points and 410.00 spent, but three
      // purchases of the six GOLD also asks for (ALL): not met.
      const before = await rowsOf(t, member);
      const later = new Date(at.getTime() + 60_000);
      expect((await direct(member, '160.00', later)).outcome.written?.rung.code).toBe('SILVER');
      // Three more purchases bring six: the sixth upgrades to GOLD, as tiers.engine applyActivity
      // does, and earns at the rung held before it: SILVER's ×1.25 of 1 point.
      await direct(member, '1.00', new Date(later.getTime() + 1_000));
      await direct(member, '1.00', new Date(later.getTime() + 2_000));
      const sixth = new Date(later.getTime() + 3_000);
      const beforeSixth = await rowsOf(t, member);
      expect(beforeSixth.entries.length).toBe(before.entries.length + 3);
      expect(beforeSixth.state).toEqual([expect.objectContaining({ tier_code: 'SILVER', version: 1 })]);
      expect((await direct(member, '1.00', sixth)).outcome.written).toMatchObject({ rung: { code: 'SILVER' }, entry: { points: 1, qualifying_points: 1 } });
      const after = await rowsOf(t, member);
      // Status gained in 2032 holds to the end of 2033.
      expect(after.state).toEqual([{
        tier_code: 'GOLD', since: sixth, valid_until: new Date('2034-01-01T00:00:00.000Z'), grace_until: null, lifetime_code: null,
        assigned_code: null, assigned_until: null, version: 2, expiry_frozen: false, updated_at: sixth,
      }]);
      expect(after.history.at(-1)).toEqual({
        at: sixth, from_code: 'SILVER', to_code: 'GOLD', reason: 'UPGRADE', valid_until: new Date('2034-01-01T00:00:00.000Z'),
        previous_valid_until: new Date('2034-01-01T00:00:00.000Z'), previous_since: start, note: null, created_at: sixth,
      });
      expect(after.history).toHaveLength(beforeSixth.history.length + 1);
      await setClock(t, sixth.toISOString());
      const gold = ok(await purchase(t, member, '10.00')).recordPurchase;
      expect(gold).toMatchObject({ pointsEarned: 15, member: { tier: { current: { code: 'GOLD' } } } });
      await expectLedgerTrue(t, [member]);
    });

    test('an assignment still running earns at the assigned rung', async () => {
      const member = await silverMember('direct-assigned');
      ok(await t.gql(ASSIGN, { input: { memberId: member, tierCode: 'PLATINUM', until: '2032-07-01T00:00:00.000Z', reason: 'test' } }));
      const { outcome } = await direct(member, '10.00', new Date(start.getTime() + 60_000));
      expect(outcome.written).toMatchObject({ rung: { code: 'PLATINUM' }, entry: { points: 20, qualifying_points: 10 } });
    });

    test('a member\'s first activity stores the tier state the tier engine stores then: the lowest rung since enrolment', async () => {
      const member = await enroll(t, 'direct-first');
      const at = new Date(start.getTime() + 60_000);
      const { outcome } = await direct(member, '10.00', at);
      expect(outcome.written).toMatchObject({ rung: { code: 'MEMBER' }, entry: { points: 10, qualifying_points: 10 } });
      const { rows: [enrolled] } = await sql<{ enrolled_at: Date }>`select enrolled_at from members where id = ${member}`.execute(t.database.db);
      const rows = await rowsOf(t, member);
      expect(rows.state).toEqual([{
        tier_code: 'MEMBER', since: enrolled?.enrolled_at, valid_until: null, grace_until: null, lifetime_code: null,
        assigned_code: null, assigned_until: null, version: 1, expiry_frozen: false, updated_at: at,
      }]);
      expect(rows.history).toEqual([]);
      // The next purchase finds the state and takes the statement again.
      expect((await direct(member, '5.00', new Date(at.getTime() + 1_000))).outcome.written?.rung.code).toBe('MEMBER');
      await expectLedgerTrue(t, [member]);
    });

    test('first purchases racing for one member store one tier state, and every purchase is credited once', async () => {
      const member = await enroll(t, 'direct-first-race');
      await setClock(t, new Date(start.getTime() + 60_000).toISOString());
      const results = await Promise.all(Array.from({ length: 12 }, () => purchase(t, member, '3.00')));
      expect(results.map((r) => ok(r).recordPurchase.pointsEarned)).toEqual(Array(12).fill(3));
      const rows = await rowsOf(t, member);
      expect(rows.state).toEqual([expect.objectContaining({ tier_code: 'MEMBER', version: 1 })]);
      expect(rows.entries).toHaveLength(12);
      expect(rows.member).toEqual([expect.objectContaining({ lifetime_earned: 36 })]);
      await expectLedgerTrue(t, [member]);
    });

    test('purchases racing for one member across two rungs upgrade once at each, in order', async () => {
      const member = await enroll(t, 'direct-upgrade-race');
      await setClock(t, new Date(start.getTime() + 60_000).toISOString());
      // SILVER at 100 qualifying points; GOLD at 400 points, 350.00 spent and six purchases (ALL).
      const results = await Promise.all(Array.from({ length: 12 }, () => purchase(t, member, '50.00')));
      const earned = results.map((r) => ok(r).recordPurchase.pointsEarned as number);
      const rows = await rowsOf(t, member);
      expect(rows.history.map((h) => (h as { to_code: string }).to_code)).toEqual(['SILVER', 'GOLD']);
      // Stored at the first purchase (version 1), then moved on at each upgrade.
      expect(rows.state).toEqual([expect.objectContaining({ tier_code: 'GOLD', version: 3 })]);
      expect(rows.entries).toHaveLength(12);
      // Each purchase earned at the rung held when it was written: ×1, ×1.25 or ×1.5 of 50.
      expect(earned.every((p) => [50, 62, 75].includes(p))).toBe(true);
      expect(rows.member).toEqual([expect.objectContaining({ lifetime_earned: earned.reduce((a, p) => a + p, 0) })]);
      await expectLedgerTrue(t, [member]);
    });

    test('a first activity that upgrades stores the upgraded state, with its history from the lowest rung since enrolment', async () => {
      const member = await enroll(t, 'direct-first-up');
      const at = new Date(start.getTime() + 60_000);
      expect((await direct(member, '150.00', at)).outcome.written).toMatchObject({ rung: { code: 'MEMBER' }, entry: { points: 150 } });
      const { rows: [enrolled] } = await sql<{ enrolled_at: Date }>`select enrolled_at from members where id = ${member}`.execute(t.database.db);
      const rows = await rowsOf(t, member);
      expect(rows.state).toEqual([{
        tier_code: 'SILVER', since: at, valid_until: new Date('2034-01-01T00:00:00.000Z'), grace_until: null, lifetime_code: null,
        assigned_code: null, assigned_until: null, version: 1, expiry_frozen: false, updated_at: at,
      }]);
      expect(rows.history).toEqual([{
        at, from_code: 'MEMBER', to_code: 'SILVER', reason: 'UPGRADE', valid_until: new Date('2034-01-01T00:00:00.000Z'),
        previous_valid_until: null, previous_since: enrolled?.enrolled_at, note: null, created_at: at,
      }]);
      await setClock(t, at.toISOString());
      expect(ok(await purchase(t, member, '10.00')).recordPurchase).toMatchObject({ pointsEarned: 12, member: { tier: { current: { code: 'SILVER' } } } });
      await expectLedgerTrue(t, [member]);
    });

    test('a ladder changed between purchases: the statement reads the thresholds as they are now', async () => {
      const member = await enroll(t, 'direct-moved');
      const at = new Date(start.getTime() + 60_000);
      expect((await direct(member, '60.00', at)).outcome.written?.rung.code).toBe('MEMBER');
      // SILVER moves from 100 qualifying points to 150; nothing else about the ladder changes.
      const moved = LADDER.map((rung) => (rung.code === 'SILVER' ? { ...rung, qualifyingPointsRequired: 150 } : rung));
      ok(await t.gql(SET_TIERS, { tiers: moved }));
      expect((await direct(member, '60.00', new Date(at.getTime() + 1_000))).outcome.written?.rung.code).toBe('MEMBER');
      expect((await rowsOf(t, member)).state).toEqual([expect.objectContaining({ tier_code: 'MEMBER', version: 1 })]);
      // 160 points pass 150.
      expect((await direct(member, '40.00', new Date(at.getTime() + 2_000))).outcome.written?.rung.code).toBe('MEMBER');
      expect((await rowsOf(t, member)).state).toEqual([expect.objectContaining({ tier_code: 'SILVER', version: 2 })]);
      await expectLedgerTrue(t, [member]);
    });

    describe('several purchases in one statement', () => {
      const at = new Date(start.getTime() + 60_000);
      /** A purchase's plan as the API makes it, the order's id its own. */
      async function planFor(memberId: string, amount: string, now = at, orderId = key('order')): Promise<PurchaseAtOnce> {
        const plan = atOncePlan(await getProgram(t.database.db), {
          memberId, orderId, amount, currency: 'USD', channel: 'web', items: null, occurredAt: now, hash: `hash-${amount}`, now,
          partnerId: null, actor: 'admin:test-admin',
        });
        if (!plan) throw new Error('no plan for this programme');
        return { ...plan, count: null };
      }
      /** rowsOf without what names the order or the member: each side's are its own. */
      async function rowsWithoutIds(memberId: string) {
        const rows = await rowsOf(t, memberId);
        const strip = (list: unknown[]) => list.map((row) => {
          const { order_id: _order, description: _description, request_hash: _hash, ...rest } = row as Record<string, unknown>;
          return rest;
        });
        return { ...rows, entries: strip(rows.entries), orders: strip(rows.orders) };
      }
      /** Twin members in the same states: a first activity, a first activity that upgrades, a SILVER member, a suspended one. */
      async function twins(side: string) {
        const first = await enroll(t, `batch-first-${side}`);
        const firstUp = await enroll(t, `batch-first-up-${side}`);
        const silver = await silverMember(`batch-silver-${side}`);
        const suspended = await silverMember(`batch-suspended-${side}`);
        ok(await t.gql(SET_STATUS, { input: { id: suspended, status: 'SUSPENDED' } }));
        return [first, firstUp, silver, suspended];
      }
      /** The twins' purchases, in order: 10.00, 150.00, 100.00 and 5.00. */
      const AMOUNTS = ['10.00', '150.00', '100.00', '5.00'];

      test('a batch writes for each purchase the rows it writes alone, and answers in the order given', async () => {
        const alone = await twins('alone');
        const together = await twins('together');
        const one = [];
        for (const [i, member] of alone.entries()) one.push(await purchaseAtOnce(t.database.db, await planFor(member, AMOUNTS[i] as string)));
        const plans = await Promise.all(together.map((member, i) => planFor(member, AMOUNTS[i] as string)));
        // A member that does not exist, at the end: nothing written for it, and the others unaffected.
        plans.push(await planFor(randomUUID(), '7.00'));
        const many = await purchasesAtOnce(t.database.db, plans);

        expect(many).toHaveLength(5);
        const summary = (o: PurchaseAtOnceOutcome) => o.written && {
          rung: o.written.rung.code, points: o.written.entry.points, lifetime: o.written.member.lifetime_earned, member: o.written.member.id,
        };
        expect(one.map(summary)).toEqual([
          { rung: 'MEMBER', points: 10, lifetime: 10, member: alone[0] },
          { rung: 'MEMBER', points: 150, lifetime: 150, member: alone[1] },
          { rung: 'SILVER', points: 125, lifetime: 275, member: alone[2] },
          null,
        ]);
        expect(many.map(summary)).toEqual([
          ...one.map((o, i) => o.written && { ...summary(o), member: together[i] }),
          null,
        ]);
        many.slice(0, 3).forEach((o, i) => expect(o.written?.entry).toMatchObject({ id: plans[i]?.txnId, order_id: plans[i]?.orderId, member_id: together[i] }));
        for (const [i, member] of together.entries()) expect(await rowsWithoutIds(member)).toEqual(await rowsWithoutIds(alone[i] as string));
        // The first activity that upgraded stored SILVER with its history row; the others as alone.
        expect((await rowsOf(t, together[1] as string)).history).toEqual([expect.objectContaining({ from_code: 'MEMBER', to_code: 'SILVER', reason: 'UPGRADE', at })]);
        await expectLedgerTrue(t, together);
      });

      test('purchases that arrive together share a statement; one for the same member, or the same order, waits for the next', async () => {
        const members = await Promise.all(['a', 'b', 'c'].map((name) => enroll(t, `batch-turn-${name}`)));
        let statements = 0;
        const counting = t.database.db.withPlugin({
          transformQuery: (args) => args.node,
          transformResult: async (args) => { statements++; return args.result; },
        });
        const batcher = new PurchaseBatcher(counting, 16);
        const plans = await Promise.all(members.map((member) => planFor(member, '10.00')));
        const outcomes = await Promise.all(plans.map((plan) => batcher.run(plan)));
        expect(statements).toBe(1);
        expect(outcomes.map((o) => o.written?.member.id)).toEqual(members);

        // The same member twice, and one order for two members: more statements, and each purchase as alone.
        statements = 0;
        const [a, b, c] = members as [string, string, string];
        const again = [await planFor(a, '1.00'), await planFor(a, '2.00'), await planFor(b, '3.00')];
        const clash = await planFor(c, '4.00', at, again[2]?.orderId);
        const results = await Promise.all([...again, clash].map((plan) => batcher.run(plan)));
        expect(statements).toBeGreaterThanOrEqual(2);
        expect(results.slice(0, 2).map((o) => o.written?.entry.points)).toEqual([1, 2]);
        // The order is recorded once, for whichever purchase the database took first; the other is left to the general path.
        const [forB, forC] = results.slice(2).map((o) => o.written?.entry.points ?? null);
        expect([forB, forC].filter((points) => points !== null)).toHaveLength(1);
        expect((await rowsOf(t, a)).member).toEqual([expect.objectContaining({ lifetime_earned: 13 })]);
        expect((await rowsOf(t, b)).member).toEqual([expect.objectContaining({ lifetime_earned: 10 + (forB ?? 0) })]);
        expect((await rowsOf(t, c)).member).toEqual([expect.objectContaining({ lifetime_earned: 10 + (forC ?? 0) })]);
        await expectLedgerTrue(t, members);
      });

      test('each purchase\'s rate-limit count runs inside the batch: every caller counted once, a refused count writes nothing', async () => {
        const members = await Promise.all(['a', 'b', 'c'].map((name) => enroll(t, `batch-count-${name}`)));
        const callers = members.map(() => key('caller'));
        // The third caller is at the limit of 5 already.
        await sql`insert into rate_limits (key, points) values (${callers[2]}, 5)`.execute(t.database.db);
        const answered: Record<string, unknown>[] = [];
        const counted = (caller: string): Embedded => ({
          text: 'insert into rate_limits (key, points) values ($1, $2) on conflict (key) do update set points = rate_limits.points + $2 returning key, points',
          values: [caller, 1], key: 'test-count|5', subject: caller,
          allows: (alias) => sql<boolean>`(${sql.ref(`${alias}.points`)} <= ${sql.lit(5)})`,
          answer: (row) => answered.push(row), owedAgain: () => undefined,
        });
        const plans = await Promise.all(members.map(async (member, i) => ({ ...(await planFor(member, '10.00')), count: counted(callers[i] as string) })));
        const outcomes = await purchasesAtOnce(t.database.db, plans);
        expect(outcomes.map((o) => o.counted)).toEqual([{ key: callers[0], points: 1 }, { key: callers[1], points: 1 }, { key: callers[2], points: 6 }]);
        expect(outcomes.map((o) => o.written?.entry.points ?? null)).toEqual([10, 10, null]);
        const { rows } = await sql<{ key: string; points: number }>`select key, points from rate_limits where key = any(${callers}::text[]) order by points, key`.execute(t.database.db);
        expect(rows).toEqual([...[callers[0], callers[1]].sort().map((caller) => ({ key: caller, points: 1 })), { key: callers[2], points: 6 }]);
        expect((await rowsOf(t, members[2] as string)).entries).toEqual([]);
        await expectLedgerTrue(t, members);
      });

      test('a batch the server refuses runs each purchase alone: the one at fault fails alone, the others are written', async () => {
        const members = await Promise.all(['a', 'b', 'c'].map((name) => enroll(t, `batch-refused-${name}`)));
        const first = await planFor(members[0] as string, '10.00');
        ok(await purchase(t, members[2] as string, '1.00'));
        // The third purchase's entry would take an id already in the ledger: a unique violation.
        const { rows: [taken] } = await sql<{ id: string }>`select id from points_transactions where member_id = ${members[2]}`.execute(t.database.db);
        const faulty = { ...(await planFor(members[2] as string, '30.00')), txnId: taken?.id as string };
        const batcher = new PurchaseBatcher(t.database.db, 16);
        const [one, two, three] = await Promise.allSettled([first, await planFor(members[1] as string, '20.00'), faulty].map((plan) => batcher.run(plan)));
        expect(one).toMatchObject({ status: 'fulfilled', value: { written: { entry: { points: 10 } } } });
        expect(two).toMatchObject({ status: 'fulfilled', value: { written: { entry: { points: 20 } } } });
        expect(three).toMatchObject({ status: 'rejected', reason: { code: '23505' } });
        expect((await rowsOf(t, members[2] as string)).entries).toHaveLength(1);
        await expectLedgerTrue(t, members);
      });
    });

    describe('where the general path must decide, nothing is written', () => {
      async function expectNothing(member: string, amount: string, now: Date, orderId?: string) {
        const before = await rowsOf(t, member);
        expect((await direct(member, amount, now, orderId)).outcome.written).toBeNull();
        expect(await rowsOf(t, member)).toEqual(before);
      }
      const soon = new Date(start.getTime() + 60_000);

      test('a recorded order, a suspended member, a missing member, an instant before the member\'s last change', async () => {
        const member = await silverMember('direct-refused');
        const orderId = key('order');
        ok(await purchase(t, member, '5.00', orderId));
        await expectNothing(member, '5.00', soon, orderId);
        await expectNothing(member, '5.00', new Date(start.getTime() - 1));
        ok(await t.gql(SET_STATUS, { input: { id: member, status: 'SUSPENDED' } }));
        await expectNothing(member, '5.00', soon);
        expect((await direct(randomUUID(), '5.00', soon)).outcome.written).toBeNull();
      });

      test('a lot past its expiry, a debt', async () => {
        const member = await silverMember('direct-due');
        await updateProgram(t, { expiry: { mode: 'FIXED', months: 1 } });
        ok(await purchase(t, member, '5.00'));
        await expectNothing(member, '5.00', new Date('2032-07-02T00:00:00.000Z'));
        const owing = await silverMember('direct-debt');
        await sql`update members set debt = 3 where id = ${owing}`.execute(t.database.db);
        await expectNothing(owing, '5.00', soon);
        await sql`update members set debt = 0 where id = ${owing}`.execute(t.database.db);
      });

      test('a review or an assignment\'s end due, a grace period running, lifetime status', async () => {
        const member = await silverMember('direct-review');
        // SILVER gained in 2032 holds to the end of 2033; its review is due after that.
        await expectNothing(member, '5.00', new Date('2034-01-01T00:00:00.000Z'));
        const assigned = await silverMember('direct-assignment-end');
        ok(await t.gql(ASSIGN, { input: { memberId: assigned, tierCode: 'PLATINUM', until: '2032-06-10T00:00:00.000Z', reason: 'test' } }));
        await expectNothing(assigned, '5.00', new Date('2032-06-10T00:00:00.000Z'));
        const graced = await silverMember('direct-grace');
        await sql`update member_tiers set grace_until = '2034-03-01T00:00:00Z' where member_id = ${graced}`.execute(t.database.db);
        await expectNothing(graced, '5.00', soon);
        const lifetime = await silverMember('direct-lifetime');
        await sql`update member_tiers set lifetime_code = 'SILVER' where member_id = ${lifetime}`.execute(t.database.db);
        await expectNothing(lifetime, '5.00', soon);
      });

      test('an upgrade of a state whose expiry is marked frozen (the engine would re-date lots)', async () => {
        const member = await silverMember('direct-frozen');
        await sql`update member_tiers set expiry_frozen = true where member_id = ${member}`.execute(t.database.db);
        // 150 + 300 qualifying points pass GOLD's 400, but GOLD also asks for six purchases (ALL):
        // a purchase that does not upgrade is still written.
        expect((await direct(member, '10.00', soon)).outcome.written).toMatchObject({ rung: { code: 'SILVER' } });
        for (let k = 1; k <= 3; k++) expect((await direct(member, '100.00', new Date(soon.getTime() + k * 1_000))).outcome.written).not.toBeNull();
        await expectNothing(member, '100.00', new Date(soon.getTime() + 4_000));
      });

      test('a member row that changed while the statement waited for its lock', async () => {
        const member = await silverMember('direct-changed');
        // Another writer moves the member up the ladder under the member's lock, as the tier engine does.
        const { written } = (await whileLockHeld(t, member, async (tx) => {
          await sql`update member_tiers set tier_code = 'GOLD', version = version + 1 where member_id = ${member}`.execute(tx);
          await sql`update members set updated_at = ${start} where id = ${member}`.execute(tx);
        }, () => direct(member, '10.00', soon))).outcome;
        // On PostgreSQL, without the row's version check it would credit ×1.25 from the SILVER
        // state its snapshot saw. PGlite ran it after the writer, from a snapshot that sees GOLD.
        if (t.database.kind === 'postgres') expect(written).toBeNull();
        else expect(written).toMatchObject({ rung: { code: 'GOLD' }, entry: { points: 15 } });
        expect((await direct(member, '10.00', soon)).outcome.written).toMatchObject({ rung: { code: 'GOLD' }, entry: { points: 15 } });
      });
    });
  });

  test('the statement\'s threshold test is tiers.rules meetsTier', async () => {
    // A small deterministic generator: thresholds with and without spend and purchases, ANY and ALL, figures around them.
    let seed = 7;
    const next = (n: number) => { seed = (seed * 48_271) % 2_147_483_647; return seed % n; };
    const cases = Array.from({ length: 400 }, () => {
      const tier = {
        qualifying_points_required: next(5) * 100,
        qualifying_spend_required: next(3) === 0 ? null : `${next(4) * 100}.${String(next(100)).padStart(2, '0')}`,
        qualifying_purchases_required: next(3) === 0 ? null : next(5),
        threshold_match: next(2) === 0 ? 'ANY' : 'ALL',
      } as unknown as TierView;
      const m = { points: next(5) * 100 + next(3) - 1, spendCents: next(4) * 10_000 + next(100) + next(3) - 1, purchases: next(6) };
      return { tier, m };
    });
    const rungs = JSON.stringify(cases.map(({ tier }, i) => ({ i, ...thresholdsOf(tier) })));
    const figures = JSON.stringify(cases.map(({ m }, i) => ({ i, qp: m.points, spendCents: m.spendCents, purchases: m.purchases })));
    const { rows } = await sql<{ i: number; met: boolean }>`
      select r.i, ${tierMetSql('r', 'f')} as met
      from jsonb_to_recordset(${rungs}::jsonb) as r(i int, points int, "spendCents" bigint, purchases int, "matchAll" boolean)
      join jsonb_to_recordset(${figures}::jsonb) as f(i int, qp int, "spendCents" bigint, purchases int) on f.i = r.i
      order by r.i`.execute(t.database.db);
    const expected = cases.map(({ tier, m }, i) => ({ i, met: meetsTier(tier, m) }));
    expect(rows).toEqual(expected);
    // Both answers occur, for each way of matching.
    for (const match of ['ANY', 'ALL']) {
      const seen = new Set(cases.filter((c) => c.tier.threshold_match === match).map((c) => meetsTier(c.tier, c.m)));
      expect(seen).toEqual(new Set([true, false]));
    }
  });
});
