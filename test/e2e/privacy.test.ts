/**
 * Privacy requests: a member's data exported whole (ADMIN, or the member itself), and erased for
 * good (ADMIN) while the ledger's amounts stay, so the books still add up.
 */
import { randomUUID } from 'node:crypto';
import { type TestApp, codes, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, balance, errorCode, expectLedgerTrue, key, ok, updateProgram } from './ledger-fixtures';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, DEFAULT_PROGRAM); });

const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
const EXPORT = `query($id: ID!) { exportMemberData(memberId: $id) }`;
const ERASE = `mutation($id: ID!, $reason: String!) { eraseMember(memberId: $id, reason: $reason) { id externalId email name birthDate phone status erasedAt tags } }`;
const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }`;
const EVENT = `mutation($input: RecordEventInput!) { recordEvent(input: $input) { pointsEarned } }`;

async function customer(): Promise<{ id: string; externalId: string }> {
  const externalId = `privacy-${randomUUID()}`;
  const { id } = ok(await t.gql(ENROLL, { input: { externalId, email: 'grace@example.com', name: 'Grace', birthDate: '1985-12-09', phone: '+15550100' } })).enrollMember;
  ok(await t.gql(`mutation($id: ID!) { setMemberTags(memberId: $id, tags: ["vip"]) { id } }`, { id }));
  ok(await t.gql(PURCHASE, { input: { memberId: id, orderId: key('order'), amount: '42.00', currency: 'USD', items: [{ sku: 'BOOK-1', category: 'books', quantity: 1, unitPrice: '42.00' }] } }));
  ok(await t.gql(EVENT, { input: { memberId: id, type: 'review', idempotencyKey: key('review'), attributes: { text: 'Grace liked it' } } }));
  return { id, externalId };
}

test('exportMemberData gives the profile, ledger, orders and events, to an ADMIN or the member itself only', async () => {
  const { id, externalId } = await customer();
  const data = ok(await t.gql(EXPORT, { id })).exportMemberData;
  expect(data.member).toMatchObject({ id, external_id: externalId, email: 'grace@example.com', name: 'Grace', tags: ['vip'] });
  expect(data.transactions).toEqual([expect.objectContaining({ type: 'PURCHASE', points: 42 })]);
  expect(data.orders).toEqual([expect.objectContaining({ amount: '42.00', items: [expect.objectContaining({ sku: 'BOOK-1' })] })]);
  expect(data.events).toEqual([expect.objectContaining({ type: 'review', attributes: { text: 'Grace liked it' } })]);
  const self = t.token({ role: 'MEMBER', sub: 'grace', memberId: id });
  expect(ok(await t.gql(EXPORT, { id }, self)).exportMemberData.member.id).toBe(id);
  const other = t.token({ role: 'MEMBER', sub: 'someone', memberId: randomUUID() });
  expect(errorCode(await t.gql(EXPORT, { id }, other))).toBe('FORBIDDEN');
  expect(errorCode(await t.gql(EXPORT, { id }, await t.partnerToken('p', { personalData: true })))).toBe('FORBIDDEN');
  expect(errorCode(await t.gql(EXPORT, { id: randomUUID() }))).toBe('NOT_FOUND');
});

test('eraseMember clears personal data for good, closes the account and keeps the points; erasing again changes nothing', async () => {
  const { id, externalId } = await customer();
  const before = await balance(t, id);
  const erased = ok(await t.gql(ERASE, { id, reason: 'GDPR request 2026-118' })).eraseMember;
  expect(erased).toMatchObject({ id, externalId: `erased:${id}`, email: null, name: null, birthDate: null, phone: null, status: 'CLOSED', tags: [] });
  expect(erased.erasedAt).toEqual(expect.any(String));
  expect(await balance(t, id)).toEqual(before);
  await expectLedgerTrue(t, [id]);
  const data = ok(await t.gql(EXPORT, { id })).exportMemberData;
  expect(JSON.stringify(data)).not.toMatch(/grace|Grace|1985-12-09|5550100|liked/);
  expect(data.events).toEqual([expect.objectContaining({ attributes: {} })]);
  // The old external id is free: the person may enrol afresh, as a new member.
  const again = ok(await t.gql(ENROLL, { input: { externalId } })).enrollMember;
  expect(again.id).not.toBe(id);
  // Idempotent: the same answer, nothing changed.
  expect(ok(await t.gql(ERASE, { id, reason: 'a second request' })).eraseMember).toEqual(erased);
  expect(codes(await t.gql(PURCHASE, { input: { memberId: id, orderId: key('order'), amount: '1.00', currency: 'USD' } }))).toEqual(['INVALID_STATE']);
  expect(errorCode(await t.gql(ERASE, { id, reason: ' ' }))).toBe('BAD_USER_INPUT');
  expect(errorCode(await t.gql(ERASE, { id, reason: 'x' }, await t.partnerToken('p', { personalData: true })))).toBe('FORBIDDEN');
});
