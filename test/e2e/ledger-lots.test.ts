/**
 * A debit reads a member's spendable lots in part: the first LOTS_READ in consumption order and
 * what all of them hold. Whatever the amount, it draws exactly what drawing from every lot in
 * consumption order would (ledger.rules allocate), and refuses on the total of every lot.
 */
import { allocate, consumptionOrder } from '../../src/ledger/ledger.rules';
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

/** The first `n` of `lots` in consumption order. */
function firstInOrder<L extends { id: string; remaining: number; expiresAt: Date | null; earnedAt: Date }>(lots: L[], n: number): L[] {
  return [...lots].sort(consumptionOrder).slice(0, n);
}

test('a member with more lots than one read takes draws in consumption order, from the first lots and beyond them', async () => {
  const member = await enroll(t, 'lots');
  // Two lots that never expire, earned first: they come last all the same.
  await updateProgram(t, DEFAULT_PROGRAM);
  await setClock(t, '2026-03-01T09:00:00Z');
  await earn(t, member, 40);
  await earn(t, member, 41);
  // 44 expiring lots an hour apart, newest first so that the table's order is not the
  // consumption order; the 16th and 17th share an instant (their ids order them).
  await updateProgram(t, { ...DEFAULT_PROGRAM, expiry: { mode: 'FIXED', months: 12 } });
  for (let hour = 43; hour >= 0; hour--) {
    await setClock(t, new Date(Date.parse('2026-03-01T10:00:00Z') + hour * 3_600_000).toISOString());
    await earn(t, member, 10 + hour);
    if (hour === 15) await earn(t, member, 5);
  }
  await setClock(t, '2026-03-05T00:00:00Z');

  const draws = async (points: number) => {
    const expected = allocate(await openLots(member), points).allocations.map((a) => [a.lotId, a.points]);
    const entry = ok(await redeemPoints(member, points)).redeemPoints;
    expect(entry.allocations.map((a: { lotId: string; points: number }) => [a.lotId, a.points])).toEqual(expected);
  };
  const held = (lots: { remaining: number }[]) => lots.reduce((sum, lot) => sum + lot.remaining, 0);

  // Exactly what the lots read hold, to the last of them (one of the pair on one instant).
  expect((await openLots(member)).length).toBe(47);
  await draws(held(firstInOrder(await openLots(member), LOTS_READ)));
  // A little, from the next lots read.
  await draws(3);
  // Refused on what every lot holds, with more lots than one read.
  const before = await openLots(member);
  expect(before.length).toBeGreaterThan(LOTS_READ);
  const over = await redeemPoints(member, held(before) + 1);
  expect(errorCode(over)).toBe('INSUFFICIENT_POINTS');
  expect(over.errors?.[0]?.message).toContain(`${held(before)} available`);
  // More than the lots read hold: the rest are read.
  await draws(held(firstInOrder(before, LOTS_READ + 4)));
  // Everything left, never-expiring lots last.
  const left = held(await openLots(member));
  expect((await balance(t, member)).available).toBe(left);
  await draws(left);
  expect(await openLots(member)).toEqual([]);
  await expectLedgerTrue(t, [member]);
});
