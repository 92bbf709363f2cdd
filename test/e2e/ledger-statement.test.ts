/**
 * The statement: cursor pages newest first that neither repeat nor skip while new entries are
 * written between fetches, filters by type and date, and a partner's view of its own entries.
 */
import { type TestApp, startTestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, EARN, PURCHASE, REFUND, STATEMENT, earn, enroll, errorCode, key, ok, redeem, setClock, updateProgram,
} from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

type Page = { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: any }[] };

async function page(memberId: string, args: Record<string, unknown> = {}, token?: string): Promise<Page> {
  return ok(await t.gql(STATEMENT, { id: memberId, ...args }, token)).member.transactions;
}

test('pages run newest first with no duplicates or gaps while entries are inserted between fetches', async () => {
  const member = await enroll(t, 'pages');
  const original: string[] = [];
  for (let i = 1; i <= 25; i++) original.push((await earn(t, member, i)).id);

  const seen: string[] = [];
  let after: string | null = null;
  let inserted = 0;
  for (;;) {
    // New entries land between (and during) page fetches; they belong before the first page.
    const [current]: [Page, ...unknown[]] = await Promise.all([
      page(member, { first: 10, after }),
      earn(t, member, 1000 + inserted++),
      earn(t, member, 1000 + inserted++),
    ]);
    seen.push(...current.edges.map((edge) => edge.node.id));
    if (!current.pageInfo.hasNextPage) break;
    expect(current.pageInfo.endCursor).toBe(current.edges.at(-1)!.cursor);
    after = current.pageInfo.endCursor;
  }
  expect(new Set(seen).size).toBe(seen.length);
  // Entries written during the first fetch may or may not make its page; everything older appears once, in order.
  const older = seen.filter((id) => original.includes(id));
  expect(older).toEqual([...original].reverse());
  const fresh = await page(member, { first: 100 });
  expect(fresh.totalCount).toBe(25 + inserted);
  // The pages, read while the ledger grew, agree with one read of the whole statement afterwards.
  const whole = fresh.edges.map((edge) => edge.node.id);
  expect(whole.filter((id) => seen.includes(id))).toEqual(seen);
  expect(whole.slice(-25)).toEqual([...original].reverse());
});

test('filters by type and by occurredAt range', async () => {
  const member = await enroll(t, 'filters');
  await setClock(t, '2032-01-01T00:00:00.000Z');
  await earn(t, member, 100);
  await setClock(t, '2032-02-01T00:00:00.000Z');
  const february = await earn(t, member, 50);
  const redeemed = await redeem(t, member, 20);
  await setClock(t, '2032-03-01T00:00:00.000Z');
  await earn(t, member, 10);

  const redeems = await page(member, { types: ['REDEEM'] });
  expect(redeems.totalCount).toBe(1);
  expect(redeems.edges.map((edge) => edge.node.id)).toEqual([redeemed.id]);
  expect((await page(member, { types: ['EARN', 'REDEEM'] })).totalCount).toBe(4);
  expect((await page(member, { types: ['EXPIRE'] })).totalCount).toBe(0);

  const feb = await page(member, { from: '2032-02-01T00:00:00Z', to: '2032-03-01T00:00:00Z' });
  expect(feb.edges.map((edge) => edge.node.id)).toEqual([redeemed.id, february.id]);
  const febEarns = await page(member, { types: ['EARN'], from: '2032-02-01T00:00:00Z', to: '2032-03-01T00:00:00Z' });
  expect(febEarns.edges.map((edge) => edge.node.id)).toEqual([february.id]);
  expect((await page(member, { from: '2032-03-01T00:00:00Z' })).totalCount).toBe(1);

  const badRange = await t.gql(STATEMENT, { id: member, from: '2032-03-01T00:00:00Z', to: '2032-02-01T00:00:00Z' });
  expect(errorCode(badRange)).toBe('BAD_USER_INPUT');
  expect(errorCode(await t.gql(STATEMENT, { id: member, after: 'not-a-cursor' }))).toBe('BAD_USER_INPUT');
  expect(errorCode(await t.gql(STATEMENT, { id: member, first: 0 }))).toBe('BAD_USER_INPUT');
  expect(errorCode(await t.gql(STATEMENT, { id: member, first: 101 }))).toBe('BAD_USER_INPUT');
});

