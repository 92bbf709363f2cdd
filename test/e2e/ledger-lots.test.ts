/**
 * A debit reads a member's spendable lots in part: the first LOTS_READ in consumption order and
 * what all of them hold. Whatever the amount, it draws exactly what drawing from every lot in
 * consumption order would (ledger.rules allocate), and refuses on the total of every lot.
 */
import { allocate } from '../../src/ledger/ledger.rules';
import { LOTS_READ } from '../../src/ledger/unit-of-work.repo';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, REDEEM, balance, earn, enroll, errorCode, expectLedgerTrue, key, ok, setClock, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

/** The member's spendable lots now, from the table, as allocate takes them. */
async function openLots(memberId: string) {
  const rows = await t.database.db.selectFrom('point_lots').select(['id', 'remaining', 'expires_at', 'earned_at'])
    .where('member_id', '=', memberId).where('remaining', '>', 0).execute();
  return rows.map((r) => ({ id: r.id, remaining: r.remaining, expiresAt: r.expires_at, earnedAt: r.earned_at }));
}

async function redeemPoints(memberId: string, points: number) {
  return t.gql(REDEEM, { input: { memberId, points, idempotencyKey: key('lots') } });
}

test('a member with more lots than one read takes draws in consumption order, from the first lots and beyond them', async () => {
  await updateProgram(t, { ...DEFAULT_PROGRAM, expiry: { mode: 'FIXED', months: 12 } });
  const member = await enroll(t, 'lots');
  // Lots earned on 20 days, newest first so that the table's order is not the consumption order;
  // two on one instant (the id orders them); two that never expire.
  for (let day = 20; day >= 1; day--) {
    await setClock(t, `2026-01-${String(day).padStart(2, '0')}T10:00:00Z`);
    await earn(t, member, 10 + day);
    if (day === 7) await earn(t, member, 5);
  }
  await updateProgram(t, DEFAULT_PROGRAM);
  await setClock(t, '2026-02-01T10:00:00Z');
  await earn(t, member, 40);
  await earn(t, member, 41);
  expect((await openLots(member)).length).toBeGreaterThan(LOTS_READ + 4);

  await setClock(t, '2026-02-02T10:00:00Z');
  for (const points of [3, 150, 260]) {
    const before = await openLots(member);
    const expected = allocate(before, points).allocations.map((a) => [a.lotId, a.points]);
    const entry = ok(await redeemPoints(member, points)).redeemPoints;
    expect(entry.allocations.map((a: { lotId: string; points: number }) => [a.lotId, a.points])).toEqual(expected);
  }
  const left = (await openLots(member)).reduce((sum, lot) => sum + lot.remaining, 0);
  expect((await balance(t, member)).available).toBe(left);
  // Refused on what every lot holds, not on the lots read.
  const over = await redeemPoints(member, left + 1);
  expect(errorCode(over)).toBe('INSUFFICIENT_POINTS');
  expect(over.errors?.[0]?.message).toContain(`${left} available`);
  const all = ok(await redeemPoints(member, left)).redeemPoints;
  expect(all.allocations.reduce((sum: number, a: { points: number }) => sum + a.points, 0)).toBe(left);
  expect(await openLots(member)).toEqual([]);
  await expectLedgerTrue(t, [member]);
});
