/**
 * Single ledger operations at their edges: adjustments, input validation that writes nothing,
 * and members who may not move points.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import {
  ADJUST, DEFAULT_PROGRAM, EARN, PURCHASE, REDEEM, SET_STATUS, TRANSFER, balance, earn, enroll, errorCode, expectLedgerTrue, key, ok,
  rowCounts, setClock, updateProgram,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

describe('adjustPoints', () => {
  const adjust = (memberId: string, points: number, reason: string, token?: string) =>
    t.gql(ADJUST, { input: { memberId, points, reason, idempotencyKey: key('adjust') } }, token);

  test('an ADMIN adds and removes points, with the reason and the acting admin recorded', async () => {
    const member = await enroll(t, 'adjust');
    const added = ok(await adjust(member, 120, 'missing flight credit')).adjustPoints;
    expect(added).toMatchObject({ type: 'ADJUST', points: 120, description: 'missing flight credit' });
    const removed = ok(await adjust(member, -45, 'duplicate credit')).adjustPoints;
    expect(removed).toMatchObject({ type: 'ADJUST', points: -45, description: 'duplicate credit', allocations: [{ points: 45 }] });
    expect(await balance(t, member)).toMatchObject({ available: 75 });
    const { rows } = await sql<{ actor: string }>`select actor from points_transactions where id = ${removed.id}`.execute(t.database.db);
    expect(rows[0]!.actor).toBe('admin:test-admin');
    await expectLedgerTrue(t, [member]);
  });

  test('a negative adjustment beyond the balance follows the negative-balance setting', async () => {
    const member = await enroll(t, 'adjust-over');
    await earn(t, member, 10);
    expect(errorCode(await adjust(member, -20, 'too much'))).toBe('INSUFFICIENT_POINTS');
    await updateProgram(t, { allowNegativeBalance: true });
    expect(ok(await adjust(member, -20, 'chargeback')).adjustPoints).toMatchObject({ points: -20, shortfall: 0 });
    expect(await balance(t, member)).toMatchObject({ available: -10 });
    await expectLedgerTrue(t, [member]);
  });

  test('a PARTNER or MEMBER may not adjust; a reason is required; nothing is written', async () => {
    const member = await enroll(t, 'adjust-denied');
    const before = await rowCounts(t);
    expect(errorCode(await adjust(member, 10, 'partner try', await t.partnerToken('P1', { sub: 'p1' })))).toBe('FORBIDDEN');
    expect(errorCode(await adjust(member, 10, 'member try', t.token({ role: 'MEMBER', memberId: member })))).toBe('FORBIDDEN');
    expect(errorCode(await adjust(member, 10, '   '))).toBe('BAD_USER_INPUT');
    expect(errorCode(await adjust(member, 0, 'zero'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(ADJUST, { input: { memberId: member, points: 10, idempotencyKey: key('adjust') } }))).toBe('BAD_USER_INPUT');
    expect(await rowCounts(t)).toEqual(before);
  });
});

describe('bad input writes nothing', () => {
  let member: string;
  beforeAll(async () => {
    member = await enroll(t, 'bad-input');
    await earn(t, member, 100);
  });

  const unknownMember = randomUUID();
  const OPERATIONS = { EARN, REDEEM, TRANSFER, PURCHASE };
  type Operation = keyof typeof OPERATIONS;
  /** A valid request of each kind; a case overrides one field. 'SELF' stands for the member. */
  const valid = (operation: Operation, self: string, other: string): Record<string, unknown> => ({
    EARN: { memberId: self, points: 10, reason: 'bad input', idempotencyKey: key('bad') },
    REDEEM: { memberId: self, points: 10, idempotencyKey: key('bad') },
    TRANSFER: { fromMemberId: self, toMemberId: other, points: 10, idempotencyKey: key('bad') },
    PURCHASE: { memberId: self, orderId: key('order'), amount: '10.00', currency: 'USD' },
  })[operation];
  const cases: [string, Operation, Record<string, unknown>, string][] = [
    ['earn 0 points', 'EARN', { points: 0 }, 'BAD_USER_INPUT'],
    ['earn negative points', 'EARN', { points: -5 }, 'BAD_USER_INPUT'],
    ['earn more than one transaction may move', 'EARN', { points: 10_000_001 }, 'BAD_USER_INPUT'],
    ['earn more than an Int holds', 'EARN', { points: 2 ** 31 }, 'BAD_USER_INPUT'],
    ['earn fractional points', 'EARN', { points: 1.5 }, 'BAD_USER_INPUT'],
    ['earn with an empty reason', 'EARN', { reason: ' ' }, 'BAD_USER_INPUT'],
    ['earn with an empty idempotencyKey', 'EARN', { idempotencyKey: '' }, 'BAD_USER_INPUT'],
    ['earn for an unknown member', 'EARN', { memberId: unknownMember }, 'NOT_FOUND'],
    ['earn for a malformed member id', 'EARN', { memberId: 'nobody' }, 'NOT_FOUND'],
    ['redeem 0 points', 'REDEEM', { points: 0 }, 'BAD_USER_INPUT'],
    ['redeem negative points', 'REDEEM', { points: -10 }, 'BAD_USER_INPUT'],
    ['redeem huge points', 'REDEEM', { points: 2_000_000_000 }, 'BAD_USER_INPUT'],
    ['redeem for an unknown member', 'REDEEM', { memberId: unknownMember }, 'NOT_FOUND'],
    ['transfer 0 points', 'TRANSFER', { points: 0 }, 'BAD_USER_INPUT'],
    ['transfer to oneself', 'TRANSFER', { toMemberId: 'SELF' }, 'BAD_USER_INPUT'],
    ['transfer to an unknown member', 'TRANSFER', { toMemberId: unknownMember }, 'NOT_FOUND'],
    ['purchase with a malformed Decimal "12.3.4"', 'PURCHASE', { amount: '12.3.4' }, 'BAD_USER_INPUT'],
    ['purchase with the amount as a number', 'PURCHASE', { amount: 12.5 }, 'BAD_USER_INPUT'],
    ['purchase with three decimals', 'PURCHASE', { amount: '10.005' }, 'BAD_USER_INPUT'],
    ['purchase of zero', 'PURCHASE', { amount: '0.00' }, 'BAD_USER_INPUT'],
    ['purchase of a negative amount', 'PURCHASE', { amount: '-10.00' }, 'BAD_USER_INPUT'],
    ['purchase larger than any order', 'PURCHASE', { amount: '999999999999.00' }, 'BAD_USER_INPUT'],
    ['purchase in the wrong currency', 'PURCHASE', { currency: 'EUR' }, 'BAD_USER_INPUT'],
    ['purchase dated in the future', 'PURCHASE', { occurredAt: '2999-01-01T00:00:00Z' }, 'BAD_USER_INPUT'],
    ['purchase with an empty orderId', 'PURCHASE', { orderId: '  ' }, 'BAD_USER_INPUT'],
    ['purchase with a zero-quantity item', 'PURCHASE', { items: [{ sku: 'A', quantity: 0, unitPrice: '1.00' }] }, 'BAD_USER_INPUT'],
    ['purchase for an unknown member', 'PURCHASE', { memberId: unknownMember }, 'NOT_FOUND'],
  ];

  test.each(cases)('%s', async (_name, operation, override, code) => {
    const other = await enroll(t, 'bad-input-other');
    const fields = Object.fromEntries(Object.entries(override).map(([k, v]) => [k, v === 'SELF' ? member : v]));
    const input = { ...valid(operation, member, other), ...fields };
    const before = await rowCounts(t);
    expect(errorCode(await t.gql(OPERATIONS[operation], { input }))).toBe(code);
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 100 });
  });

  test('a backdated purchase is honoured', async () => {
    await setClock(t, '2031-06-01T00:00:00.000Z');
    const res = ok(await t.gql(PURCHASE, {
      input: { memberId: member, orderId: key('order'), amount: '5.00', currency: 'USD', occurredAt: '2031-05-01T00:00:00Z' },
    })).recordPurchase;
    expect(res.transaction).toMatchObject({ points: 5, occurredAt: '2031-05-01T00:00:00.000Z', status: 'AVAILABLE' });
  });
});

