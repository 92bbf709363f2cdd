/**
 * Registered partners end to end: the registry, the client-credentials token endpoint and its
 * secret rotation, the per-request check of a PARTNER token's partner, partner earn rates, and
 * the settlement over GraphQL and as CSV.
 */
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { sql } from 'kysely';
import { startTestApp, codes, type TestApp } from '../support/harness';
import {
  DEFAULT_PROGRAM, EARN, PURCHASE, REDEEM, REFUND, REVERSE, STATEMENT, enroll, errorCode, key, ok, setClock, updateProgram,
} from './ledger-fixtures';

const PARTNER_FIELDS = 'partnerId name active earnRate personalData createdAt previousSecretExpiresAt';
const CREATE = `mutation($input: PartnerInput!) { createPartner(input: $input) { clientId clientSecret partner { ${PARTNER_FIELDS} } } }`;
const ROTATE = `mutation($id: String!) { rotatePartnerSecret(partnerId: $id) { clientId clientSecret partner { ${PARTNER_FIELDS} } } }`;
const SET_ACTIVE = `mutation($id: String!, $active: Boolean!) { setPartnerActive(partnerId: $id, active: $active) { ${PARTNER_FIELDS} } }`;
const UPDATE = `mutation($id: String!, $input: PartnerUpdateInput!) { updatePartner(partnerId: $id, input: $input) { ${PARTNER_FIELDS} } }`;
const LIST = `{ partners { ${PARTNER_FIELDS} } }`;
const SETTLEMENT = `query($id: String!, $from: DateTime!, $to: DateTime!) { partnerSettlement(partnerId: $id, from: $from, to: $to) {
  partnerId from to pointsIssued pointsRedeemed pointsReversed pointsClawedBack purchases redemptions issuedValue redeemedValue clawedBackValue currency pointValue } }`;
const QUOTE = `query($input: RecordPurchaseInput!) { quoteEarn(input: $input) { points breakdown { source description points } } }`;
const ENROLL_AS = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });
beforeEach(async () => { await updateProgram(t, { ...DEFAULT_PROGRAM, pointValue: '0.01' }); });

interface Credentials { clientId: string; clientSecret: string; partner: Record<string, any> }

async function createPartner(input: Record<string, unknown>): Promise<Credentials> {
  return ok(await t.gql(CREATE, { input: { name: `Partner ${String(input.partnerId)}`, ...input } })).createPartner;
}

/** A fresh partner id, so tests share no partner. */
function partnerId(prefix: string): string {
  return key(prefix).slice(0, 40);
}

function tokenForm(fields: Record<string, string>) {
  return t.request().post('/oauth/token').type('form').send(fields);
}

