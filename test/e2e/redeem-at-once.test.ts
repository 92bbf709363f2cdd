/**
 * The one-statement redemption (ledger/redeem.repo.ts), called directly: it must draw exactly
 * the lots the general path's allocate() draws, write the same rows, and write nothing at all
 * wherever it leaves the decision to the general path (redeemPoints then falls back to it).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { spendableLots } from '../../src/ledger/ledger.repo';
import { allocate } from '../../src/ledger/ledger.rules';
import { redeemAtOnce } from '../../src/ledger/redeem.repo';
import {
  DEFAULT_PROGRAM, PURCHASE, REFUND, REDEEM, SET_STATUS, balance, earn, enroll, expectLedgerTrue, key, ledgerRows, ok, redeem, setClock,
  updateProgram, whileLockHeld,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

function direct(memberId: string, points: number, now: Date, idempotencyKey = key('direct')) {
  return redeemAtOnce(t.database.db, {
    memberId, txnId: randomUUID(), points, description: 'Redemption', partnerId: null, actor: 'admin:test-admin', now,
    idempotency: { scope: 'admin:test-admin', key: idempotencyKey, operation: 'redeemPoints', hash: `hash-${idempotencyKey}`, memberId },
    retentionDays: 30, count: null,
  });
}

/** Everything a redemption could write for the member, to show that nothing was. */
async function footprint(memberId: string) {
  const { rows } = await sql<Record<string, unknown>>`
    select (select count(*)::int from points_transactions where member_id = ${memberId}) as entries,
      (select count(*)::int from lot_allocations where member_id = ${memberId}) as allocations,
      (select count(*)::int from idempotency_keys where member_id = ${memberId}) as keys,
      (select coalesce(sum(remaining), 0)::int from point_lots where member_id = ${memberId}) as remaining,
      m.lifetime_redeemed, m.updated_at, m.last_activity_at
    from members m where m.id = ${memberId}`.execute(t.database.db);
  return rows[0];
}

async function draws(txnId: string) {
  const { rows } = await sql<{ lotId: string; points: number }>`
    select lot_id as "lotId", points from lot_allocations where txn_id = ${txnId} and kind = 'DEBIT' order by lot_id`.execute(t.database.db);
  return rows;
}

async function purchase(memberId: string, amount: string): Promise<string> {
  const orderId = key('order');
  ok(await t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD' } }));
  return orderId;
}

test('draws exactly what allocate() draws over lots of mixed expiry, earning instant and pending state, and writes every row', async () => {
  const member = await enroll(t, 'once-order');
  // Two lots that never expire, earned at one instant (their order falls to the lot id).
  await setClock(t, '2031-01-01T00:00:00.000Z');
  await earn(t, member, 40);
  await earn(t, member, 25);
  // Two lots with one expiry and one earning instant, and one earned later that expires sooner.
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
  await setClock(t, '2031-02-01T00:00:00.000Z');
  await earn(t, member, 30);
  await earn(t, member, 15);
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 6 } });
  await setClock(t, '2031-03-01T00:00:00.000Z');
  await earn(t, member, 20);
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
  await earn(t, member, 35);
  // A purchase still pending on the day of the redemptions: not spendable.
  await updateProgram(t, { pendingDays: 30 });
  await purchase(member, '50.00');

  let now = new Date('2031-03-15T00:00:00.000Z');
  let redeemed = 0;
  for (const points of [7, 33, 1, 60, 25, 38]) {
    const expected = allocate(await spendableLots(t.database.db, member, now), points);
    expect(expected.shortfall).toBe(0);
    const outcome = await direct(member, points, now);
    redeemed += points;
    expect(outcome.entry).toMatchObject({ member_id: member, type: 'REDEEM', points: -points, shortfall: 0, description: 'Redemption' });
    expect(outcome.entry?.occurred_at.toISOString()).toBe(now.toISOString());
    expect(await draws(outcome.entry!.id)).toEqual([...expected.allocations].sort((a, b) => (a.lotId < b.lotId ? -1 : 1)));
    expect(await footprint(member)).toMatchObject({ lifetime_redeemed: redeemed, last_activity_at: now, updated_at: now });
    now = new Date(now.getTime() + 60_000);
  }
  // Six credits, the purchase and six redemptions, each credit and redemption under its key;
  // of the 165 spendable points 164 are redeemed, and the pending 50 not at all.
  expect(await footprint(member)).toMatchObject({ entries: 13, keys: 12, remaining: 51 });
  await setClock(t, now.toISOString());
  expect(await balance(t, member)).toMatchObject({ available: 1, pending: 50, lifetimeRedeemed: 164 });
  await expectLedgerTrue(t, [member]);
});

