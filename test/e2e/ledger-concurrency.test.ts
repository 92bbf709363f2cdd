/**
 * The ledger under racing requests over real HTTP: no overspend, idempotent retries that race,
 * opposite transfers without deadlock. On PGlite the requests serialise; on PostgreSQL they
 * really run at once (pool of 20).
 */
import { sql } from 'kysely';
import { codes, type TestApp, startTestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, EARN, PURCHASE, REDEEM, TRANSFER, balance, earn, enroll, errorCode, expectLedgerTrue, key, ledgerRows, ok, redeem,
  rowCounts, updateProgram,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

test('200 concurrent 10-point redemptions against 1,000 points: exactly 100 succeed, available ends at 0', async () => {
  const member = await enroll(t, 'race-redeem');
  await earn(t, member, 1000);
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey: `race-redeem-${i}` } })),
  );
  const succeeded = results.filter((res) => !res.errors);
  const failed = results.filter((res) => res.errors);
  expect(succeeded).toHaveLength(100);
  expect(failed.map(errorCode)).toEqual(Array(100).fill('INSUFFICIENT_POINTS'));
  for (const res of succeeded) expect(ok(res).redeemPoints).toMatchObject({ type: 'REDEEM', points: -10 });

  expect(await balance(t, member)).toMatchObject({ available: 0, lifetimeEarned: 1000, lifetimeRedeemed: 1000 });
  const redeems = (await ledgerRows(t, member)).filter((row) => row.type === 'REDEEM');
  expect(redeems).toHaveLength(100);
  expect(redeems.reduce((sum, row) => sum + row.points, 0)).toBe(-1000);
  await expectLedgerTrue(t, [member]);
});

describe('recordPurchase retries racing on one orderId', () => {
  test('50 identical retries write one PURCHASE entry and answer alike', async () => {
    const member = await enroll(t, 'race-purchase');
    const input = { memberId: member, orderId: key('order'), amount: '129.90', currency: 'USD', channel: 'web' };
    const results = await Promise.all(Array.from({ length: 50 }, () => t.gql(PURCHASE, { input })));
    const bodies = results.map((res) => ok(res).recordPurchase);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
    expect(bodies[0]).toMatchObject({ pointsEarned: 129, transaction: { type: 'PURCHASE', points: 129 } });

    const purchases = (await ledgerRows(t, member)).filter((row) => row.type === 'PURCHASE');
    expect(purchases).toHaveLength(1);
    expect(await balance(t, member)).toMatchObject({ available: 129 });
    await expectLedgerTrue(t, [member]);
  });

  test('a retry whose instant is earlier than the write it replays answers as of that write', async () => {
    // Racing retries read the clock when they arrive, so one may hold an instant before the
    // write that won. A clock that ticks (a set test clock stays frozen) sets that order up.
    let current = new Date('2031-09-01T12:00:00.000Z');
    const app = await startTestApp({}, { clock: { now: async () => current } });
    try {
      await updateProgram(app, DEFAULT_PROGRAM);
      const member = await enroll(app, 'early-retry');
      const input = { memberId: member, orderId: key('order'), amount: '20.00', currency: 'USD' };
      const first = ok(await app.gql(PURCHASE, { input })).recordPurchase;
      expect(first).toMatchObject({ transaction: { status: 'AVAILABLE' }, member: { balance: { available: 20, pending: 0 } } });
      current = new Date('2031-09-01T11:59:59.000Z');
      expect(ok(await app.gql(PURCHASE, { input })).recordPurchase).toEqual(first);
    } finally {
      await app.close();
    }
  });

  test('the same orderId with a different amount is IDEMPOTENCY_CONFLICT and writes nothing', async () => {
    const member = await enroll(t, 'conflict-purchase');
    const input = { memberId: member, orderId: key('order'), amount: '50.00', currency: 'USD' };
    ok(await t.gql(PURCHASE, { input }));
    const before = await rowCounts(t);
    const conflict = await t.gql(PURCHASE, { input: { ...input, amount: '60.00' } });
    expect(errorCode(conflict)).toBe('IDEMPOTENCY_CONFLICT');
    expect(await rowCounts(t)).toEqual(before);
    // An equal amount written differently is the same request.
    const again = ok(await t.gql(PURCHASE, { input: { ...input, amount: '50' } })).recordPurchase;
    expect(again.pointsEarned).toBe(50);
    expect(await rowCounts(t)).toEqual(before);
  });

  test('racing retries with two different amounts: one wins, every other answer is the winner or a conflict', async () => {
    const member = await enroll(t, 'race-conflict');
    const orderId = key('order');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      t.gql(PURCHASE, { input: { memberId: member, orderId, amount: i % 2 ? '10.00' : '20.00', currency: 'USD' } })));
    const winners = new Set(results.filter((res) => !res.errors).map((res) => ok(res).recordPurchase.pointsEarned));
    expect(winners.size).toBe(1);
    for (const code of results.flatMap(codes)) expect(code).toBe('IDEMPOTENCY_CONFLICT');
    expect((await ledgerRows(t, member)).filter((row) => row.type === 'PURCHASE')).toHaveLength(1);
  });
});

