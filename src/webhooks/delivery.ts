/**
 * The delivery workers: claim due deliveries (webhooks.repo claimDue), send each as a signed POST,
 * record the attempt, and retry with backoff until the horizon. Safe with any number of instances
 * (claims skip each other's rows and hold a lease), at least once (a worker that dies mid-send
 * leaves its claim to lapse, and the delivery is sent again). Runs beside the API, never in a
 * request: a slow or failing receiver holds only a worker slot.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import type { WebhookSettings } from '../config';
import { sharedLoader } from '../db/batch';
import type { Db } from '../db/database';
import * as repo from './webhooks.repo';
import { STREAM_TARGET_ID, isStreamTarget, type EventStream } from './stream';
import { afterAttempt, failingForHorizon, isPrivateAddress, signature } from './webhooks.rules';

export interface DeliveryDeps {
  db: Db;
  settings: WebhookSettings;
  /** Where events also go when NATS_URL is set (stream.ts); null or absent, this worker leaves the stream's deliveries to others. */
  stream?: EventStream | null;
  logger?: Logger;
  /** Wall-clock time: deliveries meet real receivers (never the service's test clock). */
  now?: () => Date;
  random?: () => number;
}

export interface SendResult {
  /** Taken: a 2xx answer, or the stream's acknowledgement. */
  ok: boolean;
  /** A failure no retry can mend (the receiver is on an address it may not be on). */
  permanent?: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** The delivery's body, exactly as signed and sent. */
export function deliveryBody(event: { id: string; type: string; createdAt: Date; data: unknown }): string {
  return JSON.stringify({ id: event.id, type: event.type, createdAt: event.createdAt.toISOString(), data: event.data });
}

/**
 * POSTs `body` to `url` with the signature and delivery headers. The host is resolved here, and
 * the connection made to the address checked (so a name cannot point elsewhere between the check
 * and the send); a private address is refused unless allowed. No answer within timeoutMs is a
 * failure; the answer's body is read and dropped.
 */
export async function send(url: string, body: string, headers: Record<string, string>, s: Pick<WebhookSettings, 'timeoutMs' | 'allowPrivate'>): Promise<SendResult> {
  const started = performance.now();
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 4);
      const list = addresses as LookupAddress[];
      const refused = s.allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
      if (refused) return callback(Object.assign(new Error(`receiver address ${refused.address} is private (WEBHOOK_ALLOW_PRIVATE)`), { code: 'EPRIVATE' }), '', 4);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
  // A host written as an address is connected to without a lookup: it is checked here.
  const literal = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!s.allowPrivate && isIP(literal) !== 0 && isPrivateAddress(literal)) {
    return { ok: false, permanent: true, statusCode: null, error: `EPRIVATE: receiver address ${literal} is private (WEBHOOK_ALLOW_PRIVATE)`, durationMs: 0 };
  }
  return new Promise<SendResult>((resolve) => {
    const done = (statusCode: number | null, error: string | null, permanent = false) => resolve({
      ok: error === null && statusCode !== null && statusCode >= 200 && statusCode < 300, permanent, statusCode, error, durationMs: Math.round(performance.now() - started),
    });
    const req = request(target, {
      method: 'POST', lookup, signal: AbortSignal.timeout(s.timeoutMs),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body).toString(), 'user-agent': 'Milepost-Webhooks/1', ...headers },
    }, (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? null, null));
      res.on('error', (error) => done(res.statusCode ?? null, error.message));
    });
    req.on('error', (error: Error & { code?: string }) => {
      const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError';
      done(null, timedOut ? `no answer within ${s.timeoutMs} ms` : `${error.code ?? error.name}: ${error.message}`, error.code === 'EPRIVATE');
    });
    req.end(body);
  });
}

/** Publishes a delivery to the event stream; a publish JetStream did not acknowledge is a failed attempt. */
async function publish(stream: EventStream | null | undefined, d: repo.Claimed, body: string, timeoutMs: number): Promise<SendResult> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  if (!stream) return { ok: false, statusCode: null, error: 'this instance has no NATS_URL', durationMs: 0 };
  try {
    await stream.publish(d.type, d.event_id, body, timeoutMs);
    return { ok: true, statusCode: null, error: null, durationMs: took() };
  } catch (error) {
    return { ok: false, statusCode: null, error: `NATS: ${(error as Error).message}`, durationMs: took() };
  }
}

/** Sends one claimed delivery and answers what came of it (to be recorded by the caller). */
async function attempt(d: repo.Claimed, deps: DeliveryDeps): Promise<repo.AttemptOutcome> {
  const now = deps.now ?? (() => new Date());
  const body = deliveryBody({ id: d.event_id, type: d.type, createdAt: d.event_created_at, data: d.data });
  const sentAt = now();
  const result = isStreamTarget(d.webhook_id)
    ? await publish(deps.stream, d, body, deps.settings.timeoutMs)
    : await send(d.url, body, {
      'milepost-signature': signature(d.secret, Math.floor(sentAt.getTime() / 1000), body),
      'milepost-event-id': d.event_id, 'milepost-event-type': d.type, 'milepost-delivery-id': d.id, 'milepost-attempt': String(d.attempts + 1),
    }, deps.settings);
  const { ok } = result;
  const step = afterAttempt({ ok, permanent: result.permanent, attempts: d.attempts + 1, queuedAt: d.created_at, now: now(), random: (deps.random ?? Math.random)() }, deps.settings);
  return {
    status: step.status, retryInMs: step.status === 'PENDING' ? step.retryInMs : null, statusCode: result.statusCode,
    error: ok ? null : (result.error ?? `HTTP ${result.statusCode}`), durationMs: result.durationMs,
  };
}

