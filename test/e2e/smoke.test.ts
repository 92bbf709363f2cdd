import { startTestApp, codes, type TestApp } from '../support/harness';

const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id externalId email status balance { available pending } tier { current { code } } } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned transaction { id type points status } member { balance { available lifetimeEarned } } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id type points allocations { points } } }`;

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

test('enrol, earn on a purchase, redeem', async () => {
  const enrolled = await t.gql(ENROLL, { input: { externalId: 'smoke-1', email: 'A@Example.com' } });
  expect(enrolled.errors).toBeUndefined();
  const member = enrolled.data!.enrollMember;
  expect(member).toMatchObject({ externalId: 'smoke-1', email: 'a@example.com', status: 'ACTIVE', balance: { available: 0, pending: 0 }, tier: { current: { code: 'MEMBER' } } });
  const bought = await t.gql(PURCHASE, { input: { memberId: member.id, orderId: 'o-1', amount: '129.90', currency: 'USD' } });
  expect(bought.errors).toBeUndefined();
  expect(bought.data!.recordPurchase).toMatchObject({ pointsEarned: 129, transaction: { type: 'PURCHASE', points: 129, status: 'AVAILABLE' }, member: { balance: { available: 129, lifetimeEarned: 129 } } });
  const redeemed = await t.gql(REDEEM, { input: { memberId: member.id, points: 100, idempotencyKey: 'r1' } });
  expect(redeemed.errors).toBeUndefined();
  expect(redeemed.data!.redeemPoints).toMatchObject({ type: 'REDEEM', points: -100, allocations: [{ points: 100 }] });
  const tooMuch = await t.gql(REDEEM, { input: { memberId: member.id, points: 100, idempotencyKey: 'r2' } });
  expect(codes(tooMuch)).toEqual(['INSUFFICIENT_POINTS']);
});