describe('redeemPoints retries racing on one idempotencyKey', () => {
  test('30 identical retries that spend the whole balance all answer with the one redemption', async () => {
    // Once the first has spent everything, a retry that ran the work again would find nothing
    // left: every retry must answer with the original result, never INSUFFICIENT_POINTS.
    const member = await enroll(t, 'race-redeem-key');
    await earn(t, member, 100);
    const input = { memberId: member, points: 100, idempotencyKey: key('redeem') };
    const results = await Promise.all(Array.from({ length: 30 }, () => t.gql(REDEEM, { input })));
    const bodies = results.map((res) => ok(res).redeemPoints);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
    expect((await ledgerRows(t, member)).filter((row) => row.type === 'REDEEM')).toHaveLength(1);
    expect(await balance(t, member)).toMatchObject({ available: 0, lifetimeRedeemed: 100 });
    await expectLedgerTrue(t, [member]);
  });

  test('30 identical transfers that move the whole balance all answer with the one transfer', async () => {
    const from = await enroll(t, 'race-transfer-key-from');
    const to = await enroll(t, 'race-transfer-key-to');
    await earn(t, from, 50);
    const input = { fromMemberId: from, toMemberId: to, points: 50, idempotencyKey: key('transfer') };
    const results = await Promise.all(Array.from({ length: 30 }, () => t.gql(TRANSFER, { input })));
    const bodies = results.map((res) => ok(res).transferPoints);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
    expect(await balance(t, from)).toMatchObject({ available: 0 });
    expect(await balance(t, to)).toMatchObject({ available: 50 });
    await expectLedgerTrue(t, [from, to]);
  });
});

describe('earnPoints retries racing on one idempotencyKey', () => {
  test('50 identical retries write one EARN entry and answer alike', async () => {
    const member = await enroll(t, 'race-earn');
    const input = { memberId: member, points: 75, reason: 'goodwill', idempotencyKey: key('earn') };
    const results = await Promise.all(Array.from({ length: 50 }, () => t.gql(EARN, { input })));
    const bodies = results.map((res) => ok(res).earnPoints);
    for (const body of bodies) expect(body).toEqual(bodies[0]);
    expect((await ledgerRows(t, member)).filter((row) => row.type === 'EARN')).toHaveLength(1);
    expect(await balance(t, member)).toMatchObject({ available: 75 });
  });

  test('the same key with another request is IDEMPOTENCY_CONFLICT and writes nothing', async () => {
    const member = await enroll(t, 'conflict-earn');
    const input = { memberId: member, points: 40, reason: 'goodwill', idempotencyKey: key('earn') };
    ok(await t.gql(EARN, { input }));
    const before = await rowCounts(t);
    for (const changed of [{ points: 41 }, { reason: 'other reason' }]) {
      expect(errorCode(await t.gql(EARN, { input: { ...input, ...changed } }))).toBe('IDEMPOTENCY_CONFLICT');
    }
    // The key belongs to the earn: a redemption cannot reuse it either.
    expect(errorCode(await t.gql(REDEEM, { input: { memberId: member, points: 40, idempotencyKey: input.idempotencyKey } }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await rowCounts(t)).toEqual(before);
    expect(await balance(t, member)).toMatchObject({ available: 40 });
  });

  test('a failed request leaves no rows, and its key stays free for a request that succeeds', async () => {
    const member = await enroll(t, 'failed-redeem');
    await earn(t, member, 5);
    const before = await rowCounts(t);
    const idempotencyKey = key('redeem');
    const failed = await t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey } });
    expect(errorCode(failed)).toBe('INSUFFICIENT_POINTS');
    expect(await rowCounts(t)).toEqual(before);
    await earn(t, member, 5);
    const retried = ok(await t.gql(REDEEM, { input: { memberId: member, points: 10, idempotencyKey } })).redeemPoints;
    expect(retried).toMatchObject({ type: 'REDEEM', points: -10 });
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });

  test('the same key from two different callers is two requests', async () => {
    const member = await enroll(t, 'scoped-key');
    const idempotencyKey = key('shared');
    const input = { memberId: member, points: 10, reason: 'scoped', idempotencyKey };
    ok(await t.gql(EARN, { input }, await t.partnerToken('PA', { sub: 'p-a' })));
    ok(await t.gql(EARN, { input }, await t.partnerToken('PB', { sub: 'p-b' })));
    expect(await balance(t, member)).toMatchObject({ available: 20 });
  });
});

