/**
 * What a partner may be registered with, how a token request names its client (RFC 6749 §2.3.1
 * and §4.4), which secrets a partner's client may use at an instant, and what a settlement adds
 * up to: pure rules, no I/O.
 */
import { BadInputError } from '../errors';
import { fromUnits, mulDivRound, toUnits } from '../money';
import { checkEarnRate } from '../program/program.rules';

/** 1-64 letters, digits, `_`, `.` or `-`, starting with a letter or digit: the client id and the ledger's partnerId. */
const PARTNER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Whether `value` is a well-formed partner id (no trimming). */
export function isPartnerId(value: string): boolean {
  return PARTNER_ID.test(value);
}

export function checkPartnerId(value: string, field = 'partnerId'): string {
  const trimmed = value.trim();
  if (!PARTNER_ID.test(trimmed)) {
    throw new BadInputError(`${field} must be 1-64 letters, digits, _ . or -, starting with a letter or digit`, field);
  }
  return trimmed;
}

export interface PartnerInput { partnerId: string; name: string; earnRate?: string | null; personalData?: boolean | null }
export interface CheckedPartner { partnerId: string; name: string; earnRate: string | null; personalData: boolean }

/** A partner as registered: its id, a name of 1-200 characters, an earn rate within the programme's bounds or none. */
export function checkPartnerInput(input: PartnerInput): CheckedPartner {
  const partnerId = checkPartnerId(input.partnerId);
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new BadInputError('name must be 1-200 characters', 'name');
  const earnRate = input.earnRate == null ? null : checkEarnRate(input.earnRate);
  return { partnerId, name, earnRate, personalData: input.personalData === true };
}

/** How long a rotated-out secret keeps working. */
export const SECRET_OVERLAP_MS = 24 * 3_600_000;

export interface SecretState {
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_secret_expires_at: Date | null;
}

/** The secret hashes a client may authenticate with at `now`: the current one, and the previous one during its overlap. */
export function acceptedSecrets(partner: SecretState, now: Date): string[] {
  const previousLive = partner.previous_secret_hash !== null && partner.previous_secret_expires_at !== null
    && partner.previous_secret_expires_at.getTime() > now.getTime();
  return previousLive ? [partner.secret_hash, partner.previous_secret_hash as string] : [partner.secret_hash];
}

/** The error answers of the token endpoint (RFC 6749 §5.2) this server gives. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type';

export interface OAuthRefusal {
  error: OAuthErrorCode;
  description: string;
  /** The client tried HTTP Basic: a 401 then carries WWW-Authenticate: Basic. */
  basic: boolean;
}

export interface ClientCredentials { clientId: string; clientSecret: string; basic: boolean }

/**
 * The client of an `Authorization: Basic` header, each part form-decoded as RFC 6749 §2.3.1
 * asks; null when the header is absent or another scheme, 'malformed' when it is Basic but
 * not base64 of `id:secret`.
 */