describe('a suspended member cannot move points', () => {
  test('earn, purchase, redeem and transfer (either side) are INVALID_STATE; reactivation allows them again', async () => {
    const member = await enroll(t, 'suspended');
    const other = await enroll(t, 'suspended-other');
    await earn(t, member, 100);
    await earn(t, other, 100);
    ok(await t.gql(SET_STATUS, { input: { id: member, status: 'SUSPENDED', reason: 'fraud review' } }));
    const before = await rowCounts(t);
    const attempts = [
      t.gql(EARN, { input: { memberId: member, points: 10, reason: 'x', idempotencyKey: key('s') } }),
      t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '10.00', currency: 'USD' } }),
      t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey: key('s') } }),
      t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey: key('s') } }, t.token({ role: 'MEMBER', memberId: member })),
      t.gql(TRANSFER, { input: { fromMemberId: member, toMemberId: other, points: 10, idempotencyKey: key('s') } }),
      t.gql(TRANSFER, { input: { fromMemberId: other, toMemberId: member, points: 10, idempotencyKey: key('s') } }),
    ];
    for (const res of await Promise.all(attempts)) expect(errorCode(res)).toBe('INVALID_STATE');
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 100 });
    expect(await balance(t, other)).toMatchObject({ available: 100 });

    ok(await t.gql(SET_STATUS, { input: { id: member, status: 'ACTIVE' } }));
    ok(await t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey: key('s') } }));
    expect(await balance(t, member)).toMatchObject({ available: 90 });
  });
});

