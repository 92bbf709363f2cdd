import { requireRole } from '../auth/guards';
import { signToken, type Actor } from '../auth/jwt';
import type { Config } from '../config';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { BadInputError, ForbiddenError, NotFoundError, UNIQUE_VIOLATION, UnauthenticatedError, pgErrorCode } from '../errors';
import { getProgram } from '../program/program.service';
import { checkEarnRate } from '../program/program.rules';
import * as repo from './partners.repo';
import type { PartnerAccessRow, PartnerRow } from './partners.repo';
import {
  SECRET_OVERLAP_MS, acceptedSecrets, checkPartnerId, checkPartnerInput, isPartnerId, checkSettlementWindow, settlementOf,
  type ClientCredentials, type PartnerInput, type Settlement,
} from './partners.rules';
import { UNKNOWN_CLIENT_HASH, hashSecret, newSecret, secretMatches } from './partners.secrets';

// ---- Who may hold a PARTNER token ----

/**
 * How long this process trusts what it read of a partner. A change made through this process
 * drops its entry at once (forgetPartner); other instances see it within this time.
 */
const ACCESS_TTL_MS = 2_000;
/** Entries past which expired ones are swept, so tokens naming many ids cannot grow the cache without end. */
const ACCESS_SWEEP_AT = 10_000;
const accessCache = new WeakMap<Db, Map<string, { at: number; value: Promise<PartnerAccessRow | undefined> }>>();

/** The partner's registration as this process last read it, at most ACCESS_TTL_MS old; undefined when none. */
function partnerAccess(db: Db, partnerId: string): Promise<PartnerAccessRow | undefined> {
  let entries = accessCache.get(db);
  if (!entries) accessCache.set(db, (entries = new Map()));
  const at = Date.now();
  const hit = entries.get(partnerId);
  if (hit && at - hit.at < ACCESS_TTL_MS) return hit.value;
  if (entries.size >= ACCESS_SWEEP_AT) {
    for (const [id, entry] of entries) if (at - entry.at >= ACCESS_TTL_MS) entries.delete(id);
  }
  const value = repo.partnerAccess(db, partnerId);
  const entry = { at, value };
  value.catch(() => {
    if (entries.get(partnerId) === entry) entries.delete(partnerId);
  });
  entries.set(partnerId, entry);
  return value;
}

/** Drops this process's cached view of the partner: the next request reads it afresh. */
function forgetPartner(db: Db, partnerId: string): void {
  accessCache.get(db)?.delete(partnerId);
}

/**
 * Refuses (UNAUTHENTICATED) a PARTNER caller whose partner is not registered, or not active,
 * whoever issued its token. Other callers pass untouched.
 */
export async function admitPartner(db: Db, actor: Actor): Promise<void> {
  if (actor.role !== 'PARTNER' || actor.partnerId === undefined) return;
  const partner = await partnerAccess(db, actor.partnerId);
  if (!partner) throw new UnauthenticatedError(`Partner ${actor.partnerId} is not registered`);
  if (!partner.active) throw new UnauthenticatedError(`Partner ${actor.partnerId} is not active`);
}

/** The earn rate of the calling partner's purchases: its own, or null for the programme's. */
export async function partnerEarnRate(ctx: Pick<Ctx, 'actor' | 'db'>): Promise<string | null> {
  const partnerId = ctx.actor?.role === 'PARTNER' ? ctx.actor.partnerId : undefined;
  if (partnerId === undefined) return null;
  return (await partnerAccess(ctx.db, partnerId))?.earn_rate ?? null;
}

// ---- The registry (ADMIN) ----

export interface CredentialsView { partner: PartnerRow; clientId: string; clientSecret: string }

function duplicate(partnerId: string): BadInputError {
  return new BadInputError(`Partner ${partnerId} is already registered`, 'partnerId');
}

/** Registers a partner with a new client secret, shown in the answer and never again. Ids are unique in any case. */
export async function createPartner(ctx: Ctx, input: PartnerInput): Promise<CredentialsView> {
  const checked = checkPartnerInput(input);
  if (await repo.findPartnerAnyCase(ctx.db, checked.partnerId)) throw duplicate(checked.partnerId);
  const clientSecret = newSecret();
  const now = await ctx.now();
  let partner: PartnerRow;
  try {
    partner = await repo.insertPartner(ctx.db, {
      partner_id: checked.partnerId, name: checked.name, earn_rate: checked.earnRate, personal_data: checked.personalData,
      secret_hash: await hashSecret(clientSecret), created_at: now, updated_at: now,
    });
  } catch (error) {
    if (pgErrorCode(error) === UNIQUE_VIOLATION) throw duplicate(checked.partnerId);
    throw error;
  }
  forgetPartner(ctx.db, partner.partner_id);
  return { partner, clientId: partner.partner_id, clientSecret };
}

export function listPartners(ctx: Ctx): Promise<PartnerRow[]> {
  return repo.listPartners(ctx.db);
}

async function changePartner(ctx: Ctx, partnerId: string, patch: Parameters<typeof repo.updatePartner>[2]): Promise<PartnerRow> {
  const id = checkPartnerId(partnerId);
  const partner = await repo.updatePartner(ctx.db, id, { ...patch, updated_at: await ctx.now() });
  if (!partner) throw new NotFoundError('Partner');
  forgetPartner(ctx.db, id);
  return partner;
}

