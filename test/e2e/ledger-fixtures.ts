/**
 * Operations and helpers shared by the ledger e2e tests (test/e2e/ledger-*.test.ts).
 * Each helper takes the test app explicitly: no global state.
 */
import { randomUUID } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { codes, type GqlResponse, type TestApp } from '../support/harness';
import { eventually } from '../support/eventually';
import type { Db } from '../../src/db/database';
import { inTransaction } from '../../src/db/transaction';
import { verifyLedger } from '../../src/ledger/verify.repo';

export const TXN = `id type points status shortfall description orderId partnerId memberId relatedTransactionId
  occurredAt availableAt allocations { lotId lotTransactionId points lotExpiresAt }`;

export const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
export const SET_STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) { id status } }`;
export const SET_CLOCK = `mutation($now: DateTime!) { setTestClock(now: $now) }`;
export const UPDATE_PROGRAM = `mutation($input: UpdateProgramInput!) {
  updateProgram(input: $input) { earnRate pendingDays allowNegativeBalance expiry { mode months roundToQuarterEnd } } }`;
export const PURCHASE = `mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { pointsEarned qualifyingPointsEarned transaction { ${TXN} } member { id balance { available pending } } } }`;
export const REFUND = `mutation($input: RefundPurchaseInput!) {
  refundPurchase(input: $input) { pointsReversed transaction { ${TXN} } member { id balance { available pending } } } }`;
export const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { ${TXN} } }`;
export const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { ${TXN} } }`;
export const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { ${TXN} } }`;
export const TRANSFER = `mutation($input: TransferPointsInput!) { transferPoints(input: $input) { from { ${TXN} } to { ${TXN} } } }`;
export const REVERSE = `mutation($input: ReverseRedemptionInput!) { reverseRedemption(input: $input) { ${TXN} } }`;
export const BALANCE = `query($id: ID!, $days: Int) { member(id: $id) {
  balance { available pending lifetimeEarned lifetimeRedeemed expired expiringSoon(days: $days) { points expiresAt } } } }`;
export const STATEMENT = `query($id: ID!, $first: Int, $after: String, $types: [TransactionType!], $from: DateTime, $to: DateTime) {
  member(id: $id) { transactions(first: $first, after: $after, types: $types, from: $from, to: $to) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${TXN} } } } } }`;

/** The data of a response that must have succeeded; fails the test with the errors otherwise. */
export function ok<T = Record<string, any>>(res: GqlResponse<T>): T {
  if (res.errors?.length || !res.data) throw new Error(`unexpected errors: ${JSON.stringify(res.errors ?? res.body)}`);
  return res.data;
}

/** The single error code of a failed response. */
export function errorCode(res: GqlResponse): string {
  expect(res.errors).toHaveLength(1);
  return codes(res)[0] as string;
}

export function key(prefix = 'k'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Enrols a fresh member and returns its id. */
export async function enroll(t: TestApp, prefix = 'ledger'): Promise<string> {
  return ok(await t.gql(ENROLL, { input: { externalId: `${prefix}-${randomUUID()}` } })).enrollMember.id;
}

export async function earn(t: TestApp, memberId: string, points: number, token?: string): Promise<Record<string, any>> {
  return ok(await t.gql(EARN, { input: { memberId, points, reason: 'test credit', idempotencyKey: key('earn') } }, token)).earnPoints;
}

export async function redeem(t: TestApp, memberId: string, points: number, token?: string): Promise<Record<string, any>> {
  return ok(await t.gql(REDEEM, { input: { memberId, points, idempotencyKey: key('redeem') } }, token)).redeemPoints;
}

export async function balance(t: TestApp, memberId: string, days = 30): Promise<Record<string, any>> {
  return ok(await t.gql(BALANCE, { id: memberId, days })).member.balance;
}

export async function setClock(t: TestApp, iso: string): Promise<void> {
  ok(await t.gql(SET_CLOCK, { now: iso }));
}

export async function updateProgram(t: TestApp, input: Record<string, unknown>): Promise<void> {
  ok(await t.gql(UPDATE_PROGRAM, { input }));
}

/** The programme every ledger test starts from, unless it says otherwise. */
export const DEFAULT_PROGRAM = { earnRate: '1', pendingDays: 0, allowNegativeBalance: false, expiry: { mode: 'NONE' } };

async function scalar(t: TestApp, query: RawBuilder<{ n: number }>): Promise<number> {
  const { rows } = await query.execute(t.database.db);
  return Number(rows[0]!.n);
}

/** How many rows of each ledger table exist (for "nothing was written" checks). */
export async function rowCounts(t: TestApp): Promise<Record<string, number>> {
  const tables = ['points_transactions', 'point_lots', 'lot_allocations', 'orders', 'refunds', 'idempotency_keys'];
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = await scalar(t, sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`);
  return counts;
}

/** Ledger rows of one member, oldest first, straight from the database. */
export async function ledgerRows(t: TestApp, memberId: string) {
  const { rows } = await sql<{ id: string; type: string; points: number; shortfall: number; cancelled: boolean; related_id: string | null }>`
    select id, type, points, shortfall, cancelled, related_id from points_transactions where member_id = ${memberId} order by seq`.execute(t.database.db);
  return rows;
}

/**
 * The ledger identity for the given members, read straight from the tables:
 * sum(lots.remaining) − debt = sum of non-cancelled entries; and verifyLedger reports no drift.
 */
export async function expectLedgerTrue(t: TestApp, memberIds: string[]): Promise<void> {
  for (const id of memberIds) {
    const lots = await scalar(t, sql<{ n: number }>`select coalesce(sum(remaining), 0)::int as n from point_lots where member_id = ${id}`);
    const debt = await scalar(t, sql<{ n: number }>`select debt as n from members where id = ${id}`);
    const net = await scalar(t, sql<{ n: number }>`
      select coalesce(sum(points), 0)::int as n from points_transactions where member_id = ${id} and not cancelled`);
    expect({ id, balance: lots - debt }).toEqual({ id, balance: net });
  }
  const report = await verifyLedger(t.database.db);
  expect(report.drift).toEqual([]);
}

/**
 * Runs `statement` while another transaction holds the member's row lock and makes `change`
 * under it, as every ledger write does, then lets that transaction commit; returns what the
 * statement gave. On PostgreSQL the statement starts from a snapshot taken before the change
 * commits and waits for the lock; PGlite's one connection queues it behind the transaction.
 */
export async function whileLockHeld<T>(t: TestApp, memberId: string, change: (tx: Db) => Promise<void>, statement: () => Promise<T>): Promise<T> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: (pid: number) => void;
  const holder = new Promise<number>((resolve) => (locked = resolve));
  const writer = inTransaction(t.database.db, async (tx) => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid from members where id = ${memberId} for update`.execute(tx);
    await change(tx);
    locked(rows[0]!.pid);
    await held;
  });
  const pid = await holder;
  const racing = statement();
  if (t.database.kind === 'postgres') await waitUntilBlockedBy(t, pid);
  release();
  await writer;
  return racing;
}

/** Waits until some statement waits for a lock that backend `pid` holds. */
export async function waitUntilBlockedBy(t: TestApp, pid: number): Promise<void> {
  await eventually(`a statement waiting for backend ${pid}`, async () => {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity where ${pid}::int = any(pg_blocking_pids(pid))`.execute(t.database.db);
    return (rows[0]?.n ?? 0) > 0;
  }, 5000);
}
