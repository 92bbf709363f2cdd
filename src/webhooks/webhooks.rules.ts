/**
 * Events out, without I/O: which events exist, what a webhook may be, when a failed delivery is
 * tried again or given up, how a delivery is signed, and which addresses a receiver may not be on.
 */
import { createHmac } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { BadInputError } from '../errors';

/** The events the service sends (docs/webhooks.md has each one's data). */
export const EVENT_TYPES = [
  'member.enrolled', 'points.earned', 'points.redeemed', 'points.expired', 'points.expiring', 'points.adjusted',
  'tier.changed', 'reward.redeemed', 'referral.rewarded', 'complaint.filed', 'complaint.resolved',
] as const;

export interface WebhookTerms { url: URL; events: string[]; description: string | null }

/**
 * A webhook's terms, checked: an absolute http(s) URL without credentials (https only unless
 * `allowHttp`; not a private address or localhost unless `allowPrivate`), one or more known event
 * names or '*', a description of at most 500 characters. Where a host name resolves is checked
 * again each time a delivery is sent (delivery.ts send).
 */
export function checkWebhook(
  input: { url: string; events: readonly string[]; description?: string | null }, o: { allowHttp: boolean; allowPrivate: boolean },
): WebhookTerms {
  let url: URL;
  try {
    url = new URL(input.url.trim());
  } catch {
    throw new BadInputError('url must be an absolute http(s) URL', 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BadInputError('url must be http or https', 'url');
  if (url.protocol === 'http:' && !o.allowHttp) throw new BadInputError('url must be https (set WEBHOOK_ALLOW_HTTP=true to allow http)', 'url');
  if (url.username || url.password) throw new BadInputError('url must not carry credentials', 'url');
  if (url.href.length > 2000) throw new BadInputError('url must be at most 2000 characters', 'url');
  if (!o.allowPrivate && privateHost(url.hostname)) throw new BadInputError('url must not be on a private network or localhost (set WEBHOOK_ALLOW_PRIVATE=true to allow it)', 'url');
  url.hash = '';
  const events = [...new Set(input.events.map((e) => e.trim()))];
  if (events.length === 0) throw new BadInputError('events must name at least one event, or "*"', 'events');
  const unknown = events.find((e) => e !== '*' && !(EVENT_TYPES as readonly string[]).includes(e));
  if (unknown !== undefined) throw new BadInputError(`Unknown event "${unknown}": one of ${EVENT_TYPES.join(', ')}, or "*"`, 'events');
  const description = input.description?.trim() || null;
  if (description !== null && description.length > 500) throw new BadInputError('description must be at most 500 characters', 'description');
  return { url, events: events.includes('*') ? ['*'] : events, description };
}

/** Whether a URL's host is localhost, or an address literal that isPrivateAddress refuses. */
function privateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && isPrivateAddress(host);
}

export interface RetrySettings { retryBaseMs: number; maxDelayMs: number; horizonMs: number }

/**
 * The delay before the attempt after `attempts` failed ones: retryBaseMs ×3 per attempt, ±20 %
 * (`random` in [0, 1) picks where), at most maxDelayMs.
 */
export function retryDelay(attempts: number, random: number, s: Pick<RetrySettings, 'retryBaseMs' | 'maxDelayMs'>): number {
  const plain = Math.min(s.retryBaseMs * 3 ** Math.max(0, attempts - 1), s.maxDelayMs);
  return Math.round(Math.min(plain * (0.8 + 0.4 * random), s.maxDelayMs));
}

export type DeliveryStep =
  | { status: 'DELIVERED' }
  | { status: 'PENDING'; retryInMs: number }
  | { status: 'FAILED' };

/**
 * What becomes of a delivery after an attempt: a 2xx answer delivers it; otherwise it is tried
 * again after retryDelay, unless that would fall past the horizon from when the event was queued,
 * or the failure is `permanent`, when it has FAILED.
 */
export function afterAttempt(
  o: { ok: boolean; permanent?: boolean; attempts: number; queuedAt: Date; now: Date; random: number }, s: RetrySettings,
): DeliveryStep {
  if (o.ok) return { status: 'DELIVERED' };
  // A failure no retry can mend (a receiver on an address it may not be on) fails at once.
  if (o.permanent) return { status: 'FAILED' };
  const retryInMs = retryDelay(o.attempts, o.random, s);
  if (o.now.getTime() + retryInMs > o.queuedAt.getTime() + s.horizonMs) return { status: 'FAILED' };
  return { status: 'PENDING', retryInMs };
}

/**
 * Whether an endpoint has failed for the whole horizon, once a delivery queued at `queuedAt` has
 * FAILED (it was retried until its next try would fall past the horizon): no delivery to it has
 * succeeded since that one was queued.
 */
export function failingForHorizon(lastSuccess: Date | null, queuedAt: Date): boolean {
  return lastSuccess === null || lastSuccess.getTime() < queuedAt.getTime();
}

/** The Milepost-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signature(secret: string, unixSeconds: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

// Addresses a receiver may not be on outside development: loopback, private networks, link-local,
// carrier-grade NAT, "this network", multicast and the unspecified address, in IPv4 and IPv6
// (IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry), and the IPv6 ranges
// that carry an IPv4 address to another network (NAT64, 6to4, IPv4-compatible, SIIT) or are
// deprecated site-local: any of them may lead to a private IPv4 host.
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv6');

/** Whether `address` (an IP literal) is loopback, private, link-local or otherwise not a public receiver's. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
