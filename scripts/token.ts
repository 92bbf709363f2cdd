/**
 * Prints a signed development token:
 *   npm run token -- --role ADMIN|PARTNER|MEMBER [--member-id ID] [--partner-id ID] [--personal-data] [--sub S] [--ttl SECONDS]
 * Signs with JWT_SECRET (HS256) from the same configuration the server reads. The server accepts
 * a PARTNER token only while its partner is registered and active (createPartner): the script
 * does not register it, and says so on stderr.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config';
import { ROLES, signToken, type Role, type SignOptions } from '../src/auth/jwt';

const USAGE = `Usage: npm run token -- --role ADMIN|PARTNER|MEMBER [options]

  --role ROLE          ADMIN, PARTNER or MEMBER (required)
  --member-id ID       the member a MEMBER token acts for (required with --role MEMBER)
  --partner-id ID      the partner a PARTNER token acts for (required with --role PARTNER)
  --personal-data      PARTNER only: may read and change members' name, email, phone and birth date
  --sub SUBJECT        the token subject (default: the member/partner id, or dev-admin)
  --ttl SECONDS        lifetime in seconds (default 3600)
  --help               show this help

The token is signed with JWT_SECRET (the development default when unset) and carries
iss=JWT_ISSUER and aud=JWT_AUDIENCE, exactly as the server expects. A PARTNER token is
accepted only while its partner is registered and active (createPartner, as ADMIN);
registered partners get their own tokens from POST /oauth/token with their client secret.`;

/** What a PARTNER token's holder must know: the server checks the partner on every request. */
function partnerNotice(partnerId: string): string {
  return `token: the server accepts this token only while partner "${partnerId}" is registered and active `
    + '(createPartner, as ADMIN); a registered partner gets tokens from POST /oauth/token with its client secret';
}

export class UsageError extends Error {}

/** Reads the command line into signing options, or 'help'; throws UsageError on anything unusable. */
export function parseTokenArgs(argv: string[]): SignOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        role: { type: 'string' },
        'member-id': { type: 'string' },
        'partner-id': { type: 'string' },
        'personal-data': { type: 'boolean' },
        sub: { type: 'string' },
        ttl: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const role = values.role?.toUpperCase();
  if (!role) throw new UsageError('--role is required');
  if (!ROLES.includes(role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, got "${values.role}"`);
  const memberId = values['member-id'];
  const partnerId = values['partner-id'];
  if (role === 'MEMBER' && !memberId) throw new UsageError('--role MEMBER needs --member-id');
  if (role === 'PARTNER' && !partnerId) throw new UsageError('--role PARTNER needs --partner-id');
  if (memberId && role !== 'MEMBER') throw new UsageError('--member-id applies to --role MEMBER only');
  if (partnerId && role !== 'PARTNER') throw new UsageError('--partner-id applies to --role PARTNER only');
  const personalData = values['personal-data'] === true;
  if (personalData && role !== 'PARTNER') throw new UsageError('--personal-data applies to --role PARTNER only');
  let ttlSeconds = 3600;
  if (values.ttl !== undefined) {
    ttlSeconds = Number(values.ttl);
    if (!/^\d+$/.test(values.ttl) || ttlSeconds < 1) throw new UsageError(`--ttl must be a whole number of seconds >= 1, got "${values.ttl}"`);
  }
  if (values.sub !== undefined && values.sub.trim() === '') throw new UsageError('--sub must not be empty');
  return { role: role as Role, memberId, partnerId, ...(personalData ? { personalData } : {}), sub: values.sub, ttlSeconds };
}

function main(): void {
  try {
    const options = parseTokenArgs(process.argv.slice(2));
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    const config = loadConfig();
    if (!config.jwt.secret) throw new ConfigError('JWT_PUBLIC_KEY is set without JWT_SECRET: sign RS256 tokens with your own private key');
    process.stdout.write(`${signToken(config.jwt, options)}\n`);
    if (options.partnerId) process.stderr.write(`${partnerNotice(options.partnerId)}\n`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`token: ${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`token: configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

if (require.main === module) main();
