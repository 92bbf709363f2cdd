import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from '../../src/config';
import { startTestApp, codes, type TestApp } from '../support/harness';

const ME = `{ me { id externalId } }`;
const MEMBER = `query($id: ID!) { member(id: $id) { id externalId balance { available } } }`;
const MEMBERS = `{ members(first: 5) { totalCount edges { node { id } } } }`;
const NOW = `{ now }`;
const PROGRAM = `{ program { name } }`;
const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id externalId } }`;
const UPDATE_MEMBER = `mutation($input: UpdateMemberInput!) { updateMember(input: $input) { id name } }`;
const UPDATE_PROGRAM = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { name } }`;
const SET_TIERS = `mutation($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;
const SET_CLOCK = `mutation($now: DateTime!) { setTestClock(now: $now) }`;
const EARN = `mutation($input: EarnPointsInput!) { earnPoints(input: $input) { points } }`;

const BASE_TIER = { code: 'MEMBER', name: 'Member', rank: 0, qualifyingPointsRequired: 0, earnMultiplier: 1 };

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

/** Signs arbitrary claims, so each test can break exactly one thing about a token. */
function rawToken(claims: Record<string, unknown>, options: { secret?: string; issuer?: string; audience?: string; expiresIn?: number } = {}): string {
  return jwt.sign(claims, options.secret ?? (t.config.jwt.secret as string), {
    algorithm: 'HS256',
    issuer: options.issuer ?? t.config.jwt.issuer,
    audience: options.audience ?? t.config.jwt.audience,
    expiresIn: options.expiresIn ?? 600,
  });
}

async function enroll(externalId: string): Promise<string> {
  const res = await t.gql(ENROLL, { input: { externalId } });
  expect(res.errors).toBeUndefined();
  return res.data!.enrollMember.id;
}

describe('authentication', () => {
  test('a protected query without a token is UNAUTHENTICATED', async () => {
    const res = await t.gql(ME, {}, null);
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    expect(res.data?.me ?? null).toBeNull();
  });

  const refused: [string, () => string][] = [
    ['expired', () => rawToken({ sub: 'a', role: 'ADMIN' }, { expiresIn: -60 })],
    ['forged (wrong secret)', () => rawToken({ sub: 'a', role: 'ADMIN' }, { secret: 'someone-elses-secret-value' })],
    ['for another audience', () => rawToken({ sub: 'a', role: 'ADMIN' }, { audience: 'another-api' })],
    ['from another issuer', () => rawToken({ sub: 'a', role: 'ADMIN' }, { issuer: 'someone-else' })],
    ['without a role', () => rawToken({ sub: 'a' })],
    ['with an unknown role', () => rawToken({ sub: 'a', role: 'ROOT' })],
    ['PARTNER without partnerId', () => rawToken({ sub: 'p', role: 'PARTNER' })],
    ['MEMBER without memberId', () => rawToken({ sub: 'm', role: 'MEMBER' })],
    ['without sub', () => rawToken({ role: 'ADMIN' })],
    ['without exp', () => jwt.sign({ sub: 'a', role: 'ADMIN' }, t.config.jwt.secret as string, { issuer: t.config.jwt.issuer, audience: t.config.jwt.audience })],
    ['unsigned (alg none)', () => jwt.sign({ sub: 'a', role: 'ADMIN' }, '', { algorithm: 'none', issuer: t.config.jwt.issuer, audience: t.config.jwt.audience, expiresIn: 600 })],
    ['not a JWT', () => 'not-a-token'],
  ];
  test.each(refused)('a token %s is UNAUTHENTICATED with HTTP 401', async (_name, make) => {
    const res = await t.gql(NOW, {}, make());
    expect(res.status).toBe(401);
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    expect(res.data ?? null).toBeNull();
  });

  test('a header that is not "Bearer <token>" is UNAUTHENTICATED', async () => {
    const res = await t.request().post('/graphql').set('content-type', 'application/json')
      .set('authorization', `Basic ${Buffer.from('a:b').toString('base64')}`).send({ query: NOW });
    expect(res.status).toBe(401);
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  test('a valid token from `signToken` is accepted', async () => {
    const res = await t.gql(NOW, {}, await t.partnerToken('acme'));
    expect(res.errors).toBeUndefined();
    expect(typeof res.data!.now).toBe('string');
  });
});

describe('RS256 with JWT_PUBLIC_KEY', () => {
  let rs: TestApp;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  beforeAll(async () => { rs = await startTestApp({ JWT_PUBLIC_KEY: pem }); });
  afterAll(async () => { await rs.close(); });

  const sign = (key: string | Buffer | import('node:crypto').KeyObject, algorithm: jwt.Algorithm) =>
    jwt.sign({ sub: 'rs-admin', role: 'ADMIN' }, key as jwt.Secret, { algorithm, issuer: 'milepost', audience: 'milepost-api', expiresIn: 600 });

  test('a token signed with the matching private key is accepted', async () => {
    const res = await rs.gql(NOW, {}, sign(privateKey, 'RS256'));
    expect(res.errors).toBeUndefined();
    expect(typeof res.data!.now).toBe('string');
  });

  test('an HS256 token is refused, even one keyed with the public key or the development secret', async () => {
    for (const token of [sign(DEV_JWT_SECRET, 'HS256'), sign(Buffer.from(pem), 'HS256')]) {
      const res = await rs.gql(NOW, {}, token);
      expect(codes(res)).toEqual(['UNAUTHENTICATED']);
    }
  });

  test('a token signed with another private key is refused', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const res = await rs.gql(NOW, {}, sign(other, 'RS256'));
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('MEMBER scope', () => {
  test('`me` returns the caller\'s own account', async () => {
    const id = await enroll('auth-me-1');
    const res = await t.gql(ME, {}, t.token({ role: 'MEMBER', memberId: id }));
    expect(res.errors).toBeUndefined();
    expect(res.data!.me).toEqual({ id, externalId: 'auth-me-1' });
  });

  test('reading `member(id)` is FORBIDDEN, even for its own id', async () => {
    const own = await enroll('auth-member-read-1');
    const other = await enroll('auth-member-read-2');
    const token = t.token({ role: 'MEMBER', memberId: own });
    for (const id of [other, own]) {
      const res = await t.gql(MEMBER, { id }, token);
      expect(codes(res)).toEqual(['FORBIDDEN']);
      expect(res.data?.member ?? null).toBeNull();
    }
  });

  test('updating another member is FORBIDDEN and changes nothing; updating itself works', async () => {
    const own = await enroll('auth-member-upd-1');
    const other = await enroll('auth-member-upd-2');
    const token = t.token({ role: 'MEMBER', memberId: own });
    const denied = await t.gql(UPDATE_MEMBER, { input: { id: other, name: 'Mallory' } }, token);
    expect(codes(denied)).toEqual(['FORBIDDEN']);
    const after = await t.gql(`query($id: ID!) { member(id: $id) { name } }`, { id: other });
    expect(after.data!.member.name).toBeNull();
    const allowed = await t.gql(UPDATE_MEMBER, { input: { id: own, name: 'Alice' } }, token);
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data!.updateMember).toEqual({ id: own, name: 'Alice' });
  });

  test('enrolling, listing members and earning points are FORBIDDEN', async () => {
    const own = await enroll('auth-member-ops-1');
    const token = t.token({ role: 'MEMBER', memberId: own });
    expect(codes(await t.gql(ENROLL, { input: { externalId: 'auth-member-ops-x' } }, token))).toEqual(['FORBIDDEN']);
    expect(codes(await t.gql(MEMBERS, {}, token))).toEqual(['FORBIDDEN']);
    expect(codes(await t.gql(EARN, { input: { memberId: own, points: 10, reason: 'self', idempotencyKey: 'k1' } }, token))).toEqual(['FORBIDDEN']);
  });
});

describe('PARTNER scope', () => {
  let token = '';
  beforeAll(async () => { token = await t.partnerToken('acme-air'); });
  const partner = () => token;

  test('may enrol members and read them by id or externalId', async () => {
    const enrolled = await t.gql(ENROLL, { input: { externalId: 'auth-partner-1' } }, partner());
    expect(enrolled.errors).toBeUndefined();
    const { id } = enrolled.data!.enrollMember;
    const byId = await t.gql(MEMBER, { id }, partner());
    expect(byId.errors).toBeUndefined();
    expect(byId.data!.member).toMatchObject({ id, externalId: 'auth-partner-1', balance: { available: 0 } });
    const byExternal = await t.gql(`{ member(externalId: "auth-partner-1") { id } }`, {}, partner());
    expect(byExternal.data!.member.id).toBe(id);
  });

  test('may earn points for a member', async () => {
    const id = await enroll('auth-partner-earn');
    const res = await t.gql(EARN, { input: { memberId: id, points: 25, reason: 'welcome', idempotencyKey: 'p-earn-1' } }, partner());
    expect(res.errors).toBeUndefined();
    expect(res.data!.earnPoints.points).toBe(25);
  });

  test('program configuration and the member list are FORBIDDEN', async () => {
    expect(codes(await t.gql(UPDATE_PROGRAM, { input: { name: 'Hijacked' } }, partner()))).toEqual(['FORBIDDEN']);
    expect(codes(await t.gql(SET_TIERS, { tiers: [BASE_TIER] }, partner()))).toEqual(['FORBIDDEN']);
    expect(codes(await t.gql(MEMBERS, {}, partner()))).toEqual(['FORBIDDEN']);
    expect(codes(await t.gql(SET_CLOCK, { now: '2030-01-01T00:00:00Z' }, partner()))).toEqual(['FORBIDDEN']);
    const program = await t.gql(PROGRAM, {}, partner());
    expect(program.data!.program.name).not.toBe('Hijacked');
  });
});

describe('ADMIN scope', () => {
  test('may configure the program, replace tiers, list members and set the test clock', async () => {
    await enroll('auth-admin-1');
    const program = await t.gql(UPDATE_PROGRAM, { input: { name: 'Skyline Rewards' } });
    expect(program.errors).toBeUndefined();
    expect(program.data!.updateProgram.name).toBe('Skyline Rewards');
    const tiers = await t.gql(SET_TIERS, { tiers: [BASE_TIER, { code: 'GOLD', name: 'Gold', rank: 1, qualifyingPointsRequired: 1000, earnMultiplier: 1.5 }] });
    expect(tiers.errors).toBeUndefined();
    expect(tiers.data!.setTiers.map((tier: { code: string }) => tier.code)).toEqual(['MEMBER', 'GOLD']);
    const members = await t.gql(MEMBERS);
    expect(members.errors).toBeUndefined();
    expect(members.data!.members.totalCount).toBeGreaterThan(0);
    const clock = await t.gql(SET_CLOCK, { now: '2030-01-01T00:00:00Z' });
    expect(clock.errors).toBeUndefined();
    expect(new Date(clock.data!.setTestClock).toISOString()).toBe('2030-01-01T00:00:00.000Z');
    const now = await t.gql(NOW);
    expect(new Date(now.data!.now).toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });
});

describe('configuration', () => {
  test('production refuses the development secret, a missing secret, and the test clock', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET })).toThrow(/JWT_SECRET/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-real-production-secret-1234', TEST_CLOCK_ENABLED: 'true' })).toThrow(/TEST_CLOCK_ENABLED/);
    const ok = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-real-production-secret-1234' });
    expect(ok).toMatchObject({ production: true, testClockEnabled: false, introspection: false, explorer: false });
  });

  test('setTestClock is INVALID_STATE when TEST_CLOCK_ENABLED is false', async () => {
    const fixed = await startTestApp({ TEST_CLOCK_ENABLED: 'false' });
    try {
      const res = await fixed.gql(SET_CLOCK, { now: '2030-01-01T00:00:00Z' });
      expect(codes(res)).toEqual(['INVALID_STATE']);
      const now = await fixed.gql(NOW);
      expect(new Date(now.data!.now).getUTCFullYear()).toBeLessThan(2030);
    } finally {
      await fixed.close();
    }
  });
});
