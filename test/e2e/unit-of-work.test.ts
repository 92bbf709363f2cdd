/**
 * The unit of work's guarantees, through operations written here against its public API alone
 * (runUnit, credit, debit, byKey), as a new feature would write them: racing retries apply
 * once, no overspend, a failure after planning writes nothing, nothing runs after the unit's
 * last statement, and a member changed under an optimistic unit sends it to the locked way. On
 * PGlite requests serialise on one connection; on PostgreSQL they really race.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { InvalidStateError, MEMBER_CHANGED } from '../../src/errors';
import { byKey } from '../../src/ledger/idempotency';
import { credit, debit } from '../../src/ledger/ledger.core';
import { findTransaction } from '../../src/ledger/ledger.repo';
import type { TransactionRow } from '../../src/ledger/ledger.types';
import { runUnit, type UnitEnv, type UnitOfWork } from '../../src/ledger/unit-of-work';
import { emptyPlan, writePlan } from '../../src/ledger/unit-of-work.repo';
import * as engine from '../../src/tiers/tiers.engine';
import { tierStatusRules } from '../../src/tiers/tiers.service';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, EARN, balance, enroll, expectLedgerTrue, ledgerRows, rowCounts, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

/** A request's environment for the unit, as a resolver's context gives it. */
function env(): UnitEnv {
  return { db: t.database.db, statements: t.database.statements, config: t.config, now: async () => new Date() };
}

/** Which way each attempt of an operation ran (optimistic, then locked where it fell back). */
type Ways = UnitOfWork['mode'][];

/** A throwaway operation: credits `points` for a test reason, idempotent by key. */
function grantPoints(memberId: string, points: number, key: string, ways: Ways = []): Promise<TransactionRow> {
  return runUnit(env(), {
    members: [memberId], status: tierStatusRules, replay: replayByKey(memberId, 'grantPoints', key, { points }),
  }, async (work) => {
    ways.push(work.mode);
    return credit(work, work.member(memberId), { type: 'ADJUST', points, description: 'test grant', actor: 'test' });
  });
}

/** A throwaway operation: spends `points`, never below zero, idempotent by key. */
function spendPoints(memberId: string, points: number, key: string): Promise<TransactionRow> {
  return runUnit(env(), {
    members: [memberId], status: tierStatusRules, lots: true, replay: replayByKey(memberId, 'spendPoints', key, { points }),
  }, (work) => debit(work, work.member(memberId), { type: 'REDEEM', points, description: 'test spend', actor: 'test' }, { mode: 'STRICT' }));
}

function replayByKey(memberId: string, operation: string, key: string, request: unknown) {
  return byKey({ scope: 'test', key, operation, hash: JSON.stringify(request), memberId }, 1, {
    store: (entry: TransactionRow) => ({ id: entry.id }),
    load: async (db, stored: { id: string }) => (await findTransaction(db, stored.id)) as TransactionRow,
  });
}

test('an operation written against the unit runs optimistically and writes its entry, lot and aggregates', async () => {
  const member = await enroll(t, 'uow-grant');
  const ways: Ways = [];
  const entry = await grantPoints(member, 250, randomUUID(), ways);
  expect(ways).toEqual(['optimistic']);
  expect(entry).toMatchObject({ member_id: member, type: 'ADJUST', points: 250 });
  expect(entry.seq).toBeGreaterThan(0);
  expect(await ledgerRows(t, member)).toEqual([expect.objectContaining({ id: entry.id, type: 'ADJUST', points: 250 })]);
  expect(await balance(t, member)).toMatchObject({ available: 250, lifetimeEarned: 250 });
  await expectLedgerTrue(t, [member]);
});

test('50 racing retries of one key apply once and all answer with the same entry', async () => {
  const member = await enroll(t, 'uow-retries');
  const key = randomUUID();
  const entries = await Promise.all(Array.from({ length: 50 }, () => grantPoints(member, 40, key)));
  expect(new Set(entries.map((e) => e.id)).size).toBe(1);
  expect(await ledgerRows(t, member)).toHaveLength(1);
  expect(await balance(t, member)).toMatchObject({ available: 40 });
  await expectLedgerTrue(t, [member]);
});