async function exchange(clientId: string, clientSecret: string): Promise<string> {
  const res = await tokenForm({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

function basic(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

async function purchase(memberId: string, amount: string, token: string, orderId = key('order')): Promise<Record<string, any>> {
  return ok(await t.gql(PURCHASE, { input: { memberId, orderId, amount, currency: 'USD' } }, token)).recordPurchase;
}

describe('the token endpoint', () => {
  test('a registered partner trades its credentials (form, JSON or Basic) for a PARTNER token that works on /graphql', async () => {
    const id = partnerId('tok');
    const created = await createPartner({ partnerId: id, name: 'Acme Air', earnRate: '2' });
    expect(created.clientId).toBe(id);
    expect(created.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.partner).toMatchObject({ partnerId: id, name: 'Acme Air', active: true, earnRate: '2.0000', personalData: false, previousSecretExpiresAt: null });

    const form = await tokenForm({ grant_type: 'client_credentials', client_id: id, client_secret: created.clientSecret });
    expect(form.status).toBe(200);
    expect(form.headers['cache-control']).toBe('no-store');
    expect(form.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900 });
    const claims = jwt.decode(form.body.access_token) as jwt.JwtPayload;
    expect(claims).toMatchObject({ role: 'PARTNER', sub: id, partnerId: id, iss: 'milepost', aud: 'milepost-api' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.personalData).toBeUndefined();

    const json = await t.request().post('/oauth/token').set('content-type', 'application/json')
      .send({ grant_type: 'client_credentials', client_id: id, client_secret: created.clientSecret });
    expect(json.status).toBe(200);
    const viaBasic = await t.request().post('/oauth/token').set('authorization', basic(id, created.clientSecret)).type('form').send({ grant_type: 'client_credentials' });
    expect(viaBasic.status).toBe(200);

    for (const token of [form.body.access_token, json.body.access_token, viaBasic.body.access_token]) {
      const member = ok(await t.gql(ENROLL_AS, { input: { externalId: key('tok-member') } }, token)).enrollMember.id;
      const earned = ok(await t.gql(EARN, { input: { memberId: member, points: 5, reason: 'welcome', idempotencyKey: key() } }, token)).earnPoints;
      expect(earned).toMatchObject({ points: 5, partnerId: id });
    }

    // Only a salted hash is kept, and the list never shows a secret.
    const { rows } = await sql<{ secret_hash: string }>`select secret_hash from partners where partner_id = ${id}`.execute(t.database.db);
    expect(rows[0]!.secret_hash).toMatch(/^scrypt\$/);
    expect(rows[0]!.secret_hash).not.toContain(created.clientSecret);
    const listed = ok(await t.gql(LIST)).partners.find((p: { partnerId: string }) => p.partnerId === id);
    expect(listed).toMatchObject({ partnerId: id, active: true });
    expect(JSON.stringify(ok(await t.gql(LIST)))).not.toContain(created.clientSecret);
  });

  test('a partner registered with personalData gets tokens that carry it', async () => {
    const id = partnerId('crm');
    const { clientSecret } = await createPartner({ partnerId: id, personalData: true });
    const claims = jwt.decode(await exchange(id, clientSecret)) as jwt.JwtPayload;
    expect(claims.personalData).toBe(true);
  });

  test('bad credentials are HTTP 401 invalid_client; a wrong or missing grant_type is HTTP 400', async () => {
    const id = partnerId('bad');
    const { clientSecret } = await createPartner({ partnerId: id });
    const wrong = await tokenForm({ grant_type: 'client_credentials', client_id: id, client_secret: `${clientSecret.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: 'invalid_client' });
    expect(wrong.body.access_token).toBeUndefined();
    expect(wrong.headers['cache-control']).toBe('no-store');
    expect(wrong.headers['www-authenticate']).toBeUndefined();

    const wrongBasic = await t.request().post('/oauth/token').set('authorization', basic(id, 'not-the-secret')).type('form').send({ grant_type: 'client_credentials' });
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.body).toMatchObject({ error: 'invalid_client' });
    expect(wrongBasic.headers['www-authenticate']).toMatch(/^Basic/);

    const unknown = await tokenForm({ grant_type: 'client_credentials', client_id: 'no-such-partner', client_secret: clientSecret });
    expect([unknown.status, unknown.body.error]).toEqual([401, 'invalid_client']);
    const noClient = await tokenForm({ grant_type: 'client_credentials' });
    expect([noClient.status, noClient.body.error]).toEqual([401, 'invalid_client']);

    const password = await tokenForm({ grant_type: 'password', client_id: id, client_secret: clientSecret });
    expect([password.status, password.body.error]).toEqual([400, 'unsupported_grant_type']);
    const missing = await tokenForm({ client_id: id, client_secret: clientSecret });
    expect([missing.status, missing.body.error]).toEqual([400, 'invalid_request']);
    const twoWays = await t.request().post('/oauth/token').set('authorization', basic(id, clientSecret)).type('form')
      .send({ grant_type: 'client_credentials', client_secret: clientSecret });
    expect([twoWays.status, twoWays.body.error]).toEqual([400, 'invalid_request']);
    const repeated = await t.request().post('/oauth/token').type('form')
      .send(`grant_type=client_credentials&grant_type=client_credentials&client_id=${id}&client_secret=${clientSecret}`);
    expect([repeated.status, repeated.body.error]).toEqual([400, 'invalid_request']);
    const malformed = await t.request().post('/oauth/token').set('content-type', 'application/json').send('{"grant_type":');
    expect([malformed.status, malformed.body.error]).toEqual([400, 'invalid_request']);
    const badBasic = await t.request().post('/oauth/token').set('authorization', 'Basic !!!').type('form').send({ grant_type: 'client_credentials' });
    expect([badBasic.status, badBasic.body.error]).toEqual([401, 'invalid_client']);
    expect(badBasic.headers['www-authenticate']).toMatch(/^Basic/);
    const get = await t.request().get('/oauth/token');
    expect([get.status, get.body.error]).toEqual([405, 'invalid_request']);
  });

  test("token requests count against the caller's address: past the limit, HTTP 429 with Retry-After", async () => {
    const limited = await startTestApp({ RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const attempt = () => limited.request().post('/oauth/token').type('form')
        .send({ grant_type: 'client_credentials', client_id: 'guess', client_secret: 'guess' });
      expect([(await attempt()).status, (await attempt()).status]).toEqual([401, 401]);
      const refused = await attempt();
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ error: 'temporarily_unavailable' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  test('after a rotation both secrets work for 24 hours, then only the new one', async () => {
    const id = partnerId('rot');
    const first = await createPartner({ partnerId: id });
    await setClock(t, '2031-06-01T12:00:00.000Z');
    const rotated = ok(await t.gql(ROTATE, { id })).rotatePartnerSecret;
    expect(rotated.clientSecret).not.toBe(first.clientSecret);
    expect(rotated.partner.previousSecretExpiresAt).toBe('2031-06-02T12:00:00.000Z');

    await exchange(id, first.clientSecret);
    await exchange(id, rotated.clientSecret);
    await setClock(t, '2031-06-02T11:59:00.000Z');
    await exchange(id, first.clientSecret);

    await setClock(t, '2031-06-02T12:00:01.000Z');
    const old = await tokenForm({ grant_type: 'client_credentials', client_id: id, client_secret: first.clientSecret });
    expect([old.status, old.body.error]).toEqual([401, 'invalid_client']);
    const fresh = await exchange(id, rotated.clientSecret);
    expect(ok(await t.gql('{ now }', {}, fresh)).now).toBe('2031-06-02T12:00:01.000Z');
    expect(ok(await t.gql(LIST)).partners.find((p: { partnerId: string }) => p.partnerId === id).previousSecretExpiresAt).toBeNull();

    // A second rotation drops the secret the first one kept.
    const again = ok(await t.gql(ROTATE, { id })).rotatePartnerSecret;
    await exchange(id, rotated.clientSecret);
    await exchange(id, again.clientSecret);
    expect((await tokenForm({ grant_type: 'client_credentials', client_id: id, client_secret: first.clientSecret })).status).toBe(401);
  });
});

describe('PARTNER tokens name a registered, active partner', () => {
  test("a deactivated partner's token already issued is refused at once, and so are its credentials; reactivated, both work again", async () => {
    const id = partnerId('off');
    const { clientSecret } = await createPartner({ partnerId: id });
    const token = await exchange(id, clientSecret);
    expect(ok(await t.gql('{ now }', {}, token)).now).toEqual(expect.any(String));

    expect(ok(await t.gql(SET_ACTIVE, { id, active: false })).setPartnerActive).toMatchObject({ partnerId: id, active: false });
    const refused = await t.gql('{ now }', {}, token);
    expect(refused.status).toBe(401);
    expect(codes(refused)).toEqual(['UNAUTHENTICATED']);
    const credentials = await tokenForm({ grant_type: 'client_credentials', client_id: id, client_secret: clientSecret });
    expect([credentials.status, credentials.body.error]).toEqual([401, 'invalid_client']);

    ok(await t.gql(SET_ACTIVE, { id, active: true }));
    expect(ok(await t.gql('{ now }', {}, token)).now).toEqual(expect.any(String));
    await exchange(id, clientSecret);
  });

  test('a token naming an unregistered partner is refused UNAUTHENTICATED; one from another issuer with the same key works for a registered partner', async () => {
    const refused = await t.gql('{ now }', {}, t.token({ role: 'PARTNER', partnerId: 'never-registered' }));
    expect(refused.status).toBe(401);
    expect(codes(refused)).toEqual(['UNAUTHENTICATED']);
    expect(refused.errors![0]!.message).toMatch(/not registered/);

    const id = partnerId('ext');
    await createPartner({ partnerId: id });
    const external = jwt.sign({ role: 'PARTNER', partnerId: id }, t.config.jwt.secret!, {
      algorithm: 'HS256', subject: 'gateway-7', issuer: t.config.jwt.issuer, audience: t.config.jwt.audience, expiresIn: 60,
    });
    expect(ok(await t.gql('{ now }', {}, external)).now).toEqual(expect.any(String));
    // The check needs the registry, not the ids' case: another case is another (unregistered) partner.
    expect(codes(await t.gql('{ now }', {}, t.token({ role: 'PARTNER', partnerId: id.toUpperCase() })))).toEqual(['UNAUTHENTICATED']);
  });

  test('with only JWT_PUBLIC_KEY the token endpoint says it cannot sign; RS256 partner tokens still need a registered partner', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs = await startTestApp({ JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    try {
      const sign = (claims: Record<string, unknown>) => jwt.sign(claims, privateKey, {
        algorithm: 'RS256', subject: 'issuer-sub', issuer: rs.config.jwt.issuer, audience: rs.config.jwt.audience, expiresIn: 60,
      });
      const created = await rs.gql(CREATE, { input: { partnerId: 'rs-partner', name: 'RS' } }, sign({ role: 'ADMIN' }));
      const { clientSecret } = ok(created).createPartner;
      const res = await rs.request().post('/oauth/token').type('form')
        .send({ grant_type: 'client_credentials', client_id: 'rs-partner', client_secret: clientSecret });
      expect(res.status).toBe(501);
      expect(res.body).toMatchObject({ error: 'server_error', error_description: expect.stringMatching(/JWT_PUBLIC_KEY/) });
      expect(ok(await rs.gql('{ now }', {}, sign({ role: 'PARTNER', partnerId: 'rs-partner' }))).now).toEqual(expect.any(String));
      expect(codes(await rs.gql('{ now }', {}, sign({ role: 'PARTNER', partnerId: 'rs-other' })))).toEqual(['UNAUTHENTICATED']);
    } finally {
      await rs.close();
    }
  });
});

describe('the registry', () => {
  test('input is checked, duplicates in any case are refused, only ADMIN may manage partners, and a refusal writes nothing', async () => {
    const id = partnerId('dup');
    await createPartner({ partnerId: id });
    const partner = await t.partnerToken(partnerId('nosy'));
    const count = async () => ok(await t.gql(LIST)).partners.length;
    const before = await count();
    const refusals: [Record<string, unknown>, string][] = [
      [{ partnerId: id }, 'partnerId'],
      [{ partnerId: id.toUpperCase() }, 'partnerId'],
      [{ partnerId: 'has space' }, 'partnerId'],
      [{ partnerId: '-leading' }, 'partnerId'],
      [{ partnerId: 'x'.repeat(65) }, 'partnerId'],
      [{ partnerId: partnerId('ok'), name: '  ' }, 'name'],
      [{ partnerId: partnerId('ok'), earnRate: '1000.0001' }, 'earnRate'],
      [{ partnerId: partnerId('ok'), earnRate: '1.23456' }, 'earnRate'],
      [{ partnerId: partnerId('ok'), earnRate: '-1' }, 'earnRate'],
    ];
    for (const [input, field] of refusals) {
      const res = await t.gql(CREATE, { input: { name: 'N', ...input } });
      expect([input, res.errors?.[0]?.extensions]).toEqual([input, expect.objectContaining({ code: 'BAD_USER_INPUT', field })]);
    }
    expect(await count()).toBe(before);

    const member = t.token({ role: 'MEMBER', memberId: '00000000-0000-4000-8000-000000000001' });
    for (const token of [partner, member]) {
      expect(errorCode(await t.gql(CREATE, { input: { partnerId: partnerId('x'), name: 'X' } }, token))).toBe('FORBIDDEN');
      expect(errorCode(await t.gql(LIST, {}, token))).toBe('FORBIDDEN');
      expect(errorCode(await t.gql(ROTATE, { id }, token))).toBe('FORBIDDEN');
      expect(errorCode(await t.gql(SET_ACTIVE, { id, active: false }, token))).toBe('FORBIDDEN');
    }
    expect(errorCode(await t.gql(ROTATE, { id: 'no-such-partner' }))).toBe('NOT_FOUND');
    expect(errorCode(await t.gql(SET_ACTIVE, { id: 'no-such-partner', active: false }))).toBe('NOT_FOUND');
    expect(await count()).toBe(before);
  });
});

describe('partner earn rates', () => {
  test("a partner's earn rate applies to its own purchases only, in the quote as in the purchase, and changes at once", async () => {
    const member = await enroll(t, 'rate');
    const rated = partnerId('rated');
    await createPartner({ partnerId: rated, earnRate: '3' });
    const ratedToken = await t.partnerToken(rated);
    const plainToken = await t.partnerToken(partnerId('plain'));
    const cart = { memberId: member, orderId: 'cart-1', amount: '10.50', currency: 'USD' };

    const quoted = ok(await t.gql(QUOTE, { input: cart }, ratedToken)).quoteEarn;
    expect(quoted).toEqual({ points: 31, breakdown: [{ source: 'BASE', description: '3 points per USD (partner rate)', points: 31 }] });
    expect((await purchase(member, '10.50', ratedToken)).pointsEarned).toBe(31);
    expect(ok(await t.gql(QUOTE, { input: cart }, plainToken)).quoteEarn.points).toBe(10);
    expect((await purchase(member, '10.50', plainToken)).pointsEarned).toBe(10);
    expect((await purchase(member, '10.50', t.admin)).pointsEarned).toBe(10);

    expect(ok(await t.gql(UPDATE, { id: rated, input: { earnRate: '2' } })).updatePartner.earnRate).toBe('2.0000');
    expect((await purchase(member, '10.50', ratedToken)).pointsEarned).toBe(21);
    expect(ok(await t.gql(UPDATE, { id: rated, input: { useProgramEarnRate: true } })).updatePartner.earnRate).toBeNull();
    expect((await purchase(member, '10.50', ratedToken)).pointsEarned).toBe(10);
    expect(errorCode(await t.gql(UPDATE, { id: rated, input: { earnRate: '2', useProgramEarnRate: true } }))).toBe('BAD_USER_INPUT');
  });
});

describe('settlement', () => {
  const FROM = '2031-03-10T00:00:00.000Z';
  const TO = '2031-03-20T00:00:00.000Z';

  /** A partner's entries in [FROM, TO) as the ledger holds them, summed here independently of the service. */
  async function ledgerSums(id: string) {
    const { rows } = await sql<{ type: string; points: number }>`
      select type, points from points_transactions where partner_id = ${id} and created_at >= ${FROM} and created_at < ${TO}`.execute(t.database.db);
    const sum = (types: string[], sign = 1) => rows.filter((r) => types.includes(r.type)).reduce((s, r) => s + sign * r.points, 0);
    return {
      pointsIssued: sum(['PURCHASE', 'EARN', 'BONUS']),
      pointsRedeemed: sum(['REDEEM'], -1) - sum(['REVERSAL']),
      pointsClawedBack: sum(['REFUND'], -1),
      purchases: rows.filter((r) => r.type === 'PURCHASE').length,
      redemptions: rows.filter((r) => r.type === 'REDEEM').length,
    };
  }

  function csv(id: string, query: string, token: string | null) {
    const req = t.request().get(`/partners/${id}/settlement.csv${query}`);
    return token ? req.set('authorization', `Bearer ${token}`) : req;
  }

  test("the figures and the CSV match the ledger for two partners' purchases, earns, redemptions, reversals and refunds", async () => {
    const one = partnerId('s1');
    const two = partnerId('s2');
    const p1 = await t.partnerToken(one);
    const p2 = await t.partnerToken(two);
    const m1 = await enroll(t, 'settle-1');
    const m2 = await enroll(t, 'settle-2');

    await setClock(t, '2031-03-01T00:00:00.000Z'); // before the window
    const earlyOrder = key('early');
    await purchase(m1, '50.00', p1, earlyOrder);
    await setClock(t, FROM); // from is inclusive
    const order = key('order');
    await purchase(m1, '120.00', p1, order);
    ok(await t.gql(EARN, { input: { memberId: m1, points: 30, reason: 'survey', idempotencyKey: key() } }, p1));
    await purchase(m2, '200.00', p2);
    await setClock(t, '2031-03-12T08:00:00.000Z');
    ok(await t.gql(REDEEM, { input: { memberId: m1, points: 40, idempotencyKey: key() } }, p1));
    const undone = ok(await t.gql(REDEEM, { input: { memberId: m1, points: 10, idempotencyKey: key() } }, p1)).redeemPoints;
    ok(await t.gql(REVERSE, { input: { transactionId: undone.id, idempotencyKey: key() } }, p1));
    ok(await t.gql(REDEEM, { input: { memberId: m2, points: 25, idempotencyKey: key() } }, p2));
    await setClock(t, '2031-03-15T08:00:00.000Z');
    expect(ok(await t.gql(REFUND, { input: { orderId: order, refundId: key('r'), amount: '60.00' } }, p1)).refundPurchase.pointsReversed).toBe(60);
    expect(ok(await t.gql(REFUND, { input: { orderId: earlyOrder, refundId: key('r'), amount: '50.00' } }, p1)).refundPurchase.pointsReversed).toBe(50);
    await setClock(t, TO); // to is exclusive
    ok(await t.gql(EARN, { input: { memberId: m1, points: 7, reason: 'late', idempotencyKey: key() } }, p1));
    await purchase(m2, '9.00', p2);

    const first = ok(await t.gql(SETTLEMENT, { id: one, from: FROM, to: TO })).partnerSettlement;
    expect(first).toEqual({
      partnerId: one, from: FROM, to: TO, pointsIssued: 150, pointsRedeemed: 40, pointsReversed: 10, pointsClawedBack: 110,
      purchases: 1, redemptions: 2, issuedValue: '1.50', redeemedValue: '0.40', clawedBackValue: '1.10', currency: 'USD', pointValue: '0.010000',
    });
    expect(first).toMatchObject(await ledgerSums(one));
    const second = ok(await t.gql(SETTLEMENT, { id: two, from: FROM, to: TO }, p2)).partnerSettlement;
    expect(second).toMatchObject({
      pointsIssued: 200, pointsRedeemed: 25, pointsReversed: 0, pointsClawedBack: 0, purchases: 1, redemptions: 1, issuedValue: '2.00', redeemedValue: '0.25',
    });
    expect(second).toMatchObject(await ledgerSums(two));
    // Its own token reads the same figures as an administrator.
    expect(ok(await t.gql(SETTLEMENT, { id: one, from: FROM, to: TO }, p1)).partnerSettlement).toEqual(first);

    const res = await csv(one, `?from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`, t.admin);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="settlement-${one}-2031-03-10-2031-03-20.csv"`);
    const [header, line, end] = res.text.split('\r\n');
    expect(end).toBe('');
    const columns = header!.split(',');
    const values = line!.split(',');
    expect(Object.fromEntries(columns.map((c, i) => [c, values[i]]))).toEqual(Object.fromEntries(Object.entries(first).map(([k, v]) => [k, String(v)])));
    const own = await csv(one, `?from=${FROM}&to=${TO}`, p1);
    expect([own.status, own.text]).toEqual([200, res.text]);
  });

  test("a partner cannot read another partner's transactions or settlement", async () => {
    const one = partnerId('own');
    const two = partnerId('other');
    const p1 = await t.partnerToken(one);
    const p2 = await t.partnerToken(two);
    const member = await enroll(t, 'own-view');
    const mine = ok(await t.gql(EARN, { input: { memberId: member, points: 10, reason: 'one', idempotencyKey: key() } }, p1)).earnPoints;
    const theirs = ok(await t.gql(EARN, { input: { memberId: member, points: 20, reason: 'two', idempotencyKey: key() } }, p2)).earnPoints;
    const ids = async (token: string) => ok(await t.gql(STATEMENT, { id: member }, token)).member.transactions.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(await ids(p1)).toEqual([mine.id]);
    expect(await ids(p2)).toEqual([theirs.id]);

    const window = { from: '2000-01-01T00:00:00Z', to: '2000-06-01T00:00:00Z' };
    expect(errorCode(await t.gql(SETTLEMENT, { id: one, ...window }, p2))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(SETTLEMENT, { id: one, ...window }, t.token({ role: 'MEMBER', memberId: member })))).toBe('FORBIDDEN');
    const query = `?from=${window.from}&to=${window.to}`;
    const forbidden = await csv(one, query, p2);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect((await csv(one, query, p1)).status).toBe(200);
  });

  test('bad windows, tokens and partners are refused with a clear answer', async () => {
    const id = partnerId('win');
    const token = await t.partnerToken(id);
    const badWindows: [Record<string, string>, string][] = [
      [{ from: '2031-02-01T00:00:00Z', to: '2031-01-01T00:00:00Z' }, 'from'],
      [{ from: '2031-01-01T00:00:00Z', to: '2031-01-01T00:00:00Z' }, 'from'],
      [{ from: '2030-01-01T00:00:00Z', to: '2031-01-03T00:00:00Z' }, 'to'],
    ];
    for (const [window, field] of badWindows) {
      expect((await t.gql(SETTLEMENT, { id, ...window })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      const res = await csv(id, `?from=${window.from}&to=${window.to}`, token);
      expect([res.status, res.body.errors[0].extensions]).toEqual([400, expect.objectContaining({ code: 'BAD_USER_INPUT', field })]);
    }
    const missing = await csv(id, '?from=2031-01-01T00:00:00Z', token);
    expect([missing.status, missing.body.errors[0].extensions.field]).toEqual([400, 'to']);
    const malformed = await csv(id, '?from=yesterday&to=2031-01-01T00:00:00Z', token);
    expect([malformed.status, malformed.body.errors[0].extensions.field]).toEqual([400, 'from']);

    const query = '?from=2031-01-01T00:00:00Z&to=2031-02-01T00:00:00Z';
    const anonymous = await csv(id, query, null);
    expect([anonymous.status, anonymous.body.errors[0].extensions.code]).toEqual([401, 'UNAUTHENTICATED']);
    const forged = await csv(id, query, `${token.slice(0, -2)}xx`);
    expect([forged.status, forged.body.errors[0].extensions.code]).toEqual([401, 'UNAUTHENTICATED']);
    const unregistered = await csv('ghost', query, t.token({ role: 'PARTNER', partnerId: 'ghost' }));
    expect([unregistered.status, unregistered.body.errors[0].extensions.code]).toEqual([401, 'UNAUTHENTICATED']);
    const unknown = await csv('no-such-partner', query, t.admin);
    expect([unknown.status, unknown.body.errors[0].extensions.code]).toEqual([404, 'NOT_FOUND']);
    expect(errorCode(await t.gql(SETTLEMENT, { id: 'no-such-partner', from: '2031-01-01T00:00:00Z', to: '2031-02-01T00:00:00Z' }))).toBe('NOT_FOUND');
  });
});