test('transfers racing A→B and B→A neither deadlock nor lose points', async () => {
  const a = await enroll(t, 'xfer-a');
  const b = await enroll(t, 'xfer-b');
  await earn(t, a, 500);
  await earn(t, b, 500);
  const requests = Array.from({ length: 80 }, (_, i) => {
    const [fromMemberId, toMemberId] = i % 2 ? [a, b] : [b, a];
    return t.gql(TRANSFER, { input: { fromMemberId, toMemberId, points: 7 + (i % 5), idempotencyKey: `xfer-${a}-${i}` } });
  });
  const results = await Promise.all(requests);
  const errorCodes = results.flatMap(codes);
  // Both start with enough for every transfer in one direction, so none may fail.
  expect(errorCodes).toEqual([]);

  const [ba, bb] = [await balance(t, a), await balance(t, b)];
  expect(ba.available + bb.available).toBe(1000);
  const rows = [...(await ledgerRows(t, a)), ...(await ledgerRows(t, b))];
  const outs = rows.filter((row) => row.type === 'TRANSFER_OUT');
  const ins = rows.filter((row) => row.type === 'TRANSFER_IN');
  expect(outs).toHaveLength(80);
  expect(ins).toHaveLength(80);
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const out of outs) {
    const pair = byId.get(out.related_id as string);
    expect(pair).toMatchObject({ type: 'TRANSFER_IN', points: -out.points, related_id: out.id });
  }
  for (const res of results) {
    const { from, to } = ok(res).transferPoints;
    expect(from.points).toBe(-to.points);
    expect(from.relatedTransactionId).toBe(to.id);
    expect(to.relatedTransactionId).toBe(from.id);
  }
  await expectLedgerTrue(t, [a, b]);
});

