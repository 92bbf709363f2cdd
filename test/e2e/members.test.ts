import { sql } from 'kysely';
import { startTestApp, codes, type GqlResponse, type TestApp } from '../support/harness';

const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id externalId email name birthDate status referralCode } }`;
const MEMBER = `query($id: ID!) { member(id: $id) { id externalId email name birthDate phone locale status } }`;
const UPDATE = `mutation($input: UpdateMemberInput!) { updateMember(input: $input) { id email name birthDate phone locale } }`;
const SET_STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) { id status } }`;
const MEMBERS = `query($first: Int, $after: String, $search: String) {
  members(first: $first, after: $after, search: $search) { totalCount edges { cursor node { id externalId } } pageInfo { hasNextPage endCursor } }
}`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { points } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { points } }`;
const BALANCE = `query($id: ID!) { member(id: $id) { balance { available } } }`;

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

async function enroll(input: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await t.gql(ENROLL, { input });
  expect(res.errors).toBeUndefined();
  return res.data!.enrollMember;
}

/** Rows in the members table for an externalId: what the API promises to keep at one. */
async function memberRows(externalId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from members where external_id = ${externalId}`.execute(t.database.db);
  return rows[0]!.n;
}

describe('enrolment', () => {
  test('is idempotent on externalId: the second enrolment returns the first member unchanged', async () => {
    const first = await enroll({ externalId: 'mem-idem-1', email: 'first@example.com' });
    const again = await enroll({ externalId: 'mem-idem-1', email: 'second@example.com' });
    expect(again.id).toBe(first.id);
    expect(again.email).toBe('first@example.com');
    expect(await memberRows('mem-idem-1')).toBe(1);
  });

  test('20 racing enrolments of one externalId create exactly one member', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => t.gql(ENROLL, { input: { externalId: 'mem-race-1' } })),
    );
    for (const res of results) expect(res.errors).toBeUndefined();
    const ids = new Set(results.map((res) => res.data!.enrollMember.id));
    expect(ids.size).toBe(1);
    expect(await memberRows('mem-race-1')).toBe(1);
    const listed = await t.gql(MEMBERS, { search: 'mem-race-1' });
    expect(listed.data!.members.totalCount).toBe(1);
  });

  test('stores the given profile, normalising the e-mail', async () => {
    const member = await enroll({ externalId: 'mem-profile-1', email: ' Ada@Example.COM ', name: 'Ada Lovelace', birthDate: '1985-12-10' });
    expect(member).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace', status: 'ACTIVE' });
    expect(member.referralCode).toMatch(/^[A-Z2-9]{8}$/);
  });

  test.each([
    ['an e-mail without a domain', { email: 'ada@' }],
    ['an e-mail with spaces', { email: 'ada lovelace@example.com' }],
    ['a birth date that does not exist', { birthDate: '2023-02-30' }],
    ['a birth date in the future', { birthDate: '2999-01-01' }],
    ['a birth date in another format', { birthDate: '10/12/1815' }],
    ['an empty externalId', { externalId: '   ' }],
  ])('%s is BAD_USER_INPUT and creates no member', async (_name, fields) => {
    const externalId = `mem-bad-${Math.random().toString(36).slice(2)}`;
    const res = await t.gql(ENROLL, { input: { externalId, ...fields } });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.data?.enrollMember ?? null).toBeNull();
    expect(await memberRows(externalId)).toBe(0);
  });

  test('an unknown input field is BAD_USER_INPUT and creates no member', async () => {
    const res = await t.gql(ENROLL, { input: { externalId: 'mem-unknown-field', favouriteColour: 'teal' } });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(await memberRows('mem-unknown-field')).toBe(0);
    const inline = await t.gql(`mutation { enrollMember(input: { externalId: "mem-unknown-field", tier: "GOLD" }) { id } }`);
    expect(codes(inline)).toEqual(['BAD_USER_INPUT']);
    expect(await memberRows('mem-unknown-field')).toBe(0);
  });

  test('a known referral code links the new member; an unknown one is BAD_USER_INPUT and creates no member', async () => {
    const referrer = await enroll({ externalId: 'mem-referrer-1' });
    const referred = await t.gql(ENROLL, { input: { externalId: 'mem-referred-1', referralCode: referrer.referralCode.toLowerCase() } });
    expect(referred.errors).toBeUndefined();
    const { rows } = await sql<{ referred_by: string }>`select referred_by from members where external_id = 'mem-referred-1'`.execute(t.database.db);
    expect(rows[0]!.referred_by).toBe(referrer.id);
    const unknown = await t.gql(ENROLL, { input: { externalId: 'mem-referred-2', referralCode: 'NOSUCH99' } });
    expect(codes(unknown)).toEqual(['BAD_USER_INPUT']);
    expect(await memberRows('mem-referred-2')).toBe(0);
  });
});

