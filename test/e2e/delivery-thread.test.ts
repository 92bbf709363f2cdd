/**
 * The delivery thread (PostgreSQL only: on PGlite the workers run in the API's thread): a thread
 * that stops unasked is started again, and deliveries go on from where they were.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import pino from 'pino';
import { startDeliveryThread, type DeliveryThread } from '../../src/webhooks/delivery-thread';
import { eventually } from '../support/eventually';
import { startTestApp, type TestApp } from '../support/harness';
import { serverTest } from '../support/on-server';
import { earn, enroll, ok } from './ledger-fixtures';

const CREATE = `mutation($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } } }`;

serverTest('a delivery thread that stops unasked is started again and delivers what was queued meanwhile', async () => {
  const t: TestApp = await startTestApp();
  const received: string[] = [];
  const receiver: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += String(c); });
    req.on('end', () => {
      try {
        received.push(JSON.parse(body).data.memberId);
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } }));
  const threads: Worker[] = [];
  const statusOf = async (memberId: string) => (await t.database.db.selectFrom('webhook_deliveries').select('status')
    .where('member_id', '=', memberId).executeTakeFirst())?.status;
  let thread: DeliveryThread | null = null;
  try {
    // The thread reads its settings from its environment, as in production: this test's schema.
    const schema = (await sql<{ schema: string }>`select current_schema() as schema`.execute(t.database.db)).rows[0]?.schema;
    const url = new URL(process.env.TEST_DATABASE_URL as string);
    url.searchParams.set('options', `-c search_path="${schema as string}"`);
    const env = { ...process.env, DATABASE_URL: url.toString(), WEBHOOK_POLL_MS: '20', NATS_URL: '' };
    ok(await t.gql(CREATE, { input: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, events: ['points.earned'] } }));
    thread = await startDeliveryThread(logger, { createWorker: (file, options) => { const w = new Worker(file, { ...options, env }); threads.push(w); return w; } });

    const before = await enroll(t, 'thread-before');
    await earn(t, before, 10);
    // Recorded as delivered, not only received: a delivery killed in between is sent again once its lease runs out.
    await eventually('the first thread delivers', async () => (await statusOf(before)) === 'DELIVERED', 10_000);

    await (threads[0] as Worker).terminate();
    const during = await enroll(t, 'thread-during');
    await earn(t, during, 20);
    await eventually('a second thread', () => threads.length === 2, 5_000);
    await eventually('the second thread delivers what was queued while none ran', () => received.includes(during), 15_000);
    const after = await enroll(t, 'thread-after');
    await earn(t, after, 30);
    await eventually('the second thread delivers what comes after', () => received.includes(after), 10_000);

    expect(received).toEqual([before, during, after]);
    expect(logLines.filter((l) => l.includes('webhook delivery thread stopped; starting it again'))).toHaveLength(1);
  } finally {
    await thread?.stop(1_000);
    await new Promise((resolve) => receiver.close(resolve));
    await t.close();
  }
  // Stopped when asked, the thread is not started again.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(threads).toHaveLength(2);
}, 60_000);

serverTest('a delivery thread that cannot start fails its start, and is not started again', async () => {
  const threads: Worker[] = [];
  const logger = pino({ level: 'silent' });
  const env = { ...process.env, DATABASE_URL: 'mysql://nowhere' };
  await expect(startDeliveryThread(logger, { createWorker: (file, options) => { const w = new Worker(file, { ...options, env }); threads.push(w); return w; } }))
    .rejects.toThrow();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(threads).toHaveLength(1);
}, 20_000);