test('200 racing 10-point spends against 1,000 points: exactly 100 succeed, the rest INSUFFICIENT_POINTS', async () => {
  const member = await enroll(t, 'uow-spend');
  await grantPoints(member, 1000, randomUUID());
  const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => spendPoints(member, 10, randomUUID())));
  const spent = outcomes.filter((o) => o.status === 'fulfilled');
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  expect(spent).toHaveLength(100);
  expect(refused.map((o) => (o.reason as { code?: string }).code)).toEqual(Array(100).fill('INSUFFICIENT_POINTS'));
  expect(await balance(t, member)).toMatchObject({ available: 0, lifetimeRedeemed: 1000 });
  await expectLedgerTrue(t, [member]);
});

describe('an operation that fails after planning writes leaves nothing behind', () => {
  for (const [name, failure] of [
    ['a typed refusal', () => new InvalidStateError('refused after planning')],
    ['an unexpected error', () => new Error('broke after planning')],
  ] as const) {
    test(`${name}: the caller gets that error, and no row is written`, async () => {
      const member = await enroll(t, 'uow-throw');
      const before = await rowCounts(t);
      const ways: Ways = [];
      const attempt = runUnit(env(), { members: [member], status: tierStatusRules }, async (work) => {
        ways.push(work.mode);
        await credit(work, work.member(member), { type: 'ADJUST', points: 75, description: 'planned', actor: 'test' });
        work.write({ update: 'members', set: { name: 'written' }, where: { id: member } });
        throw failure();
      });
      await expect(attempt).rejects.toThrow(failure().message);
      // A typed refusal is decided again under the lock; an unexpected error ends the unit at once.
      expect(ways).toEqual(name === 'a typed refusal' ? ['optimistic', 'locked'] : ['optimistic']);
      expect(await rowCounts(t)).toEqual(before);
      expect(await ledgerRows(t, member)).toEqual([]);
      const { rows } = await sql<{ name: string | null }>`select name from members where id = ${member}`.execute(t.database.db);
      expect(rows[0]?.name).not.toBe('written');
    });
  }

  test('on the locked way, after an earlier statement of the unit was written, everything is rolled back', async () => {
    const member = await enroll(t, 'uow-throw-locked');
    const before = await rowCounts(t);
    const attempt = runUnit({ ...env(), statements: undefined }, { members: [member], status: tierStatusRules }, async (work) => {
      await credit(work, work.member(member), { type: 'ADJUST', points: 75, description: 'written early', actor: 'test' });
      await work.written();
      throw new InvalidStateError('refused after a write');
    });
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect(await rowCounts(t)).toEqual(before);
  });
});

test('nothing of an operation can run on the unit after its last statement', async () => {
  const member = await enroll(t, 'uow-after');
  let kept: UnitOfWork | undefined;
  await grantPoints(member, 5, randomUUID());
  await runUnit(env(), { members: [member], status: tierStatusRules }, async (work) => {
    kept = work;
    return credit(work, work.member(member), { type: 'ADJUST', points: 5, description: 'once', actor: 'test' });
  });
  const work = kept as UnitOfWork;
  expect(() => work.db).toThrow('nothing may run after it');
  expect(() => work.write({ update: 'members', set: { name: 'late' }, where: { id: member } })).toThrow('nothing may run after it');
  await expect(credit(work, work.member(member), { type: 'ADJUST', points: 5, description: 'late', actor: 'test' })).rejects.toThrow('nothing may run after it');
  expect(await balance(t, member)).toMatchObject({ available: 10 });
});

test('a member changed while an optimistic unit decided sends it to the locked way, which decides again', async () => {
  const member = await enroll(t, 'uow-changed');
  await grantPoints(member, 100, randomUUID());
  const ways: Ways = [];
  const spent = await runUnit(env(), { members: [member], status: tierStatusRules, lots: true }, async (work) => {
    ways.push(work.mode);
    if (work.mode === 'optimistic') {
      // Another instance spends 60 of the member's 100 points after this unit read them (a
      // unit without shared connections takes the locked way, which takes no turn here).
      await runUnit({ ...env(), statements: undefined }, { members: [member], status: tierStatusRules, lots: true }, (other) =>
        debit(other, other.member(member), { type: 'REDEEM', points: 60, description: 'elsewhere', actor: 'test' }, { mode: 'STRICT' }));
    }
    return debit(work, work.member(member), { type: 'REDEEM', points: 30, description: 'decided twice', actor: 'test' }, { mode: 'STRICT' });
  });
  expect(ways).toEqual(['optimistic', 'locked']);
  expect(spent.points).toBe(-30);
  // Decided again on what the other write left: 40 − 30.
  const { rows } = await sql<{ n: number }>`select sum(remaining)::int as n from point_lots where member_id = ${member}`.execute(t.database.db);
  expect(rows[0]?.n).toBe(10);
  expect((await ledgerRows(t, member)).map((r) => r.points)).toEqual([100, -60, -30]);
  await expectLedgerTrue(t, [member]);
});

