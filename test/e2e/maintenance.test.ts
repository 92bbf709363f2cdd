import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../support/harness';
import { verifyLedger } from '../../src/ledger/verify.repo';
import { sweepExpiry } from '../../src/jobs/expiry';

const run = promisify(execFile);

const ENROLL = `mutation($externalId: String!) { enrollMember(input: { externalId: $externalId }) { id } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id } }`;
const SET_CLOCK = `mutation($now: DateTime!) { setTestClock(now: $now) }`;
const PROGRAM = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { expiry { mode months } } }`;
const MAINTENANCE = `mutation { runMaintenance { pointsExpired keysPurged } }`;
const STATEMENT = `query($id: ID!) { member(id: $id) { balance { available expired } transactions(types: [EXPIRE]) { totalCount edges { node { points } } } } }`;

async function member(t: TestApp, externalId: string): Promise<string> {
  const res = await t.gql(ENROLL, { externalId });
  return res.data!.enrollMember.id;
}

/** A little history on several members: purchases, a redemption, a refund. */
async function someHistory(t: TestApp, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await member(t, `${prefix}-${i}`);
    ids.push(id);
    await t.gql(PURCHASE, { input: { memberId: id, orderId: `${prefix}-o${i}`, amount: '80.00', currency: 'USD' } });
    await t.gql(REDEEM, { input: { memberId: id, points: 30, idempotencyKey: `${prefix}-r${i}` } });
    await t.gql(`mutation($input: RefundPurchaseInput!) { refundPurchase(input: $input) { pointsReversed } }`, {
      input: { orderId: `${prefix}-o${i}`, refundId: `${prefix}-f${i}`, amount: '20.00' },
    });
  }
  return ids;
}

describe('verify-ledger', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t.close(); });

  test('finds no drift after real operations, and names the member and figure that drift', async () => {
    const ids = await someHistory(t, 'verify');
    const clean = await verifyLedger(t.database.db);
    expect(clean.membersChecked).toBeGreaterThanOrEqual(3);
    expect(clean.drift).toEqual([]);

    await sql`update members set lifetime_earned = lifetime_earned + 1 where id = ${ids[1]}`.execute(t.database.db);
    await sql`update point_lots set remaining = remaining - 1 where member_id = ${ids[2]} and remaining > 0`.execute(t.database.db);
    const broken = await verifyLedger(t.database.db, { batchSize: 2 });
    expect(broken.drift).toEqual(
      expect.arrayContaining([
        { memberId: ids[1], checks: ['lifetime_earned_ok'] },
        { memberId: ids[2], checks: expect.arrayContaining(['balance_ok', 'lots_consistent']) },
      ]),
    );
    expect(broken.drift).toHaveLength(2);
  });
});

describe('expiry sweep', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t.close(); });

  test('two sweeps racing expire each lot exactly once', async () => {
    await t.gql(SET_CLOCK, { now: '2026-01-10T12:00:00Z' });
    await t.gql(PROGRAM, { input: { expiry: { mode: 'FIXED', months: 1 } } });
    const ids = [await member(t, 'sweep-a'), await member(t, 'sweep-b')];
    for (const [i, id] of ids.entries()) {
      await t.gql(PURCHASE, { input: { memberId: id, orderId: `sweep-${i}`, amount: '50.00', currency: 'USD' } });
    }
    await t.gql(SET_CLOCK, { now: '2026-02-10T12:00:00Z' });
    const now = new Date('2026-02-10T12:00:00Z');
    const [a, b] = await Promise.all([sweepExpiry(t.database.db, now), sweepExpiry(t.database.db, now)]);
    expect(a + b).toBe(100);
    const again = await t.gql(MAINTENANCE);
    expect(again.data!.runMaintenance.pointsExpired).toBe(0);
    for (const id of ids) {
      const res = await t.gql(STATEMENT, { id });
      expect(res.data!.member.balance).toEqual({ available: 0, expired: 50 });
      expect(res.data!.member.transactions.totalCount).toBe(1);
      expect(res.data!.member.transactions.edges[0].node.points).toBe(-50);
    }
    expect((await verifyLedger(t.database.db)).drift).toEqual([]);
  });
});

describe('expiry sweep paging', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t.close(); });

  test('one pass walks every due member, however small the batch', async () => {
    await t.gql(SET_CLOCK, { now: '2026-05-10T12:00:00Z' });
    await t.gql(PROGRAM, { input: { expiry: { mode: 'FIXED', months: 1 } } });
    const ids = [await member(t, 'page-a'), await member(t, 'page-b'), await member(t, 'page-c')];
    for (const [i, id] of ids.entries()) {
      await t.gql(PURCHASE, { input: { memberId: id, orderId: `page-${i}`, amount: `${10 * (i + 1)}.00`, currency: 'USD' } });
    }
    const expired = await sweepExpiry(t.database.db, new Date('2026-06-10T12:00:00Z'), undefined, 1);
    expect(expired).toBe(10 + 20 + 30);
    expect(await sweepExpiry(t.database.db, new Date('2026-06-10T12:00:00Z'), undefined, 1)).toBe(0);
    expect((await verifyLedger(t.database.db)).drift).toEqual([]);
  });
});

describe('npm run verify-ledger', () => {
  test('exits 0 on a clean ledger and 1 on drift', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milepost-verify-'));
    try {
      const t = await startTestApp({ DATABASE_URL: `pglite://${dir}` });
      const ids = await someHistory(t, 'cli');
      await t.close();
      const env = { ...process.env, DATABASE_URL: `pglite://${dir}`, NODE_OPTIONS: '' };
      const script = ['--transpile-only', 'scripts/verify-ledger.ts', '--quiet'];
      const ok = await run('node_modules/.bin/ts-node', script, { env });
      expect(ok.stdout).toMatch(/checked 3 members/);
      expect(ok.stdout).toMatch(/ledger OK/);

      const t2 = await startTestApp({ DATABASE_URL: `pglite://${dir}` });
      await sql`update members set expired = expired + 5 where id = ${ids[0]}`.execute(t2.database.db);
      await t2.close();
      const failed = await run('node_modules/.bin/ts-node', script, { env }).then(
        () => null,
        (error: { code: number; stdout: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toContain(`DRIFT member ${ids[0]}: expired_ok`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