test('racing transfers that overdraw: the sender never goes below zero and the total is kept', async () => {
  const a = await enroll(t, 'xfer-over-a');
  const b = await enroll(t, 'xfer-over-b');
  await earn(t, a, 100);
  await earn(t, b, 20);
  const results = await Promise.all(Array.from({ length: 30 }, (_, i) => {
    const [fromMemberId, toMemberId] = i % 3 ? [a, b] : [b, a];
    return t.gql(TRANSFER, { input: { fromMemberId, toMemberId, points: 15, idempotencyKey: `xfer-over-${a}-${i}` } });
  }));
  for (const code of results.flatMap(codes)) expect(code).toBe('INSUFFICIENT_POINTS');
  const [ba, bb] = [await balance(t, a), await balance(t, b)];
  expect(ba.available).toBeGreaterThanOrEqual(0);
  expect(bb.available).toBeGreaterThanOrEqual(0);
  expect(ba.available + bb.available).toBe(120);
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from points_transactions where member_id in (${a}, ${b}) and type = 'TRANSFER_OUT'`.execute(t.database.db);
  expect(rows[0]!.n).toBe(results.filter((res) => !res.errors).length);
  await expectLedgerTrue(t, [a, b]);
});

test('every balance read while earnings race is one consistent instant', async () => {
  await updateProgram(t, { allowNegativeBalance: true });
  const member = await enroll(t, 'race-read');
  const orderId = key('order');
  ok(await t.gql(PURCHASE, { input: { memberId: member, orderId, amount: '100.00', currency: 'USD' } }));
  await redeem(t, member, 90);
  // A full refund leaves a debt of 90 that the racing earnings pay off and then overtake.
  ok(await t.gql(`mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) { pointsReversed } }`,
    { input: { orderId, refundId: key('refund'), amount: '100.00' } }));
  const reads: Promise<Record<string, any>>[] = [];
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 60; i++) {
    writes.push(earn(t, member, 3));
    reads.push(balance(t, member));
  }
  await Promise.all(writes);
  for (const read of await Promise.all(reads)) {
    // Only earnings, one redemption of 90 and a clawback of 100 (counted in lifetimeEarned) happened.
    expect(read.available).toBe(read.lifetimeEarned - read.lifetimeRedeemed);
  }
  expect(await balance(t, member)).toMatchObject({ available: 90, lifetimeEarned: 180, lifetimeRedeemed: 90 });
  await expectLedgerTrue(t, [member]);
});

test('balance reads for many members at once each answer for their own member', async () => {
  // Concurrent reads share statements (one round trip serves many requests): every answer must
  // still be its own member's, with the member's own pending points, and an unknown id is null.
  await updateProgram(t, { pendingDays: 7 });
  const members: { id: string; earned: number; pending: number }[] = [];
  for (let i = 0; i < 12; i++) {
    const id = await enroll(t, `many-reads-${i}`);
    await earn(t, id, 10 + i);
    ok(await t.gql(PURCHASE, { input: { memberId: id, orderId: key('order'), amount: `${i + 1}.00`, currency: 'USD' } }));
    members.push({ id, earned: 10 + i, pending: i + 1 });
  }
  const unknown = '00000000-0000-4000-8000-000000000000';
  const query = `query($id: ID!) { member(id: $id) { id balance { available pending lifetimeEarned } } }`;
  const asks = [...members, ...members].map((m) => ({ id: m.id, expect: m }));
  const answers = await Promise.all([...asks.map((a) => t.gql(query, { id: a.id })), t.gql(query, { id: unknown })]);
  asks.forEach((ask, i) => {
    expect(ok(answers[i]!).member).toEqual({
      id: ask.id, balance: { available: ask.expect.earned, pending: ask.expect.pending, lifetimeEarned: ask.expect.earned + ask.expect.pending },
    });
  });
  expect(ok(answers.at(-1)!).member).toBeNull();
});

test('racing purchases across an upgrade: every purchase after it earns at the new multiplier', async () => {
  // The tier a purchase earns at is read with the member lock; a racing purchase that upgraded
  // the member while this one waited must be seen, so the total does not depend on timing.
  const ladder = [
    { code: 'BASE', name: 'Base', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
    { code: 'SILVER', name: 'Silver', rank: 1, qualifyingPointsRequired: 100, earnMultiplier: 2 },
  ];
  ok(await t.gql(`mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`, { tiers: ladder }));
  try {
    const member = await enroll(t, 'race-upgrade');
    const results = await Promise.all(Array.from({ length: 20 }, () =>
      t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '10.00', currency: 'USD' } })));
    const earned = results.map((res) => ok(res).recordPurchase.pointsEarned as number);
    // Ten purchases reach 100 qualifying points at ×1; the ten after the upgrade earn ×2.
    expect(earned.filter((p) => p === 10)).toHaveLength(10);
    expect(earned.filter((p) => p === 20)).toHaveLength(10);
    expect(await balance(t, member)).toMatchObject({ available: 300 });
    const tier = ok(await t.gql(`query($id: ID!) { member(id: $id) { tier { current { code } } } }`, { id: member }));
    expect(tier.member.tier.current.code).toBe('SILVER');
    await expectLedgerTrue(t, [member]);
  } finally {
    ok(await t.gql(`mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`, { tiers: [ladder[0]] }));
  }
});
