/**
 * The rewards catalogue and its vouchers end to end: rewards managed over GraphQL, redeemed
 * through the ledger (points, stock, per-member limits, tiers, windows), used, cancelled (points
 * and stock back once) and expired by the maintenance pass. On PostgreSQL the races really race,
 * across two API instances with their own connections.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import supertest from 'supertest';
import { createApp } from '../../src/app';
import { openDatabase, openOptions, type Database } from '../../src/db/database';
import { type GqlResponse, type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, REVERSE, balance, earn, enroll, errorCode, expectLedgerTrue, key, ledgerRows, ok, setClock, updateProgram } from './ledger-fixtures';
import { serverTest } from '../support/on-server';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => {
  await setClock(t, '2026-03-01T12:00:00Z');
  await updateProgram(t, DEFAULT_PROGRAM);
  await setTiers([{ code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 }]);
});


const REWARD = 'id code name description pointsCost type stock remaining perMemberLimit minTierRank validFrom validUntil active partnerId';
const REDEMPTION = `id memberId pointsSpent voucherCode status createdAt validUntil usedAt cancelledAt cancelReason expiredAt
  reward { id code remaining } transaction { id type points partnerId } reversal { id type points relatedTransactionId }`;
const CREATE = `mutation($input: RewardInput!) { createReward(input: $input) { ${REWARD} } }`;
const UPDATE = `mutation($id: ID!, $input: RewardInput!) { updateReward(id: $id, input: $input) { ${REWARD} } }`;
const CATALOGUE = `query($first: Int, $after: String, $affordableFor: ID) { rewards(first: $first, after: $after, affordableFor: $affordableFor) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { code pointsCost remaining } } } }`;
const GET_REWARD = `query($id: ID!) { reward(id: $id) { code } }`;
const REDEEM_REWARD = `mutation($input: RedeemRewardInput!) { redeemReward(input: $input) { ${REDEMPTION} } }`;
const MARK_USED = `mutation($id: ID!) { markRedemptionUsed(id: $id) { id status usedAt } }`;
const CANCEL = `mutation($id: ID!, $reason: String) { cancelRedemption(id: $id, reason: $reason) { ${REDEMPTION} } }`;
const REDEMPTIONS = `query($memberId: ID!, $status: RedemptionStatus, $first: Int, $after: String) {
  redemptions(memberId: $memberId, status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status voucherCode } } } }`;
const VOUCHER = `query($code: String!) { voucher(code: $code) { id status memberId } }`;
const MAINTENANCE = `mutation { runMaintenance { vouchersExpired } }`;

async function setTiers(tiers: Record<string, unknown>[]): Promise<void> {
  ok(await t.gql(`mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`, { tiers }));
}

/** A reward with a fresh code; `terms` override the defaults (100 points, unlimited). */
async function createReward(terms: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const input = { code: `R-${randomUUID().slice(0, 8)}`, name: 'Coffee', pointsCost: 100, type: 'VOUCHER', ...terms };
  return ok(await t.gql(CREATE, { input })).createReward;
}

/** A member holding `points` available points. */
async function memberWith(points: number, prefix = 'rw'): Promise<string> {
  const id = await enroll(t, prefix);
  if (points > 0) await earn(t, id, points);
  return id;
}

