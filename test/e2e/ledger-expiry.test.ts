/**
 * Time, walked with the test clock: fixed and quarter-end expiry, inactivity expiry, pending
 * maturity, and reversal of a redemption into lots with the right expiry.
 */
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, PURCHASE, REDEEM, REVERSE, STATEMENT, balance, earn, enroll, errorCode, expectLedgerTrue, key, ok, redeem,
  setClock, updateProgram,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

async function expireRows(memberId: string) {
  const { rows } = await sql<{ points: number; occurred_at: Date }>`
    select points, occurred_at from points_transactions where member_id = ${memberId} and type = 'EXPIRE' order by seq`.execute(t.database.db);
  return rows.map((row) => ({ points: row.points, occurredAt: row.occurred_at.toISOString() }));
}

async function readStatement(memberId: string) {
  return ok(await t.gql(STATEMENT, { id: memberId, first: 50 })).member.transactions;
}

test('FIXED 12 months: January is spent first, expires exactly on its date, once, and March shows as expiring', async () => {
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
  const member = await enroll(t, 'expiry-fixed');
  await setClock(t, '2025-01-15T10:00:00.000Z');
  const january = await earn(t, member, 100);
  await setClock(t, '2025-03-20T10:00:00.000Z');
  await earn(t, member, 200);

  await setClock(t, '2025-04-01T00:00:00.000Z');
  const spent = await redeem(t, member, 30);
  expect(spent.allocations).toEqual([
    { lotId: expect.any(String), lotTransactionId: january.id, points: 30, lotExpiresAt: '2026-01-15T10:00:00.000Z' },
  ]);

  await setClock(t, '2026-01-15T09:59:59.999Z');
  expect(await balance(t, member, 30)).toMatchObject({
    available: 270, expired: 0, expiringSoon: [{ points: 70, expiresAt: '2026-01-15T10:00:00.000Z' }],
  });

  await setClock(t, '2026-01-15T10:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 200, expired: 70 });
  // Reads that race, then reads in a row, each settle what is due: one EXPIRE entry in all.
  await Promise.all(Array.from({ length: 5 }, () => readStatement(member)));
  await readStatement(member);
  const statement = await readStatement(member);
  expect(statement.edges.filter((edge: any) => edge.node.type === 'EXPIRE').map((edge: any) => edge.node))
    .toEqual([expect.objectContaining({ points: -70, occurredAt: '2026-01-15T10:00:00.000Z', status: 'AVAILABLE' })]);
  expect(await expireRows(member)).toEqual([{ points: -70, occurredAt: '2026-01-15T10:00:00.000Z' }]);
  expect(await balance(t, member)).toMatchObject({ available: 200, expired: 70 });

  await setClock(t, '2026-01-20T00:00:00.000Z');
  expect((await balance(t, member, 60)).expiringSoon).toEqual([{ points: 200, expiresAt: '2026-03-20T10:00:00.000Z' }]);
  expect((await balance(t, member, 30)).expiringSoon).toEqual([]);

  await setClock(t, '2026-03-20T10:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 0, expired: 270, expiringSoon: [] });
  const spentMarch = await t.gql(REDEEM, { input: { memberId: member, points: 1, idempotencyKey: key('redeem') } });
  expect(errorCode(spentMarch)).toBe('INSUFFICIENT_POINTS');
  await readStatement(member);
  expect(await expireRows(member)).toEqual([
    { points: -70, occurredAt: '2026-01-15T10:00:00.000Z' },
    { points: -200, occurredAt: '2026-03-20T10:00:00.000Z' },
  ]);
  await expectLedgerTrue(t, [member]);
});

test('FIXED with roundToQuarterEnd: points last to the end of the quarter they would expire in', async () => {
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 12, roundToQuarterEnd: true } });
  const member = await enroll(t, 'expiry-quarter');
  await setClock(t, '2025-02-10T08:00:00.000Z');
  await earn(t, member, 50);
  expect((await balance(t, member, 3660)).expiringSoon).toEqual([{ points: 50, expiresAt: '2026-04-01T00:00:00.000Z' }]);
  await setClock(t, '2026-03-31T23:59:59.999Z');
  expect(await balance(t, member)).toMatchObject({ available: 50, expired: 0 });
  await setClock(t, '2026-04-01T00:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 0, expired: 50 });
  await readStatement(member);
  expect(await expireRows(member)).toEqual([{ points: -50, occurredAt: '2026-04-01T00:00:00.000Z' }]);
});

