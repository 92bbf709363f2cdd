import type { Db } from '../../src/db/database';
import { UnitOfWork } from '../../src/ledger/unit-of-work';
import { tierStatusRules } from '../../src/tiers/tiers.service';
import { verifyLedger } from '../../src/ledger/verify.repo';
import { getProgram } from '../../src/program/program.service';
import type { ProgramView } from '../../src/program/program.types';
import * as engine from '../../src/tiers/tiers.engine';
import { higher, lifetimeTier, qualifiedTier } from '../../src/tiers/tiers.rules';
import { externalIdPrefix } from '../../scripts/lib/seed-model';
import { seedMembers, type SeedSummary } from '../../scripts/lib/seeder';
import { SEED_LADDER } from '../../scripts/lib/seed-tiers';
import { startTestApp, type TestApp } from '../support/harness';

const SEED = 7;
const AS_OF = new Date('2026-06-15T00:00:00Z');

const SET_CLOCK = `mutation($now: DateTime!) { setTestClock(now: $now) }`;
const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
const TIER_SETTINGS = `mutation($input: TierSettingsInput!) { updateTierSettings(input: $input) { qualificationWindow } }`;
const MEMBER_TIER = `query($id: ID!) { member(id: $id) {
  tier { current { code } earnedTier { code } since validUntil qualifyingPoints qualifyingSpend qualifyingPurchases lifetimeQualifyingPoints expiryFrozen }
  tierHistory { fromTier toTier reason at validUntil }
} }`;

let t: TestApp;
beforeEach(async () => { t = await startTestApp(); });
afterEach(async () => { await t.close(); });

async function ok(query: string, variables: Record<string, unknown> = {}) {
  const res = await t.gql(query, variables);
  expect(res.errors).toBeUndefined();
  return res.data as Record<string, any>;
}

/** Runs the seeder as `npm run seed` does, with the programme's current earn settings. */
async function seed(members: number): Promise<SeedSummary> {
  const program = await getProgram(t.database.db);
  return seedMembers(t.database, {
    members, seed: SEED, asOf: AS_OF, config: t.config, earnRate: program.earn_rate,
    earnMultiplier: String(program.tiers[0]?.earn_multiplier ?? '1'), pointsName: program.points_name, currency: program.currency,
  });
}

async function seededIds(): Promise<string[]> {
  const rows = await t.database.db.selectFrom('members').select('id').where('external_id', 'like', `${externalIdPrefix(SEED)}%`).orderBy('id').execute();
  return rows.map((r) => r.id);
}

/** The member's tier state, its history and the member row's updated_at (persist touches it). */
async function tierRows(db: Db, memberId: string) {
  const state = (await db.selectFrom('member_tiers').selectAll().where('member_id', '=', memberId).executeTakeFirst()) ?? null;
  const { updated_at: memberUpdatedAt } = await db.selectFrom('members').select('updated_at').where('id', '=', memberId).executeTakeFirstOrThrow();
  const history = await db.selectFrom('tier_history')
    .select(['member_id', 'at', 'from_code', 'to_code', 'reason', 'valid_until', 'previous_valid_until', 'previous_since', 'note', 'created_at'])
    .where('member_id', '=', memberId).orderBy('seq').execute();
  return { state, history, memberUpdatedAt };
}

class Rollback extends Error {}

/** What the tier engine writes for the member when the ladder is launched at AS_OF over no prior state (rolled back afterwards). */
async function engineLaunch(program: ProgramView, memberId: string) {
  let written: Awaited<ReturnType<typeof tierRows>> | undefined;
  await t.database.db.transaction().execute(async (tx) => {
    await tx.deleteFrom('tier_history').where('member_id', '=', memberId).execute();
    await tx.deleteFrom('member_tiers').where('member_id', '=', memberId).execute();
    const member = await tx.selectFrom('members').selectAll().where('id', '=', memberId).forUpdate().executeTakeFirstOrThrow();
    // The engine's writes as a unit of work plans them, written inside this transaction.
    const work = new UnitOfWork(tx, program, tierStatusRules, 'locked', false);
    work.adopt({ member, version: null, hasDueLots: false, probed: false, openLots: null, extras: [], unchanged: true, counted: null }, AS_OF);
    await work.start(AS_OF);
    const ev = await engine.load(work, member, program);
    await engine.applyActivity(work, member, program, ev, AS_OF);
    await engine.persist(work, program, ev);
    await work.written();
    written = await tierRows(tx, memberId);
    throw new Rollback();
  }).catch((error: unknown) => { if (!(error instanceof Rollback)) throw error; });
  return written as Awaited<ReturnType<typeof tierRows>>;
}

/**
 * For every seeded member: the stored state and history are exactly what the engine writes,
 * and the API at AS_OF reports the stored tier, the one its qualifying activity (window or
 * lifetime) earns.
 * Returns how many members hold each tier.
 */
