/**
 * Referrals over HTTP: attribution at enrolment (unknown codes and self-referrals refused, re-
 * enrolment idempotent), the reward at the referee's first purchase and not after, the cap, the
 * clawback of a full refund (and none for a partial one), Member.referrals and referredBy with
 * their access rules, the referral event for earning rules, and the ledger still adding up. The
 * races (concurrent first purchases) only mean something on PostgreSQL: skipped on PGlite.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { codes, type TestApp, startTestApp } from '../support/harness';
import { openDatabase } from '../../src/db/database';
import { listMigrations, migrate } from '../../src/db/migrate';
import { verifyLedger } from '../../src/ledger/verify.repo';
import {
  DEFAULT_PROGRAM, PURCHASE, REFUND, SET_STATUS, balance, errorCode, expectLedgerTrue, key, ledgerRows, ok, updateProgram,
} from './ledger-fixtures';
import { serverTest } from '../support/on-server';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const REFERRAL = { referrerPoints: 500, refereePoints: 200, maxPerReferrer: null };
beforeEach(async () => { await updateProgram(t, { ...DEFAULT_PROGRAM, referral: REFERRAL }); });


const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id referralCode referredBy } }`;
const REFERRALS = `query($id: ID!) { member(id: $id) { id referredBy
  referrals { id status createdAt decidedAt reversedAt orderId referrerPoints refereePoints referee { id externalId name email } } } }`;
const PROGRAM = `{ program { referral { referrerPoints refereePoints maxPerReferrer } } }`;
const SET_REFERRAL = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { referral { referrerPoints refereePoints maxPerReferrer } } }`;

interface Enrolled { id: string; referralCode: string; referredBy: string | null }

async function enroll(input: { referralCode?: string; email?: string; name?: string; externalId?: string } = {}): Promise<Enrolled> {
  return ok(await t.gql(ENROLL, { input: { externalId: `ref-${randomUUID()}`, ...input } })).enrollMember;
}

/** A referrer and `n` members enrolled with its code. */
async function referrerWith(n: number): Promise<{ referrer: Enrolled; referees: Enrolled[] }> {
  const referrer = await enroll();
  const referees: Enrolled[] = [];
  for (let i = 0; i < n; i++) referees.push(await enroll({ referralCode: referrer.referralCode }));
  return { referrer, referees };
}

async function purchase(memberId: string, amount = '100.00', orderId = key('order')): Promise<string> {
  ok(await t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD' } }));
  return orderId;
}

async function refund(orderId: string, amount: string) {
  return ok(await t.gql(REFUND, { input: { orderId, refundId: key('refund'), amount } })).refundPurchase;
}

async function available(memberId: string): Promise<number> {
  return (await balance(t, memberId)).available;
}

/** The member's ledger as [type, points], oldest first. */
async function entries(memberId: string): Promise<[string, number][]> {
  return (await ledgerRows(t, memberId)).map((r) => [r.type, r.points]);
}

async function referralRow(refereeId: string) {
  const { rows } = await sql<{ id: string; referrer_id: string; status: string; order_id: string | null }>`
    select id, referrer_id, status, order_id from referrals where referee_id = ${refereeId}`.execute(t.database.db);
  return rows;
}

async function count(table: 'members' | 'referrals'): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(t.database.db);
  return rows[0]!.n;
}