test('INACTIVITY 6 months: earning or redeeming pushes expiry back; an adjustment does not', async () => {
  await updateProgram(t, { expiry: { mode: 'INACTIVITY', months: 6 } });
  const member = await enroll(t, 'expiry-inactive');
  await setClock(t, '2027-01-10T00:00:00.000Z');
  await earn(t, member, 100);
  expect((await balance(t, member, 3660)).expiringSoon).toEqual([{ points: 100, expiresAt: '2027-07-10T00:00:00.000Z' }]);

  await setClock(t, '2027-06-01T00:00:00.000Z');
  await earn(t, member, 10); // activity: every lot now lapses six months from here
  await setClock(t, '2027-07-11T00:00:00.000Z');
  expect(await balance(t, member, 3660)).toMatchObject({
    available: 110, expired: 0, expiringSoon: [{ points: 110, expiresAt: '2027-12-01T00:00:00.000Z' }],
  });

  await setClock(t, '2027-11-15T00:00:00.000Z');
  await redeem(t, member, 10); // activity again
  await setClock(t, '2028-05-01T00:00:00.000Z');
  ok(await t.gql(`mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { id } }`,
    { input: { memberId: member, points: 5, reason: 'goodwill', idempotencyKey: key('adjust') } }));
  expect(await balance(t, member, 3660)).toMatchObject({
    available: 105, expiringSoon: [{ points: 105, expiresAt: '2028-05-15T00:00:00.000Z' }],
  });

  await setClock(t, '2028-05-14T23:59:59.999Z');
  expect(await balance(t, member)).toMatchObject({ available: 105, expired: 0 });
  await setClock(t, '2028-05-15T00:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 0, expired: 105 });
  await readStatement(member);
  expect(await expireRows(member)).toEqual([{ points: -105, occurredAt: '2028-05-15T00:00:00.000Z' }]);
  await expectLedgerTrue(t, [member]);
});

test('pending points become available exactly when the pending days pass', async () => {
  await updateProgram(t, { pendingDays: 14 });
  const member = await enroll(t, 'pending');
  await setClock(t, '2028-01-01T00:00:00.000Z');
  const bought = ok(await t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '50.00', currency: 'USD' } })).recordPurchase;
  expect(bought.transaction).toMatchObject({ status: 'PENDING', availableAt: '2028-01-15T00:00:00.000Z' });
  expect(await balance(t, member)).toMatchObject({ available: 0, pending: 50 });
  expect(errorCode(await t.gql(REDEEM, { input: { memberId: member, points: 1, idempotencyKey: key('redeem') } }))).toBe('INSUFFICIENT_POINTS');

  await setClock(t, '2028-01-14T23:59:59.999Z');
  expect(await balance(t, member)).toMatchObject({ available: 0, pending: 50 });
  await setClock(t, '2028-01-15T00:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 50, pending: 0 });
  const statement = await readStatement(member);
  expect(statement.edges[0].node).toMatchObject({ id: bought.transaction.id, status: 'AVAILABLE' });
  await redeem(t, member, 50);
  expect(await balance(t, member)).toMatchObject({ available: 0, pending: 0 });
  await expectLedgerTrue(t, [member]);
});