async function expectEngineAndApiAgree(): Promise<Map<string, number>> {
  const program = await getProgram(t.database.db);
  await ok(SET_CLOCK, { now: AS_OF.toISOString() });
  const held = new Map<string, number>();
  for (const id of await seededIds()) {
    const stored = await tierRows(t.database.db, id);
    expect(stored).toEqual(await engineLaunch(program, id));
    const { tier, tierHistory } = (await ok(MEMBER_TIER, { id })).member;
    const code = stored.state?.tier_code ?? engine.lowest(program).code;
    expect(tier.current.code).toBe(code);
    expect(tier.earnedTier.code).toBe(code);
    expect(tier.since).toBe((stored.state?.since ?? (await enrolledAt(id))).toISOString());
    expect(tier.validUntil).toBe(stored.state?.valid_until?.toISOString() ?? null);
    const spendCents = Math.round(Number(tier.qualifyingSpend) * 100);
    const earned = qualifiedTier(program.tiers, { points: tier.qualifyingPoints, spendCents, purchases: tier.qualifyingPurchases });
    expect(higher(earned, lifetimeTier(program.tiers, tier.lifetimeQualifyingPoints)).code).toBe(code);
    expect(tier.expiryFrozen).toBe(stored.state?.expiry_frozen ?? false);
    expect(tierHistory).toEqual([...stored.history].reverse().map((h) => ({
      fromTier: h.from_code, toTier: h.to_code, reason: h.reason, at: h.at.toISOString(), validUntil: h.valid_until?.toISOString() ?? null,
    })));
    held.set(code, (held.get(code) ?? 0) + 1);
  }
  return held;
}

async function enrolledAt(id: string): Promise<Date> {
  return (await t.database.db.selectFrom('members').select('enrolled_at').where('id', '=', id).executeTakeFirstOrThrow()).enrolled_at;
}