describe('programme settings', () => {
  test('updateProgram sets the referral settings; omitted fields stay, null lifts the cap, bad values are BAD_USER_INPUT', async () => {
    await updateProgram(t, { referral: { referrerPoints: 0, refereePoints: 0, maxPerReferrer: null } });
    expect(ok(await t.gql(PROGRAM)).program.referral).toEqual({ referrerPoints: 0, refereePoints: 0, maxPerReferrer: null });
    const set = ok(await t.gql(SET_REFERRAL, { input: { referral: { referrerPoints: 300, maxPerReferrer: 5 } } })).updateProgram.referral;
    expect(set).toEqual({ referrerPoints: 300, refereePoints: 0, maxPerReferrer: 5 });
    expect(ok(await t.gql(SET_REFERRAL, { input: { referral: { refereePoints: 50 } } })).updateProgram.referral)
      .toEqual({ referrerPoints: 300, refereePoints: 50, maxPerReferrer: 5 });
    expect(ok(await t.gql(SET_REFERRAL, { input: { referral: { maxPerReferrer: null } } })).updateProgram.referral)
      .toEqual({ referrerPoints: 300, refereePoints: 50, maxPerReferrer: null });
    for (const [referral, field] of [
      [{ referrerPoints: -1 }, 'referral.referrerPoints'], [{ refereePoints: 10_000_001 }, 'referral.refereePoints'], [{ maxPerReferrer: -2 }, 'referral.maxPerReferrer'],
    ] as const) {
      const res = await t.gql(SET_REFERRAL, { input: { earnRate: '7', referral } });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.field).toBe(field);
    }
    const after = ok(await t.gql(`{ program { earnRate referral { referrerPoints refereePoints maxPerReferrer } } }`)).program;
    expect(after).toEqual({ earnRate: '1.0000', referral: { referrerPoints: 300, refereePoints: 50, maxPerReferrer: null } });
    // Only an ADMIN configures the programme.
    const member = await enroll();
    const res = await t.gql(SET_REFERRAL, { input: { referral: { referrerPoints: 1 } } }, t.token({ role: 'MEMBER', sub: member.id, memberId: member.id }));
    expect(errorCode(res)).toBe('FORBIDDEN');
  });
});

describe('attribution at enrolment', () => {
  test('enrolling with a referral code links the referee, in any case of the code, with a PENDING referral', async () => {
    const referrer = await enroll();
    const referee = await enroll({ referralCode: ` ${referrer.referralCode.toLowerCase()} ` });
    expect(referee.referredBy).toBe(referrer.id);
    expect(await referralRow(referee.id)).toEqual([expect.objectContaining({ referrer_id: referrer.id, status: 'PENDING', order_id: null })]);
  });

  test('an unknown code, or the referrer\'s own e-mail in any case, is BAD_USER_INPUT on referralCode and creates nothing', async () => {
    const referrer = await enroll({ email: 'Ada.Lovelace@example.com' });
    const [members, referrals] = [await count('members'), await count('referrals')];
    for (const input of [
      { referralCode: 'NOSUCH99', email: 'someone@example.com' },
      { referralCode: referrer.referralCode, email: 'ada.lovelace@EXAMPLE.com' },
      { referralCode: referrer.referralCode, email: 'Ada.Lovelace@example.com' },
    ]) {
      const res = await t.gql(ENROLL, { input: { externalId: `ref-refused-${randomUUID()}`, ...input } });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.field).toBe('referralCode');
    }
    expect([await count('members'), await count('referrals')]).toEqual([members, referrals]);
    // Another address is a referral like any other.
    expect((await enroll({ referralCode: referrer.referralCode, email: 'grace@example.com' })).referredBy).toBe(referrer.id);
  });

  test('re-enrolling an existing externalId answers the same member and changes no referral, whatever code it brings', async () => {
    const first = await enroll();
    const second = await enroll();
    const externalId = `ref-again-${randomUUID()}`;
    const referee = await enroll({ externalId, referralCode: first.referralCode });
    for (const referralCode of [second.referralCode, 'NOSUCH99', undefined]) {
      const again = await enroll({ externalId, ...(referralCode ? { referralCode } : {}) });
      expect(again).toEqual(referee);
    }
    expect(await referralRow(referee.id)).toEqual([expect.objectContaining({ referrer_id: first.id, status: 'PENDING' })]);
    expect(ok(await t.gql(REFERRALS, { id: second.id })).member.referrals).toEqual([]);
  });
});