/** Activates or deactivates a partner: a deactivated partner's tokens are refused from the next request on. */
export function setPartnerActive(ctx: Ctx, partnerId: string, active: boolean): Promise<PartnerRow> {
  return changePartner(ctx, partnerId, { active });
}

export interface PartnerPatch { name?: string | null; earnRate?: string | null; useProgramEarnRate?: boolean | null; personalData?: boolean | null }

/** Changes a partner's name, earn rate or personal-data access; omitted fields stay. */
export function updatePartner(ctx: Ctx, partnerId: string, input: PartnerPatch): Promise<PartnerRow> {
  const patch: Parameters<typeof repo.updatePartner>[2] = {};
  if (input.name != null) {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 200) throw new BadInputError('name must be 1-200 characters', 'name');
    patch.name = name;
  }
  if (input.earnRate != null && input.useProgramEarnRate) throw new BadInputError('Give earnRate or useProgramEarnRate, not both', 'earnRate');
  if (input.earnRate != null) patch.earn_rate = checkEarnRate(input.earnRate);
  if (input.useProgramEarnRate) patch.earn_rate = null;
  if (input.personalData != null) patch.personal_data = input.personalData;
  return changePartner(ctx, partnerId, patch);
}

/**
 * Issues a new client secret. The previous one keeps working for SECRET_OVERLAP_MS more (a
 * secret rotated out before that is dropped at once); tokens already issued stay valid until
 * they expire.
 */
export async function rotatePartnerSecret(ctx: Ctx, partnerId: string): Promise<CredentialsView> {
  const id = checkPartnerId(partnerId);
  const clientSecret = newSecret();
  const secretHash = await hashSecret(clientSecret);
  // Two rotations at once must not both keep the same previous secret: each replaces the hash it read.
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await repo.findPartner(ctx.db, id);
    if (!current) throw new NotFoundError('Partner');
    const now = await ctx.now();
    const partner = await repo.rotateSecret(ctx.db, id, current.secret_hash, {
      secret_hash: secretHash, previous_secret_hash: current.secret_hash,
      previous_secret_expires_at: new Date(now.getTime() + SECRET_OVERLAP_MS), updated_at: now,
    });
    if (partner) {
      forgetPartner(ctx.db, id);
      return { partner, clientId: partner.partner_id, clientSecret };
    }
  }
  throw new Error(`rotatePartnerSecret: ${id} kept changing under the rotation`);
}

// ---- Settlement ----

/**
 * What a partner's ledger entries written in [from, to) add up to (partners.rules.ts
 * settlementOf). ADMIN, or that partner itself; another partner is FORBIDDEN.
 */
export async function partnerSettlement(ctx: Ctx, partnerId: string, from: Date, to: Date): Promise<Settlement> {
  const actor = requireRole(ctx, 'ADMIN', 'PARTNER');
  if (actor.role === 'PARTNER' && actor.partnerId !== partnerId) throw new ForbiddenError('A partner may read its own settlement only');
  const id = checkPartnerId(partnerId);
  checkSettlementWindow(from, to);
  if (!(await repo.findPartner(ctx.db, id))) throw new NotFoundError('Partner');
  const [program, totals] = await Promise.all([getProgram(ctx.db), repo.settlementTotals(ctx.db, id, from, to)]);
  return settlementOf({ partnerId: id, from, to }, totals, { pointValue: program.point_value, currency: program.currency });
}

// ---- Client credentials (POST /oauth/token) ----

export interface TokenEnv { db: Db; jwt: Config['jwt']; ttlSeconds: number; now: Date }
export interface TokenAnswer { access_token: string; token_type: 'Bearer'; expires_in: number }

/** The token endpoint cannot sign: this server only verifies tokens (JWT_PUBLIC_KEY without JWT_SECRET). */
export class NoSigningKeyError extends Error {}
/** The client did not authenticate: unknown, wrong secret, or inactive. */
export class ClientRefusedError extends Error {}

/**
 * Trades a partner's client id and secret for a short-lived PARTNER token (sub and partnerId
 * the partner's id). An unknown client is checked against a hash no secret matches, so it takes
 * as long to refuse as a wrong secret.
 */
export async function issuePartnerToken(env: TokenEnv, credentials: ClientCredentials): Promise<TokenAnswer> {
  if (!env.jwt.secret) throw new NoSigningKeyError('This server holds no signing key (JWT_PUBLIC_KEY without JWT_SECRET)');
  const partner = isPartnerId(credentials.clientId) ? await repo.findPartner(env.db, credentials.clientId) : undefined;
  let matched = false;
  for (const hash of partner ? acceptedSecrets(partner, env.now) : [UNKNOWN_CLIENT_HASH]) {
    if (await secretMatches(credentials.clientSecret, hash)) matched = true;
  }
  if (!partner || !matched || !partner.active) throw new ClientRefusedError();
  const ttlSeconds = env.ttlSeconds;
  const token = signToken(env.jwt, {
    role: 'PARTNER', sub: partner.partner_id, partnerId: partner.partner_id, personalData: partner.personal_data, ttlSeconds,
  });
  return { access_token: token, token_type: 'Bearer', expires_in: ttlSeconds };
}
