/**
 * Client secrets: made from 256 random bits, stored only as a salted scrypt hash, checked in
 * constant time. A stored hash names its own parameters (`scrypt$N$r$p$salt$hash`), so they can
 * be raised later without making older secrets unreadable.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { RateLimitedError } from '../errors';

const COST = { N: 16_384, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

/** A new client secret: 32 random bytes, base64url (43 characters, safe in a header, a form and a shell). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Hashes waiting for their turn, at most; past it a request is refused RATE_LIMITED rather than queued. */
const MAX_WAITING = 64;
let hashing = false;
const waiting: (() => void)[] = [];

/**
 * Runs one hash at a time per process, so token requests (each costs a hash, wrong secret or
 * not) can never take more than one core, however many arrive.
 */
async function oneAtATime<T>(work: () => Promise<T>): Promise<T> {
  if (hashing) {
    if (waiting.length >= MAX_WAITING) throw new RateLimitedError('Too many client secrets being checked at once; retry shortly', 1);
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  hashing = true;
  try {
    return await work();
  } finally {
    // The next in line inherits the turn; with none waiting the gate opens.
    const next = waiting.shift();
    if (next) next();
    else hashing = false;
  }
}

function derive(secret: string, salt: Buffer, options: ScryptOptions, bytes: number): Promise<Buffer> {
  return oneAtATime(() => new Promise((resolve, reject) => {
    // Runs on libuv's thread pool: the event loop keeps serving while a hash is worked out.
    scrypt(secret, salt, bytes, { ...options, maxmem: 64 * 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  }));
}

/** The stored form of `secret`, with a salt of its own. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(secret, salt, COST, KEY_BYTES);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `secret` matches the stored hash; false for a hash this code cannot read. */
export async function secretMatches(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(secret, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash no secret matches, checked when a client id is unknown so the answer takes as long as for a known one. */
export const UNKNOWN_CLIENT_HASH = `scrypt$${COST.N}$${COST.r}$${COST.p}$${Buffer.alloc(SALT_BYTES).toString('base64url')}$${Buffer.alloc(KEY_BYTES).toString('base64url')}`;