function redeem(memberId: string, rewardId: string, idempotencyKey = key('rr'), token?: string, base?: string): Promise<GqlResponse> {
  if (!base) return t.gql(REDEEM_REWARD, { input: { memberId, rewardId, idempotencyKey } }, token);
  return supertest(base).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${token ?? t.admin}`)
    .send({ query: REDEEM_REWARD, variables: { input: { memberId, rewardId, idempotencyKey } } })
    .then((res) => ({ status: res.status, data: res.body?.data, errors: res.body?.errors, body: res.body }));
}

async function rewardRow(id: string): Promise<{ issued: number; stock: number | null }> {
  const { rows } = await sql<{ issued: number; stock: number | null }>`select issued, stock from rewards where id = ${id}`.execute(t.database.db);
  return rows[0]!;
}

/** A second API instance over the same database, with its own connections where the database is a server. */
async function secondInstance(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  let database: Database = t.database;
  if (t.database.kind === 'postgres') {
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(t.database.db)).rows[0]!.s;
    database = await openDatabase({ ...t.config.database }, { ...openOptions(t.config), schema, poolSize: 20 });
  }
  const app = await createApp({ config: t.config, database });
  await new Promise<void>((resolve) => app.httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = app.httpServer.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await app.stop();
      if (database !== t.database) await database.close();
    },
  };
}

describe('the catalogue', () => {
  test('a reward is created with its terms, its code upper case, its stock all remaining', async () => {
    await t.partnerToken('cafe-1');
    const reward = await createReward({ code: 'coffee-' + randomUUID().slice(0, 6), stock: 5, perMemberLimit: 2, description: ' Any size ', partnerId: 'cafe-1' });
    expect(reward).toMatchObject({ pointsCost: 100, type: 'VOUCHER', stock: 5, remaining: 5, perMemberLimit: 2, description: 'Any size', active: true, partnerId: 'cafe-1' });
    expect(reward.code).toMatch(/^COFFEE-/);
  });

  test.each([
    ['pointsCost', { pointsCost: 0 }],
    ['pointsCost', { pointsCost: 10_000_001 }],
    ['stock', { stock: -1 }],
    ['perMemberLimit', { perMemberLimit: 0 }],
    ['code', { code: 'has space' }],
    ['name', { name: '  ' }],
    ['validUntil', { validFrom: '2026-05-01T00:00:00Z', validUntil: '2026-04-01T00:00:00Z' }],
    ['partnerId', { partnerId: 'bad id!' }],
    ['partnerId', { partnerId: 'not-registered' }],
  ])('bad terms are BAD_USER_INPUT naming %s, and nothing is created', async (field, terms) => {
    const code = `BAD-${randomUUID().slice(0, 8)}`;
    const res = await t.gql(CREATE, { input: { code, name: 'X', pointsCost: 10, type: 'VOUCHER', ...terms } });
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.extensions!.field).toBe(field);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from rewards where code = ${code.toUpperCase()}`.execute(t.database.db);
    expect(rows[0]!.n).toBe(0);
  });

  test('a code is unique, in any case', async () => {
    const reward = await createReward();
    const res = await t.gql(CREATE, { input: { code: reward.code.toLowerCase(), name: 'Again', pointsCost: 10, type: 'VOUCHER' } });
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.extensions!.field).toBe('code');
  });

  test('the catalogue pages cheapest first; a member sees only what is on offer now', async () => {
    const tag = randomUUID().slice(0, 6).toUpperCase();
    const costs = [300, 100, 200];
    for (const cost of costs) await createReward({ code: `CAT-${tag}-${cost}`, pointsCost: cost });
    await createReward({ code: `CAT-${tag}-OFF`, pointsCost: 150, active: false });
    await createReward({ code: `CAT-${tag}-LATER`, pointsCost: 160, validFrom: '2026-06-01T00:00:00Z' });
    const mine = (page: any) => page.edges.map((e: any) => e.node.code).filter((c: string) => c.startsWith(`CAT-${tag}`));
    const all: string[] = [];
    let after: string | null = null;
    do {
      const page: any = ok(await t.gql(CATALOGUE, { first: 2, after })).rewards;
      expect(page.edges.length).toBeLessThanOrEqual(2);
      all.push(...mine(page));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    expect(all).toEqual([`CAT-${tag}-100`, `CAT-${tag}-OFF`, `CAT-${tag}-LATER`, `CAT-${tag}-200`, `CAT-${tag}-300`]);

    const member = await memberWith(0);
    const token = t.token({ role: 'MEMBER', memberId: member });
    const seen = ok(await t.gql(CATALOGUE, { first: 100 }, token)).rewards;
    expect(mine(seen)).toEqual([`CAT-${tag}-100`, `CAT-${tag}-200`, `CAT-${tag}-300`]);
    const hidden = (await sql<{ id: string }>`select id from rewards where code = ${`CAT-${tag}-OFF`}`.execute(t.database.db)).rows[0]!.id;
    expect(ok(await t.gql(GET_REWARD, { id: hidden }, token)).reward).toBeNull();
    expect(ok(await t.gql(GET_REWARD, { id: hidden })).reward).toEqual({ code: `CAT-${tag}-OFF` });
  });

  test('affordableFor answers what the member can redeem now: its points, its tier, stock left, its limit', async () => {
    await setTiers([
      { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
      { code: 'GOLD', name: 'Gold', rank: 1, qualifyingPointsRequired: 100000, earnMultiplier: 1 },
    ]);
    const tag = randomUUID().slice(0, 6).toUpperCase();
    await createReward({ code: `AFF-${tag}-CHEAP`, pointsCost: 100, perMemberLimit: 1 });
    await createReward({ code: `AFF-${tag}-FIT`, pointsCost: 250 });
    await createReward({ code: `AFF-${tag}-DEAR`, pointsCost: 301 });
    await createReward({ code: `AFF-${tag}-GOLD`, pointsCost: 50, minTierRank: 1 });
    await createReward({ code: `AFF-${tag}-GONE`, pointsCost: 50, stock: 0 });
    const member = await memberWith(300);
    const token = t.token({ role: 'MEMBER', memberId: member });
    const codesFor = async () => ok(await t.gql(CATALOGUE, { first: 100, affordableFor: member }, token)).rewards.edges
      .map((e: any) => e.node.code).filter((c: string) => c.startsWith(`AFF-${tag}`));
    expect(await codesFor()).toEqual([`AFF-${tag}-CHEAP`, `AFF-${tag}-FIT`]);
    const cheap = (await sql<{ id: string }>`select id from rewards where code = ${`AFF-${tag}-CHEAP`}`.execute(t.database.db)).rows[0]!.id;
    ok(await redeem(member, cheap, key(), token));
    // 200 points left; the cheap one is at its limit.
    expect(await codesFor()).toEqual([]);
    const other = await memberWith(0);
    expect(errorCode(await t.gql(CATALOGUE, { affordableFor: other }, token))).toBe('FORBIDDEN');
  });
});