async function count(table: 'member_tiers' | 'tier_history' | 'complaints'): Promise<number> {
  const row = await t.database.db.selectFrom(table).select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

async function expectLedgerVerifies(members: number) {
  const report = await verifyLedger(t.database.db);
  expect(report.membersChecked).toBe(members);
  expect(report.drift).toEqual([]);
}

const distribution = (summary: SeedSummary) => Object.fromEntries(summary.tiers.distribution.map((d) => [d.code, d.members]));

/** What the seeded programme's insights say at AS_OF: answers, complaints, drifting members, a Pareto split. */
async function expectSeededInsights(): Promise<void> {
  await ok(SET_CLOCK, { now: AS_OF.toISOString() });
  const { runMaintenance } = await ok('mutation { runMaintenance { loyaltyRefreshed } }');
  expect(runMaintenance.loyaltyRefreshed).toBe(300);
  const year = { from: new Date(AS_OF.getTime() - 365 * 86_400_000).toISOString(), to: AS_OF.toISOString() };
  const { programInsights: p } = await ok(`query($from: DateTime!, $to: DateTime!) { programInsights(from: $from, to: $to) {
    nps { score responses promoters detractors monthly { month } } pareto { buyers topShare } repeatPurchaseRate
    membersByStage { key count } churnRisk { key count } atRisk(first: 5) { id }
    complaints { filed resolved medianHoursToResolve resolvedWithinSla } points { issued redeemed expired outstanding } } }`, year);
  const counts = (list: { key: string; count: number }[]) => Object.fromEntries(list.map((c) => [c.key, c.count]));
  expect(p.nps.responses).toBeGreaterThan(20);
  expect(p.nps.promoters).toBeGreaterThan(0);
  expect(p.nps.detractors).toBeGreaterThan(0);
  expect(p.nps.monthly.length).toBeGreaterThan(6);
  // Pareto spend: the top fifth of buyers carries well over a fifth of the spend.
  expect(p.pareto.topShare).toBeGreaterThan(0.4);
  expect(p.repeatPurchaseRate).toBeGreaterThan(0);
  const stages = counts(p.membersByStage);
  expect(Object.values(stages).reduce((a: number, b) => a + (b as number), 0)).toBe(300);
  for (const stage of ['FIRST_TIME', 'REPEAT', 'ADVOCATE']) expect(stages[stage]).toBeGreaterThan(0);
  expect(counts(p.churnRisk).HIGH).toBeGreaterThan(20);
  expect(p.atRisk).toHaveLength(5);
  expect(p.complaints.filed).toBeGreaterThan(0);
  expect(p.complaints.resolved).toBeGreaterThan(0);
  expect(p.points.issued).toBeGreaterThan(p.points.redeemed);
  // Goodwill points are credited as BONUS entries the ledger accounts for.
  expect(await count('complaints')).toBeGreaterThan(0);
  }

test('a seeded programme gets the ladder, and every member the tier the engine and the API give it at --as-of, and its insights have something true to say', async () => {
  const summary = await seed(300);
  expect(summary.membersAdded).toBe(300);
  expect(summary.tiers.ladderSet).toBe(true);
  expect((await getProgram(t.database.db)).tiers.map((tier) => [tier.code, tier.qualifying_points_required, Number(tier.earn_multiplier)]))
    .toEqual(SEED_LADDER.map((tier) => [tier.code, tier.qualifyingPointsRequired, tier.earnMultiplier]));
  const held = await expectEngineAndApiAgree();
  expect(distribution(summary)).toEqual(Object.fromEntries(SEED_LADDER.map((tier) => [tier.code, held.get(tier.code) ?? 0])));
  expect([...held.values()].reduce((a, b) => a + b, 0)).toBe(300);
  expect(held.size).toBeGreaterThan(1);
  expect(held.get('MEMBER')).toBeGreaterThan(150);
  // Only members above the lowest rung have a row, each with its one UPGRADE.
  expect(await count('member_tiers')).toBe(300 - (held.get('MEMBER') ?? 0));
  expect(summary.tiers.stored).toBe(await count('member_tiers'));
  expect(await count('tier_history')).toBe(await count('member_tiers'));
  await expectSeededInsights();
  await expectLedgerVerifies(300);
});

test('a database seeded before tiers gets the ladder and the states on the next run, and a re-run adds nothing', async () => {
  await seed(200);
  // What a database seeded before the ladder looks like: one rung, no tier states.
  await t.database.db.deleteFrom('tier_history').execute();
  await t.database.db.deleteFrom('member_tiers').execute();
  await ok(SET_TIERS, { tiers: [{ code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 }] });

  const resumed = await seed(300);
  expect(resumed).toMatchObject({ membersBefore: 200, membersAdded: 100, tiers: { ladderSet: true, checked: 300 } });
  const held = await expectEngineAndApiAgree();
  expect(held.size).toBeGreaterThan(1);
  const states = await count('member_tiers');
  expect(resumed.tiers.stored).toBe(states);

  const again = await seed(300);
  expect(again).toMatchObject({ membersAdded: 0, tiers: { ladderSet: false, stored: 0, historyRows: 0 } });
  expect(again.tiers.checked).toBe(held.get('MEMBER'));
  expect(distribution(again)).toEqual(distribution(resumed));
  expect(await count('member_tiers')).toBe(states);
  expect(await count('tier_history')).toBe(states);
  await expectLedgerVerifies(300);
});

test('a ladder already configured is kept: spend and purchase thresholds, membership-year window, invitation-only rung, expiry freeze', async () => {
  await ok(SET_TIERS, { tiers: [
    { code: 'BASIC', name: 'Basic', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
    { code: 'REGULAR', name: 'Regular', rank: 1, qualifyingPointsRequired: 60, qualifyingPurchasesRequired: 2, thresholdMatch: 'ALL', earnMultiplier: 1.1 },
    { code: 'GUEST', name: 'Guest', rank: 2, qualifyingPointsRequired: 0, earnMultiplier: 1.2, invitationOnly: true },
    { code: 'ELITE', name: 'Elite', rank: 3, qualifyingPointsRequired: 500, qualifyingSpendRequired: '300.00', earnMultiplier: 1.5 },
  ] });
  await ok(TIER_SETTINGS, { input: { qualificationWindow: 'ANNIVERSARY_YEAR', freezeExpiryAtRank: 3 } });

  const summary = await seed(300);
  expect(summary.tiers.ladderSet).toBe(false);
  const held = await expectEngineAndApiAgree();
  expect(held.get('BASIC')).toBeGreaterThan(0);
  expect(held.get('REGULAR')).toBeGreaterThan(0);
  expect(held.get('ELITE')).toBeGreaterThan(0);
  expect(held.has('GUEST')).toBe(false);
  const frozen = await t.database.db.selectFrom('member_tiers').select(['tier_code', 'expiry_frozen']).distinct().orderBy('tier_code').execute();
  expect(frozen).toEqual([{ tier_code: 'ELITE', expiry_frozen: true }, { tier_code: 'REGULAR', expiry_frozen: false }]);
  await expectLedgerVerifies(300);
});

test('a ladder with lifetime status is launched through the engine itself, once', async () => {
  await ok(SET_TIERS, { tiers: [
    { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
    { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 150, earnMultiplier: 1.25, lifetimeQualifyingPointsRequired: 600 },
    { code: 'GOLD', name: 'Gold', rank: 2, qualifyingPointsRequired: 500, earnMultiplier: 1.5, lifetimeQualifyingPointsRequired: 3000 },
  ] });
  const summary = await seed(150);
  expect(summary.tiers.ladderSet).toBe(false);
  const held = await expectEngineAndApiAgree();
  expect(held.size).toBe(3);
  const lifetime = await t.database.db.selectFrom('tier_history').select('member_id').where('reason', '=', 'LIFETIME').execute();
  expect(lifetime.length).toBeGreaterThan(0);
  const rows = [await count('member_tiers'), await count('tier_history')];
  expect(await seed(150)).toMatchObject({ tiers: { stored: 0, historyRows: 0 } });
  expect([await count('member_tiers'), await count('tier_history')]).toEqual(rows);
  await expectLedgerVerifies(150);
});