describe('reading members', () => {
  test('member(id) for an unknown or malformed id is null; giving both id and externalId is BAD_USER_INPUT', async () => {
    const unknown = await t.gql(MEMBER, { id: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.errors).toBeUndefined();
    expect(unknown.data!.member).toBeNull();
    const malformed = await t.gql(MEMBER, { id: 'not-a-uuid' });
    expect(malformed.data!.member).toBeNull();
    const both = await t.gql(`{ member(id: "00000000-0000-4000-8000-000000000000", externalId: "x") { id } }`);
    expect(codes(both)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('personal data and partners', () => {
  test('a PARTNER sees a member\'s name, email, phone and birth date, and changes them, only with a personalData token', async () => {
    const created = await enroll({ externalId: `pii-${Date.now()}`, email: 'ada@example.com', name: 'Ada', birthDate: '1990-07-04', phone: '+33612345678' });
    const partner = await t.partnerToken('shop');
    const crm = await t.partnerToken('crm', { personalData: true });
    const plain = await t.gql(MEMBER, { id: created.id }, partner);
    expect(plain.data!.member).toMatchObject({ id: created.id, externalId: created.externalId, email: null, name: null, birthDate: null, phone: null, status: 'ACTIVE' });
    expect((await t.gql(MEMBER, { id: created.id }, crm)).data!.member).toMatchObject({ email: 'ada@example.com', name: 'Ada', birthDate: '1990-07-04', phone: '+33612345678' });
    expect((await t.gql(MEMBER, { id: created.id })).data!.member).toMatchObject({ email: 'ada@example.com', name: 'Ada' });
    const refused = await t.gql(UPDATE, { input: { id: created.id, email: 'mallory@example.com' } }, partner);
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    expect((await t.gql(UPDATE, { input: { id: created.id, name: 'Ada L.' } }, crm)).data!.updateMember).toMatchObject({ name: 'Ada L.', email: 'ada@example.com' });
    const self = t.token({ role: 'MEMBER', sub: 'ada', memberId: created.id });
    expect((await t.gql(`{ me { email name } }`, {}, self)).data!.me).toEqual({ email: 'ada@example.com', name: 'Ada L.' });
  });
});

describe('updateMember', () => {
  test('omitted fields stay as they are and null clears a field', async () => {
    const member = await enroll({ externalId: 'mem-update-1', email: 'grace@example.com', name: 'Grace', birthDate: '1906-12-09' });
    const renamed = await t.gql(UPDATE, { input: { id: member.id, name: 'Grace Hopper', phone: '+44 7700 900123', locale: 'en-US' } });
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data!.updateMember).toEqual({
      id: member.id, email: 'grace@example.com', name: 'Grace Hopper', birthDate: '1906-12-09', phone: '+447700900123', locale: 'en-US',
    });
    const cleared = await t.gql(UPDATE, { input: { id: member.id, email: null } });
    expect(cleared.errors).toBeUndefined();
    const read = await t.gql(MEMBER, { id: member.id });
    expect(read.data!.member).toMatchObject({ email: null, name: 'Grace Hopper', birthDate: '1906-12-09', phone: '+447700900123' });
  });

  test('a bad value is BAD_USER_INPUT and changes nothing', async () => {
    const member = await enroll({ externalId: 'mem-update-2', email: 'linus@example.com', name: 'Linus' });
    const res = await t.gql(UPDATE, { input: { id: member.id, name: 'Changed', email: 'not-an-email' } });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    const read = await t.gql(MEMBER, { id: member.id });
    expect(read.data!.member).toMatchObject({ email: 'linus@example.com', name: 'Linus' });
  });

  test('an unknown member is NOT_FOUND', async () => {
    const res = await t.gql(UPDATE, { input: { id: '00000000-0000-4000-8000-000000000000', name: 'Nobody' } });
    expect(codes(res)).toEqual(['NOT_FOUND']);
  });
});

describe('members(first, after, search)', () => {
  async function allPages(search: string, first: number) {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res: GqlResponse = await t.gql(MEMBERS, { first, after, search });
      expect(res.errors).toBeUndefined();
      const { edges, pageInfo, totalCount }: { edges: { cursor: string; node: { externalId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null }; totalCount: number } = res.data!.members;
      expect(totalCount).toBe(7);
      seen.push(...edges.map((e) => e.node.externalId));
      pages += 1;
      if (!pageInfo.hasNextPage) return { seen, pages };
      expect(pageInfo.endCursor).toBe(edges.at(-1)!.cursor);
      after = pageInfo.endCursor;
    }
  }

  test('walks every matching member once, newest first, across pages', async () => {
    for (let i = 0; i < 7; i++) await enroll({ externalId: `mem-page-${i}`, email: `page${i}@example.com` });
    await enroll({ externalId: 'mem-other-x' });
    const { seen, pages } = await allPages('MEM-PAGE', 3);
    expect(pages).toBe(3);
    expect(seen).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => `mem-page-${i}`));
  });

  test('members enrolled at one frozen instant still page without duplicates or gaps', async () => {
    await t.gql(`mutation { setTestClock(now: "2031-05-05T10:00:00Z") }`);
    try {
      for (let i = 0; i < 7; i++) await enroll({ externalId: `mem-tie-${i}` });
      const { seen } = await allPages('mem-tie-', 2);
      expect(new Set(seen).size).toBe(7);
      expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `mem-tie-${i}`));
    } finally {
      await sql`update service_clock set frozen_at = null`.execute(t.database.db);
    }
  });

  test('search matches any part of the external id, email or name, in any case, through the trigram index', async () => {
    const a = await enroll({ externalId: 'srch-Alpha-1', email: 'someone@Trigram.example', name: 'Ada Zweistein' });
    const b = await enroll({ externalId: 'srch-beta-2', name: 'Bo ALPHA' });
    const ids = async (search: string) => {
      const res = await t.gql(`query($s: String) { members(first: 50, search: $s) { edges { node { id } } } }`, { s: search });
      expect(res.errors).toBeUndefined();
      return res.data!.members.edges.map((e: { node: { id: string } }) => e.node.id).sort();
    };
    expect(await ids('alpha')).toEqual([a.id, b.id].sort());
    expect(await ids('TRIGRAM.EX')).toEqual([a.id]);
    expect(await ids('zweist')).toEqual([a.id]);
    expect(await ids('srch-%')).toEqual([]); // % and _ are searched for literally
    // With sequential scans ruled out, a substring match still has a plan: the index's.
    const plan = await t.database.db.transaction().execute(async (tx) => {
      await sql`set local enable_seqscan = off`.execute(tx);
      const { rows } = await sql<Record<string, string>>`explain select id from members where email ilike ${'%trigram%'}`.execute(tx);
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    expect(plan).toContain('members_search_idx');
  });

  test('a malformed cursor or an out-of-range page size is BAD_USER_INPUT', async () => {
    expect(codes(await t.gql(MEMBERS, { first: 2, after: 'garbage' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql(MEMBERS, { first: -1 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await t.gql(MEMBERS, { first: 100000 }))).toEqual(['BAD_USER_INPUT']);
  });
});

describe('member status', () => {
  test('a SUSPENDED member can neither earn nor redeem, and its balance stays put; reactivated it can', async () => {
    const member = await enroll({ externalId: 'mem-suspend-1' });
    const earned = await t.gql(EARN, { input: { memberId: member.id, points: 100, reason: 'welcome', idempotencyKey: 'sus-e1' } });
    expect(earned.errors).toBeUndefined();

    const suspended = await t.gql(SET_STATUS, { input: { id: member.id, status: 'SUSPENDED', reason: 'fraud review' } });
    expect(suspended.data!.setMemberStatus.status).toBe('SUSPENDED');
    expect(codes(await t.gql(REDEEM, { input: { memberId: member.id, points: 10, idempotencyKey: 'sus-r1' } }))).toEqual(['INVALID_STATE']);
    expect(codes(await t.gql(EARN, { input: { memberId: member.id, points: 10, reason: 'x', idempotencyKey: 'sus-e2' } }))).toEqual(['INVALID_STATE']);
    expect((await t.gql(BALANCE, { id: member.id })).data!.member.balance.available).toBe(100);

    await t.gql(SET_STATUS, { input: { id: member.id, status: 'ACTIVE' } });
    const redeemed = await t.gql(REDEEM, { input: { memberId: member.id, points: 10, idempotencyKey: 'sus-r2' } });
    expect(redeemed.errors).toBeUndefined();
    expect((await t.gql(BALANCE, { id: member.id })).data!.member.balance.available).toBe(90);
  });

  test('a CLOSED member cannot be reopened', async () => {
    const member = await enroll({ externalId: 'mem-close-1' });
    await t.gql(SET_STATUS, { input: { id: member.id, status: 'CLOSED' } });
    const reopen = await t.gql(SET_STATUS, { input: { id: member.id, status: 'ACTIVE' } });
    expect(codes(reopen)).toEqual(['BAD_USER_INPUT']);
    expect((await t.gql(MEMBER, { id: member.id })).data!.member.status).toBe('CLOSED');
  });
});
