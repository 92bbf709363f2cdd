import {
  acceptedSecrets, checkPartnerInput, checkSettlementWindow, isRefusal, parseBasicAuth, pointsWorth, readTokenRequest, settlementCsv, settlementOf,
  type SettlementTotals,
} from '../../src/partners/partners.rules';
import { hashSecret, newSecret, secretMatches } from '../../src/partners/partners.secrets';
import { earning } from '../../src/points/earning.rules';
import type { ProgramView, TierView } from '../../src/program/program.types';

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

describe('partner input', () => {
  test.each([
    [{ partnerId: 'acme', name: 'Acme' }, { partnerId: 'acme', name: 'Acme', earnRate: null, personalData: false }],
    [{ partnerId: '  P-1.b_2 ', name: ' Hotel ', earnRate: '2.5', personalData: true }, { partnerId: 'P-1.b_2', name: 'Hotel', earnRate: '2.5000', personalData: true }],
    [{ partnerId: 'x'.repeat(64), name: 'n', earnRate: '0' }, { partnerId: 'x'.repeat(64), earnRate: '0.0000' }],
    [{ partnerId: 'a', name: 'n', earnRate: '1000' }, { earnRate: '1000.0000' }],
  ])('%j is accepted', (input, expected) => {
    expect(checkPartnerInput(input)).toMatchObject(expected);
  });

  test.each([
    [{ partnerId: '', name: 'n' }, 'partnerId'],
    [{ partnerId: 'x'.repeat(65), name: 'n' }, 'partnerId'],
    [{ partnerId: '_lead', name: 'n' }, 'partnerId'],
    [{ partnerId: 'a b', name: 'n' }, 'partnerId'],
    [{ partnerId: 'a/b', name: 'n' }, 'partnerId'],
    [{ partnerId: 'a:b', name: 'n' }, 'partnerId'],
    [{ partnerId: 'a', name: ' ' }, 'name'],
    [{ partnerId: 'a', name: 'n'.repeat(201) }, 'name'],
    [{ partnerId: 'a', name: 'n', earnRate: '1000.0001' }, 'earnRate'],
    [{ partnerId: 'a', name: 'n', earnRate: '-0.5' }, 'earnRate'],
    [{ partnerId: 'a', name: 'n', earnRate: '0.00001' }, 'earnRate'],
    [{ partnerId: 'a', name: 'n', earnRate: 'two' }, 'earnRate'],
  ])('%j is BAD_USER_INPUT on %s', (input, field) => {
    expect(() => checkPartnerInput(input)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', details: { field } }));
  });
});

describe('HTTP Basic client authentication (RFC 6749 §2.3.1)', () => {
  test.each([
    [undefined, null],
    ['', null],
    ['Bearer abc', null],
    [basic('acme:s3cret'), { clientId: 'acme', clientSecret: 's3cret' }],
    [basic('acme:with:colons'), { clientId: 'acme', clientSecret: 'with:colons' }],
    [basic('a%20b:p%2Bq+r'), { clientId: 'a b', clientSecret: 'p+q r' }],
    [basic('acme:'), { clientId: 'acme', clientSecret: '' }],
    [`basic   ${Buffer.from('x:y').toString('base64')}`, { clientId: 'x', clientSecret: 'y' }],
    [basic('no-colon'), 'malformed'],
    ['Basic', 'malformed'],
    ['Basic !!!', 'malformed'],
    ['Basic YWJj', 'malformed'],
    [basic('bad%zzescape:x'), 'malformed'],
  ])('%j reads as %j', (header, expected) => {
    expect(parseBasicAuth(header)).toEqual(expected);
  });
});

describe('token requests', () => {
  const good = { grant_type: 'client_credentials', client_id: 'acme', client_secret: 's' };
  test.each([
    ['body credentials', good, undefined, { clientId: 'acme', clientSecret: 's', basic: false }],
    ['Basic credentials', { grant_type: 'client_credentials' }, basic('acme:s'), { clientId: 'acme', clientSecret: 's', basic: true }],
    ['Basic with the same client_id in the body', { grant_type: 'client_credentials', client_id: 'acme' }, basic('acme:s'), { clientId: 'acme', basic: true }],
    ['a scope, ignored', { ...good, scope: 'anything' }, undefined, { clientId: 'acme', basic: false }],
    ['no body', undefined, undefined, { error: 'invalid_request' }],
    ['no grant_type', { client_id: 'acme', client_secret: 's' }, undefined, { error: 'invalid_request' }],
    ['another grant', { ...good, grant_type: 'password' }, undefined, { error: 'unsupported_grant_type' }],
    ['grant_type twice', { ...good, grant_type: ['client_credentials', 'client_credentials'] }, undefined, { error: 'invalid_request' }],
    ['a number as secret', { ...good, client_secret: 5 }, undefined, { error: 'invalid_request' }],
    ['no client at all', { grant_type: 'client_credentials' }, undefined, { error: 'invalid_client', basic: false }],
    ['no secret', { grant_type: 'client_credentials', client_id: 'acme' }, undefined, { error: 'invalid_client' }],
    ['a malformed Basic header', { grant_type: 'client_credentials' }, 'Basic !!', { error: 'invalid_client', basic: true }],
    ['Basic and a body secret', good, basic('acme:s'), { error: 'invalid_request', basic: true }],
    ['Basic naming another client than the body', { grant_type: 'client_credentials', client_id: 'other' }, basic('acme:s'), { error: 'invalid_request' }],
  ])('%s', (_name, body, header, expected) => {
    const read = readTokenRequest(body, header);
    expect(read).toMatchObject(expected);
    expect(isRefusal(read)).toBe('error' in expected);
  });
});

describe('secrets', () => {
  const hash = { secret_hash: 'new', previous_secret_hash: 'old' };
  const at = (iso: string) => new Date(iso);
  test.each([
    ['no previous secret', { secret_hash: 'new', previous_secret_hash: null, previous_secret_expires_at: null }, ['new']],
    ['within the overlap', { ...hash, previous_secret_expires_at: at('2031-01-02T00:00:00Z') }, ['new', 'old']],
    ['at its end', { ...hash, previous_secret_expires_at: at('2031-01-01T12:00:00Z') }, ['new']],
    ['after it', { ...hash, previous_secret_expires_at: at('2031-01-01T11:00:00Z') }, ['new']],
  ])('%s', (_name, partner, expected) => {
    expect(acceptedSecrets(partner, at('2031-01-01T12:00:00Z'))).toEqual(expected);
  });

  test('a secret has 256 random bits, is stored salted, and matches only itself', async () => {
    const secret = newSecret();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(newSecret()).not.toBe(secret);
    const [one, two] = [await hashSecret(secret), await hashSecret(secret)];
    expect(one).not.toBe(two);
    expect(one).not.toContain(secret);
    expect(await secretMatches(secret, one)).toBe(true);
    expect(await secretMatches(secret, two)).toBe(true);
    expect(await secretMatches(`${secret}x`, one)).toBe(false);
    expect(await secretMatches(secret, 'plain-text')).toBe(false);
  });

  test('secrets are checked one at a time: with 64 waiting, the next check is refused RATE_LIMITED, and the gate opens again', async () => {
    const cheap = `scrypt$16$1$1$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`;
    const checks = Array.from({ length: 70 }, () => secretMatches('guess', cheap).then(() => 'checked', (error) => error.code));
    const results = await Promise.all(checks);
    expect(results.filter((r) => r === 'checked')).toHaveLength(65);
    expect(results.slice(65)).toEqual(Array(5).fill('RATE_LIMITED'));
    expect(await secretMatches('guess', cheap)).toBe(false);
  });
});

describe('settlement', () => {
  test.each([
    ['from before to', '2031-01-01T00:00:00Z', '2031-01-01T00:00:01Z', null],
    ['366 days', '2031-01-01T00:00:00Z', '2032-01-02T00:00:00Z', null],
    ['one day too long', '2031-01-01T00:00:00Z', '2032-01-03T00:00:00Z', 'to'],
    ['from equal to to', '2031-01-01T00:00:00Z', '2031-01-01T00:00:00Z', 'from'],
    ['from after to', '2031-02-01T00:00:00Z', '2031-01-01T00:00:00Z', 'from'],
    ['an invalid from', 'nonsense', '2031-01-01T00:00:00Z', 'from'],
  ])('a window %s', (_name, from, to, field) => {
    const check = () => checkSettlementWindow(new Date(from), new Date(to));
    if (field === null) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', details: { field } }));
  });

  test.each([
    [0, '0.01', '0.00'],
    [150, '0.01', '1.50'],
    [1, '0.005', '0.01'],
    [1, '0.004999', '0.00'],
    [3, '0.333333', '1.00'],
    [-1, '0.005', '-0.01'],
    [-40, '0.01', '-0.40'],
    [2_000_000_000, '0.012345', '24690000.00'],
  ])('%i points at %s are worth %s', (points, pointValue, worth) => {
    expect(pointsWorth(points, pointValue)).toBe(worth);
  });

  const totals = (over: Partial<SettlementTotals>): SettlementTotals => ({ issued: 0, redeemed: 0, reversed: 0, clawedBack: 0, purchases: 0, redemptions: 0, ...over });
  const window = { partnerId: 'acme', from: new Date('2031-03-01T00:00:00Z'), to: new Date('2031-04-01T00:00:00Z') };
  const program = { pointValue: '0.010000', currency: 'EUR' };

  test.each([
    ['nothing', totals({}), { pointsIssued: 0, pointsRedeemed: 0, issuedValue: '0.00', redeemedValue: '0.00', clawedBackValue: '0.00' }],
    ['redemptions net of their reversals', totals({ issued: 150, redeemed: 50, reversed: 10, clawedBack: 110, purchases: 1, redemptions: 2 }),
      { pointsIssued: 150, pointsRedeemed: 40, pointsReversed: 10, pointsClawedBack: 110, purchases: 1, redemptions: 2, issuedValue: '1.50', redeemedValue: '0.40', clawedBackValue: '1.10' }],
    ['a reversal of an earlier window nets below zero', totals({ reversed: 30 }), { pointsRedeemed: -30, redeemedValue: '-0.30' }],
  ])('%s', (_name, sums, expected) => {
    expect(settlementOf(window, sums, program)).toMatchObject({ ...expected, partnerId: 'acme', currency: 'EUR', pointValue: '0.010000' });
  });

  test('the CSV is one header line and one line of figures', () => {
    const csv = settlementCsv(settlementOf(window, totals({ issued: 150, redeemed: 50, reversed: 10, clawedBack: 110, purchases: 1, redemptions: 2 }), program));
    expect(csv).toBe(
      'partnerId,from,to,pointsIssued,pointsRedeemed,pointsReversed,pointsClawedBack,purchases,redemptions,issuedValue,redeemedValue,clawedBackValue,currency,pointValue\r\n'
      + 'acme,2031-03-01T00:00:00.000Z,2031-04-01T00:00:00.000Z,150,40,10,110,1,2,1.50,0.40,1.10,EUR,0.010000\r\n',
    );
  });
});

describe('earning at a partner rate', () => {
  const tier = { code: 'MEMBER', name: 'Member', earn_multiplier: '1.500' } as unknown as TierView;
  const program = { earn_rate: '1.0000', points_name: 'points', currency: 'USD', tiers: [tier] } as unknown as ProgramView;
  test.each([
    ['the programme rate', null, 1234n, { base: 12, total: 18, description: '1 points per USD' }],
    ['a partner rate', '3.0000', 1234n, { base: 37, total: 55, description: '3 points per USD (partner rate)' }],
    ['a fractional partner rate', '0.2500', 1234n, { base: 3, total: 4, description: '0.25 points per USD (partner rate)' }],
    ['a zero partner rate', '0.0000', 1234n, { base: 0, total: 0, description: '0 points per USD (partner rate)' }],
  ])('%s', (_name, rate, cents, expected) => {
    const earned = earning(program, cents, tier, rate);
    expect(earned).toMatchObject({ base: expected.base, total: expected.total });
    expect(earned.breakdown[0]).toMatchObject({ source: 'BASE', description: expected.description, points: expected.base });
  });
});
