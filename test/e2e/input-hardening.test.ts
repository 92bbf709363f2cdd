/**
 * Inputs a probe of the running service found mishandled: text the database cannot store,
 * member ids in upper case, and instants that do not exist. Each is a typed error that writes
 * nothing, never an internal one.
 */
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, EARN, PURCHASE, TRANSFER, balance, earn, enroll, key, ok, rowCounts, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

describe('a NUL character in any text argument', () => {
  test('in a variable: HTTP 400, BAD_USER_INPUT naming the field, nothing written', async () => {
    const member = await enroll(t, 'nul');
    const before = await rowCounts(t);
    const res = await t.gql(PURCHASE, { input: { memberId: member, orderId: 'order\u0000x', amount: '10.00', currency: 'USD' } });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.orderId' });
    expect(await rowCounts(t)).toEqual(before);
  });

  test('deep in a list of a variable, and written into the document itself', async () => {
    const member = await enroll(t, 'nul');
    const items = [{ sku: 'ok', quantity: 1, unitPrice: '1.00' }, { sku: 'bad\u0000', quantity: 1, unitPrice: '1.00' }];
    const inList = await t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '2.00', currency: 'USD', items } });
    expect(inList.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.items[1].sku' });
    const inline = await t.gql(`mutation { earnPoints(input: { memberId: "${member}", points: 5, reason: "bad\\u0000", idempotencyKey: "${key()}" }) { id } }`);
    expect(inline.status).toBe(400);
    expect(inline.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'reason' });
    expect(await balance(t, member)).toMatchObject({ available: 0 });
  });
});

describe('text JSON cannot hold, and variables nested absurdly deep', () => {
  const EVENT = 'mutation($input: RecordEventInput!) { recordEvent(input: $input) { pointsEarned } }';

  test.each([
    ['a NUL in a key of a JSON argument', { 'a\u0000': 1 }, 'input.attributes.a\u0000'],
    ['a NUL in a nested key', { a: { 'b\u0000': 1 } }, 'input.attributes.a.b\u0000'],
    ['half a surrogate pair in a value', { a: '\ud800' }, 'input.attributes.a'],
  ])('%s: HTTP 400, BAD_USER_INPUT naming the field, nothing written', async (_name, attributes, field) => {
    const member = await enroll(t, 'json-text');
    const before = await rowCounts(t);
    const res = await t.gql(EVENT, { input: { memberId: member, type: 'review', idempotencyKey: key(), attributes } });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(await rowCounts(t)).toEqual(before);
  });

  test.each([40, 5000])('variables nested %p deep are BAD_USER_INPUT (HTTP 400), not a stack overflow', async (depth) => {
    let deep: unknown = 1;
    for (let i = 0; i < depth; i++) deep = [deep];
    const member = await enroll(t, 'deep');
    const res = await t.gql('mutation($x: JSON) { recordEvent(input: { memberId: "' + member + '", type: "review", idempotencyKey: "' + key() + '", attributes: $x }) { pointsEarned } }', { x: { a: deep } });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    // The variable, its key a, then 30 list levels: 32 in all.
    if (depth === 40) expect(res.errors?.[0]?.message).toBe(`x.a${'[0]'.repeat(30)} nests deeper than 32 levels`);
  });
});

describe('member ids are uuids in either case', () => {
  test('a transfer to oneself written in upper case is refused, and lifetime earnings do not grow', async () => {
    const member = await enroll(t, 'self');
    await earn(t, member, 100);
    const res = await t.gql(TRANSFER, { input: { fromMemberId: member, toMemberId: member.toUpperCase(), points: 40, idempotencyKey: key() } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'toMemberId' });
    expect(await balance(t, member)).toMatchObject({ available: 100, lifetimeEarned: 100 });
  });

  test('an upper-cased id reaches the same member', async () => {
    const member = await enroll(t, 'upper');
    ok(await t.gql(EARN, { input: { memberId: member.toUpperCase(), points: 30, reason: 'upper', idempotencyKey: key() } }));
    expect(await balance(t, member)).toMatchObject({ available: 30 });
  });
});

