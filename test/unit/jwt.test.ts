import jwt from 'jsonwebtoken';
import { loadConfig } from '../../src/config';
import { signToken, verifyToken, VERIFIED_TOKENS_KEPT } from '../../src/auth/jwt';
import { UnauthenticatedError } from '../../src/errors';

/** A fresh configuration each time: verified tokens are remembered per configuration. */
const jwtConfig = () => loadConfig({ NODE_ENV: 'test' }).jwt;

const refusal = (config: ReturnType<typeof jwtConfig>, token: string) => {
  try {
    verifyToken(config, token);
  } catch (error) {
    if (error instanceof UnauthenticatedError) return error.message;
    throw error;
  }
  return 'accepted';
};

afterEach(() => jest.restoreAllMocks());

describe('a token verified before', () => {
  test('is not verified again while it lasts, and each use gets its own actor', () => {
    const config = jwtConfig();
    const token = signToken(config, { role: 'MEMBER', memberId: 'm-1' });
    const verify = jest.spyOn(jwt, 'verify');
    const first = verifyToken(config, token);
    const second = verifyToken(config, token);
    expect(second).toEqual({ role: 'MEMBER', sub: 'm-1', memberId: 'm-1' });
    expect(second).not.toBe(first);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  test('is refused as expired from the second of its exp, as a fresh one would be', () => {
    const config = jwtConfig();
    const token = signToken(config, { role: 'ADMIN', ttlSeconds: 60 });
    const expMs = (jwt.decode(token) as jwt.JwtPayload).exp! * 1000;
    expect(refusal(config, token)).toBe('accepted');
    const clock = jest.spyOn(Date, 'now');
    clock.mockReturnValue(expMs - 1);
    expect(refusal(config, token)).toBe('accepted');
    expect(refusal(jwtConfig(), token)).toBe('accepted');
    clock.mockReturnValue(expMs);
    expect(refusal(config, token)).toBe('Token expired');
    expect(refusal(config, token)).toBe('Token expired');
    expect(refusal(jwtConfig(), token)).toBe('Token expired');
  });

  test('does not vouch for a token differing in its signature or payload', () => {
    const config = jwtConfig();
    const token = signToken(config, { role: 'MEMBER', memberId: 'm-1' });
    verifyToken(config, token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherSignature = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(refusal(config, `${header}.${payload}.${otherSignature}`)).toBe('Invalid token');
    const forged = Buffer.from(JSON.stringify({ ...(jwt.decode(token) as object), role: 'ADMIN' })).toString('base64url');
    expect(refusal(config, `${header}.${forged}.${signature}`)).toBe('Invalid token');
    expect(refusal(jwtConfig(), token)).toBe('accepted');
  });

  test('under another configuration (another secret) is verified against that one', () => {
    const config = jwtConfig();
    const token = signToken(config, { role: 'ADMIN' });
    verifyToken(config, token);
    const other = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'another-secret-of-at-least-thirty-two-chars' }).jwt;
    expect(refusal(other, token)).toBe('Invalid token');
  });

  test('with nbf is verified on every use, so it is refused until its time', () => {
    const config = jwtConfig();
    const now = Math.floor(Date.now() / 1000);
    const early = jwt.sign({ role: 'ADMIN', nbf: now + 30 }, config.secret as string, {
      algorithm: 'HS256', subject: 'ops', issuer: config.issuer, audience: config.audience, expiresIn: 3600,
    });
    expect(refusal(config, early)).toBe('Invalid token');
    jest.spyOn(Date, 'now').mockReturnValue((now + 31) * 1000);
    const verify = jest.spyOn(jwt, 'verify');
    expect(refusal(config, early)).toBe('accepted');
    expect(refusal(config, early)).toBe('accepted');
    expect(verify).toHaveBeenCalledTimes(2);
  });

  test(`is forgotten, oldest first, past ${VERIFIED_TOKENS_KEPT} tokens`, () => {
    const config = jwtConfig();
    const tokens = Array.from({ length: VERIFIED_TOKENS_KEPT + 1 }, (_, i) => signToken(config, { role: 'MEMBER', memberId: `m-${i}` }));
    for (const token of tokens) verifyToken(config, token);
    const verify = jest.spyOn(jwt, 'verify');
    verifyToken(config, tokens[VERIFIED_TOKENS_KEPT] as string);
    verifyToken(config, tokens[1] as string);
    expect(verify).not.toHaveBeenCalled();
    verifyToken(config, tokens[0] as string);
    expect(verify).toHaveBeenCalledTimes(1);
  });
});