describe('the reward at the referee\'s first purchase', () => {
  test('the first purchase credits both sides once as BONUS and rewards the referral; the second rewards nothing', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const orderId = await purchase(referee!.id, '100.00');
    expect(await available(referee!.id)).toBe(300);
    expect(await available(referrer.id)).toBe(500);
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 100], ['BONUS', 200]]);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
    const { rows } = await sql<{ description: string }>`
      select description from points_transactions where member_id in (${referee!.id}, ${referrer.id}) and type = 'BONUS'`.execute(t.database.db);
    const [referral] = await referralRow(referee!.id);
    for (const row of rows) expect(row.description).toContain(`referral ${referral!.id}`);
    expect(referral).toMatchObject({ status: 'REWARDED', order_id: orderId });

    await purchase(referee!.id, '50.00');
    expect(await available(referee!.id)).toBe(350);
    expect(await available(referrer.id)).toBe(500);
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 100], ['BONUS', 200], ['PURCHASE', 50]]);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
    await expectLedgerTrue(t, [referrer.id, referee!.id]);
  });

  test('purchases stay on the unit\'s optimistic way: no transaction is opened, for a first purchase with a referral or any other', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const plain = await enroll();
    const db = t.database.db;
    const original = db.transaction;
    let opened = 0;
    db.transaction = function (this: typeof db) {
      opened++;
      return original.call(this);
    } as typeof db.transaction;
    try {
      await purchase(plain.id, '10.00');
      await purchase(referee!.id, '10.00');
      await purchase(referee!.id, '10.00');
    } finally {
      db.transaction = original;
    }
    expect(opened).toBe(0);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 10], ['BONUS', 200], ['PURCHASE', 10]]);
  });

  test('a purchase retried with the same orderId replays and credits no bonus twice', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const input = { memberId: referee!.id, orderId: key('order'), amount: '20.00', currency: 'USD' };
    const first = ok(await t.gql(PURCHASE, { input })).recordPurchase;
    const again = ok(await t.gql(PURCHASE, { input })).recordPurchase;
    expect(again.transaction.id).toBe(first.transaction.id);
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 20], ['BONUS', 200]]);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
  });

  test('with the defaults (0 points) the first purchase marks the referral REWARDED and credits nothing', async () => {
    await updateProgram(t, { referral: { referrerPoints: 0, refereePoints: 0, maxPerReferrer: null } });
    const { referrer, referees: [referee] } = await referrerWith(1);
    await purchase(referee!.id, '10.00');
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 10]]);
    expect(await entries(referrer.id)).toEqual([]);
    expect((await referralRow(referee!.id))[0]!.status).toBe('REWARDED');
  });

  test('with maxPerReferrer 2 the third referee\'s first purchase makes its referral CAPPED and credits nobody', async () => {
    await updateProgram(t, { referral: { ...REFERRAL, maxPerReferrer: 2 } });
    const { referrer, referees } = await referrerWith(3);
    for (const referee of referees) await purchase(referee.id, '10.00');
    expect((await Promise.all(referees.map((r) => referralRow(r.id)))).map((rows) => rows[0]!.status)).toEqual(['REWARDED', 'REWARDED', 'CAPPED']);
    expect(await available(referrer.id)).toBe(1000);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500], ['BONUS', 500]]);
    expect(await entries(referees[2]!.id)).toEqual([['PURCHASE', 10]]);
    expect(await available(referees[2]!.id)).toBe(10);
    await expectLedgerTrue(t, [referrer.id, ...referees.map((r) => r.id)]);
  });

  test('a suspended referrer does not stop the purchase: the referee gets its bonus, the referrer nothing', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    ok(await t.gql(SET_STATUS, { input: { id: referrer.id, status: 'SUSPENDED' } }));
    await purchase(referee!.id, '10.00');
    expect(await entries(referee!.id)).toEqual([['PURCHASE', 10], ['BONUS', 200]]);
    expect(await entries(referrer.id)).toEqual([]);
    const referral = ok(await t.gql(REFERRALS, { id: referrer.id })).member.referrals[0];
    expect(referral).toMatchObject({ status: 'REWARDED', referrerPoints: 0, refereePoints: 200 });
  });

  test('a suspended referee\'s purchase is INVALID_STATE and decides nothing', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    ok(await t.gql(SET_STATUS, { input: { id: referee!.id, status: 'SUSPENDED' } }));
    const res = await t.gql(PURCHASE, { input: { memberId: referee!.id, orderId: key('order'), amount: '10.00', currency: 'USD' } });
    expect(errorCode(res)).toBe('INVALID_STATE');
    expect((await referralRow(referee!.id))[0]!.status).toBe('PENDING');
    expect(await entries(referrer.id)).toEqual([]);
  });
});