describe('who may move whose points', () => {
  test('a MEMBER redeems and transfers its own points only; a PARTNER cannot transfer', async () => {
    const member = await enroll(t, 'scope');
    const other = await enroll(t, 'scope-other');
    await earn(t, member, 50);
    await earn(t, other, 50);
    const own = t.token({ role: 'MEMBER', memberId: member });
    ok(await t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey: key('m') } }, own));
    ok(await t.gql(TRANSFER, { input: { fromMemberId: member, toMemberId: other, points: 10, idempotencyKey: key('m') } }, own));
    const before = await rowCounts(t);
    expect(errorCode(await t.gql(REDEEM, { input: { memberId: other, points: 10, idempotencyKey: key('m') } }, own))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(TRANSFER, { input: { fromMemberId: other, toMemberId: member, points: 10, idempotencyKey: key('m') } }, own))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(EARN, { input: { memberId: member, points: 10, reason: 'self', idempotencyKey: key('m') } }, own))).toBe('FORBIDDEN');
    const partner = await t.partnerToken('P-SCOPE', { sub: 'p-scope' });
    expect(errorCode(await t.gql(TRANSFER, { input: { fromMemberId: other, toMemberId: member, points: 10, idempotencyKey: key('p') } }, partner))).toBe('FORBIDDEN');
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 30 });
    expect(await balance(t, other)).toMatchObject({ available: 60 });
  });
});

describe('retries after the member was suspended', () => {
  test('replaying a key that already succeeded returns the original result; a new key is INVALID_STATE', async () => {
    const member = await enroll(t, 'replay-suspended');
    const other = await enroll(t, 'replay-suspended-other');
    const earnInput = { memberId: member, points: 50, reason: 'before suspension', idempotencyKey: key('e') };
    const earned = ok(await t.gql(EARN, { input: earnInput })).earnPoints;
    const redeemInput = { memberId: member, points: 10, idempotencyKey: key('r') };
    const redeemed = ok(await t.gql(REDEEM, { input: redeemInput })).redeemPoints;
    const transferInput = { fromMemberId: member, toMemberId: other, points: 5, idempotencyKey: key('x') };
    const transferred = ok(await t.gql(TRANSFER, { input: transferInput })).transferPoints;
    ok(await t.gql(SET_STATUS, { input: { id: member, status: 'SUSPENDED' } }));

    const before = await rowCounts(t);
    expect(ok(await t.gql(EARN, { input: earnInput })).earnPoints).toEqual(earned);
    expect(ok(await t.gql(REDEEM, { input: redeemInput })).redeemPoints).toEqual(redeemed);
    expect(ok(await t.gql(TRANSFER, { input: transferInput })).transferPoints).toEqual(transferred);
    expect(errorCode(await t.gql(EARN, { input: { ...earnInput, idempotencyKey: key('e') } }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(EARN, { input: { ...earnInput, points: 51 } }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 35 });
  });
});