export function parseBasicAuth(header: string | undefined): { clientId: string; clientSecret: string } | null | 'malformed' {
  if (header === undefined || header === '') return null;
  const match = /^Basic(?:\s+(\S*))?\s*$/i.exec(header);
  if (!match) return null;
  const encoded = match[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return 'malformed';
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return 'malformed';
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/**
 * Reads a client-credentials token request: the body's parameters (form or JSON) and the
 * Authorization header. A missing or repeated parameter, or a client named both ways, is
 * invalid_request; a grant other than client_credentials unsupported_grant_type; no client, or
 * a malformed Basic header, invalid_client.
 */
export function readTokenRequest(body: unknown, authorization: string | undefined): ClientCredentials | OAuthRefusal {
  const basic = parseBasicAuth(authorization);
  const usedBasic = basic !== null;
  const refuse = (error: OAuthErrorCode, description: string): OAuthRefusal => ({ error, description, basic: usedBasic });
  const params = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const param = (name: string): string | undefined | OAuthRefusal => {
    const value = params[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return refuse('invalid_request', `${name} must be given once, as a string`);
    return value;
  };
  const grantType = param('grant_type');
  if (typeof grantType === 'object') return grantType;
  if (grantType === undefined || grantType === '') return refuse('invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials') return refuse('unsupported_grant_type', 'Only grant_type=client_credentials is supported');
  const clientId = param('client_id');
  const clientSecret = param('client_secret');
  if (typeof clientId === 'object') return clientId;
  if (typeof clientSecret === 'object') return clientSecret;
  if (basic === 'malformed') return refuse('invalid_client', 'The Basic Authorization header must carry base64 of client_id:client_secret');
  if (basic !== null) {
    if (clientSecret !== undefined) return refuse('invalid_request', 'Authenticate the client one way: the Basic header or client_secret in the body, not both');
    if (clientId !== undefined && clientId !== basic.clientId) return refuse('invalid_request', 'client_id in the body differs from the Basic header');
    return { clientId: basic.clientId, clientSecret: basic.clientSecret, basic: true };
  }
  if (!clientId || !clientSecret) return refuse('invalid_client', 'Client authentication is required: client_id and client_secret, or HTTP Basic');
  return { clientId, clientSecret, basic: false };
}

export function isRefusal(value: ClientCredentials | OAuthRefusal): value is OAuthRefusal {
  return 'error' in value;
}

/** The widest settlement window one request may ask for. */
export const MAX_SETTLEMENT_DAYS = 366;

/** A settlement window: from strictly before to, at most MAX_SETTLEMENT_DAYS long. */
export function checkSettlementWindow(from: Date, to: Date): void {
  if (Number.isNaN(from.getTime())) throw new BadInputError('from must be an instant', 'from');
  if (Number.isNaN(to.getTime())) throw new BadInputError('to must be an instant', 'to');
  if (from.getTime() >= to.getTime()) throw new BadInputError('from must be before to', 'from');
  if (to.getTime() - from.getTime() > MAX_SETTLEMENT_DAYS * 86_400_000) {
    throw new BadInputError(`A settlement covers at most ${MAX_SETTLEMENT_DAYS} days`, 'to');
  }
}

/** What the ledger holds for a partner in a window, summed by the repository. */
export interface SettlementTotals {
  /** Credits of PURCHASE, EARN and BONUS entries. */
  issued: number;
  /** Points taken by REDEEM entries (positive). */
  redeemed: number;
  /** Points given back by REVERSAL entries of redemptions. */
  reversed: number;
  /** Points taken by REFUND entries (positive). */
  clawedBack: number;
  purchases: number;
  redemptions: number;
}

export interface Settlement {
  partnerId: string;
  from: Date;
  to: Date;
  pointsIssued: number;
  pointsRedeemed: number;
  pointsReversed: number;
  pointsClawedBack: number;
  purchases: number;
  redemptions: number;
  issuedValue: string;
  redeemedValue: string;
  clawedBackValue: string;
  currency: string;
  pointValue: string;
}

/** What `points` are worth at `pointValue` (a decimal of up to 6 places) per point, to the cent, half away from zero. */
export function pointsWorth(points: number, pointValue: string): string {
  const magnitude = mulDivRound(BigInt(Math.abs(points)) * toUnits(pointValue, 6), 1n, 10_000n);
  return fromUnits(points < 0 ? -magnitude : magnitude, 2);
}

/**
 * A settlement from the ledger's totals: redemptions net of their reversals (a reversal counts
 * in the window it was written, so a window may net below zero), each figure valued at the
 * programme's point value.
 */
export function settlementOf(
  window: { partnerId: string; from: Date; to: Date }, totals: SettlementTotals, program: { pointValue: string; currency: string },
): Settlement {
  const pointsRedeemed = totals.redeemed - totals.reversed;
  return {
    ...window,
    pointsIssued: totals.issued,
    pointsRedeemed,
    pointsReversed: totals.reversed,
    pointsClawedBack: totals.clawedBack,
    purchases: totals.purchases,
    redemptions: totals.redemptions,
    issuedValue: pointsWorth(totals.issued, program.pointValue),
    redeemedValue: pointsWorth(pointsRedeemed, program.pointValue),
    clawedBackValue: pointsWorth(totals.clawedBack, program.pointValue),
    currency: program.currency,
    pointValue: program.pointValue,
  };
}

const CSV_COLUMNS = [
  'partnerId', 'from', 'to', 'pointsIssued', 'pointsRedeemed', 'pointsReversed', 'pointsClawedBack', 'purchases', 'redemptions',
  'issuedValue', 'redeemedValue', 'clawedBackValue', 'currency', 'pointValue',
] as const;

/** The settlement as CSV (RFC 4180): a header line and one line of figures, CRLF line ends. */
export function settlementCsv(settlement: Settlement): string {
  const cell = (value: string | number | Date) => {
    const text = value instanceof Date ? value.toISOString() : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return `${CSV_COLUMNS.join(',')}\r\n${CSV_COLUMNS.map((column) => cell(settlement[column])).join(',')}\r\n`;
}