describe('refunds of the first purchase', () => {
  test('a full refund takes both bonuses back and REVERSES the referral, which keeps its place under the cap', async () => {
    await updateProgram(t, { referral: { ...REFERRAL, maxPerReferrer: 1 } });
    const { referrer, referees: [first, second] } = await referrerWith(2);
    const orderId = await purchase(first!.id, '100.00');
    const res = await refund(orderId, '100.00');
    expect(res.pointsReversed).toBe(100);
    expect(await available(first!.id)).toBe(0);
    expect(await available(referrer.id)).toBe(0);
    expect(await entries(first!.id)).toEqual([['PURCHASE', 100], ['BONUS', 200], ['REFUND', -100], ['REFUND', -200]]);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500], ['REFUND', -500]]);
    // Each clawback names the bonus it takes back.
    const [bonus, clawback] = (await ledgerRows(t, referrer.id));
    expect(clawback!.related_id).toBe(bonus!.id);
    expect((await referralRow(first!.id))[0]!.status).toBe('REVERSED');
    expect((await balance(t, referrer.id)).lifetimeEarned).toBe(0);

    // The reversed referral still holds the one place: the next is CAPPED.
    await purchase(second!.id, '10.00');
    expect((await referralRow(second!.id))[0]!.status).toBe('CAPPED');
    expect(await entries(referrer.id)).toEqual([['BONUS', 500], ['REFUND', -500]]);
    await expectLedgerTrue(t, [referrer.id, first!.id, second!.id]);
  });

  test('a partial refund takes back none of the bonuses; the refund that completes it does', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const orderId = await purchase(referee!.id, '100.00');
    await refund(orderId, '40.00');
    expect(await available(referee!.id)).toBe(260);
    expect(await available(referrer.id)).toBe(500);
    expect((await referralRow(referee!.id))[0]!.status).toBe('REWARDED');

    await refund(orderId, '60.00');
    expect(await available(referee!.id)).toBe(0);
    expect(await available(referrer.id)).toBe(0);
    expect((await referralRow(referee!.id))[0]!.status).toBe('REVERSED');
    await expectLedgerTrue(t, [referrer.id, referee!.id]);
  });

  test('a full refund of a later purchase leaves the referral and its bonuses alone', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    await purchase(referee!.id, '100.00');
    const later = await purchase(referee!.id, '30.00');
    await refund(later, '30.00');
    expect(await available(referee!.id)).toBe(300);
    expect(await available(referrer.id)).toBe(500);
    expect((await referralRow(referee!.id))[0]!.status).toBe('REWARDED');
  });

  test('a bonus already spent is clawed back as the ledger claws back a refund: what is there, the rest recorded as shortfall', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const orderId = await purchase(referee!.id, '100.00');
    ok(await t.gql(`mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id } }`,
      { input: { memberId: referrer.id, points: 400, idempotencyKey: key('redeem') } }));
    await refund(orderId, '100.00');
    expect(await available(referrer.id)).toBe(0);
    const rows = await ledgerRows(t, referrer.id);
    expect(rows.map((r) => [r.type, r.points, r.shortfall])).toEqual([['BONUS', 500, 0], ['REDEEM', -400, 0], ['REFUND', -100, 400]]);
    await expectLedgerTrue(t, [referrer.id, referee!.id]);
  });
});