describe('DateTime is strict', () => {
  const purchaseAt = async (member: string, occurredAt: string) =>
    t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '5.00', currency: 'USD', occurredAt } });

  test.each([
    ['a day the month does not have', '2026-02-30T00:00:00Z'],
    ['hour 24', '2026-03-01T24:00:00Z'],
    ['minute 60', '2026-03-01T10:60:00Z'],
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['year 9999', '9999-12-31T00:00:00Z'],
    ['an offset past ±14:00', '2026-03-01T00:00:00+15:00'],
  ])('%s (%s) is BAD_USER_INPUT and writes nothing', async (_name, instant) => {
    const member = await enroll(t, 'instant');
    const before = await rowCounts(t);
    const res = await purchaseAt(member, instant);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await rowCounts(t)).toEqual(before);
  });

  test('a real instant with an offset and fractions is accepted', async () => {
    const member = await enroll(t, 'instant');
    const res = await purchaseAt(member, '2024-02-29T23:59:59.999+14:00');
    expect(ok(res).recordPurchase).toMatchObject({ pointsEarned: 5 });
  });
});

describe('client errors in production', () => {
  let prod: TestApp;
  beforeAll(async () => { prod = await startTestApp({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40), TEST_CLOCK_ENABLED: 'false' }); });
  afterAll(async () => { await prod.close(); });

  test('a wrong enum value is BAD_USER_INPUT without naming the values that exist', async () => {
    const res = await prod.gql('query($s: MemberStatus) { members(status: $s) { totalCount } }', { s: 'SUSPENDE' });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.message).not.toMatch(/SUSPENDED|Did you mean/);
  });

  test('a subscription is BAD_USER_INPUT (HTTP 400), not an internal error', async () => {
    const res = await prod.gql('subscription { now }');
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });

  test('a persisted query whose hash does not match its text is BAD_USER_INPUT (HTTP 400)', async () => {
    const res = await prod.request().post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${prod.admin}`)
      .send({ query: '{ now }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } });
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});

describe('one mutation per request', () => {
  test('two mutation fields in one document are refused before either runs', async () => {
    const member = await enroll(t, 'two');
    const input = (n: number) => `{ memberId: "${member}", points: ${n}, reason: "two", idempotencyKey: "${key()}" }`;
    const res = await t.gql(`mutation { a: earnPoints(input: ${input(10)}) { id } b: earnPoints(input: ${input(20)}) { id } }`);
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(await balance(t, member)).toMatchObject({ available: 0 });
    // One field (with __typename beside it) is a mutation as usual.
    ok(await t.gql(`mutation { __typename earnPoints(input: ${input(5)}) { id } }`));
    expect(await balance(t, member)).toMatchObject({ available: 5 });
  });
});

describe('points stay within what a member\'s totals can hold', () => {
  test.each(['1000.0001', '99999999.9999'])('an earn rate of %s is BAD_USER_INPUT on earnRate, and the rate stays', async (earnRate) => {
    const res = await t.gql(`mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { earnRate } }`, { input: { earnRate } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'earnRate' });
    expect(Number(ok(await t.gql('{ program { earnRate } }')).program.earnRate)).toBe(1);
  });

  test('a purchase that would earn more than one transaction may move is BAD_USER_INPUT on amount, and writes nothing', async () => {
    await updateProgram(t, { ...DEFAULT_PROGRAM, earnRate: '1000' });
    const member = await enroll(t, 'huge');
    const before = await rowCounts(t);
    const res = await t.gql(PURCHASE, { input: { memberId: member, orderId: key('order'), amount: '100000.00', currency: 'USD' } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount' });
    expect(await rowCounts(t)).toEqual(before);
  });

  test('a credit that would take lifetime points past 2,000,000,000 is BAD_USER_INPUT, never a 500', async () => {
    const member = await enroll(t, 'lifetime');
    await earn(t, member, 100);
    // A member with a long history: its stored lifetime total near the cap.
    await sql`update members set lifetime_earned = 1999999950 where id = ${member}`.execute(t.database.db);
    try {
      const res = await t.gql(EARN, { input: { memberId: member, points: 100, reason: 'over', idempotencyKey: key() } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'points' });
      expect(await balance(t, member)).toMatchObject({ available: 100 });
    } finally {
      await sql`update members set lifetime_earned = 100 where id = ${member}`.execute(t.database.db);
    }
  });
});