test('an instant earlier than the member\'s last change writes at that change, as the general path does', async () => {
  const member = await enroll(t, 'once-instant');
  await setClock(t, '2031-05-01T12:00:00.000Z');
  await earn(t, member, 10);
  const outcome = await direct(member, 4, new Date('2031-05-01T11:00:00.000Z'));
  expect(outcome.entry?.occurred_at.toISOString()).toBe('2031-05-01T12:00:00.000Z');
  expect(outcome.lastChange?.toISOString()).toBe('2031-05-01T12:00:00.000Z');
});

describe('where the general path must decide, the statement writes nothing and redeemPoints still answers', () => {
  const at = new Date('2031-06-01T00:00:00.000Z');
  beforeEach(async () => { await setClock(t, at.toISOString()); });

  test('a replayed key: nothing new, and the retry answers with the first redemption', async () => {
    const member = await enroll(t, 'once-replay');
    await earn(t, member, 50);
    const input = { memberId: member, points: 20, idempotencyKey: key('replay') };
    const first = ok(await t.gql(REDEEM, { input })).redeemPoints;
    const before = await footprint(member);
    expect((await direct(member, 20, at, input.idempotencyKey)).entry).toBeNull();
    expect(await footprint(member)).toEqual(before);
    expect(ok(await t.gql(REDEEM, { input })).redeemPoints).toEqual(first);
    expect(await footprint(member)).toEqual(before);
  });

  test('too few points, a missing member, a suspended member', async () => {
    const member = await enroll(t, 'once-refused');
    await earn(t, member, 50);
    const before = await footprint(member);
    expect((await direct(member, 51, at)).entry).toBeNull();
    expect((await direct(randomUUID(), 1, at))).toMatchObject({ entry: null, lastChange: null });
    ok(await t.gql(SET_STATUS, { input: { id: member, status: 'SUSPENDED' } }));
    const suspended = await footprint(member);
    expect((await direct(member, 10, at)).entry).toBeNull();
    expect(await footprint(member)).toEqual(suspended);
    expect({ ...suspended, updated_at: null }).toEqual({ ...before, updated_at: null });
  });

  test('a lot past its expiry: the general path expires it first, then redeems', async () => {
    await updateProgram(t, { expiry: { mode: 'FIXED', months: 1 } });
    const member = await enroll(t, 'once-due');
    await earn(t, member, 30);
    await setClock(t, '2031-06-15T00:00:00.000Z');
    await earn(t, member, 40);
    const later = new Date('2031-07-02T00:00:00.000Z');
    const before = await footprint(member);
    expect((await direct(member, 10, later)).entry).toBeNull();
    expect(await footprint(member)).toEqual(before);
    await setClock(t, later.toISOString());
    await redeem(t, member, 10);
    expect((await ledgerRows(t, member)).map((row) => [row.type, row.points])).toEqual([['EARN', 30], ['EARN', 40], ['EXPIRE', -30], ['REDEEM', -10]]);
    await expectLedgerTrue(t, [member]);
  });

  test('a member who owes a debt: the general path keeps the owed points back', async () => {
    await updateProgram(t, { allowNegativeBalance: true });
    const member = await enroll(t, 'once-debt');
    const orderId = await purchase(member, '100.00');
    await redeem(t, member, 90);
    // Points bought now are pending; the refund then takes the last 10 and owes 40.
    await updateProgram(t, { pendingDays: 10 });
    await purchase(member, '200.00');
    ok(await t.gql(REFUND, { input: { orderId, refundId: key('refund'), amount: '50.00' } }));
    const later = new Date('2031-06-12T00:00:00.000Z');
    await setClock(t, later.toISOString());
    expect(await balance(t, member)).toMatchObject({ available: 160, pending: 0 });
    const before = await footprint(member);
    expect((await direct(member, 10, later)).entry).toBeNull();
    expect(await footprint(member)).toEqual(before);
    await redeem(t, member, 160);
    expect(await balance(t, member)).toMatchObject({ available: 0 });
    await expectLedgerTrue(t, [member]);
  });

  test('a member row that changed while the statement waited for its lock: no draw from lots read before the change', async () => {
    const member = await enroll(t, 'once-changed');
    await earn(t, member, 100);
    const { rows: kept } = await sql<{ id: string; remaining: number }>`
      select id, remaining from point_lots where member_id = ${member}`.execute(t.database.db);
    // Another writer spends the lots under the member's lock.
    const outcome = await whileLockHeld(t, member, async (tx) => {
      await sql`update point_lots set remaining = 0 where member_id = ${member}`.execute(tx);
      await sql`update members set updated_at = updated_at + interval '1 millisecond' where id = ${member}`.execute(tx);
    }, () => direct(member, 60, at));
    expect(outcome.entry).toBeNull();
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from points_transactions where member_id = ${member} and type = 'REDEEM'`.execute(t.database.db);
    expect(rows[0]?.n).toBe(0);
    // Put the lots back as the ledger says they are.
    for (const lot of kept) await sql`update point_lots set remaining = ${lot.remaining} where id = ${lot.id}`.execute(t.database.db);
    await expectLedgerTrue(t, [member]);
  });
});

