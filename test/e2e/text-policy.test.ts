/**
 * Text inputs keep their policy (src/graphql/text-policy.ts): a length and a set of characters
 * per field, and a default for any field not listed. A text that breaks it is BAD_USER_INPUT
 * (HTTP 400) naming the field, quoting none of the text, and nothing is written.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, EARN, ENROLL, PURCHASE, SET_STATUS, balance, enroll, key, ok, rowCounts, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

const MEMBER = 'query($id: ID!) { member(id: $id) { name status } }';

async function members(externalId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from members where external_id = ${externalId}`.execute(t.database.db);
  return rows[0]?.n ?? 0;
}

/** A refusal as the contract answers it, whose message is short and does not quote the text. */
function expectRefused(res: Awaited<ReturnType<TestApp['gql']>>, field: string): void {
  expect(res.status).toBe(400);
  expect(res.errors).toHaveLength(1);
  expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
  expect(res.errors?.[0]?.message.startsWith(`${field} `)).toBe(true);
  expect(res.errors?.[0]?.message.length).toBeLessThan(200);
}

describe('lengths', () => {
  test('a 50 KB channel is refused, naming input.channel, and the purchase is not recorded', async () => {
    const member = await enroll(t, 'channel');
    const before = await rowCounts(t);
    const res = await t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '10.00', currency: 'USD', channel: 'w'.repeat(50_000) } });
    expectRefused(res, 'input.channel');
    expect(res.errors?.[0]?.message).toBe('input.channel must be at most 100 characters');
    expect(await rowCounts(t)).toEqual(before);
  });

  test('a 50 KB category is refused where it is, in the list of items', async () => {
    const member = await enroll(t, 'category');
    const items = [{ sku: 'A', quantity: 1, unitPrice: '5.00' }, { sku: 'B', quantity: 1, unitPrice: '5.00', category: 'c'.repeat(50_000) }];
    const res = await t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '10.00', currency: 'USD', items } });
    expectRefused(res, 'input.items[1].category');
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });

  test('a 50 KB status reason is refused and the status stays', async () => {
    const member = await enroll(t, 'reason');
    const res = await t.gql(SET_STATUS, { input: { id: member, status: 'SUSPENDED', reason: 'r'.repeat(50_000) } });
    expectRefused(res, 'input.reason');
    expect(ok(await t.gql(MEMBER, { id: member })).member.status).toBe('ACTIVE');
  });

  test('text written inline in the document is held to the same limit (a reason: 500 characters)', async () => {
    const member = await enroll(t, 'inline');
    const res = await t.gql(`mutation { earnPoints(input: { memberId: "${member}", points: 5, reason: "${'x'.repeat(501)}", idempotencyKey: "${key()}" }) { id } }`);
    expectRefused(res, 'input.reason');
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });

  test('a value graphql-js refuses is not quoted back in full', async () => {
    const res = await t.gql('query($s: MemberStatus) { members(status: $s) { totalCount } }', { s: 'S'.repeat(50_000) });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message.length).toBeLessThan(400);
  });
});

describe('characters', () => {
  test.each([
    ['a zero-width space alone as externalId', { externalId: '\u200b' }, 'input.externalId'],
    ['a byte order mark in externalId', { externalId: `\ufeffext-${randomUUID()}` }, 'input.externalId'],
    ['a bell character in externalId', { externalId: `ext-\u0007-${randomUUID()}` }, 'input.externalId'],
    ['a right-to-left override in a name', { name: 'Ada \u202eecalevoL' }, 'input.name'],
    ['a bidi isolate in a name', { name: 'Ada \u2066Lovelace\u2069' }, 'input.name'],
    ['a line break in a name', { name: 'Ada\nLovelace' }, 'input.name'],
    ['a zero-width space in a referral code', { referralCode: 'ABCD\u200bEFGH' }, 'input.referralCode'],
  ])('%s is refused and enrols nobody', async (_name, fields, field) => {
    const externalId = `text-${randomUUID()}`;
    const input = { externalId, ...fields };
    const res = await t.gql(ENROLL, { input });
    expectRefused(res, field);
    expect(res.errors?.[0]?.message).toMatch(/\(not U\+[0-9A-F]{4,} at character \d+\)$/);
    expect(await members(input.externalId)).toBe(0);
  });

  test('an idempotency key of spaces is refused and credits nothing', async () => {
    const member = await enroll(t, 'blank-key');
    const res = await t.gql(EARN, { input: { memberId: member, points: 10, reason: 'blank', idempotencyKey: '   ' } });
    expectRefused(res, 'input.idempotencyKey');
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });

  test('a control character in an orderId is refused and the purchase is not recorded', async () => {
    const member = await enroll(t, 'order-ctl');
    const before = await rowCounts(t);
    const res = await t.gql(PURCHASE, { input: { memberId: member, orderId: `order\u001b[2J${randomUUID()}`, amount: '10.00', currency: 'USD' } });
    expectRefused(res, 'input.orderId');
    expect(await rowCounts(t)).toEqual(before);
  });

  test('names in any script, with accents, joined emoji and spaces inside, are kept as given', async () => {
    const name = 'Zoë Ångström-李 👩‍💻';
    const res = await t.gql(`mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { name } }`, { input: { externalId: `ext ${randomUUID()}`, name } });
    expect(ok(res).enrollMember.name).toBe(name);
  });

  test('free text keeps its line breaks', async () => {
    const member = await enroll(t, 'multiline');
    const reason = 'first line\nsecond line\twith a tab';
    const res = await t.gql(EARN, { input: { memberId: member, points: 10, reason, idempotencyKey: key() } });
    expect(ok(res).earnPoints).toMatchObject({ points: 10, description: reason });
  });
});

describe('text that was not valid UTF-8', () => {
  /** Sends an earnPoints whose idempotency key ends in `bytes`, raw in the JSON body. */
  const earnWithKeyBytes = async (member: string, prefix: string, bytes: number[]) => {
    const body = JSON.stringify({
      query: EARN,
      variables: { input: { memberId: member, points: 10, reason: 'bytes', idempotencyKey: `${prefix}-@` } },
    });
    const [head, tail] = body.split('-@') as [string, string];
    const raw = Buffer.concat([Buffer.from(`${head}-`), Buffer.from(bytes), Buffer.from(tail)]);
    const res = await fetch(`${t.baseUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.admin}` }, body: raw,
    });
    return { status: res.status, body: await res.json() as { errors?: { extensions?: unknown }[] } };
  };

  test('two keys that differ only in bytes that are not UTF-8 do not collide: both are refused', async () => {
    const member = await enroll(t, 'utf8');
    const prefix = key('raw');
    // Encoded halves of UTF-16 surrogate pairs (CESU-8): a decoder reads each as U+FFFD.
    for (const bytes of [[0xed, 0xa0, 0x80], [0xed, 0xa0, 0x81]]) {
      const res = await earnWithKeyBytes(member, prefix, bytes);
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    }
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });
});