describe('Member.referrals and Member.referredBy', () => {
  test('an ADMIN reads a member\'s referrals, oldest first, with each referee; the referee reads whom it was referred by', async () => {
    const { referrer, referees } = await referrerWith(2);
    const orderId = await purchase(referees[0]!.id, '10.00');
    const read = ok(await t.gql(REFERRALS, { id: referrer.id })).member;
    expect(read.referredBy).toBeNull();
    expect(read.referrals.map((r: Record<string, any>) => [r.referee.id, r.status, r.orderId, r.referrerPoints, r.refereePoints])).toEqual([
      [referees[0]!.id, 'REWARDED', orderId, 500, 200],
      [referees[1]!.id, 'PENDING', null, 0, 0],
    ]);
    expect(read.referrals[0].decidedAt).not.toBeNull();
    expect(new Date(read.referrals[0].createdAt).getTime()).toBeLessThanOrEqual(new Date(read.referrals[1].createdAt).getTime());
    expect(ok(await t.gql(REFERRALS, { id: referees[1]!.id })).member).toMatchObject({ referredBy: referrer.id, referrals: [] });
    // A privacy export holds the referrals either way.
    const exported = async (id: string) => ok(await t.gql(`query($id: ID!) { exportMemberData(memberId: $id) }`, { id })).exportMemberData.referrals;
    expect(await exported(referees[0]!.id)).toEqual([expect.objectContaining({ referrer_id: referrer.id, referee_id: referees[0]!.id, status: 'REWARDED' })]);
    expect((await exported(referrer.id)).map((r: Record<string, any>) => r.referee_id)).toEqual(referees.map((r) => r.id));
  });

  test('a MEMBER reads its own referrals; a referee shows it only its id, status and enrolment, and nothing of its account', async () => {
    const referrer = await enroll();
    const referee = await enroll({ referralCode: referrer.referralCode, email: 'friend@example.com', name: 'Friend' });
    const own = t.token({ role: 'MEMBER', sub: referrer.id, memberId: referrer.id });
    await purchase(referee.id, '10.00');
    const mine = ok(await t.gql(`{ me { referredBy referrals { status orderId referee { id status enrolledAt name email } } } }`, {}, own)).me;
    expect(mine.referrals).toEqual([
      { status: 'REWARDED', orderId: null, referee: { id: referee.id, status: 'ACTIVE', enrolledAt: expect.any(String), name: null, email: null } },
    ]);
    for (const field of ['externalId', 'balance { available }', 'transactions { totalCount }', 'tier { qualifyingPoints }', 'referrals { status }', 'referredBy']) {
      const res = await t.gql(`{ me { referrals { referee { ${field} } } } }`, {}, own);
      expect(codes(res)).toContain('FORBIDDEN');
    }
    // The referee, as a MEMBER, reads who referred it.
    const theirs = ok(await t.gql(`{ me { referredBy } }`, {}, t.token({ role: 'MEMBER', sub: referee.id, memberId: referee.id }))).me;
    expect(theirs.referredBy).toBe(referrer.id);
  });

  test('an ADMIN sees a referee\'s personal data', async () => {
    const referrer = await enroll();
    await enroll({ referralCode: referrer.referralCode, email: 'pal@example.com', name: 'Pal' });
    expect(ok(await t.gql(REFERRALS, { id: referrer.id })).member.referrals[0].referee).toMatchObject({ name: 'Pal', email: 'pal@example.com' });
  });

  test('a page of members with their referrals answers each member its own', async () => {
    const a = await referrerWith(2);
    const b = await referrerWith(1);
    const page = ok(await t.gql(`{ members(first: 50) { edges { node { id referrals { referee { id } } } } } }`)).members.edges;
    const of = (id: string) => page.find((e: Record<string, any>) => e.node.id === id).node.referrals.map((r: Record<string, any>) => r.referee.id);
    expect(of(a.referrer.id)).toEqual(a.referees.map((r) => r.id));
    expect(of(b.referrer.id)).toEqual(b.referees.map((r) => r.id));
  });
});

describe('the referral event', () => {
  const LIST = `{ earningRules(activeOnly: true) { id } }`;
  const SET_ACTIVE = `mutation($id: ID!, $active: Boolean!) { setEarningRuleActive(id: $id, active: $active) { id } }`;

  test('a rule on the referral event adds its points to the referrer when a referral is rewarded, once', async () => {
    const rule = ok(await t.gql(`mutation($input: EarningRuleInput!) { createEarningRule(input: $input) { id } }`, {
      input: { name: 'Referral thanks', trigger: 'referral', effect: { kind: 'FIXED', points: 75 } },
    })).createEarningRule;
    try {
      await updateProgram(t, { referral: { ...REFERRAL, maxPerReferrer: 1 } });
      const { referrer, referees: [first, second] } = await referrerWith(2);
      await purchase(first!.id, '10.00');
      await purchase(first!.id, '10.00');
      // A capped referral is not rewarded: no event.
      await purchase(second!.id, '10.00');
      expect(await entries(referrer.id)).toEqual([['BONUS', 500], ['EARN', 75]]);
      expect(await available(referrer.id)).toBe(575);
      const { rows } = await sql<{ type: string; scope: string; idempotency_key: string }>`
        select type, scope, idempotency_key from member_events where member_id = ${referrer.id}`.execute(t.database.db);
      const [referral] = await referralRow(first!.id);
      expect(rows).toEqual([{ type: 'referral', scope: 'system', idempotency_key: `referral:${referral!.id}` }]);
      await expectLedgerTrue(t, [referrer.id, first!.id, second!.id]);
    } finally {
      for (const { id } of ok(await t.gql(LIST)).earningRules) ok(await t.gql(SET_ACTIVE, { id, active: false }));
      void rule;
    }
  });
});

