import { createHmac } from 'node:crypto';
import { entryEvent } from '../../src/ledger/ledger.rules';
import { afterAttempt, checkWebhook, failingForHorizon, isPrivateAddress, retryDelay, signature } from '../../src/webhooks/webhooks.rules';

const RETRY = { retryBaseMs: 5_000, maxDelayMs: 3_600_000, horizonMs: 86_400_000 };

describe('checkWebhook', () => {
  test('keeps the URL without its fragment, the events once, "*" alone', () => {
    const terms = checkWebhook({ url: ' https://crm.example.com/hooks?x=1#frag ', events: ['points.earned', 'points.earned', 'tier.changed'] }, { allowHttp: false, allowPrivate: false });
    expect([terms.url.href, terms.events, terms.description]).toEqual(['https://crm.example.com/hooks?x=1', ['points.earned', 'tier.changed'], null]);
    expect(checkWebhook({ url: 'https://a.example/x', events: ['points.earned', '*'] }, { allowHttp: false, allowPrivate: false }).events).toEqual(['*']);
  });

  test.each<[string, { url: string; events: string[]; description?: string }, boolean]>([
    ['url', { url: 'crm.example.com/hooks', events: ['*'] }, true],
    ['url', { url: 'ftp://crm.example.com/hooks', events: ['*'] }, true],
    ['url', { url: 'http://crm.example.com/hooks', events: ['*'] }, false],
    ['url', { url: 'https://u:p@crm.example.com/hooks', events: ['*'] }, true],
    ['url', { url: `https://crm.example.com/${'x'.repeat(2000)}`, events: ['*'] }, true],
    ['events', { url: 'https://crm.example.com/hooks', events: [] }, true],
    ['events', { url: 'https://crm.example.com/hooks', events: ['points.*'] }, true],
    ['description', { url: 'https://crm.example.com/hooks', events: ['*'], description: 'd'.repeat(501) }, true],
    ['url', { url: 'https://127.0.0.1/hooks', events: ['*'] }, false],
    ['url', { url: 'https://[::1]:8443/hooks', events: ['*'] }, false],
    ['url', { url: 'https://api.localhost/hooks', events: ['*'] }, false],
    ['url', { url: 'https://169.254.169.254/latest', events: ['*'] }, false],
  ])('refuses a bad %s', (field, input, allowHttp) => {
    expect(() => checkWebhook(input, { allowHttp, allowPrivate: false })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', details: { field } }));
  });

  test('http is taken where allowed', () => {
    expect(checkWebhook({ url: 'http://127.0.0.1:9000/x', events: ['*'] }, { allowHttp: true, allowPrivate: true }).url.protocol).toBe('http:');
  });
});

describe('retries', () => {
  test.each([
    // attempts failed, random in [0, 1), delay: 5 s ×3 per attempt, ±20 %, capped at 1 h
    [1, 0.5, 5_000],
    [2, 0.5, 15_000],
    [3, 0.5, 45_000],
    [1, 0, 4_000],
    [1, 0.999999, 6_000],
    [8, 0.5, 3_600_000],
    [8, 0.999999, 3_600_000],
    [8, 0, 2_880_000],
  ])('retryDelay after %i failed attempts (random %p) = %i ms', (attempts, random, expected) => {
    expect(retryDelay(attempts, random, RETRY)).toBe(expected);
  });

  const queuedAt = new Date('2026-03-01T00:00:00Z');
  const at = (ms: number) => new Date(queuedAt.getTime() + ms);
  test.each<[string, { ok: boolean; permanent?: boolean; attempts: number; now: Date }, unknown]>([
    ['a 2xx delivers', { ok: true, attempts: 4, now: at(1000) }, { status: 'DELIVERED' }],
    ['a failure is retried', { ok: false, attempts: 1, now: at(0) }, { status: 'PENDING', retryInMs: 5_000 }],
    ['a retry within the horizon', { ok: false, attempts: 20, now: at(RETRY.horizonMs - 3_600_000) }, { status: 'PENDING', retryInMs: 3_600_000 }],
    ['a retry past the horizon fails it', { ok: false, attempts: 20, now: at(RETRY.horizonMs - 3_599_999) }, { status: 'FAILED' }],
    ['a permanent failure fails it at once', { ok: false, permanent: true, attempts: 1, now: at(0) }, { status: 'FAILED' }],
  ])('%s', (_name, o, expected) => {
    expect(afterAttempt({ ...o, queuedAt, random: 0.5 }, RETRY)).toEqual(expected);
  });

  test.each([
    [null, true],
    [new Date('2026-02-28T23:59:59Z'), true],
    [new Date('2026-03-01T00:00:00Z'), false],
    [new Date('2026-03-01T06:00:00Z'), false],
  ])('an endpoint last succeeding at %p has failed for the horizon: %p', (lastSuccess, expected) => {
    expect(failingForHorizon(lastSuccess, queuedAt)).toBe(expected);
  });
});

test('signature is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
  const body = '{"id":"e1","type":"points.earned"}';
  const expected = createHmac('sha256', 'whsec_k').update(`1767225600.${body}`).digest('hex');
  expect(signature('whsec_k', 1767225600, body)).toBe(`t=1767225600,v1=${expected}`);
});

test.each([
  ['127.0.0.1', true], ['10.1.2.3', true], ['172.16.0.1', true], ['172.31.255.255', true], ['172.32.0.1', false],
  ['192.168.1.1', true], ['169.254.169.254', true], ['100.64.0.1', true], ['0.0.0.0', true], ['224.0.0.1', true],
  ['8.8.8.8', false], ['93.184.216.34', false],
  ['::1', true], ['::', true], ['fe80::1', true], ['fd12:3456::1', true], ['::ffff:127.0.0.1', true], ['::ffff:8.8.8.8', false],
  ['2606:4700::1111', false], ['not-an-ip', true],
  // IPv6 ranges that carry an IPv4 address elsewhere, and site-local.
  ['64:ff9b::7f00:1', true], ['64:ff9b:1::a00:1', true], ['2002:7f00:1::', true], ['::7f00:1', true], ['::ffff:0:7f00:1', true],
  ['fec0::1', true], ['::ffff:7f00:1', true],
])('isPrivateAddress(%p) = %p', (address, expected) => {
  expect(isPrivateAddress(address)).toBe(expected);
});

test.each([
  ['PURCHASE', 'points.earned'], ['EARN', 'points.earned'], ['BONUS', 'points.earned'], ['REDEEM', 'points.redeemed'],
  ['EXPIRE', 'points.expired'], ['ADJUST', 'points.adjusted'], ['REVERSAL', 'points.adjusted'], ['REFUND', 'points.adjusted'],
  ['TRANSFER_IN', 'points.adjusted'], ['TRANSFER_OUT', 'points.adjusted'],
] as const)('an entry of type %s is reported as %s', (type, event) => {
  expect(entryEvent(type)).toBe(event);
});
