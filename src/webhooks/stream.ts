/**
 * The optional event stream for analytics pipelines: with NATS_URL set, every event of the outbox
 * is also published to NATS JetStream, on `<prefix>.<event name>` in a stream the service creates
 * when missing. The stream is one more delivery target beside the webhooks (a row of `webhooks`
 * whose URL is nats://…, subscribed to "*"), so it is fed from the same outbox, at least once, in
 * each member's order, with the same retries and log; JetStream drops a duplicate publish within
 * its window by the event id (Nats-Msg-Id).
 */
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { Db } from '../db/database';
import * as repo from './webhooks.repo';

/** The stream's row in `webhooks`: one per database, whatever the instances. */
export const STREAM_TARGET_ID = '00000000-0000-4000-8000-00000000e7e5';

export interface StreamSettings {
  /** NATS_URL: unset, there is no stream. */
  url: string | null;
  /** NATS_STREAM: the JetStream stream's name. */
  stream: string;
  /** NATS_SUBJECT_PREFIX: events go to `<prefix>.<event name>`. */
  subjectPrefix: string;
}

export interface EventStream {
  /** Publishes one event's body, answered once JetStream has stored it (or found it a duplicate). */
  publish(type: string, eventId: string, body: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** How long a close waits for what is buffered to leave before it drops the connection. */
const DRAIN_MS = 2_000;

/**
 * Connects to NATS and makes sure the stream exists; null when no NATS_URL is set. A connection
 * lost later is tried again for as long as the process runs (every `reconnectWaitMs`, 2 s by
 * default): the stream's deliveries fail and wait in the outbox meanwhile, and go once it is back.
 */
export async function openStream(settings: StreamSettings, { reconnectWaitMs = 2_000 } = {}): Promise<EventStream | null> {
  if (!settings.url) return null;
  const nc: NatsConnection = await connect({ servers: settings.url, name: 'milepost', maxReconnectAttempts: -1, reconnectTimeWait: reconnectWaitMs });
  try {
    const jsm = await nc.jetstreamManager();
    const subjects = [`${settings.subjectPrefix}.>`];
    try {
      await jsm.streams.info(settings.stream);
    } catch {
      await jsm.streams.add({ name: settings.stream, subjects });
    }
  } catch (error) {
    await nc.close();
    throw error;
  }
  const js: JetStreamClient = nc.jetstream();
  const encoder = new TextEncoder();
  return {
    async publish(type, eventId, body, timeoutMs) {
      await js.publish(`${settings.subjectPrefix}.${type}`, encoder.encode(body), { msgID: eventId, timeout: timeoutMs });
    },
    // Drained when the server is there (what is buffered leaves first); a connection that is
    // closed already, or cannot drain while NATS is away, is simply closed.
    async close() {
      if (nc.isClosed()) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([nc.drain(), new Promise((resolve) => { timer = setTimeout(resolve, DRAIN_MS); })]).catch(() => undefined);
      clearTimeout(timer);
      await nc.close();
    },
  };
}

/**
 * The event stream, where NATS_URL is set. NATS unreachable at start does not stop the API: this
 * instance then publishes nothing, and the stream's deliveries wait in the outbox for one that does.
 */
export async function connectStream(settings: StreamSettings, logger: Logger): Promise<EventStream | null> {
  if (!settings.url) return null;
  try {
    const stream = await openStream(settings);
    logger.info({ stream: settings.stream }, 'publishing events to NATS JetStream');
    return stream;
  } catch (error) {
    logger.error({ err: error }, 'NATS JetStream unreachable: this instance publishes no events to it');
    return null;
  }
}

/**
 * The stream's delivery target, switched on where this instance publishes (NATS_URL set) and off
 * where it does not (a database that never had a stream has no such row): events are queued for
 * the stream only while it is on. Every instance should be configured alike.
 */
export async function syncStreamTarget(db: Db, settings: StreamSettings, at: Date): Promise<void> {
  if (settings.url === null) {
    await repo.switchTarget(db, STREAM_TARGET_ID, false, at);
    return;
  }
  await repo.upsertTarget(db, {
    id: STREAM_TARGET_ID, url: `nats://${settings.stream}/${settings.subjectPrefix}`, events: ['*'],
    description: 'NATS JetStream stream (NATS_URL)', at,
  });
  await repo.switchTarget(db, STREAM_TARGET_ID, true, at);
}

/** Whether a claimed delivery goes to the stream rather than to a webhook. */
export function isStreamTarget(webhookId: string): boolean {
  return webhookId === STREAM_TARGET_ID;
}