test('the write of an optimistic unit checks the row version it decided on, and a stale one writes nothing', async () => {
  const member = await enroll(t, 'uow-guard');
  const before = await rowCounts(t);
  const plan = emptyPlan();
  plan.entries.push({
    id: randomUUID(), member_id: member, type: 'ADJUST', points: 1, available_at: new Date(), actor: 'test', occurred_at: new Date(), created_at: new Date(),
  });
  await expect(writePlan(t.database.statements, plan, { last: false, versions: new Map([[member, '1']]) })).rejects.toMatchObject({ code: MEMBER_CHANGED });
  expect(await rowCounts(t)).toEqual(before);
});

test('an operation that credits and then spends in one unit draws on the lot it just planned', async () => {
  const member = await enroll(t, 'uow-own-lot');
  const spent = await runUnit(env(), { members: [member], status: tierStatusRules, lots: true }, async (work) => {
    await credit(work, work.member(member), { type: 'ADJUST', points: 50, description: 'in', actor: 'test' });
    return debit(work, work.member(member), { type: 'REDEEM', points: 30, description: 'out', actor: 'test' }, { mode: 'STRICT' });
  });
  expect(spent.points).toBe(-30);
  expect(await balance(t, member)).toMatchObject({ available: 20 });
  await expectLedgerTrue(t, [member]);
});

describe('the status engine inside a unit', () => {
  const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
  const TIER = `query($id: ID!) { member(id: $id) { tier { current { code } qualifyingPoints } tierHistory(first: 10) { reason } } }`;
  beforeAll(async () => {
    expect((await t.gql(SET_TIERS, { tiers: [
      { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
      { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 500, earnMultiplier: 1.25 },
    ] })).errors).toBeUndefined();
  });
  afterAll(async () => {
    await t.gql(SET_TIERS, { tiers: [{ code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 }] });
  });

  test('under inactivity expiry, a credit written early (to move every lot\'s expiry) counts its qualifying points once', async () => {
    await updateProgram(t, { ...DEFAULT_PROGRAM, expiry: { mode: 'INACTIVITY', months: 12 } });
    const member = await enroll(t, 'uow-inactivity');
    const earned = await t.gql(EARN, { input: { memberId: member, points: 300, reason: 'qualifying', idempotencyKey: randomUUID() } });
    expect(earned.errors).toBeUndefined();
    const { member: read } = (await t.gql(TIER, { id: member })).data as { member: { tier: { current: { code: string }; qualifyingPoints: number } } };
    expect(read.tier).toEqual({ current: { code: 'MEMBER' }, qualifyingPoints: 300 });
  });

  test('tier history planned twice in one unit is stored in the order it happened', async () => {
    const member = await enroll(t, 'uow-history');
    await runUnit(env(), { members: [member], status: tierStatusRules, active: false, settle: false }, async (work) => {
      const ev = await engine.load(work, work.member(member), work.program);
      engine.change(work.program, ev, work.now, 'ASSIGNED', { assigned_code: 'SILVER', assigned_since: work.now, assigned_until: new Date(work.now.getTime() + 86_400_000) });
      await engine.persist(work, work.program, ev);
      engine.change(work.program, ev, work.now, 'ASSIGNMENT_ENDED', { assigned_code: null, assigned_since: null, assigned_until: null });
      await engine.persist(work, work.program, ev);
    });
    const { member: read } = (await t.gql(TIER, { id: member })).data as { member: { tierHistory: { reason: string }[] } };
    // Newest first.
    expect(read.tierHistory.map((h) => h.reason)).toEqual(['ASSIGNMENT_ENDED', 'ASSIGNED']);
  });
});