describe('redeeming a reward', () => {
  test('issues a voucher, debits the points through the ledger and takes one unit of stock', async () => {
    const reward = await createReward({ pointsCost: 120, stock: 3, validUntil: '2026-12-31T00:00:00Z' });
    const member = await memberWith(500);
    const token = t.token({ role: 'MEMBER', memberId: member });
    const voucher = ok(await redeem(member, reward.id, key(), token)).redeemReward;
    expect(voucher).toMatchObject({
      memberId: member, pointsSpent: 120, status: 'ISSUED', validUntil: '2026-12-31T00:00:00.000Z', usedAt: null,
      reward: { id: reward.id, remaining: 2 }, transaction: { type: 'REDEEM', points: -120, partnerId: null }, reversal: null,
    });
    expect(voucher.voucherCode).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    expect(await balance(t, member)).toMatchObject({ available: 380, lifetimeRedeemed: 120 });
    expect((await ledgerRows(t, member)).map((r) => [r.type, r.points])).toEqual([['EARN', 500], ['REDEEM', -120]]);
    expect(await rewardRow(reward.id)).toEqual({ issued: 1, stock: 3 });
    const listed = ok(await t.gql(REDEMPTIONS, { memberId: member }, token)).redemptions;
    expect(listed).toMatchObject({ totalCount: 1, edges: [{ node: { id: voucher.id, status: 'ISSUED', voucherCode: voucher.voucherCode } }] });
    // A till may type the code in lower case and without its dashes.
    const typed = voucher.voucherCode.replace(/-/g, '').toLowerCase();
    expect(ok(await t.gql(VOUCHER, { code: typed })).voucher).toEqual({ id: voucher.id, status: 'ISSUED', memberId: member });
    await expectLedgerTrue(t, [member]);
  });

  test('a member\'s vouchers page newest first, those of one instant by id across a page\'s end, each once', async () => {
    const reward = await createReward({ pointsCost: 10 });
    const member = await memberWith(500);
    const made: { id: string; at: string }[] = [];
    for (const at of ['12:00:01', '12:00:02', '12:00:03', '12:00:03', '12:00:04']) {
      await setClock(t, `2026-03-01T${at}Z`);
      made.push({ id: ok(await redeem(member, reward.id)).redeemReward.id, at });
    }
    const newestFirst = [...made].sort((a, b) => b.at.localeCompare(a.at) || (a.id < b.id ? 1 : -1)).map((m) => m.id);
    const walked: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: any = ok(await t.gql(REDEMPTIONS, { memberId: member, first: 2, after })).redemptions;
      expect(page.totalCount).toBe(5);
      walked.push(...page.edges.map((e: any) => e.node.id));
      pages += 1;
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after && pages < 10);
    expect(pages).toBe(3);
    expect(walked).toEqual(newestFirst);
  });

  test('a retry with the same key answers the same voucher once; the key with another reward is IDEMPOTENCY_CONFLICT', async () => {
    const reward = await createReward({ pointsCost: 100, stock: 10 });
    const other = await createReward({ pointsCost: 100 });
    const member = await memberWith(1000);
    const k = key();
    const first = ok(await redeem(member, reward.id, k)).redeemReward;
    const again = ok(await redeem(member, reward.id, k)).redeemReward;
    expect(again).toMatchObject({ id: first.id, voucherCode: first.voucherCode });
    expect(errorCode(await redeem(member, other.id, k))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await balance(t, member)).toMatchObject({ available: 900 });
    expect(await rewardRow(reward.id)).toMatchObject({ issued: 1 });
  });

  test('refusals move no points and take no stock: points, tier, limit, stock, window, another member', async () => {
    await setTiers([
      { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
      { code: 'GOLD', name: 'Gold', rank: 1, qualifyingPointsRequired: 1000, earnMultiplier: 1 },
    ]);
    const member = await memberWith(500);
    const dear = await createReward({ pointsCost: 600, stock: 5 });
    const gold = await createReward({ pointsCost: 100, minTierRank: 1 });
    const once = await createReward({ pointsCost: 100, perMemberLimit: 1 });
    const none = await createReward({ pointsCost: 100, stock: 0 });
    const later = await createReward({ pointsCost: 100, validFrom: '2026-04-01T00:00:00Z' });
    const off = await createReward({ pointsCost: 100, active: false });
    expect(errorCode(await redeem(member, dear.id))).toBe('INSUFFICIENT_POINTS');
    expect(errorCode(await redeem(member, gold.id))).toBe('FORBIDDEN');
    ok(await redeem(member, once.id));
    expect(errorCode(await redeem(member, once.id))).toBe('INVALID_STATE');
    expect(errorCode(await redeem(member, none.id))).toBe('OUT_OF_STOCK');
    expect(errorCode(await redeem(member, later.id))).toBe('INVALID_STATE');
    expect(errorCode(await redeem(member, off.id))).toBe('INVALID_STATE');
    expect(errorCode(await redeem(member, randomUUID()))).toBe('NOT_FOUND');
    const stranger = t.token({ role: 'MEMBER', memberId: await memberWith(0) });
    expect(errorCode(await redeem(member, once.id, key(), stranger))).toBe('FORBIDDEN');
    expect(await balance(t, member)).toMatchObject({ available: 400 });
    expect(await rewardRow(dear.id)).toMatchObject({ issued: 0 });
    // Reaching the tier opens the gated reward.
    await earn(t, member, 1000);
    expect(ok(await redeem(member, gold.id)).redeemReward.status).toBe('ISSUED');
    await expectLedgerTrue(t, [member]);
  });

  test('stock runs out exactly: the redemption after the last unit is OUT_OF_STOCK and moves nothing', async () => {
    const reward = await createReward({ pointsCost: 10, stock: 2 });
    const member = await memberWith(100);
    ok(await redeem(member, reward.id));
    ok(await redeem(member, reward.id));
    expect(errorCode(await redeem(member, reward.id))).toBe('OUT_OF_STOCK');
    expect(await balance(t, member)).toMatchObject({ available: 80 });
    expect(await rewardRow(reward.id)).toEqual({ issued: 2, stock: 2 });
    // More stock may be added; less than was issued may not.
    const input = { code: reward.code, name: reward.name, pointsCost: 10, type: 'VOUCHER' };
    expect(errorCode(await t.gql(UPDATE, { id: reward.id, input: { ...input, stock: 1 } }))).toBe('BAD_USER_INPUT');
    expect(ok(await t.gql(UPDATE, { id: reward.id, input: { ...input, stock: 3 } })).updateReward).toMatchObject({ stock: 3, remaining: 1 });
    ok(await redeem(member, reward.id));
    await expectLedgerTrue(t, [member]);
  });

  test('a reward given a stock after being unlimited counts the vouchers already issued', async () => {
    const reward = await createReward({ pointsCost: 10 });
    const member = await memberWith(100);
    ok(await redeem(member, reward.id));
    ok(await redeem(member, reward.id));
    const input = { code: reward.code, name: reward.name, pointsCost: 10, type: 'VOUCHER', stock: 3 };
    expect(ok(await t.gql(UPDATE, { id: reward.id, input })).updateReward).toMatchObject({ stock: 3, remaining: 1 });
    ok(await redeem(member, reward.id));
    expect(errorCode(await redeem(member, reward.id))).toBe('OUT_OF_STOCK');
  });
});

