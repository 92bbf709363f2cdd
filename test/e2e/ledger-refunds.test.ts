/**
 * Refunds: proportional clawback that never exceeds what the order earned, idempotent on
 * refundId, the negative-balance setting, and cancellation of still-pending points.
 */
import { codes, type TestApp, startTestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, PURCHASE, REFUND, balance, earn, enroll, errorCode, expectLedgerTrue, key, ledgerRows, ok, redeem, rowCounts,
  setClock, updateProgram,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

async function purchase(memberId: string, amount: string): Promise<string> {
  const orderId = key('order');
  const res = ok(await t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD' } })).recordPurchase;
  expect(res.pointsEarned).toBe(Math.floor(Number(amount)));
  return orderId;
}

async function refund(orderId: string, amount: string, refundId = key('refund')) {
  return t.gql(REFUND, { input: { orderId, refundId, amount } });
}

describe('partial refunds of a 100.00 order that earned 100 points', () => {
  test('30.00, 30.00 and 40.00 claw back 30, 30 and 40; a fourth refund is refused', async () => {
    const member = await enroll(t, 'refund-partial');
    const orderId = await purchase(member, '100.00');
    const reversed: number[] = [];
    for (const amount of ['30.00', '30.00', '40.00']) {
      const res = ok(await refund(orderId, amount)).refundPurchase;
      expect(res.transaction).toMatchObject({ type: 'REFUND', points: -res.pointsReversed, orderId, shortfall: 0 });
      reversed.push(res.pointsReversed);
    }
    expect(reversed).toEqual([30, 30, 40]);
    expect(await balance(t, member)).toMatchObject({ available: 0, lifetimeEarned: 0 });

    const before = await rowCounts(t);
    const fourth = await refund(orderId, '1.00');
    expect(errorCode(fourth)).toBe('INVALID_STATE');
    expect(fourth.errors![0]!.message).toMatch(/fully refunded/);
    expect(await rowCounts(t)).toEqual(before);
    await expectLedgerTrue(t, [member]);
  });

  test('uneven shares still add up to exactly what the order earned', async () => {
    const member = await enroll(t, 'refund-thirds');
    const orderId = await purchase(member, '10.00');
    const reversed = [];
    for (const amount of ['3.33', '3.33', '3.34']) reversed.push(ok(await refund(orderId, amount)).refundPurchase.pointsReversed);
    expect(reversed.reduce((a, b) => a + b, 0)).toBe(10);
    expect(reversed).toEqual([3, 4, 3]);
  });

  test('a refund over what is left is BAD_USER_INPUT and writes nothing', async () => {
    const member = await enroll(t, 'refund-over');
    const orderId = await purchase(member, '100.00');
    ok(await refund(orderId, '30.00'));
    const before = await rowCounts(t);
    expect(errorCode(await refund(orderId, '70.01'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await refund(orderId, '0.00'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await refund(orderId, '-5.00'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await refund(orderId, '1.005'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await refund('no-such-order', '1.00'))).toBe('NOT_FOUND');
    expect(await rowCounts(t)).toEqual(before);
    expect(ok(await refund(orderId, '70.00')).refundPurchase.pointsReversed).toBe(70);
  });

  test('a retried refundId returns the same result; with another amount it is IDEMPOTENCY_CONFLICT', async () => {
    const member = await enroll(t, 'refund-retry');
    const orderId = await purchase(member, '100.00');
    const refundId = key('refund');
    const first = ok(await refund(orderId, '25.00', refundId)).refundPurchase;
    const before = await rowCounts(t);
    const again = ok(await refund(orderId, '25.00', refundId)).refundPurchase;
    expect(again).toEqual(first);
    expect(errorCode(await refund(orderId, '26.00', refundId))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 75 });
  });

  test('racing retries of one refundId write one REFUND entry and answer alike', async () => {
    const member = await enroll(t, 'refund-race-retry');
    const orderId = await purchase(member, '100.00');
    const refundId = key('refund');
    const results = await Promise.all(Array.from({ length: 30 }, () => refund(orderId, '20.00', refundId)));
    const bodies = results.map((res) => ok(res).refundPurchase.transaction);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
    expect((await ledgerRows(t, member)).filter((row) => row.type === 'REFUND')).toHaveLength(1);
    expect(await balance(t, member)).toMatchObject({ available: 80 });
  });

  test('racing distinct refunds never refund more than the order', async () => {
    const member = await enroll(t, 'refund-race');
    const orderId = await purchase(member, '100.00');
    const results = await Promise.all(Array.from({ length: 12 }, () => refund(orderId, '20.00')));
    expect(results.filter((res) => !res.errors)).toHaveLength(5);
    for (const code of results.flatMap(codes)) expect(['INVALID_STATE', 'BAD_USER_INPUT']).toContain(code);
    const refunds = (await ledgerRows(t, member)).filter((row) => row.type === 'REFUND');
    expect(refunds.reduce((sum, row) => sum + row.points, 0)).toBe(-100);
    expect(await balance(t, member)).toMatchObject({ available: 0 });
    await expectLedgerTrue(t, [member]);
  });
});

describe('a refund after most points were redeemed', () => {
  test('without negative balances: takes what is there and records the shortfall', async () => {
    const member = await enroll(t, 'refund-short');
    const orderId = await purchase(member, '100.00');
    await redeem(t, member, 90);
    const res = ok(await refund(orderId, '50.00')).refundPurchase;
    expect(res.pointsReversed).toBe(50);
    expect(res.transaction).toMatchObject({ type: 'REFUND', points: -10, shortfall: 40 });
    expect(await balance(t, member)).toMatchObject({ available: 0 });
    // Nothing is owed: the next earn is spendable in full.
    await earn(t, member, 25);
    expect(await balance(t, member)).toMatchObject({ available: 25 });
    await expectLedgerTrue(t, [member]);
  });

  test('with negative balances: available goes below zero and later earnings pay the debt first', async () => {
    await updateProgram(t, { allowNegativeBalance: true });
    const member = await enroll(t, 'refund-debt');
    const orderId = await purchase(member, '100.00');
    await redeem(t, member, 90);
    const res = ok(await refund(orderId, '50.00')).refundPurchase;
    expect(res.transaction).toMatchObject({ type: 'REFUND', points: -50, shortfall: 0 });
    expect(await balance(t, member)).toMatchObject({ available: -40 });
    await expectLedgerTrue(t, [member]);

    await earn(t, member, 30);
    expect(await balance(t, member)).toMatchObject({ available: -10 });
    expect(errorCode(await t.gql(`mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id } }`,
      { input: { memberId: member, points: 1, idempotencyKey: key('redeem') } }))).toBe('INSUFFICIENT_POINTS');
    await earn(t, member, 25);
    expect(await balance(t, member)).toMatchObject({ available: 15 });
    await redeem(t, member, 15);
    expect(await balance(t, member)).toMatchObject({ available: 0 });
    await expectLedgerTrue(t, [member]);
  });
});

test('a refund inside the pending window cancels pending points and leaves available alone', async () => {
  await setClock(t, '2030-01-10T12:00:00.000Z');
  await updateProgram(t, { pendingDays: 30 });
  const member = await enroll(t, 'refund-pending');
  await earn(t, member, 20); // earnPoints is spendable at once
  const orderId = await purchase(member, '100.00');
  expect(await balance(t, member)).toMatchObject({ available: 20, pending: 100 });

  const res = ok(await refund(orderId, '40.00')).refundPurchase;
  expect(res.pointsReversed).toBe(40);
  expect(res.transaction).toMatchObject({ type: 'REFUND', points: -40, shortfall: 0 });
  expect(res.transaction.allocations).toHaveLength(1);
  expect(await balance(t, member)).toMatchObject({ available: 20, pending: 60 });

  await setClock(t, '2030-02-09T12:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: 80, pending: 0 });
  await expectLedgerTrue(t, [member]);
});

test('points still pending do not pay a debt early: available rises only when they mature', async () => {
  await setClock(t, '2030-03-01T12:00:00.000Z');
  await updateProgram(t, { allowNegativeBalance: true });
  const member = await enroll(t, 'refund-debt-pending');
  const orderId = await purchase(member, '100.00');
  await redeem(t, member, 100);
  ok(await refund(orderId, '60.00'));
  expect(await balance(t, member)).toMatchObject({ available: -60, pending: 0 });

  await updateProgram(t, { pendingDays: 14 });
  await purchase(member, '50.00');
  expect(await balance(t, member)).toMatchObject({ available: -60, pending: 50 });
  await expectLedgerTrue(t, [member]);

  await setClock(t, '2030-03-15T12:00:00.000Z');
  expect(await balance(t, member)).toMatchObject({ available: -10, pending: 0 });
  await earn(t, member, 25);
  expect(await balance(t, member)).toMatchObject({ available: 15 });
  await expectLedgerTrue(t, [member]);
});
