import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config';
import { UnauthenticatedError } from '../errors';

import type { Actor, Role } from '../context';

export type { Actor, Role } from '../context';
export const ROLES: readonly Role[] = ['ADMIN', 'PARTNER', 'MEMBER'];

/** How many verified tokens each configuration remembers (about 400 bytes each). */
export const VERIFIED_TOKENS_KEPT = 10_000;

interface Verified {
  actor: Actor;
  /** The token's `exp`, in seconds since the epoch. */
  exp: number;
}

/**
 * What a configuration verifies with: its key, built once (jsonwebtoken re-parses a string key
 * on every verify, and for a secret it first tries, and fails, to read it as a PEM key), and the
 * tokens already verified under it, by their exact text. A caller sends the same token with
 * every request until it expires, and checking its signature again was the largest single cost
 * of a request that reaches no resolver (BENCHMARKS.md). The text is the key, so a token
 * differing by one character is verified afresh; only the expiry can change its verdict, and it
 * is checked on every use as jsonwebtoken checks it. A token with `nbf` is not kept (it is
 * verified each time), nor is one that fails. The oldest entry goes when the map is full.
 */
interface Verifier {
  key: KeyObject;
  verified: Map<string, Verified>;
}

const verifiers = new WeakMap<Config['jwt'], Verifier>();

function verifierOf(config: Config['jwt']): Verifier {
  let verifier = verifiers.get(config);
  if (!verifier) {
    const key = config.publicKey ? createPublicKey(config.publicKey) : createSecretKey(Buffer.from(config.secret as string, 'utf8'));
    verifiers.set(config, (verifier = { key, verified: new Map() }));
  }
  return verifier;
}

/** Verifies a bearer token per the contract: signature, exp, iss, aud, and role claims. */
export function verifyToken(config: Config['jwt'], token: string): Actor {
  const { key, verified: known } = verifierOf(config);
  const hit = known.get(token);
  if (hit) {
    if (Math.floor(Date.now() / 1000) < hit.exp) return { ...hit.actor };
    known.delete(token);
    throw new UnauthenticatedError('Token expired');
  }
  const { actor, claims } = verifyAfresh(config, key, token);
  if (claims.nbf === undefined) {
    if (known.size >= VERIFIED_TOKENS_KEPT) known.delete(known.keys().next().value as string);
    known.set(token, { actor: { ...actor }, exp: claims.exp as number });
  }
  return actor;
}

function verifyAfresh(config: Config['jwt'], key: KeyObject, token: string): { actor: Actor; claims: jwt.JwtPayload } {
  const algorithm = config.publicKey ? 'RS256' : 'HS256';
  let claims: jwt.JwtPayload;
  try {
    const decoded = jwt.verify(token, key, {
      algorithms: [algorithm],
      issuer: config.issuer,
      audience: config.audience,
    });
    if (typeof decoded === 'string') throw new Error('token payload is not an object');
    claims = decoded;
  } catch (error) {
    const reason = error instanceof jwt.TokenExpiredError ? 'Token expired' : 'Invalid token';
    throw new UnauthenticatedError(reason);
  }
  const { sub, exp, role } = claims;
  if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') {
    throw new UnauthenticatedError('Token must carry sub and exp');
  }
  if (!ROLES.includes(role)) throw new UnauthenticatedError('Token role must be ADMIN, PARTNER or MEMBER');
  const actor: Actor = { role, sub };
  if (role === 'PARTNER') {
    if (typeof claims.partnerId !== 'string' || !claims.partnerId) throw new UnauthenticatedError('PARTNER token needs partnerId');
    actor.partnerId = claims.partnerId;
    if (claims.personalData === true) actor.personalData = true;
  }
  if (role === 'MEMBER') {
    if (typeof claims.memberId !== 'string' || !claims.memberId) throw new UnauthenticatedError('MEMBER token needs memberId');
    actor.memberId = claims.memberId;
  }
  return { actor, claims };
}

export interface SignOptions {
  role: Role;
  sub?: string;
  memberId?: string;
  partnerId?: string;
  /** PARTNER: may read and change members' personal data. */
  personalData?: boolean;
  ttlSeconds?: number;
}

/** Signs a development/test token with the HS256 secret. */
export function signToken(config: Config['jwt'], options: SignOptions): string {
  if (!config.secret) throw new Error('signToken needs JWT_SECRET (HS256)');
  const payload: Record<string, unknown> = { role: options.role };
  if (options.memberId) payload.memberId = options.memberId;
  if (options.partnerId) payload.partnerId = options.partnerId;
  if (options.personalData) payload.personalData = true;
  return jwt.sign(payload, config.secret, {
    algorithm: 'HS256',
    subject: options.sub ?? options.memberId ?? options.partnerId ?? 'dev-admin',
    issuer: config.issuer,
    audience: config.audience,
    expiresIn: options.ttlSeconds ?? 3600,
  });
}