describe('under concurrency (PostgreSQL)', () => {
  serverTest('concurrent first purchases of several referees of one referrer with maxPerReferrer 1 reward exactly one', async () => {
    await updateProgram(t, { referral: { ...REFERRAL, maxPerReferrer: 1 } });
    const { referrer, referees } = await referrerWith(6);
    const results = await Promise.all(referees.map((r) => t.gql(PURCHASE, { input: { memberId: r.id, orderId: key('order'), amount: '10.00', currency: 'USD' } })));
    for (const res of results) expect(res.errors).toBeUndefined();
    const statuses = (await Promise.all(referees.map((r) => referralRow(r.id)))).map((rows) => rows[0]!.status).sort();
    expect(statuses).toEqual(['CAPPED', 'CAPPED', 'CAPPED', 'CAPPED', 'CAPPED', 'REWARDED']);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
    const bonuses = (await Promise.all(referees.map((r) => entries(r.id)))).flat().filter(([type]) => type === 'BONUS');
    expect(bonuses).toEqual([['BONUS', 200]]);
    await expectLedgerTrue(t, [referrer.id, ...referees.map((r) => r.id)]);
  });

  serverTest('two concurrent first purchases of one referee reward the referral once', async () => {
    const { referrer, referees: [referee] } = await referrerWith(1);
    const results = await Promise.all(['10.00', '20.00', '30.00'].map((amount) =>
      t.gql(PURCHASE, { input: { memberId: referee!.id, orderId: key('order'), amount, currency: 'USD' } })));
    for (const res of results) expect(res.errors).toBeUndefined();
    expect((await entries(referee!.id)).filter(([type]) => type === 'BONUS')).toEqual([['BONUS', 200]]);
    expect(await entries(referrer.id)).toEqual([['BONUS', 500]]);
    expect(await available(referee!.id)).toBe(260);
    expect((await referralRow(referee!.id))[0]!.status).toBe('REWARDED');
    await expectLedgerTrue(t, [referrer.id, referee!.id]);
  });
});

describe('the migration', () => {
  test('members referred before it who have not purchased yet get a PENDING referral; those who have, none', async () => {
    const url = process.env.TEST_DATABASE_URL;
    const schema = `test_referrals_${randomUUID().slice(0, 8)}`;
    const database = await openDatabase(url ? { kind: 'postgres', url } : { kind: 'pglite', dataDir: null }, { migrate: false, ...(url ? { schema } : {}) });
    try {
      const db = database.db;
      await migrate(db, listMigrations().filter((m) => m.version < 16));
      const at = new Date('2026-01-05T10:00:00Z');
      const member = (name: string, referredBy: string | null) => ({
        id: randomUUID(), external_id: name, referral_code: name.toUpperCase(), referred_by: referredBy, enrolled_at: at, created_at: at, updated_at: at,
      });
      const referrer = member('old-referrer', null);
      const waiting = member('old-waiting', referrer.id);
      const bought = member('old-bought', referrer.id);
      await db.insertInto('members').values([referrer, waiting, bought, member('old-plain', null)]).execute();
      await db.insertInto('orders').values({
        order_id: 'old-order', member_id: bought.id, amount: '10.00', currency: 'USD', occurred_at: at, points_earned: 0, qualifying_points: 0,
        breakdown: '[]', request_hash: 'h', created_at: at,
      }).execute();
      expect(await migrate(db)).toContain(16);
      const rows = await db.selectFrom('referrals').select(['referrer_id', 'referee_id', 'status', 'created_at']).execute();
      expect(rows).toEqual([{ referrer_id: referrer.id, referee_id: waiting.id, status: 'PENDING', created_at: at }]);
    } finally {
      await database.close();
      if (url) {
        const { Pool } = await import('pg');
        const pool = new Pool({ connectionString: url, max: 1 });
        await pool.query(`drop schema if exists "${schema}" cascade`);
        await pool.end();
      }
    }
  });
});

describe('the ledger', () => {
  test('verify-ledger finds no drift after everything above', async () => {
    const report = await verifyLedger(t.database.db);
    expect(report.membersChecked).toBeGreaterThan(0);
    expect(report.drift).toEqual([]);
  });
});
