/**
 * Events out end to end: webhooks registered over GraphQL, events written by the changes they
 * report, delivered by the workers to a real local receiver over HTTP, signed, retried, logged,
 * replayed, in order per member, once across two instances, and not lost to a kill -9.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { signToken } from '../../src/auth/jwt';
import { loadConfig } from '../../src/config';
import { openDatabase, openOptions, type Database } from '../../src/db/database';
import { send, startWorker, type Worker } from '../../src/webhooks/delivery';
import { purgeOldEvents } from '../../src/webhooks/webhooks.service';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, earn, enroll, errorCode, ok, redeem, setClock, updateProgram } from './ledger-fixtures';
import { serverTest } from '../support/on-server';

const RETRIES = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_RETRY_MAX_MS: '400', WEBHOOK_POLL_MS: '20' };

const CREATE = `mutation($input: WebhookInput!) { createWebhook(input: $input) { secret webhook { id url events active disabledReason } } }`;
const SET_ACTIVE = `mutation($id: ID!, $active: Boolean!) { setWebhookActive(id: $id, active: $active) { id active disabledReason } }`;
const DELIVERIES = `query($id: ID!, $first: Int) { webhookDeliveries(webhookId: $id, first: $first) { totalCount edges { node {
  id eventId eventType memberId status attempts lastStatusCode lastError deliveredAt log { attempt statusCode error } } } } }`;
const REPLAY = `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id eventId status attempts } }`;
const DELIVERY_PAGE = `query($id: ID!, $first: Int, $after: String) { webhookDeliveries(webhookId: $id, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id createdAt } } } }`;
const WEBHOOKS = `{ webhooks { id active disabledReason } }`;

/** What a receiver got: the raw body, its headers, and the parsed event. */
interface Received { body: string; headers: IncomingMessage['headers']; event: { id: string; type: string; createdAt: string; data: Record<string, any> } }

