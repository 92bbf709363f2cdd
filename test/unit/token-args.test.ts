import jwt from 'jsonwebtoken';
import { loadConfig } from '../../src/config';
import { signToken, verifyToken } from '../../src/auth/jwt';
import { parseTokenArgs, UsageError } from '../../scripts/token';

describe('npm run token arguments', () => {
  test.each([
    [['--role', 'ADMIN'], { role: 'ADMIN', ttlSeconds: 3600 }],
    [['--role', 'partner', '--partner-id', 'acme', '--ttl', '60'], { role: 'PARTNER', partnerId: 'acme', ttlSeconds: 60 }],
    [['--role', 'MEMBER', '--member-id', 'm-1', '--sub', 'app-user'], { role: 'MEMBER', memberId: 'm-1', sub: 'app-user' }],
    [['--role', 'PARTNER', '--partner-id', 'crm', '--personal-data'], { role: 'PARTNER', partnerId: 'crm', personalData: true }],
  ])('%j is accepted', (argv, expected) => {
    expect(parseTokenArgs(argv)).toMatchObject(expected);
  });

  test.each([
    [[], /--role is required/],
    [['--role', 'ROOT'], /--role must be one of/],
    [['--role', 'PARTNER'], /needs --partner-id/],
    [['--role', 'MEMBER'], /needs --member-id/],
    [['--role', 'ADMIN', '--member-id', 'm-1'], /applies to --role MEMBER only/],
    [['--role', 'ADMIN', '--ttl', '1.5'], /--ttl must be a whole number/],
    [['--role', 'ADMIN', '--ttl', '0'], /--ttl must be a whole number/],
    [['--role', 'ADMIN', '--bogus'], /Unknown option/],
    [['--role', 'ADMIN', '--personal-data'], /applies to --role PARTNER only/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseTokenArgs(argv)).toThrow(UsageError);
    expect(() => parseTokenArgs(argv)).toThrow(message);
  });

  test('the signed token is one the server accepts, with the requested claims', () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    const options = parseTokenArgs(['--role', 'PARTNER', '--partner-id', 'acme', '--ttl', '120']);
    if (options === 'help') throw new Error('unexpected help');
    const token = signToken(config.jwt, options);
    expect(verifyToken(config.jwt, token)).toEqual({ role: 'PARTNER', sub: 'acme', partnerId: 'acme' });
    const claims = jwt.decode(token) as jwt.JwtPayload;
    expect(claims.exp! - claims.iat!).toBe(120);
    const withData = parseTokenArgs(['--role', 'PARTNER', '--partner-id', 'crm', '--personal-data']);
    if (withData === 'help') throw new Error('unexpected help');
    expect(verifyToken(config.jwt, signToken(config.jwt, withData))).toEqual({ role: 'PARTNER', sub: 'crm', partnerId: 'crm', personalData: true });
  });
});