test('a partner redeeming a reward for a member is invoiced for it: its settlement counts the redemption', async () => {
  const partner = await t.partnerToken('rewards-settled');
  const reward = await createReward({ pointsCost: 70 });
  const member = await memberWith(100);
  const voucher = ok(await redeem(member, reward.id, key(), partner)).redeemReward;
  expect(voucher.transaction).toMatchObject({ type: 'REDEEM', points: -70, partnerId: 'rewards-settled' });
  const SETTLEMENT = `query($from: DateTime!, $to: DateTime!) { partnerSettlement(partnerId: "rewards-settled", from: $from, to: $to) { pointsRedeemed redemptions } }`;
  const settled = ok(await t.gql(SETTLEMENT, { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' }, partner)).partnerSettlement;
  expect(settled).toEqual({ pointsRedeemed: 70, redemptions: 1 });
});

test('a partner lists only the vouchers it redeemed or fulfils; an admin and the member see them all', async () => {
  const [a, b, c] = await Promise.all(['list-a', 'list-b', 'list-c'].map((id) => t.partnerToken(id)));
  const plain = await createReward({ pointsCost: 10 });
  const fulfilled = await createReward({ pointsCost: 10, partnerId: 'list-c' });
  const member = await memberWith(100);
  const byA = ok(await redeem(member, plain.id, key(), a)).redeemReward.id;
  const byB = ok(await redeem(member, plain.id, key(), b)).redeemReward.id;
  const ofC = ok(await redeem(member, fulfilled.id)).redeemReward.id;
  const ids = async (token: string) => ok(await t.gql(REDEMPTIONS, { memberId: member }, token)).redemptions.edges.map((e: any) => e.node.id).sort();
  expect(await ids(a!)).toEqual([byA]);
  expect(await ids(b!)).toEqual([byB]);
  expect(await ids(c!)).toEqual([ofC]);
  expect(await ids(t.admin)).toEqual([byA, byB, ofC].sort());
  expect(await ids(t.token({ role: 'MEMBER', memberId: member }))).toEqual([byA, byB, ofC].sort());
  expect(ok(await t.gql(`query($id: ID!) { redemption(id: $id) { id } }`, { id: byB }, a)).redemption).toBeNull();
});

describe('a voucher after issue', () => {
  test('the reward\'s partner or an admin marks it used, once; another partner may not; a used voucher cannot be cancelled', async () => {
    const partner = await t.partnerToken('cafe-used');
    const reward = await createReward({ pointsCost: 50, partnerId: 'cafe-used' });
    const member = await memberWith(100);
    const voucher = ok(await redeem(member, reward.id)).redeemReward;
    const other = await t.partnerToken('cafe-other');
    expect(errorCode(await t.gql(MARK_USED, { id: voucher.id }, other))).toBe('FORBIDDEN');
    expect(ok(await t.gql(VOUCHER, { code: voucher.voucherCode }, other)).voucher).toBeNull();
    expect(ok(await t.gql(VOUCHER, { code: voucher.voucherCode }, partner)).voucher).toMatchObject({ id: voucher.id, status: 'ISSUED' });
    const used = ok(await t.gql(MARK_USED, { id: voucher.id }, partner)).markRedemptionUsed;
    expect(used).toMatchObject({ status: 'USED', usedAt: '2026-03-01T12:00:00.000Z' });
    expect(ok(await t.gql(MARK_USED, { id: voucher.id })).markRedemptionUsed).toEqual(used);
    expect(errorCode(await t.gql(CANCEL, { id: voucher.id }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(MARK_USED, { id: voucher.id }, t.token({ role: 'MEMBER', memberId: member })))).toBe('FORBIDDEN');
    expect(await balance(t, member)).toMatchObject({ available: 50 });
  });

  test('cancelling gives back the points (a REVERSAL) and the stock, once; its entry cannot be reversed directly', async () => {
    await updateProgram(t, { expiry: { mode: 'FIXED', months: 12 } });
    const reward = await createReward({ pointsCost: 150, stock: 1 });
    const member = await memberWith(200);
    const voucher = ok(await redeem(member, reward.id)).redeemReward;
    expect(errorCode(await redeem(await memberWith(200), reward.id))).toBe('OUT_OF_STOCK');
    expect(errorCode(await t.gql(REVERSE, { input: { transactionId: voucher.transaction.id, idempotencyKey: key() } }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(CANCEL, { id: voucher.id }, t.token({ role: 'MEMBER', memberId: member })))).toBe('FORBIDDEN');
    await setClock(t, '2026-03-02T09:00:00Z');
    const cancelled = ok(await t.gql(CANCEL, { id: voucher.id, reason: 'Shop closed' })).cancelRedemption;
    expect(cancelled).toMatchObject({
      status: 'CANCELLED', cancelledAt: '2026-03-02T09:00:00.000Z', cancelReason: 'Shop closed',
      reversal: { type: 'REVERSAL', points: 150, relatedTransactionId: voucher.transaction.id }, reward: { remaining: 1 },
    });
    const again = ok(await t.gql(CANCEL, { id: voucher.id })).cancelRedemption;
    expect(again).toMatchObject({ status: 'CANCELLED', reversal: { id: cancelled.reversal.id } });
    expect(await balance(t, member)).toMatchObject({ available: 200 });
    expect((await ledgerRows(t, member)).map((r) => r.type)).toEqual(['EARN', 'REDEEM', 'REVERSAL']);
    expect(await rewardRow(reward.id)).toEqual({ issued: 0, stock: 1 });
    // The unit of stock is free again.
    expect(ok(await redeem(member, reward.id)).redeemReward.status).toBe('ISSUED');
    await expectLedgerTrue(t, [member]);
  });

  test('a voucher past its end is EXPIRED before the maintenance pass marks it: it can be neither used nor cancelled', async () => {
    const reward = await createReward({ pointsCost: 30, validUntil: '2026-03-05T00:00:00Z' });
    const member = await memberWith(100);
    const voucher = ok(await redeem(member, reward.id)).redeemReward;
    await setClock(t, '2026-03-05T00:00:00Z');
    expect(ok(await t.gql(`query($id: ID!) { redemption(id: $id) { status } }`, { id: voucher.id })).redemption.status).toBe('EXPIRED');
    expect(errorCode(await t.gql(MARK_USED, { id: voucher.id }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(CANCEL, { id: voucher.id }))).toBe('INVALID_STATE');
    expect(await balance(t, member)).toMatchObject({ available: 70 });
  });

  test('a cancelled voucher frees its place under the member\'s limit', async () => {
    const reward = await createReward({ pointsCost: 10, perMemberLimit: 1 });
    const member = await memberWith(100);
    const voucher = ok(await redeem(member, reward.id)).redeemReward;
    ok(await t.gql(CANCEL, { id: voucher.id }));
    expect(ok(await redeem(member, reward.id)).redeemReward.status).toBe('ISSUED');
  });

  test('the maintenance pass expires issued vouchers past their end and gives no points back', async () => {
    const reward = await createReward({ pointsCost: 40, validUntil: '2026-03-10T00:00:00Z' });
    const member = await memberWith(100);
    const issued = ok(await redeem(member, reward.id)).redeemReward;
    const used = ok(await redeem(member, reward.id)).redeemReward;
    ok(await t.gql(MARK_USED, { id: used.id }));
    // Other tests' vouchers may fall due in the same passes: this one's are looked at by status.
    const stored = async () => (await sql<{ status: string }>`select status from redemptions where member_id = ${member} order by created_at, id`
      .execute(t.database.db)).rows.map((r) => r.status).sort();
    await setClock(t, '2026-03-09T23:59:59Z');
    ok(await t.gql(MAINTENANCE));
    expect(await stored()).toEqual(['ISSUED', 'USED']);
    await setClock(t, '2026-03-10T00:00:00Z');
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.vouchersExpired).toBeGreaterThanOrEqual(1);
    expect(await stored()).toEqual(['EXPIRED', 'USED']);
    expect(ok(await t.gql(MAINTENANCE)).runMaintenance.vouchersExpired).toBe(0);
    const page = ok(await t.gql(REDEMPTIONS, { memberId: member, status: 'EXPIRED' })).redemptions;
    expect(page.edges.map((e: any) => e.node.id)).toEqual([issued.id]);
    expect(await balance(t, member)).toMatchObject({ available: 20 });
    expect(errorCode(await t.gql(MARK_USED, { id: issued.id }))).toBe('INVALID_STATE');
    expect(errorCode(await t.gql(CANCEL, { id: issued.id }))).toBe('INVALID_STATE');
  });
});

describe('under concurrency', () => {
  serverTest('50 racing redemptions of a reward with stock 10, half on a second instance: exactly 10 vouchers', async () => {
    // A webhook listens (no worker sends here), so the redemptions write their events.
    ok(await t.gql(`mutation($input: WebhookInput!) { createWebhook(input: $input) { secret } }`, { input: { url: 'http://127.0.0.1:9/hooks', events: ['*'] } }));
    const reward = await createReward({ pointsCost: 100, stock: 10 });
    const members = await Promise.all(Array.from({ length: 50 }, () => memberWith(150, 'rw-race')));
    const second = await secondInstance();
    try {
      const results = await Promise.all(members.map((m, i) => redeem(m, reward.id, key(), undefined, i % 2 ? second.baseUrl : t.baseUrl)));
      const outcomes = results.map((r) => (r.errors ? errorCode(r) : r.data!.redeemReward.status));
      expect(outcomes.filter((o) => o === 'ISSUED')).toHaveLength(10);
      expect(outcomes.filter((o) => o === 'OUT_OF_STOCK')).toHaveLength(40);
    } finally {
      await second.close();
    }
    const balances = await Promise.all(members.map(async (m) => (await balance(t, m)).available as number));
    expect(balances.filter((b) => b === 50)).toHaveLength(10);
    expect(balances.filter((b) => b === 150)).toHaveLength(40);
    expect(await rewardRow(reward.id)).toEqual({ issued: 10, stock: 10 });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from redemptions where reward_id = ${reward.id}`.execute(t.database.db);
    expect(rows[0]!.n).toBe(10);
    // The refused redemptions planned a debit and its event before their statement failed: none was written.
    const events = await sql<{ type: string; n: number }>`select type, count(*)::int as n from outbox_events
      where member_id in (select id from members where external_id like 'rw-race-%') and type in ('points.redeemed', 'reward.redeemed') group by type order by type`.execute(t.database.db);
    expect(events.rows).toEqual([{ type: 'points.redeemed', n: 10 }, { type: 'reward.redeemed', n: 10 }]);
    await expectLedgerTrue(t, members);
  });

  serverTest('racing retries of one key for the last unit of stock all answer the one voucher', async () => {
    const reward = await createReward({ pointsCost: 10, stock: 1 });
    const member = await memberWith(100);
    const k = key();
    const second = await secondInstance();
    try {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => redeem(member, reward.id, k, undefined, i % 2 ? second.baseUrl : t.baseUrl)));
      const answers = results.map((r) => (r.errors ? errorCode(r) : r.data!.redeemReward.id));
      expect(new Set(answers).size).toBe(1);
      expect(answers[0]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await second.close();
    }
    expect(await balance(t, member)).toMatchObject({ available: 90 });
  });

  serverTest('a cancel racing the till\'s use: each voucher ends used or cancelled, never both, and points come back only for the cancelled', async () => {
    const reward = await createReward({ pointsCost: 10, stock: 20 });
    const member = await memberWith(200);
    const vouchers: string[] = [];
    for (let i = 0; i < 20; i++) vouchers.push(ok(await redeem(member, reward.id)).redeemReward.id);
    await Promise.all(vouchers.flatMap((id) => [t.gql(CANCEL, { id }), t.gql(MARK_USED, { id })]));
    const { rows } = await sql<{ status: string; reversal_txn_id: string | null }>`
      select status, reversal_txn_id from redemptions where reward_id = ${reward.id}`.execute(t.database.db);
    const cancelled = rows.filter((r) => r.status === 'CANCELLED');
    expect(rows.every((r) => r.status === 'CANCELLED' || r.status === 'USED')).toBe(true);
    expect(cancelled.every((r) => r.reversal_txn_id !== null)).toBe(true);
    expect(rows.filter((r) => r.status === 'USED').every((r) => r.reversal_txn_id === null)).toBe(true);
    expect(await balance(t, member)).toMatchObject({ available: cancelled.length * 10 });
    expect(await rewardRow(reward.id)).toEqual({ issued: 20 - cancelled.length, stock: 20 });
    const reversals = (await ledgerRows(t, member)).filter((r) => r.type === 'REVERSAL');
    expect(reversals).toHaveLength(cancelled.length);
    await expectLedgerTrue(t, [member]);
  });

  serverTest('5 racing attempts at a limit of 1 give one voucher; 5 racing cancels give the points and stock back once', async () => {
    const reward = await createReward({ pointsCost: 100, perMemberLimit: 1, stock: 5 });
    const member = await memberWith(1000);
    const second = await secondInstance();
    let voucherId: string;
    try {
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => redeem(member, reward.id, key(), undefined, i % 2 ? second.baseUrl : t.baseUrl)));
      const issued = results.filter((r) => !r.errors);
      expect(issued).toHaveLength(1);
      expect(results.filter((r) => r.errors).map(errorCode)).toEqual(['INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE']);
      voucherId = issued[0]!.data!.redeemReward.id;
    } finally {
      await second.close();
    }
    expect(await balance(t, member)).toMatchObject({ available: 900 });
    const cancels = await Promise.all(Array.from({ length: 5 }, () => t.gql(CANCEL, { id: voucherId })));
    expect(cancels.map((c) => ok(c).cancelRedemption.status)).toEqual(Array(5).fill('CANCELLED'));
    expect(new Set(cancels.map((c) => c.data!.cancelRedemption.reversal.id)).size).toBe(1);
    expect(await balance(t, member)).toMatchObject({ available: 1000 });
    expect(await rewardRow(reward.id)).toEqual({ issued: 0, stock: 5 });
    await expectLedgerTrue(t, [member]);
  });
});