/** A local receiver: `answer` decides each response (a status, or 'hang' to never answer). */
class Receiver {
  readonly got: Received[] = [];
  private readonly hanging: ServerResponse[] = [];
  private server!: Server;
  answer: (event: Received['event'], seen: number) => number | 'hang' = () => 200;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += String(c); });
      req.on('end', () => {
        const event = JSON.parse(body);
        const seen = this.got.filter((g) => g.event.id === event.id).length;
        this.got.push({ body, headers: req.headers, event });
        const answer = this.answer(event, seen);
        if (answer === 'hang') { this.hanging.push(res); return; }
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  /** Answers the oldest request still waiting, with `status`. */
  releaseOne(status: number): void {
    const waiting = this.hanging.find((r) => !r.writableEnded);
    waiting?.writeHead(status).end();
  }

  get hangingCount(): number {
    return this.hanging.filter((r) => !r.writableEnded).length;
  }

  ofMember(memberId: string): Received['event'][] {
    return this.got.map((g) => g.event).filter((e) => e.data.memberId === memberId);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) if (!res.writableEnded) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let t: TestApp;
let receiver: Receiver;
let worker: Worker;
beforeAll(async () => {
  t = await startTestApp(RETRIES);
  worker = startWorker({ db: t.database.db, settings: t.config.webhooks });
});
afterAll(async () => {
  await worker.stop();
  await t.close();
});
beforeEach(async () => {
  await setClock(t, '2026-03-01T12:00:00Z');
  await updateProgram(t, DEFAULT_PROGRAM);
  // Each test has its own receiver and webhooks; those of earlier tests are switched off.
  for (const w of ok(await t.gql(WEBHOOKS)).webhooks) if (w.active) ok(await t.gql(SET_ACTIVE, { id: w.id, active: false }));
  receiver = await new Receiver().start();
});
afterEach(async () => { await receiver.close(); });

async function subscribe(events: string[] = ['*'], url = receiver.url): Promise<{ id: string; secret: string }> {
  const created = ok(await t.gql(CREATE, { input: { url, events, description: 'test receiver' } })).createWebhook;
  return { id: created.webhook.id, secret: created.secret };
}

async function deliveriesOf(webhookId: string): Promise<any[]> {
  return ok(await t.gql(DELIVERIES, { id: webhookId, first: 100 })).webhookDeliveries.edges.map((e: any) => e.node);
}

test('a registered webhook gets each event once, signed with its secret over the raw body', async () => {
  const hook = await subscribe(['points.earned', 'points.redeemed']);
  const member = await enroll(t, 'wh-signed');
  const entry = await earn(t, member, 120);
  await redeem(t, member, 20);
  await settles(() => expect(receiver.ofMember(member)).toHaveLength(2));
  const [earned, redeemed] = receiver.got.filter((g) => g.event.data.memberId === member);
  expect(earned!.event).toMatchObject({
    type: 'points.earned', data: { memberId: member, transactionId: entry.id, type: 'EARN', points: 120, partnerId: null },
  });
  expect(earned!.event.createdAt).toBe('2026-03-01T12:00:00.000Z');
  expect(redeemed!.event).toMatchObject({ type: 'points.redeemed', data: { memberId: member, points: -20 } });
  const [, tPart, vPart] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(earned!.headers['milepost-signature']))!;
  // t is wall-clock time, not the service's test clock.
  expect(Math.abs(Number(tPart) - Date.now() / 1000)).toBeLessThan(60);
  expect(vPart).toBe(createHmac('sha256', hook.secret).update(`${tPart}.${earned!.body}`).digest('hex'));
  expect(earned!.headers['milepost-event-id']).toBe(earned!.event.id);
  // The attempt is recorded once the receiver's answer is in.
  await settles(async () => expect((await deliveriesOf(hook.id)).filter((d) => d.memberId === member).map((d) => [d.eventType, d.status, d.attempts])).toEqual([
    ['points.redeemed', 'DELIVERED', 1], ['points.earned', 'DELIVERED', 1],
  ]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(receiver.ofMember(member)).toHaveLength(2);
});

test('deliveries page newest first, each once, those one statement queued in the same millisecond included', async () => {
  const hook = await subscribe(['*']);
  const member = await enroll(t, 'wh-pages');
  await earn(t, member, 500);
  const reward = ok(await t.gql(`mutation($input: RewardInput!) { createReward(input: $input) { id } }`,
    { input: { code: `WH-PAGE-${randomUUID().slice(0, 8)}`, name: 'Mug', pointsCost: 10, type: 'FREE_PRODUCT' } })).createReward;
  // Each redemption queues two deliveries in one statement (reward.redeemed and points.redeemed).
  for (let i = 0; i < 3; i++) {
    ok(await t.gql(`mutation($input: RedeemRewardInput!) { redeemReward(input: $input) { id } }`,
      { input: { memberId: member, rewardId: reward.id, idempotencyKey: randomUUID() } }));
  }
  const whole: { id: string; createdAt: string }[] = ok(await t.gql(DELIVERY_PAGE, { id: hook.id, first: 100 })).webhookDeliveries.edges.map((e: any) => e.node);
  expect(whole).toHaveLength(8);
  const walked: typeof whole = [];
  let after: string | null = null;
  let pages = 0;
  do {
    const page: any = ok(await t.gql(DELIVERY_PAGE, { id: hook.id, first: 1, after })).webhookDeliveries;
    expect(page.totalCount).toBe(8);
    walked.push(...page.edges.map((e: any) => e.node));
    pages += 1;
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after && pages < 20);
  expect(walked.map((d) => d.id)).toEqual(whole.map((d) => d.id));
  const instants = walked.map((d) => d.createdAt);
  expect(instants).toEqual([...instants].sort().reverse());
});

test('a receiver failing twice then answering: three attempts logged, one success; a replay sends the same event id', async () => {
  const hook = await subscribe(['points.earned']);
  receiver.answer = (_e, seen) => (seen < 2 ? 503 : 200);
  const member = await enroll(t, 'wh-retry');
  await earn(t, member, 10);
  await settles(async () => expect((await deliveriesOf(hook.id))[0]).toMatchObject({ status: 'DELIVERED' }));
  const [delivery] = await deliveriesOf(hook.id);
  expect(delivery).toMatchObject({
    attempts: 3, lastStatusCode: 200, lastError: null,
    log: [{ attempt: 1, statusCode: 503, error: 'HTTP 503' }, { attempt: 2, statusCode: 503, error: 'HTTP 503' }, { attempt: 3, statusCode: 200, error: null }],
  });
  expect(receiver.ofMember(member).map((e) => e.id)).toEqual([delivery.eventId, delivery.eventId, delivery.eventId]);

  const replayed = ok(await t.gql(REPLAY, { id: delivery.id })).replayWebhookDelivery;
  expect(replayed).toMatchObject({ eventId: delivery.eventId, status: 'PENDING', attempts: 0 });
  await settles(() => expect(receiver.ofMember(member)).toHaveLength(4));
  expect(receiver.ofMember(member)[3]!.id).toBe(delivery.eventId);
  expect(errorCode(await t.gql(REPLAY, { id: randomUUID() }))).toBe('NOT_FOUND');
});

test('a member\'s events arrive in order while its first is retried; another member\'s are not held back', async () => {
  await subscribe(['points.earned']);
  const slow = await enroll(t, 'wh-order-a');
  const other = await enroll(t, 'wh-order-b');
  // The slow member's first event fails on its first try, and on every try until the other
  // member's event has arrived: were that held back behind it, neither would ever arrive. (The
  // other's may arrive first, before any try of the slow one's, so the first try fails anyway.)
  const otherArrived = () => receiver.got.some((g) => g.event.data.memberId === other);
  receiver.answer = (e, seen) => (e.data.memberId === slow && e.data.points === 1 && (seen === 0 || !otherArrived()) ? 500 : 200);
  for (const points of [1, 2, 3]) await earn(t, slow, points);
  await earn(t, other, 7);
  await settles(() => expect(new Set(receiver.ofMember(slow).map((e) => e.id)).size).toBe(3));
  const arrivals = receiver.ofMember(slow).map((e) => e.data.points);
  // Every try of the first before the second and third, which follow in order.
  expect(arrivals.slice(-2)).toEqual([2, 3]);
  expect(arrivals.slice(0, -2).every((p) => p === 1)).toBe(true);
  expect(arrivals.length).toBeGreaterThanOrEqual(4);
});

test('a worker whose every slot is busy when it looks again goes on claiming once one frees', async () => {
  // One slot, a receiver that takes 100 ms, and a worker looking every 10 ms: most looks find the
  // slot busy. Each of five members' events must still be delivered.
  await worker.stop();
  const busy = startWorker({ db: t.database.db, settings: { ...t.config.webhooks, concurrency: 1, pollMs: 10 } });
  try {
    await subscribe(['points.earned']);
    receiver.answer = () => 'hang';
    const members = await Promise.all(Array.from({ length: 5 }, () => enroll(t, 'wh-busy')));
    for (const m of members) await earn(t, m, 3);
    const answering = setInterval(() => receiver.releaseOne(200), 100);
    try {
      await settles(() => expect(new Set(receiver.got.map((g) => g.event.data.memberId)).size).toBe(5), 10_000);
    } finally {
      clearInterval(answering);
    }
  } finally {
    await busy.stop();
    worker = startWorker({ db: t.database.db, settings: t.config.webhooks });
  }
});

test('a receiver that never answers holds no API call: calls answer while its deliveries hang', async () => {
  await subscribe(['*']);
  receiver.answer = () => 'hang';
  const member = await enroll(t, 'wh-hang');
  await earn(t, member, 10);
  await settles(() => expect(receiver.hangingCount).toBeGreaterThan(0));
  for (let i = 0; i < 20; i++) await earn(t, member, 1);
  // Every call answered while the first delivery was still unanswered.
  expect(receiver.hangingCount).toBeGreaterThan(0);
  expect(receiver.ofMember(member)).toHaveLength(1);
});

test('a refused change writes no event; a reward, a tier change and lots expiring soon do', async () => {
  ok(await t.gql(`mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`, { tiers: [
    { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 },
    { code: 'GOLD', name: 'Gold', rank: 1, qualifyingPointsRequired: 100, earnMultiplier: 1 },
  ] }));
  await updateProgram(t, { expiry: { mode: 'FIXED', months: 1 } });
  await subscribe(['*']);
  const member = await enroll(t, 'wh-kinds');
  expect(errorCode(await t.gql(`mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id } }`,
    { input: { memberId: member, points: 5, idempotencyKey: randomUUID() } }))).toBe('INSUFFICIENT_POINTS');
  await earn(t, member, 150);
  const reward = ok(await t.gql(`mutation($input: RewardInput!) { createReward(input: $input) { id } }`,
    { input: { code: `WH-${randomUUID().slice(0, 8)}`, name: 'Mug', pointsCost: 50, type: 'FREE_PRODUCT' } })).createReward;
  const voucher = ok(await t.gql(`mutation($input: RedeemRewardInput!) { redeemReward(input: $input) { id voucherCode } }`,
    { input: { memberId: member, rewardId: reward.id, idempotencyKey: randomUUID() } })).redeemReward;
  // The lot of 150 expires on 1 April at noon: 30 days ahead at noon on 2 March.
  await setClock(t, '2026-03-02T12:00:00Z');
  expect(ok(await t.gql('mutation { runMaintenance { expiringNotices } }')).runMaintenance.expiringNotices).toBeGreaterThanOrEqual(1);
  expect(ok(await t.gql('mutation { runMaintenance { expiringNotices } }')).runMaintenance.expiringNotices).toBe(0);
  await settles(() => expect(receiver.ofMember(member).map((e) => e.type).sort()).toEqual(
    ['member.enrolled', 'points.earned', 'points.expiring', 'points.redeemed', 'reward.redeemed', 'tier.changed'],
  ));
  const byType = Object.fromEntries(receiver.ofMember(member).map((e) => [e.type, e.data]));
  expect(byType['tier.changed']).toMatchObject({ memberId: member, from: 'MEMBER', to: 'GOLD' });
  expect(byType['reward.redeemed']).toMatchObject({ redemptionId: voucher.id, voucherCode: voucher.voucherCode, pointsSpent: 50 });
  expect(byType['points.expiring']).toMatchObject({ points: 100, expiresAt: '2026-04-01T12:00:00.000Z' });
  expect(receiver.ofMember(member).find((e) => e.type === 'member.enrolled')!.data.enrolledAt).toBe('2026-03-01T12:00:00.000Z');
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from outbox_events where member_id = ${member}`.execute(t.database.db);
  expect(rows[0]!.n).toBe(6);
});

test('an event no active webhook subscribes to is not written', async () => {
  const member = await enroll(t, 'wh-unheard');
  await earn(t, member, 5);
  await subscribe(['tier.changed']);
  await earn(t, member, 6);
  await subscribe(['points.earned']);
  await earn(t, member, 7);
  const { rows } = await sql<{ type: string; points: number }>`select type, (data->>'points')::int as points from outbox_events where member_id = ${member} order by seq`.execute(t.database.db);
  expect(rows).toEqual([{ type: 'points.earned', points: 7 }]);
});

test('a rewarded referral is reported to the referrer, and a member enrolled with its referrer', async () => {
  await updateProgram(t, { referral: { referrerPoints: 30, refereePoints: 10, maxPerReferrer: null } });
  await subscribe(['member.enrolled', 'referral.rewarded']);
  const ENROL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id referralCode } }`;
  const referrer = ok(await t.gql(ENROL, { input: { externalId: `wh-ref-${randomUUID()}` } })).enrollMember;
  const referee = ok(await t.gql(ENROL, { input: { externalId: `wh-ref-${randomUUID()}`, referralCode: referrer.referralCode } })).enrollMember;
  ok(await t.gql(`mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned } }`,
    { input: { memberId: referee.id, orderId: `wh-ref-${randomUUID()}`, amount: '20.00', currency: 'USD' } }));
  await settles(() => expect(receiver.ofMember(referrer.id).map((e) => e.type)).toEqual(['member.enrolled', 'referral.rewarded']));
  expect(receiver.ofMember(referee.id)[0]).toMatchObject({ type: 'member.enrolled', data: { memberId: referee.id, referredBy: referrer.id } });
  expect(receiver.ofMember(referrer.id)[1]!.data).toMatchObject({ refereeId: referee.id, referrerPoints: 30, refereePoints: 10 });
  await updateProgram(t, { referral: { referrerPoints: 0, refereePoints: 0 } });
});

test('bad webhooks are BAD_USER_INPUT; in production an http or private receiver is refused', async () => {
  for (const [input, field] of [
    [{ url: 'not-a-url', events: ['*'] }, 'url'],
    [{ url: 'ftp://example.com/x', events: ['*'] }, 'url'],
    [{ url: 'https://user:pw@example.com/x', events: ['*'] }, 'url'],
    [{ url: 'https://example.com/x', events: [] }, 'events'],
    [{ url: 'https://example.com/x', events: ['points.stolen'] }, 'events'],
  ] as const) {
    const res = await t.gql(CREATE, { input });
    expect([errorCode(res), res.errors![0]!.extensions!.field]).toEqual(['BAD_USER_INPUT', field]);
  }
  const prod = await startTestApp({ ...RETRIES, NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-length', TEST_CLOCK_ENABLED: 'false', LOG_LEVEL: 'silent' });
  try {
    for (const url of [receiver.url, receiver.url.replace('http:', 'https:'), 'https://localhost/hooks', 'https://[::ffff:7f00:1]/hooks', 'https://10.0.0.8/hooks']) {
      const res = await prod.gql(CREATE, { input: { url, events: ['*'] } });
      expect([url, errorCode(res), res.errors![0]!.extensions!.field]).toEqual([url, 'BAD_USER_INPUT', 'url']);
    }
    expect(ok(await prod.gql(WEBHOOKS)).webhooks).toEqual([]);
  } finally {
    await prod.close();
  }
  // A name is checked where it resolves, when each delivery is sent: one on loopback is refused
  // before any connection, for good (no retry can mend it).
  const refused = await send(receiver.url.replace('127.0.0.1', 'localhost'), '{}', {}, { timeoutMs: 2000, allowPrivate: false });
  expect(refused).toMatchObject({ ok: false, permanent: true, statusCode: null });
  expect(refused.error).toMatch(/EPRIVATE: receiver address (127\.0\.0\.1|::1) is private/);
  expect(receiver.got).toHaveLength(0);
  expect(await send(receiver.url, '{}', {}, { timeoutMs: 2000, allowPrivate: true })).toMatchObject({ ok: true, statusCode: 200 });
});

test('a delivery failing past the horizon is FAILED, and an endpoint failing for the whole horizon is disabled', async () => {
  const short = await startTestApp({ ...RETRIES, WEBHOOK_RETRY_HORIZON_MS: '600' });
  const shortWorker = startWorker({ db: short.database.db, settings: short.config.webhooks });
  try {
    receiver.answer = () => 500;
    const hook = ok(await short.gql(CREATE, { input: { url: receiver.url, events: ['points.earned'] } })).createWebhook.webhook;
    const member = ok(await short.gql(`mutation { enrollMember(input: { externalId: "wh-horizon" }) { id } }`)).enrollMember.id;
    await earn(short, member, 5);
    await settles(async () => expect(ok(await short.gql(WEBHOOKS)).webhooks[0]).toMatchObject({ active: false }), 10_000);
    const [d] = ok(await short.gql(DELIVERIES, { id: hook.id })).webhookDeliveries.edges.map((e: any) => e.node);
    expect(d).toMatchObject({ status: 'FAILED', lastStatusCode: 500 });
    expect(d.attempts).toBeGreaterThanOrEqual(2);
    expect(ok(await short.gql(WEBHOOKS)).webhooks[0].disabledReason).toMatch(/no delivery succeeded/);
    // Switched on again, it forgets why it was off.
    expect(ok(await short.gql(SET_ACTIVE, { id: hook.id, active: true })).setWebhookActive).toMatchObject({ active: true, disabledReason: null });
    // Deliveries held while it is off go once it is on again.
    receiver.answer = () => 200;
    ok(await short.gql(SET_ACTIVE, { id: hook.id, active: false }));
    await earn(short, member, 6);
    const replayed = ok(await short.gql(REPLAY, { id: d.id })).replayWebhookDelivery;
    const HELD = `query($id: ID!) { webhookDeliveries(webhookId: $id, status: PENDING) { edges { node { id nextAttemptAt } } } }`;
    expect(ok(await short.gql(HELD, { id: hook.id })).webhookDeliveries.edges.map((e: any) => e.node)).toEqual([{ id: replayed.id, nextAttemptAt: null }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.got.filter((g) => g.event.data.points === 6)).toHaveLength(0);
    ok(await short.gql(SET_ACTIVE, { id: hook.id, active: true }));
    await settles(() => expect(receiver.got.filter((g) => g.event.id === d.eventId && g.headers['milepost-delivery-id'] === replayed.id)).toHaveLength(1));
  } finally {
    await shortWorker.stop();
    await short.close();
  }
});

test('events past the retention go with their deliveries and attempts once every delivery is done; one still pending stays', async () => {
  const hook = await subscribe(['points.earned']);
  const done = await enroll(t, 'wh-purge-done');
  const pending = await enroll(t, 'wh-purge-pending');
  receiver.answer = (e) => (e.data.memberId === pending ? 503 : 200);
  await earn(t, done, 4);
  await earn(t, pending, 5);
  await settles(async () => expect((await deliveriesOf(hook.id)).map((d) => [d.memberId, d.status, d.attempts > 0]).sort()).toEqual([
    [done, 'DELIVERED', true], [pending, 'PENDING', true],
  ].sort()));
  const [delivered] = (await deliveriesOf(hook.id)).filter((d) => d.memberId === done);
  const rows = async (table: 'outbox_events' | 'webhook_deliveries' | 'webhook_attempts', column: string, id: string) =>
    Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} = ${id}`.execute(t.database.db)).rows[0]!.n);
  expect(await rows('webhook_attempts', 'delivery_id', delivered.id)).toBe(1);

  // The events were written on the test clock (1 March); seven days' retention from 10 March.
  const purged = await purgeOldEvents(t.database.db, new Date('2026-03-10T00:00:00Z'), 7);
  expect(purged).toBeGreaterThanOrEqual(1);
  expect(await rows('outbox_events', 'id', delivered.eventId)).toBe(0);
  expect(await rows('webhook_deliveries', 'id', delivered.id)).toBe(0);
  expect(await rows('webhook_attempts', 'delivery_id', delivered.id)).toBe(0);
  const [kept] = await deliveriesOf(hook.id);
  expect(kept).toMatchObject({ memberId: pending, status: 'PENDING' });
  expect(await rows('outbox_events', 'id', kept.eventId)).toBe(1);
});

serverTest('two instances\' workers deliver each of 1,000 events once', async () => {
  await subscribe(['points.earned']);
  const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(t.database.db)).rows[0]!.s;
  const second: Database = await openDatabase({ ...t.config.database }, { ...openOptions(t.config), schema, poolSize: 10 });
  const secondWorker = startWorker({ db: second.db, settings: t.config.webhooks });
  try {
    const members = await Promise.all(Array.from({ length: 20 }, () => enroll(t, 'wh-two')));
    for (let round = 0; round < 50; round++) await Promise.all(members.map((m) => earn(t, m, 1 + round)));
    await settles(() => expect(new Set(receiver.got.filter((g) => members.includes(g.event.data.memberId)).map((g) => g.event.id)).size).toBe(1000), 60_000);
    // A duplicate would come late: none does.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const ids = receiver.got.filter((g) => members.includes(g.event.data.memberId)).map((g) => g.event.id);
    expect(ids).toHaveLength(1000);
    // Each member's events arrived in the order they happened.
    for (const m of members) expect(receiver.ofMember(m).map((e) => e.data.points)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  } finally {
    await secondWorker.stop();
    await second.close();
  }
}, 120_000);

describe('kill -9 between commit and delivery', () => {
  const ROOT = path.resolve(__dirname, '../..');
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'milepost-outbox-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The service from source in a child process; its standard output is kept in `log`. */
  function server(port: number, workers: boolean, databaseUrl: string): ChildProcess & { log: string[] } {
    const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'development', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, WEBHOOK_WORKERS: String(workers), WEBHOOK_POLL_MS: '50' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const log: string[] = [];
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => log.push(...chunk.split('\n').filter(Boolean)));
    return Object.assign(child, { log });
  }

  async function ready(port: number): Promise<void> {
    await settles(async () => expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200), 60_000);
  }

  /** Commits an event with workers off, kills that process, and starts one with workers on: the event is delivered. Answers the second process, still running. */
  async function deliveredAfterRestart(databaseUrl: string, externalId: string) {
    const port = await freePort();
    const admin = signToken(loadConfig({}).jwt, { role: 'ADMIN' });
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ query, variables }) });
      return ((await res.json()) as { data: any }).data;
    };
    // Workers off in the first process: the event is committed and cannot be delivered before the kill.
    const first = server(port, false, databaseUrl);
    try {
      await ready(port);
      await gql(CREATE, { input: { url: receiver.url, events: ['points.earned'] } });
      const member = (await gql(`mutation($id: String!) { enrollMember(input: { externalId: $id }) { id } }`, { id: externalId })).enrollMember.id;
      const entry = (await gql(`mutation($input: EarnPointsInput!) { earnPoints(input: $input) { id } }`,
        { input: { memberId: member, points: 42, reason: 'before the crash', idempotencyKey: 'kill-1' } })).earnPoints;
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      const mine = () => receiver.got.filter((g) => g.event.data.memberId === member).map((g) => g.event.data.transactionId);
      expect(mine()).toHaveLength(0);
      const second = server(port, true, databaseUrl);
      try {
        await ready(port);
        await settles(() => expect(mine()).toEqual([entry.id]), 30_000);
      } catch (error) {
        second.kill('SIGKILL');
        throw error;
      }
      return second;
    } finally {
      if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
    }
  }

  /** SIGTERM, and how the process ended. */
  async function terminate(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  }

  test('the event is delivered after a restart', async () => {
    const second = await deliveredAfterRestart(`pglite://${dir}`, 'wh-kill');
    expect(await terminate(second)).toBe(0);
  }, 120_000);

  serverTest('on PostgreSQL, in the delivery thread: the event is delivered after a restart, and SIGTERM stops the thread and the process cleanly', async () => {
    const adminUrl = process.env.TEST_DATABASE_URL as string;
    const name = `milepost_thread_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const admin = await openDatabase({ kind: 'postgres', url: adminUrl }, { poolSize: 1, migrate: false });
    await sql.raw(`create database ${name}`).execute(admin.db);
    try {
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const second = await deliveredAfterRestart(url.toString(), 'wh-kill-thread');
      expect(second.log.some((line) => line.includes('"thread":"webhook-deliveries"') && line.includes('delivering webhooks in a thread of their own'))).toBe(true);
      expect(await terminate(second)).toBe(0);
      expect(second.log.some((line) => line.includes('shutdown complete'))).toBe(true);
    } finally {
      await sql.raw(`drop database if exists ${name} with (force)`).execute(admin.db);
      await admin.close();
    }
  }, 120_000);
});

/** Retries `assertion` until it passes; after `timeoutMs`, fails with its last failure. */
async function settles(assertion: () => unknown, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
