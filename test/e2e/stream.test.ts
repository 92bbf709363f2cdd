/**
 * The optional event stream: with a NATS server (TEST_NATS_URL, set by .ci/run where one
 * listens), the outbox's events are published to JetStream from the same deliveries as the
 * webhooks, in each member's order, and a publish sent again is dropped as a duplicate. Without
 * a NATS server the test is skipped, and reported so.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect, type NatsConnection } from 'nats';
import { startWorker, type Worker } from '../../src/webhooks/delivery';
import { HELD, disable } from '../../src/webhooks/webhooks.repo';
import { STREAM_TARGET_ID, openStream, syncStreamTarget, type EventStream } from '../../src/webhooks/stream';
import { eventually } from '../support/eventually';
import { type TestApp, startTestApp } from '../support/harness';
import { DEFAULT_PROGRAM, earn, enroll, ok, updateProgram } from './ledger-fixtures';

const natsUrl = process.env.TEST_NATS_URL;
const natsTest = natsUrl ? test : test.skip;

const DELIVERIES = `query($id: ID!, $status: DeliveryStatus) { webhookDeliveries(webhookId: $id, status: $status, first: 100) {
  totalCount edges { node { id eventId eventType status attempts } } } }`;

let t: TestApp;
let nc: NatsConnection | null = null;
const tag = randomUUID().slice(0, 8);
const settings = { url: natsUrl ?? null, stream: `MILEPOST_TEST_${tag}`, subjectPrefix: `milepost-test-${tag}` };

beforeAll(async () => {
  t = await startTestApp({ WEBHOOK_POLL_MS: '20', WEBHOOK_RETRY_BASE_MS: '100' });
  await updateProgram(t, DEFAULT_PROGRAM);
  if (natsUrl) nc = await connect({ servers: natsUrl });
});
afterAll(async () => {
  if (nc) {
    await (await nc.jetstreamManager()).streams.delete(settings.stream).catch(() => undefined);
    await nc.close();
  }
  await t.close();
});

/** The stream's messages, in order, as the events they carry. */
async function published(): Promise<{ id: string; type: string; data: Record<string, any> }[]> {
  const jsm = await nc!.jetstreamManager();
  const { state } = await jsm.streams.info(settings.stream);
  const out = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    out.push(JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage(settings.stream, { seq })).data)));
  }
  return out;
}