test("a PARTNER sees only its own partner's entries, including refunds of its orders", async () => {
  const member = await enroll(t, 'partner-view');
  const p1 = await t.partnerToken('P-ONE', { sub: 'p-one' });
  const p2 = await t.partnerToken('P-TWO', { sub: 'p-two' });
  const mine = await earn(t, member, 10, p1);
  await earn(t, member, 20, p2);
  await earn(t, member, 30);
  const orderId = key('order');
  const bought = ok(await t.gql(PURCHASE, { input: { memberId: member, orderId, amount: '40.00', currency: 'USD' } }, p1)).recordPurchase;
  // The admin refunds the partner's order: the clawback still belongs to that partner's books.
  const refunded = ok(await t.gql(REFUND, { input: { orderId, refundId: key('refund'), amount: '10.00' } })).refundPurchase;
  expect(refunded.transaction.partnerId).toBe('P-ONE');

  const seen = await page(member, {}, p1);
  expect(seen.totalCount).toBe(3);
  expect(seen.edges.map((edge) => edge.node.id)).toEqual([refunded.transaction.id, bought.transaction.id, mine.id]);
  for (const edge of seen.edges) expect(edge.node.partnerId).toBe('P-ONE');
  expect((await page(member, {}, p2)).totalCount).toBe(1);
  expect((await page(member)).totalCount).toBe(5);

  const own = t.token({ role: 'MEMBER', memberId: member });
  const me = ok(await t.gql(`query { me { transactions(first: 100) { totalCount } } }`, {}, own)).me;
  expect(me.transactions.totalCount).toBe(5);
});

test('an earn with the same key replayed does not add a statement entry', async () => {
  const member = await enroll(t, 'statement-replay');
  const input = { memberId: member, points: 5, reason: 'replay', idempotencyKey: key('e') };
  ok(await t.gql(EARN, { input }));
  ok(await t.gql(EARN, { input }));
  expect((await page(member)).totalCount).toBe(1);
});

test('a page read with its member, beside the member read with its balance or asked for two pages, shows the same entries', async () => {
  const member = await enroll(t, 'page-ahead');
  const earned: string[] = [];
  for (let i = 1; i <= 5; i++) earned.push((await earn(t, member, i)).id);
  const newestFirst = [...earned].reverse();
  const PAGE = 'edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount';

  // The page alone under the member: read in the member's statement.
  const ahead = ok(await t.gql(`query($id: ID!) { member(id: $id) { id transactions(first: 2) { ${PAGE} } } }`, { id: member })).member;
  expect(ahead.id).toBe(member);
  expect(ahead.transactions.edges.map((edge: any) => edge.node.id)).toEqual(newestFirst.slice(0, 2));
  expect(ahead.transactions.pageInfo.hasNextPage).toBe(true);
  expect(ahead.transactions.totalCount).toBe(5);

  // With the balance, the member is read with its balance and the page by its own resolver.
  const withBalance = ok(await t.gql(`query($id: ID!) { member(id: $id) { balance { available } transactions(first: 2) { ${PAGE} } } }`, { id: member })).member;
  expect(withBalance.balance.available).toBe(15);
  expect(withBalance.transactions).toEqual(ahead.transactions);

  // Two pages under aliases: each gets its own arguments.
  const cursor = ahead.transactions.pageInfo.endCursor;
  const both = ok(await t.gql(`query($id: ID!, $after: String) { member(id: $id) {
    newest: transactions(first: 2) { ${PAGE} } older: transactions(first: 2, after: $after) { ${PAGE} } } }`, { id: member, after: cursor })).member;
  expect(both.newest).toEqual(ahead.transactions);
  expect(both.older.edges.map((edge: any) => edge.node.id)).toEqual(newestFirst.slice(2, 4));
  // The next page read ahead with its member agrees with the alias's.
  const next = ok(await t.gql(`query($id: ID!, $after: String) { member(id: $id) { transactions(first: 2, after: $after) { ${PAGE} } } }`, { id: member, after: cursor })).member;
  expect(next.transactions).toEqual(both.older);

  // A member that does not exist is null; arguments the page refuses are still its own error.
  const absent = await t.gql(`query { member(id: "00000000-0000-4000-8000-000000000000") { transactions(first: 2) { totalCount } } }`);
  expect(ok(absent).member).toBeNull();
  const refused = await t.gql(`query($id: ID!) { member(id: $id) { transactions(first: 2, after: "not-a-cursor") { totalCount } } }`, { id: member });
  expect(errorCode(refused)).toBe('BAD_USER_INPUT');
  expect(refused.errors?.[0]?.path).toEqual(['member', 'transactions']);
});