/** After a delivery failed for good: disables its webhook when no delivery to it has succeeded for the whole horizon. */
async function failedForGood(d: repo.Claimed, deps: DeliveryDeps): Promise<void> {
  deps.logger?.warn({ webhookId: d.webhook_id, deliveryId: d.id, eventId: d.event_id, attempts: d.attempts + 1 }, 'webhook delivery failed for good');
  if (failingForHorizon(await repo.lastSuccess(deps.db, d.webhook_id), d.created_at)) {
    const reason = `disabled: no delivery succeeded for ${Math.round(deps.settings.horizonMs / 3_600_000 * 10) / 10} h`;
    if (await repo.disable(deps.db, d.webhook_id, reason)) deps.logger?.warn({ webhookId: d.webhook_id, reason }, 'webhook disabled');
  }
}

export interface Worker {
  /** Looks for due deliveries now instead of at the next poll. */
  kick(): void;
  /** Stops claiming and waits for the deliveries in flight, at most `graceMs`; one cut short is sent again once its claim lapses. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a worker: it claims as many due deliveries as it has free slots (settings.concurrency),
 * sends them, and records what came of them. While claims come back full (a backlog), it claims
 * again as soon as half its slots are free; once one comes back short, it looks again after
 * pollMs, so deliveries arriving meanwhile are claimed together rather than one claim each.
 * Claiming for many slots at once and recording many attempts in one statement keep the
 * database's share of a delivery small. A claim holds a delivery for its timeout and a margin; a
 * worker that dies leaves it to be claimed again when that runs out.
 */
export function startWorker(deps: DeliveryDeps): Worker {
  const { settings, logger } = deps;
  const inFlight = new Set<Promise<unknown>>();
  const leaseMs = settings.timeoutMs + 20_000;
  // Attempts that finish while one statement of them is on its way go together in the next
  // (db/batch.ts); a lone one is recorded at once.
  const log = sharedLoader<repo.Attempted, null>(async (attempts) => {
    await repo.recordAttempts(deps.db, attempts);
    return attempts.map(() => null);
  }, { maxBatchSize: settings.concurrency });
  /** Free slots worth a claim while deliveries are in flight. */
  const refillAt = Math.max(1, Math.floor(settings.concurrency / 2));
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let claiming: Promise<void> | null = null;
  let again = false;
  /** Whether the last claim took all it asked for: more may be due, and freed slots are filled at once. */
  let backlog = false;

  const schedule = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; void claim(); }, ms);
  };

  const deliver = async (d: repo.Claimed): Promise<void> => {
    const outcome = await attempt(d, deps);
    await log.load({ delivery: d, outcome });
    if (outcome.status === 'FAILED') await failedForGood(d, deps);
  };

  const claimOnce = async (): Promise<void> => {
    const free = settings.concurrency - inFlight.size;
    if (free <= 0) return;
    const claimed = await repo.claimDue(deps.db, free, leaseMs, { streamTarget: STREAM_TARGET_ID, publishes: Boolean(deps.stream) });
    backlog = claimed.length === free;
    for (const d of claimed) {
      const sending = deliver(d)
        .catch((error: unknown) => logger?.error({ err: error, deliveryId: d.id }, 'webhook delivery could not be recorded'))
        .finally(() => {
          inFlight.delete(sending);
          if (backlog && settings.concurrency - inFlight.size >= refillAt) schedule(0);
        });
      inFlight.add(sending);
    }
  };

  // One claim at a time. The claim is forgotten once it has settled, whether it returned at once
  // (every slot busy) or after its statement: a reset done inside the claim itself would run
  // before the claim was recorded when it returns without waiting, and no claim would follow.
  // Slots freed while a claim is on its way are claimed for right after it.
  const claim = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (claiming) {
      again = true;
      return claiming;
    }
    again = false;
    claiming = claimOnce()
      .catch((error: unknown) => { if (!stopped) logger?.error({ err: error }, 'claiming webhook deliveries failed'); })
      .finally(() => {
        claiming = null;
        if (!timer) schedule(again ? 0 : settings.pollMs);
      });
    return claiming;
  };

  schedule(0);
  return {
    kick: () => schedule(0),
    async stop(graceMs = 5_000) {
      stopped = true;
      if (timer) clearTimeout(timer);
      await claiming;
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(inFlight), new Promise((resolve) => { grace = setTimeout(resolve, graceMs); })]);
      clearTimeout(grace);
    },
  };
}