async function settles(assertion: () => unknown, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

natsTest('events reach the JetStream stream from the outbox, in order, once per event id; only publishing workers take them', async () => {
  await syncStreamTarget(t.database.db, settings, new Date());
  // A worker without the stream leaves the stream's deliveries to one that has it.
  const plain: Worker = startWorker({ db: t.database.db, settings: t.config.webhooks });
  const member = await enroll(t, 'stream');
  for (const points of [5, 6, 7]) await earn(t, member, points);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const waiting = ok(await t.gql(DELIVERIES, { id: STREAM_TARGET_ID, status: 'PENDING' })).webhookDeliveries;
  expect(waiting.totalCount).toBe(4);
  expect(waiting.edges.every((e: any) => e.node.attempts === 0)).toBe(true);
  await plain.stop();

  const stream: EventStream = (await openStream(settings))!;
  const publisher = startWorker({ db: t.database.db, settings: t.config.webhooks, stream });
  try {
    await settles(async () => expect((await published()).filter((e) => e.data.memberId === member)).toHaveLength(4));
    const events = (await published()).filter((e) => e.data.memberId === member);
    expect(events.map((e) => [e.type, e.data.points ?? null])).toEqual([
      ['member.enrolled', null], ['points.earned', 5], ['points.earned', 6], ['points.earned', 7],
    ]);
    const delivered = ok(await t.gql(DELIVERIES, { id: STREAM_TARGET_ID, status: 'DELIVERED' })).webhookDeliveries.edges.map((e: any) => e.node);
    expect(new Set(delivered.map((d: any) => d.eventId))).toEqual(new Set(events.map((e) => e.id)));

    // Sent again (a replay, or a worker that died after publishing): JetStream keeps one.
    const again = delivered[0];
    ok(await t.gql(`mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: again.id }));
    await settles(async () => expect(ok(await t.gql(DELIVERIES, { id: STREAM_TARGET_ID, status: 'PENDING' })).webhookDeliveries.totalCount).toBe(0));
    expect((await published()).filter((e) => e.data.memberId === member)).toHaveLength(4);
  } finally {
    await publisher.stop();
    await stream.close();
  }
}, 60_000);

/**
 * A TCP relay to the NATS server that the test can cut and put back, as a network or a NATS
 * restart would. While cut it still accepts, and closes each connection at once: `refused`
 * counts the client's tries to reconnect; `accepted` counts every connection.
 */
async function relay(target: URL) {
  const sockets = new Set<Socket>();
  let open = true;
  const counts = { accepted: 0, refused: 0 };
  const server = createServer((client) => {
    counts.accepted += 1;
    if (!open) {
      counts.refused += 1;
      client.destroy();
      return;
    }
    const upstream = netConnect(Number(target.port || 4222), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `nats://127.0.0.1:${port}`,
    counts,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

natsTest('a NATS connection lost for longer than a few reconnects is tried until it is back, and a close while NATS is away ends the tries', async () => {
  const proxy = await relay(new URL(natsUrl as string));
  const stream = (await openStream({ ...settings, url: proxy.url }, { reconnectWaitMs: 50 }))!;
  try {
    await stream.publish('test.before', randomUUID(), '{}', 2_000);
    proxy.cut();
    await expect(stream.publish('test.away', randomUUID(), '{}', 500)).rejects.toThrow();
    // More tries than the client's default limit of ten.
    await eventually('a dozen reconnects refused', () => proxy.counts.refused >= 12, 15_000);
    proxy.restore();
    const back = randomUUID();
    await settles(() => stream.publish('test.back', back, JSON.stringify({ back }), 500));
    expect((await published()).filter((e) => (e as unknown as { back?: string }).back === back)).toHaveLength(1);

    proxy.cut();
    const refused = proxy.counts.refused;
    await eventually('a reconnect tried', () => proxy.counts.refused > refused, 5_000);
    await stream.close();
    proxy.restore();
    // A try already on its way when the stream closed may still arrive; none follows it.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await sleep(200);
    const accepted = proxy.counts.accepted;
    await sleep(600);
    expect(proxy.counts.accepted).toBe(accepted);
  } finally {
    await stream.close();
    await proxy.close();
  }
}, 30_000);

test("the stream's target switched off, or disabled after failing for the horizon, is switched on at the next start with NATS_URL, and the deliveries it held go", async () => {
  const app = await startTestApp();
  const target = () => app.database.db.selectFrom('webhooks').select(['active', 'disabled_reason']).where('id', '=', STREAM_TARGET_ID).executeTakeFirstOrThrow();
  // Due: not held. (Released on the database's clock, to the microsecond, a delivery may be due a
  // fraction of a millisecond after this process's clock reads.)
  const due = async () => Number((await app.database.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('webhook_id', '=', STREAM_TARGET_ID).where('status', '=', 'PENDING').where('next_attempt_at', '<', HELD).executeTakeFirstOrThrow()).n);
  const on = { ...settings, url: 'nats://127.0.0.1:4222' };
  try {
    await updateProgram(app, DEFAULT_PROGRAM);
    await syncStreamTarget(app.database.db, on, new Date());
    await enroll(app, 'held-1');
    expect(await due()).toBe(1);

    // Started once without NATS_URL: switched off, its delivery held.
    await syncStreamTarget(app.database.db, { ...settings, url: null }, new Date());
    expect(await target()).toEqual({ active: false, disabled_reason: null });
    expect(await due()).toBe(0);
    await syncStreamTarget(app.database.db, on, new Date());
    expect(await target()).toEqual({ active: true, disabled_reason: null });
    expect(await due()).toBe(1);

    // Disabled after failing for the whole horizon.
    expect(await disable(app.database.db, STREAM_TARGET_ID, 'disabled: no delivery succeeded for 24 h')).toBe(true);
    await enroll(app, 'held-2');
    expect(await due()).toBe(0);
    await syncStreamTarget(app.database.db, on, new Date());
    expect(await target()).toEqual({ active: true, disabled_reason: null });
    expect(await due()).toBe(1);
  } finally {
    await app.close();
  }
});