describe('reversal of a redemption', () => {
  const reverse = (transactionId: string, idempotencyKey = key('reverse')) =>
    t.gql(REVERSE, { input: { transactionId, reason: 'order cancelled', idempotencyKey } });

  test('returns the points with their original expiry, once', async () => {
    await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
    const member = await enroll(t, 'reverse-keep');
    await setClock(t, '2029-01-10T00:00:00.000Z');
    await earn(t, member, 100);
    await setClock(t, '2029-02-01T00:00:00.000Z');
    const spent = await redeem(t, member, 60);
    const idempotencyKey = key('reverse');
    const reversal = ok(await reverse(spent.id, idempotencyKey)).reverseRedemption;
    expect(reversal).toMatchObject({ type: 'REVERSAL', points: 60, relatedTransactionId: spent.id });
    expect(await balance(t, member, 3660)).toMatchObject({
      available: 100, lifetimeRedeemed: 0, expiringSoon: [{ points: 100, expiresAt: '2030-01-10T00:00:00.000Z' }],
    });

    expect(ok(await reverse(spent.id, idempotencyKey)).reverseRedemption).toEqual(reversal);
    expect(errorCode(await reverse(spent.id))).toBe('INVALID_STATE');
    expect(await balance(t, member)).toMatchObject({ available: 100 });
    await expectLedgerTrue(t, [member]);
  });

  test('gives a fresh expiry where the original lot has lapsed', async () => {
    await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
    const member = await enroll(t, 'reverse-fresh');
    await setClock(t, '2029-01-10T00:00:00.000Z');
    await earn(t, member, 100);
    await setClock(t, '2029-02-01T00:00:00.000Z');
    const spent = await redeem(t, member, 50);
    await setClock(t, '2030-02-01T00:00:00.000Z');
    expect(await balance(t, member)).toMatchObject({ available: 0, expired: 50 });
    ok(await reverse(spent.id));
    expect(await balance(t, member, 3660)).toMatchObject({
      available: 50, expired: 50, expiringSoon: [{ points: 50, expiresAt: '2031-02-01T00:00:00.000Z' }],
    });
    await expectLedgerTrue(t, [member]);
  });

  test('under INACTIVITY the returned points share the member\'s one expiry', async () => {
    await updateProgram(t, { expiry: { mode: 'INACTIVITY', months: 6 } });
    const member = await enroll(t, 'reverse-inactive');
    await setClock(t, '2033-01-01T00:00:00.000Z');
    await earn(t, member, 100);
    await setClock(t, '2033-03-01T00:00:00.000Z');
    const spent = await redeem(t, member, 100); // empties the January lot
    await setClock(t, '2033-04-01T00:00:00.000Z');
    await earn(t, member, 50); // last activity: every open lot now lapses on 2033-10-01
    await setClock(t, '2033-05-01T00:00:00.000Z');
    ok(await reverse(spent.id));
    expect(await balance(t, member, 3660)).toMatchObject({
      available: 150, expiringSoon: [{ points: 150, expiresAt: '2033-10-01T00:00:00.000Z' }],
    });
    await setClock(t, '2033-07-02T00:00:00.000Z');
    expect(await balance(t, member)).toMatchObject({ available: 150, expired: 0 });
    await expectLedgerTrue(t, [member]);
  });

  test('only a redemption can be reversed', async () => {
    const member = await enroll(t, 'reverse-bad');
    const earned = await earn(t, member, 10);
    expect(errorCode(await reverse(earned.id))).toBe('NOT_FOUND');
    expect(errorCode(await reverse('00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    expect(errorCode(await reverse('not-a-uuid'))).toBe('NOT_FOUND');
    const partner = await t.partnerToken('P-REV', { sub: 'p-rev' });
    const spent = await redeem(t, member, 5);
    expect(errorCode(await t.gql(REVERSE, { input: { transactionId: spent.id, idempotencyKey: key('r') } }, partner))).toBe('FORBIDDEN');
  });
});


test('the first ledger write after an expiry date writes the EXPIRE entry in its own transaction', async () => {
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 1 } });
  const member = await enroll(t, 'expiry-on-write');
  await setClock(t, '2031-01-10T10:00:00.000Z');
  await earn(t, member, 40);
  await setClock(t, '2031-01-20T10:00:00.000Z');
  await earn(t, member, 60); // nothing is due yet: no EXPIRE
  expect(await expireRows(member)).toEqual([]);

  await setClock(t, '2031-02-10T10:00:00.000Z');
  expect(errorCode(await t.gql(REDEEM, { input: { memberId: member, points: 61, idempotencyKey: key('redeem') } }))).toBe('INSUFFICIENT_POINTS');
  // The failed redemption rolled back its settlement too: still no EXPIRE row.
  expect(await expireRows(member)).toEqual([]);
  await redeem(t, member, 10);
  expect(await expireRows(member)).toEqual([{ points: -40, occurredAt: '2031-02-10T10:00:00.000Z' }]);
  expect(await balance(t, member)).toMatchObject({ available: 50, expired: 40 });
  await expectLedgerTrue(t, [member]);
});
